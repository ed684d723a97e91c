"""Privacy from the chat: see, export and erase one's own data."""

from __future__ import annotations

import json

from sqlmodel import select

from bot.app import App
from storage.tables import AuditEntry, ChannelAccount, ConversationState, PersonRole
from storage.tables import Person as PersonRow
from tests.fakes import RecordingChannel
from tests.transcript import Person, sign_up


async def test_see_what_is_stored(app: App, channel: RecordingChannel):
    maria = Person(app, channel, phone="+393331112222")
    await sign_up(maria)
    await maria.says("privacy")
    reply = await maria.says("vedi cosa conserviamo")
    assert "Nome: Maria Rossi" in reply
    assert "Telefono: +393331112222" in reply
    assert "Consenso dato il: 23 novembre 2026, 10:00" in reply  # 09:00 UTC, in Rome
    assert "Ruoli: famiglia" in reply
    assert "Canali: terminal" in reply


async def test_export_sends_every_personal_detail_as_json(app: App, channel: RecordingChannel):
    maria = Person(app, channel, phone="+393331112222")
    await sign_up(maria)
    await maria.says("privacy")
    reply = await maria.says("scarica i miei dati")
    assert "Ecco tutti i tuoi dati" in reply
    attachment = reply.messages[0].attachment
    assert attachment is not None and attachment.media_type == "application/json"
    data = json.loads(attachment.content)
    assert data["person"]["name"] == "Maria Rossi"
    assert data["person"]["phone"] == "+393331112222"
    assert data["roles"] == [{"role": "family", "status": "active"}]
    assert data["accounts"][0]["channel"] == "terminal"
    assert any(m["message"] == "onboarding.done" for m in data["messages_sent_to_you"])
    assert "person.consented" in [a["action"] for a in data["activity"]]


async def test_erase_needs_confirmation(app: App, channel: RecordingChannel):
    maria = Person(app, channel)
    await sign_up(maria)
    await maria.says("privacy")
    reply = await maria.says("cancella i miei dati")
    assert "Vuoi davvero cancellare tutti i tuoi dati?" in reply
    reply = await maria.says("no")
    assert "non ho cancellato nulla" in reply
    async with app.database.unit_of_work() as uow:
        assert len(await uow.people.all()) == 1


async def test_erase_removes_the_person_and_keeps_an_anonymous_audit_row(
    app: App, channel: RecordingChannel
):
    maria = Person(app, channel, phone="+393331112222")
    await sign_up(maria)
    await maria.says("privacy")
    await maria.says("cancella i miei dati")
    reply = await maria.says("sì")
    assert "ho cancellato i tuoi dati" in reply

    async with app.database.unit_of_work() as uow:
        for table in (PersonRow, ChannelAccount, PersonRole, ConversationState):
            assert (await uow.session.exec(select(table))).all() == []
        erased = await uow.audit.entries(action="person.erased")
        assert len(erased) == 1
        everything = " ".join(
            f"{e.actor} {e.subject} {e.details}"
            for e in (await uow.session.exec(select(AuditEntry))).all()
        )
        assert "Maria" not in everything and "3331112222" not in everything

    reply = await maria.says("ciao")
    assert "In che lingua preferisci" in reply  # a stranger again


async def test_privacy_before_consent_says_nothing_is_kept(app: App, channel: RecordingChannel):
    person = Person(app, channel)
    await person.says("ciao")
    reply = await person.says("privacy")
    assert "non conservo nulla oltre all'identificativo" in reply
    reply = await person.says("indietro")
    assert "In che lingua" in reply.last.text
