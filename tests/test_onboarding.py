"""Sign-up conversations, typed (WhatsApp style) and tapped (Telegram style)."""

from __future__ import annotations

from bot.app import App
from storage.tables import Person as PersonRow
from tests.fakes import RecordingChannel
from tests.transcript import Person, sign_up


async def stored(app: App, address: str, channel: str = "terminal") -> PersonRow | None:
    async with app.database.unit_of_work() as uow:
        account = await uow.people.account(channel, address)
        return await uow.people.get(account.person_id) if account else None


async def test_a_family_signs_up_in_italian_typing_words(app: App, channel: RecordingChannel):
    maria = Person(app, channel, phone="+393331112222")

    reply = await maria.says("buongiorno")
    assert "In che lingua preferisci" in reply
    assert reply.buttons == ["Italiano", "English"]

    reply = await maria.says("italiano")
    assert "per aiutarti conservo il tuo nome" in reply
    assert reply.buttons == ["Sì, acconsento", "No", "Leggi l'informativa completa"]

    reply = await maria.says("Sì grazie")
    assert "Grazie!" in reply
    assert "Come ti chiami?" in reply

    reply = await maria.says("  Maria   Rossi ")
    assert "Chi sei per la cooperativa?" in reply

    reply = await maria.says("sono una famiglia")
    assert "potrai chiedere supporto" in reply
    assert "Benvenuto, Maria Rossi!" in reply
    assert reply.buttons == [
        "Chiedi supporto",
        "Le mie richieste",
        "Il mio profilo",
        "Lingua",
        "Privacy e i miei dati",
        "Aiuto",
    ]

    person = await stored(app, maria.address)
    assert person is not None
    assert (person.name, person.phone, person.locale) == ("Maria Rossi", "+393331112222", "it")
    assert person.consent_at is not None


async def test_a_volunteer_signs_up_in_english_tapping_buttons(app: App, channel: RecordingChannel):
    john = Person(app, channel, on="telegram", can_share_contact=True, profile_name="John Smith")

    await john.says("/start")
    reply = await john.taps("English")
    assert "to help you I keep your name" in reply

    reply = await john.taps("Yes, I agree")
    assert "Would you like to share your phone number?" in reply
    assert reply.last.request_contact

    reply = await john.shares_contact("393401234567")  # Telegram sends it without the plus
    assert "I saved your number +393401234567." in reply
    assert "What is your name?" in reply
    assert reply.buttons == ["Yes, I am John Smith"]

    reply = await john.taps("John Smith")
    assert "Who are you for the cooperative?" in reply

    reply = await john.taps("volunteer")
    assert "A coordinator has to approve your application" in reply
    assert "tell me what you can do, where and when" in reply  # for the coordinator to see
    await john.taps("Patente di guida")
    reply = await john.taps("Done")
    assert "On which days are you usually available?" in reply
    reply = await john.taps("Any day")
    assert "the coordinator will see them" in reply
    assert "Welcome, John Smith!" in reply

    person = await stored(app, john.address, "telegram")
    assert person is not None and person.phone == "+393401234567"


async def test_a_typed_phone_number_is_not_trusted(app: App, channel: RecordingChannel):
    john = Person(app, channel, on="telegram", can_share_contact=True)
    await john.says("hi")
    await john.taps("English")
    await john.taps("Yes")

    reply = await john.says("+39 340 123 4567")
    assert "I cannot use a number typed by hand" in reply
    reply = await john.says("skip")
    assert "What is your name?" in reply
    person = await stored(app, john.address, "telegram")
    assert person is not None and person.phone is None


async def test_consent_refused_keeps_nothing_and_can_be_given_later(
    app: App, channel: RecordingChannel
):
    anna = Person(app, channel, phone="+393335550000", profile_name="Anna Bianchi")
    await anna.says("ciao")
    await anna.says("1")

    reply = await anna.says("no")
    assert "rispetto la tua scelta" in reply
    person = await stored(app, anna.address)
    assert person is not None
    assert (person.name, person.phone, person.consent_at) == (None, None, None)

    reply = await anna.says("ho cambiato idea")
    assert "Sei d'accordo?" in reply
    reply = await anna.says("ok")
    assert "Come ti chiami?" in reply
    assert reply.buttons == ["Sì, sono Anna Bianchi"]
    reply = await anna.says("sì")
    assert "Chi sei per la cooperativa?" in reply


async def test_reading_the_full_notice_before_consenting(app: App, channel: RecordingChannel):
    luca = Person(app, channel)
    await luca.says("ciao")
    await luca.says("1")
    reply = await luca.says("leggi l'informativa completa")
    assert "Informativa privacy (art. 13 GDPR)" in reply
    assert "Sei d'accordo?" in reply.last.text


async def test_a_name_that_is_not_a_name_is_asked_again(app: App, channel: RecordingChannel):
    luca = Person(app, channel)
    await luca.says("ciao")
    await luca.says("1")
    await luca.says("sì")
    reply = await luca.says("12345")
    assert "Non mi sembra un nome" in reply
    assert "Come ti chiami?" in reply.last.text
    reply = await luca.says("Luca D'Amico")
    assert "Chi sei per la cooperativa?" in reply


async def test_someone_already_registered_is_recognised_by_phone(
    app: App, channel: RecordingChannel
):
    async with app.database.unit_of_work() as uow:
        giulia = await uow.people.add(PersonRow(phone="+393337770000", name="Giulia Verdi"))
        assert giulia.id is not None
        await uow.people.grant(giulia.id, "coordinator", by="cli")

    coordinator = Person(app, channel, phone="+393337770000")
    await coordinator.says("ciao")
    await coordinator.says("1")
    reply = await coordinator.says("sì")
    # name and role are known already: straight to the menu, with the coordinator's entries
    assert "Benvenuto, Giulia Verdi!" in reply
    assert "Ruoli da approvare" in reply.buttons


async def test_the_menu_shows_only_what_the_roles_allow(app: App, channel: RecordingChannel):
    family = Person(app, channel)
    reply = await sign_up(family)
    assert "Ruoli da approvare" not in reply.buttons
    reply = await family.says("ruoli da approvare")
    assert "non ho capito" in reply
