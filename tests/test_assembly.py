"""Members' assembly: registry import, invitations, answers, proxies, quorum, check-in."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

from bot.app import App
from flows.assemblies import create, register
from flows.member_registry import import_rows, parse
from storage.tables import Assembly
from tests.fakes import FakeClock, RecordingChannel
from tests.transcript import Person, a_coordinator

# the clock starts on Monday 23 November 2026, 09:00 UTC
FIRST_CALL = datetime(2026, 12, 15, 17, 0, tzinfo=UTC)  # 18:00 in Rome
REGISTRY = """nome;cognome;telefono;socio dal;categoria;email;numero socio
Anna;Bianchi;333 100 0001;2020-01-10;lavoratore;anna@example.org;1
Bruno;Neri;+39 333 100 0002;15/03/2021;volontario;;2
Carla;Russo;3331000003;2022-05-01;fruitore;;3
Dario;Galli;3331000004;2019-02-02;worker;;4
Elena;Conti;333 100 0005;01/11/2026;user;;5
Fabio;Verdi;12;2020-01-01;worker;;6
Gina;Moro;3331000007;;worker;;7
Ugo;Sala;3331000008;2020-01-01;socio di fatto;;8
"""


async def import_registry(app: App) -> None:
    rows, rejected = parse(REGISTRY, "IT", date(2026, 11, 23))
    assert [r.line for r in rejected] == [7, 8, 9]
    async with app.database.unit_of_work() as uow:
        report = await import_rows(uow, rows, "cli")
    assert len(report.added) == 5


def member(app: App, channel: RecordingChannel, phone: str, locale_choice: str = "1") -> Person:
    return Person(app, channel, on="whatsapp", address=f"whatsapp:{phone}", phone=phone)


async def first_contact(person: Person, language: str = "1") -> None:
    """An imported member writes for the first time: recognised by the number."""
    await person.says("ciao")
    await person.says(language)
    reply = await person.says("sì")
    assert "Cosa vuoi fare?" in reply.text or "What would you like to do?" in reply.text


async def convene(app: App, remote: str | None = "https://meet.example.org/soci") -> Assembly:
    now = app.engine.clock.now()
    async with app.database.unit_of_work() as uow:
        assembly = Assembly(
            title="Bilancio 2026",
            first_call_at=FIRST_CALL,
            second_call_at=FIRST_CALL + timedelta(days=1),
            place="Sala civica, Via Roma 1",
            agenda=["Approvazione del bilancio", "Varie ed eventuali"],
            remote_link=remote,
            answer_deadline=FIRST_CALL - timedelta(days=2),
            notice_ref="lettera del 20/11/2026",
            checkin_code="",
            created_by="cli",
        )
        for note in await create(uow, assembly, app.engine.settings, now):
            await app.engine.queue_notification(uow, note.person_id, note.reply)
    await app.delivery.drain()
    return assembly


async def test_imported_members_are_recognised_invited_and_answer(
    app: App, channel: RecordingChannel
):
    await import_registry(app)
    anna = member(app, channel, "+393331000001")
    await first_contact(anna)
    reply = await anna.says("menu")
    assert "Assemblea dei soci" in reply.buttons
    await convene(app)
    (invite,) = anna.unread()
    assert invite.text.startswith("Sei invitato all'assemblea dei soci: Bilancio 2026\n")
    assert "Prima convocazione: 15 dicembre 2026, 18:00, Sala civica, Via Roma 1" in invite.text
    assert "1. Approvazione del bilancio\n2. Varie ed eventuali" in invite.text
    assert "Convocazione formale: lettera del 20/11/2026" in invite.text
    assert [c.label for c in invite.choices] == [
        "Ci sarò",
        "Partecipo da remoto",
        "Non ci sarò",
        "Delego un altro socio",
    ]
    reply = await anna.taps("Ci sarò")
    assert "ho registrato la tua risposta per l'assemblea «Bilancio 2026»: Ci sarò" in reply
    # changing one's mind, typed this time, from the menu
    await anna.says("menu")
    reply = await anna.says("assemblea dei soci")
    assert "La tua risposta: Ci sarò" in reply and "Diritto di voto: sì" in reply
    reply = await anna.says("non ci sarò")
    assert "Non ci sarò" in reply
    assert "La tua risposta: Non ci sarò" in reply.last.text
    reply = await anna.says("ordine del giorno")
    assert "1. Approvazione del bilancio" in reply


async def test_a_recent_member_is_invited_without_a_vote_in_english(
    app: App, channel: RecordingChannel
):
    await import_registry(app)
    elena = member(app, channel, "+393331000005")
    await first_contact(elena, language="2")
    await convene(app, remote=None)
    (invite,) = elena.unread()
    assert "You may attend, but without a vote" in invite.text
    assert "Remote participation: not planned" in invite.text
    assert [c.label for c in invite.choices] == ["I'll be there", "I can't come"]
    reply = await elena.taps_payload(invite.choices[0].id.replace("present", "proxy"))
    assert "You have no vote at this assembly, so you cannot give a proxy" in reply


async def test_proxies_accepted_refused_limit_and_chains(app: App, channel: RecordingChannel):
    await import_registry(app)
    anna, bruno, carla, dario = (member(app, channel, f"+39333100000{n}") for n in (1, 2, 3, 4))
    elena = member(app, channel, "+393331000005")
    for person in (anna, bruno, carla, dario, elena):
        await first_contact(person)
    await convene(app)
    for person in (anna, bruno, carla, dario, elena):
        person.unread()

    # to oneself, to nobody known, to someone without a vote
    reply = await bruno.taps("Delego")
    assert "Chi ti rappresenterà?" in reply
    assert "non puoi delegare te stesso" in (await bruno.says("Bruno Neri")).text.lower()
    assert "Non trovo un socio invitato" in await bruno.says("Mario Rossi")
    assert "Elena Conti non ha diritto di voto" in await bruno.says("conti")

    # Bruno → Anna: she is asked, accepts
    reply = await bruno.says("bianchi")
    assert "Ho chiesto a Anna Bianchi di rappresentarti" in reply
    (request,) = anna.unread()
    assert "Bruno Neri ti chiede di rappresentarlo" in request.text
    reply = await anna.taps("Accetto la delega")
    assert "rappresenterai Bruno Neri all'assemblea «Bilancio 2026». Deleghe che hai: 1" in reply
    (news,) = bruno.unread()
    assert "Anna Bianchi ha accettato la tua delega" in news.text

    # a chain: Anna holds a proxy, she cannot delegate; nobody can delegate to Bruno
    reply = await anna.taps_payload("a:rsvp:1:proxy")
    assert "chi riceve deleghe non può delegare a sua volta" in reply
    await carla.taps("Delego")
    assert "Bruno Neri ha già delegato un altro socio" in await carla.says("Bruno")

    # Dario refuses Carla's proxy: she is told, with the answers again
    await carla.says("Dario")
    (request,) = dario.unread()
    reply = await dario.taps("Non posso")
    assert "l'ho detto al socio" in reply
    (news,) = carla.unread()
    assert "Dario Galli non può accettare la tua delega" in news.text
    assert "Ci sarò" in [c.label for c in news.choices]


async def test_the_proxy_limit(app: App, channel: RecordingChannel):
    app.engine.settings = replace(app.engine.settings, max_proxies=1)
    await import_registry(app)
    anna, bruno, carla = (member(app, channel, f"+39333100000{n}") for n in (1, 2, 3))
    for person in (anna, bruno, carla):
        await first_contact(person)
    await convene(app)
    await bruno.taps("Delego")
    await bruno.says("Anna")
    await carla.taps("Delego")
    reply = await carla.says("Anna")
    assert "Anna Bianchi ha già il numero massimo di deleghe (1)" in reply


async def test_after_the_deadline_answers_are_refused_politely(
    app: App, channel: RecordingChannel, clock: FakeClock
):
    await import_registry(app)
    anna = member(app, channel, "+393331000001")
    await first_contact(anna)
    await convene(app)
    clock.current = FIRST_CALL - timedelta(days=1)
    reply = await anna.taps("Ci sarò")
    assert (
        "il termine per rispondere all'assemblea «Bilancio 2026» è scaduto il 13 dicembre 2026"
        in reply
    )


async def test_check_in_with_the_code_and_by_the_coordinator(
    app: App, channel: RecordingChannel, clock: FakeClock
):
    await import_registry(app)
    giulia = await a_coordinator(app, channel)
    anna, bruno, carla = (member(app, channel, f"+39333100000{n}") for n in (1, 2, 3))
    for person in (anna, bruno, carla):
        await first_contact(person)
    assembly = await convene(app)
    await anna.taps("Ci sarò")
    await bruno.taps("Delego")
    await bruno.says("Anna")
    await anna.taps("Accetto la delega")
    await carla.taps("Ci sarò")

    await giulia.says("menu")
    reply = await giulia.says("assemblee")
    assert reply.buttons[0] == "Bilancio 2026 — 15 dicembre 2026, 18:00"
    reply = await giulia.says("1")
    assert "Invitati: 5 (con diritto di voto: 4)" in reply
    assert "Deleghe accettate: 1; in attesa: 0\n• Bruno Neri → Anna Bianchi (accettata)" in reply
    # Anna, her proxy and Carla: 3 of 4 voters, more than half
    assert "Previsione prima convocazione: 3 voti su 3 necessari — quorum raggiunto" in reply
    code = assembly.checkin_code
    assert f"Codice di presenza: {code}" in reply

    clock.current = FIRST_CALL - timedelta(minutes=20)
    await anna.says("menu")
    reply = await anna.says("assemblea dei soci")
    assert "Deleghe che rappresenti: 1" in reply
    reply = await anna.says("sono arrivato")
    assert "Scrivi il codice di presenza" in reply
    assert "non è giusto" in await anna.says("0000" if code != "0000" else "1111")
    reply = await anna.says(code)
    assert "Presenza registrata all'assemblea «Bilancio 2026»" in reply

    await giulia.says("indietro")
    await giulia.says("1")
    await giulia.says("segna un presente")
    reply = await giulia.says("russo")
    assert "Carla Russo risulta presente" in reply
    assert "Oggi in sala: 2 persone, 3 voti" in reply

    async with app.database.unit_of_work() as uow:
        assert assembly.id is not None
        lines = {
            line.name: line for line in register(await uow.assemblies.invitations(assembly.id))
        }
    assert lines["Anna Bianchi"].attendance == "present"
    assert lines["Anna Bianchi"].checked_in_at == FIRST_CALL - timedelta(minutes=20)
    assert (lines["Bruno Neri"].attendance, lines["Bruno Neri"].represented_by) == (
        "represented",
        "Anna Bianchi",
    )
    assert lines["Carla Russo"].checked_in_by.startswith("person:")
    assert lines["Dario Galli"].attendance == "absent"


async def test_a_coordinator_convenes_in_the_chat_and_nudges_in_english(
    app: App, channel: RecordingChannel
):
    await import_registry(app)
    giulia = await a_coordinator(app, channel)
    await giulia.says("language")
    await giulia.says("2")
    anna, bruno = (member(app, channel, f"+39333100000{n}") for n in (1, 2))
    await first_contact(anna)
    await first_contact(bruno, language="2")
    await giulia.says("menu")
    await giulia.says("assemblies")
    reply = await giulia.says("convene an assembly")
    assert "What is the assembly's title?" in reply
    await giulia.says("2026 accounts")
    reply = await giulia.says("tomorrow")
    assert "I didn't understand" in reply
    await giulia.says("15/12/2026 18:00")
    await giulia.says("Town hall")
    reply = await giulia.says("15/12/2026 20:00")
    await giulia.says("Accounts; Board election")
    await giulia.says("no")
    await giulia.says("12/12/2026 20:00")
    reply = await giulia.says("no")
    assert "Summary:\n2026 accounts\nFirst call: 15 December 2026, 18:00, Town hall" in reply
    reply = await giulia.says("convene and invite")
    assert "The second call cannot be on the same day as the first." in reply
    await giulia.says("start again")
    for answer in (
        "2026 accounts",
        "15/12/2026 18:00",
        "Town hall",
        "16/12/2026 18:00",
        "Accounts; Board election",
        "no",
        "12/12/2026 20:00",
        "no",
    ):
        await giulia.says(answer)
    reply = await giulia.says("convene and invite")
    assert "Assembly «2026 accounts» convened: invitation sent to 5 members." in reply
    assert "Invited: 5 (with a vote: 4)" in reply
    (invite,) = bruno.unread()
    assert "First call: 15 December 2026, 18:00, Town hall" in invite.text
    assert "Formal notice: sent by the cooperative as the statute requires" in invite.text
    (invite,) = anna.unread()
    assert "Prima convocazione: 15 dicembre 2026, 18:00, Town hall" in invite.text
    await anna.taps("Non ci sarò")

    reply = await giulia.says("no answer yet")
    assert "• Bruno Neri" in reply and "Anna Bianchi" not in reply
    reply = await giulia.says("nudge them all")
    assert "I sent the invitation again to 4 members." in reply
    (nudge,) = bruno.unread()
    assert nudge.text.startswith("Reminder: you have not answered the invitation")
    assert anna.unread() == []
    async with app.database.unit_of_work() as uow:
        coordinator = await uow.people.by_phone("+393337770000")
        assert coordinator is not None
        actions = [e.action for e in await uow.audit.entries(about=f"person:{coordinator.id}")]
    assert {"assembly.created", "assembly.nudged"} <= set(actions)


async def test_proxy_and_change_of_mind_in_english(app: App, channel: RecordingChannel):
    await import_registry(app)
    anna, bruno = (member(app, channel, f"+39333100000{n}") for n in (1, 2))
    await first_contact(anna, language="2")
    await first_contact(bruno, language="2")
    await convene(app)
    bruno.unread()
    reply = await bruno.taps("Proxy to another member")
    assert "Who will represent you?" in reply
    reply = await bruno.says("anna")
    assert "I asked Anna Bianchi to represent you" in reply
    await bruno.says("menu")
    reply = await bruno.says("members' assembly")
    assert "Your answer: proxy to Anna Bianchi (waiting for them to accept)" in reply
    reply = await bruno.says("i'll be there")
    assert "Your answer: I'll be there" in reply.last.text
    anna.unread()
    (request, withdrawn) = [m for m in channel.sent[anna.address] if "Bruno" in m.text]
    assert "Bruno Neri changed their answer" in withdrawn.text
    reply = await anna.taps_payload(request.choices[0].id)
    assert "This proxy no longer stands." in reply


async def test_an_imported_member_is_recognised_by_a_shared_telegram_contact(
    app: App, channel: RecordingChannel
):
    await import_registry(app)
    anna = Person(app, channel, on="telegram", can_share_contact=True)
    await anna.says("ciao")
    await anna.says("1")
    reply = await anna.says("sì")
    assert "numero" in reply.text.lower()
    reply = await anna.shares_contact("393331000001")  # Telegram sends it without the +
    assert "Benvenuto, Anna Bianchi! La registrazione è completa." in reply
    reply = await anna.says("menu")
    assert "Assemblea dei soci" in reply.buttons
    await convene(app)
    (invite,) = anna.unread()
    assert "Sei invitato all'assemblea dei soci" in invite.text
