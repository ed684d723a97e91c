"""Roles: volunteers and members wait for a coordinator, who approves or refuses in chat."""

from __future__ import annotations

from bot.app import App
from tests.fakes import RecordingChannel
from tests.transcript import Person, a_coordinator, sign_up


async def test_a_volunteer_is_approved_by_a_coordinator(app: App, channel: RecordingChannel):
    giulia = await a_coordinator(app, channel)
    marco = Person(app, channel, on="whatsapp", phone="+393401112233")
    reply = await sign_up(marco, name="Marco Blu", role="volontario")
    assert "Intanto dimmi cosa sai fare, dove e quando" in reply
    await marco.says("patente")
    await marco.says("fatto")
    reply = await marco.says("dal lunedì al venerdì")
    assert "le vedrà il coordinatore" in reply and "Benvenuto, Marco Blu!" in reply

    (note,) = giulia.unread()
    assert "Nuova richiesta di ruolo: Marco Blu chiede di essere volontario" in note.text

    reply = await giulia.says("menu")
    reply = await giulia.says("ruoli da approvare")
    assert reply.buttons == ["Marco Blu — volontario", "Indietro"]
    reply = await giulia.says("1")
    assert "Marco Blu (+393401112233) chiede il ruolo di volontario" in reply
    assert "Competenze: Patente di guida\nZone: ovunque\nGiorni: Dal lunedì al venerdì" in reply
    reply = await giulia.says("approva")
    assert "Approvato" in reply
    assert "Non c'è nessuno in attesa" in reply.last.text

    (news,) = marco.unread()
    assert "ha confermato il tuo ruolo di volontario" in news.text
    async with app.database.unit_of_work() as uow:
        approved = await uow.audit.entries(action="role.approved")
        assert [(e.actor, e.details) for e in approved] == [("person:1", {"role": "volunteer"})]


async def test_a_refusal_carries_the_reason_in_the_persons_language(
    app: App, channel: RecordingChannel
):
    giulia = await a_coordinator(app, channel)
    john = Person(app, channel)
    await sign_up(john, name="John Smith", role="member", language="2")
    giulia.unread()

    await giulia.says("menu")
    await giulia.says("ruoli da approvare")
    await giulia.says("John Smith")
    reply = await giulia.says("rifiuta")
    assert "Scrivi il motivo del rifiuto" in reply
    reply = await giulia.says("Non risulta nel libro soci")
    assert "Rifiutato" in reply

    (news,) = john.unread()
    assert news.text == (
        "The cooperative did not confirm the role of member. Reason: Non risulta nel libro soci"
    )
    async with app.database.unit_of_work() as uow:
        account = await uow.people.account("terminal", john.address)
        assert account is not None
        assert await uow.people.roles(account.person_id) == []


async def test_a_family_can_also_become_a_volunteer_from_the_profile(
    app: App, channel: RecordingChannel
):
    maria = Person(app, channel)
    await sign_up(maria)
    await maria.says("profilo")
    reply = await maria.says("aggiungi un ruolo")
    assert reply.buttons == ["Un volontario", "Un socio della cooperativa", "Indietro"]
    reply = await maria.says("volontario")
    assert "Un coordinatore deve approvare" in reply
    assert "Ruoli: famiglia, volontario (in attesa di approvazione)" in reply.last.text


async def test_a_decision_taken_meanwhile_by_another_coordinator(
    app: App, channel: RecordingChannel
):
    giulia = await a_coordinator(app, channel)
    await sign_up(Person(app, channel), name="Marco Blu", role="volontario")
    await giulia.says("menu")
    await giulia.says("ruoli da approvare")
    await giulia.says("1")
    async with app.database.unit_of_work() as uow:
        (role, _person) = (await uow.people.pending_roles())[0]
        await uow.people.grant(role.person_id, role.role, by="person:99")
    reply = await giulia.says("approva")
    assert "Questa richiesta è già stata decisa da qualcun altro." in reply
    assert "Non c'è nessuno in attesa" in reply.last.text
