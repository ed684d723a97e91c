"""Words that work at every step: menu, back, cancel, help, language, privacy, stop."""

from __future__ import annotations

from bot.app import App
from tests.fakes import RecordingChannel
from tests.transcript import Person, sign_up


async def at_name_step(app: App, channel: RecordingChannel) -> Person:
    person = Person(app, channel)
    await person.says("ciao")
    await person.says("1")
    await person.says("sì")
    return person


async def test_language_switch_mid_flow_returns_to_the_same_question(
    app: App, channel: RecordingChannel
):
    person = await at_name_step(app, channel)

    reply = await person.says("language")  # an English word works for an Italian speaker
    assert "Which language" in reply.text or "In che lingua" in reply.text
    reply = await person.says("english")
    assert "from now on I will write to you in English" in reply
    assert "What is your name?" in reply.last.text

    reply = await person.says("Paola Neri")
    assert "Who are you for the cooperative?" in reply
    reply = await person.says("lingua")
    reply = await person.says("italiano")
    assert "da ora ti scrivo in italiano" in reply
    assert "Chi sei per la cooperativa?" in reply.last.text


async def test_help_explains_the_current_step_and_asks_again(app: App, channel: RecordingChannel):
    person = await at_name_step(app, channel)
    reply = await person.says("aiuto")
    assert "Scrivi il nome con cui vuoi essere chiamato" in reply
    assert "Come ti chiami?" in reply.last.text

    reply = await person.says("HELP")
    assert "Scrivi il nome con cui vuoi essere chiamato" in reply


async def test_back_goes_to_the_previous_question(app: App, channel: RecordingChannel):
    person = await at_name_step(app, channel)
    reply = await person.says("indietro")
    assert "Sei d'accordo?" in reply.last.text
    reply = await person.says("indietro")
    assert "In che lingua" in reply.last.text
    reply = await person.says("indietro")
    assert "Siamo già all'inizio" in reply


async def test_menu_during_sign_up_asks_to_finish_first(app: App, channel: RecordingChannel):
    person = await at_name_step(app, channel)
    reply = await person.says("menu")
    assert "Prima completiamo la registrazione" in reply
    assert "Come ti chiami?" in reply.last.text


async def test_cancel_pauses_sign_up_and_the_next_message_resumes_it(
    app: App, channel: RecordingChannel
):
    person = await at_name_step(app, channel)
    reply = await person.says("annulla")
    assert "mi fermo qui" in reply
    assert not reply.last.choices
    reply = await person.says("eccomi")
    assert "Come ti chiami?" in reply.last.text  # language and consent were kept


async def test_cancel_after_sign_up_drops_the_task_and_shows_the_menu(
    app: App, channel: RecordingChannel
):
    person = Person(app, channel)
    await sign_up(person)
    await person.says("il mio profilo")
    reply = await person.says("cambia nome")
    assert "Scrivi il nuovo nome" in reply
    reply = await person.says("cancel")
    assert "Annullato" in reply
    assert "Cosa vuoi fare?" in reply.last.text


async def test_stop_opts_out_and_start_opts_back_in(app: App, channel: RecordingChannel):
    person = Person(app, channel)
    await sign_up(person)
    reply = await person.says("STOP")
    assert "non ti invierò più avvisi" in reply
    async with app.database.unit_of_work() as uow:
        people = await uow.people.all()
        assert people[0].opted_out_at is not None

    reply = await person.says("/start")
    assert "Bentornato" in reply
    assert "Cosa vuoi fare?" in reply.last.text
    async with app.database.unit_of_work() as uow:
        people = await uow.people.all()
        assert people[0].opted_out_at is None


async def test_a_button_from_an_old_message_is_not_misread(app: App, channel: RecordingChannel):
    person = Person(app, channel, on="telegram")
    await person.says("/start")
    await person.taps("Italiano")
    reply = await person.taps_payload("it")  # the language keyboard, tapped again later
    assert "Quel pulsante era di un messaggio precedente" in reply
    assert "Sei d'accordo?" in reply.last.text


async def test_tapped_global_buttons_work_like_words(app: App, channel: RecordingChannel):
    person = Person(app, channel, on="telegram")
    await sign_up(person)
    await person.says("privacy")
    reply = await person.taps_payload("g:menu")
    assert "Cosa vuoi fare?" in reply.last.text


async def test_privacy_is_a_side_trip_that_returns_where_it_was(
    app: App, channel: RecordingChannel
):
    person = Person(app, channel)
    await sign_up(person)
    await person.says("profilo")
    reply = await person.says("privacy")
    assert "Privacy: cosa vuoi fare con i tuoi dati?" in reply
    reply = await person.says("indietro")
    assert "Il tuo profilo" in reply.last.text
