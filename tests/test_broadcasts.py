"""Coordinators broadcast notices: audience, preview, languages, opt-outs, scheduling and
the report."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.app import App
from flows.broadcasting import cancel, fan_out, schedule
from storage.tables import Broadcast
from tests.fakes import FakeClock, RecordingChannel
from tests.test_reminders import a_shift, file_a_request, time_passes
from tests.test_shifts import a_volunteer
from tests.transcript import Person, a_coordinator, sign_up


async def writes_a_notice(giulia: Person, text: str, audience: str) -> None:
    await giulia.says("menu")
    await giulia.says("avvisi")
    await giulia.taps("Nuovo avviso")
    await giulia.says(text)
    await giulia.taps(audience)


async def test_a_notice_to_the_volunteers_in_their_languages(
    app: App, clock: FakeClock, channel: RecordingChannel
):
    giulia = await a_coordinator(app, channel)
    marco = await a_volunteer(app, channel, "Marco Blu")
    sara = await a_volunteer(app, channel, "Sara Rosa")
    await sara.says("language")
    await sara.says("English")
    luca = await a_volunteer(app, channel, "Luca Neri")
    await luca.says("stop")
    anna = Person(app, channel, on="whatsapp", phone="+393331112222")
    await sign_up(anna)  # a family: not a volunteer
    for person in (marco, sara, luca, anna):
        person.unread()

    await writes_a_notice(giulia, "Domani la sede è chiusa per la neve.", "Volontari")
    reply = await giulia.says("The office is closed tomorrow because of the snow.")
    assert "Anteprima dell'avviso a Volontari:" in reply
    assert "Domani la sede è chiusa per la neve." in reply
    assert "Lo riceveranno 2 persone (Telegram 2); lingue scritte: en, it." in reply
    assert "1 hanno chiesto di non ricevere messaggi" in reply
    reply = await giulia.taps("Invia")
    assert "Avviso #1 in partenza per 2 persone." in reply

    assert [m.text for m in marco.unread()] == ["📢 Domani la sede è chiusa per la neve."]
    assert [m.text for m in sara.unread()] == [
        "📢 The office is closed tomorrow because of the snow."
    ]
    assert luca.unread() == [] and anna.unread() == []

    await time_passes(app, clock, minutes=1)
    (report,) = giulia.unread()
    assert report.text.startswith("📊 Resoconto dell'avviso #1 a Volontari:")
    assert "destinatari 2, inviati 2" in report.text
    assert "Esclusi perché hanno chiesto di non ricevere messaggi: 1." in report.text

    await giulia.says("menu")
    await giulia.says("avvisi")
    reply = await giulia.taps("#1 Volontari")
    assert "Destinatari: 2 (esclusi 1 che hanno chiesto di non ricevere messaggi)" in reply
    assert "In attesa: 0 · inviati: 2" in reply


@pytest.mark.parametrize("backend", ["memory"])
async def test_a_notice_dropped_at_the_preview_goes_to_nobody(app: App, channel: RecordingChannel):
    giulia = await a_coordinator(app, channel)
    marco = await a_volunteer(app, channel, "Marco Blu")
    marco.unread()
    await writes_a_notice(giulia, "Prova", "Tutti")
    await giulia.taps("Salta")
    reply = await giulia.says("no")
    assert "Annullato" in reply.text or "annullat" in reply.text.lower()
    assert marco.unread() == []
    async with app.database.unit_of_work() as uow:
        assert await uow.broadcasts.latest() == []


@pytest.mark.parametrize("backend", ["memory"])
async def test_only_coordinators_see_notices(app: App, channel: RecordingChannel):
    marco = await a_volunteer(app, channel, "Marco Blu")
    reply = await marco.says("menu")
    assert "Avvisi" not in reply.buttons
    reply = await marco.says("avvisi")
    assert "Avviso" not in reply.text


@pytest.mark.parametrize("backend", ["memory"])
async def test_a_zone_and_a_shift_team(app: App, clock: FakeClock, channel: RecordingChannel):
    giulia = await a_coordinator(app, channel)
    marco = await a_volunteer(app, channel, "Marco Blu")
    sara = await a_volunteer(app, channel, "Sara Rosa")
    anna = await file_a_request(app, channel)  # a family in Casalecchio di Reno
    async with app.database.unit_of_work() as uow:
        account = await uow.people.account("telegram", marco.address)
        assert account is not None
        await uow.shifts.save_profile(account.person_id, [], ["Casalecchio di Reno"], "any_day")
    await a_shift(app, needed=1)
    await sara.taps("Accetto")
    for person in (marco, sara, anna):
        person.unread()

    await writes_a_notice(giulia, "Strada chiusa a Casalecchio", "Una zona")
    await giulia.says("Casalecchio di Reno")
    await giulia.taps("Salta")
    reply = await giulia.taps("Invia")
    assert "per 2 persone" in reply
    assert [m.text for m in marco.unread()] == ["📢 Strada chiusa a Casalecchio"]
    assert [m.text for m in anna.unread()] == ["📢 Strada chiusa a Casalecchio"]
    assert sara.unread() == []

    await writes_a_notice(giulia, "Portate i guanti", "I volontari di un turno")
    await giulia.taps("Compagnia al signor Bassi")
    await giulia.taps("Salta")
    await giulia.taps("Invia")
    assert [m.text for m in sara.unread()] == ["📢 Portate i guanti"]
    assert marco.unread() == []


async def test_a_scheduled_notice_goes_out_once_at_its_time(
    app: App, clock: FakeClock, channel: RecordingChannel
):
    marco = await a_volunteer(app, channel, "Marco Blu")
    marco.unread()
    now = clock.now()
    async with app.database.unit_of_work() as uow:
        later = await uow.broadcasts.add(
            Broadcast(author="cli", audience="volunteers", texts={"it": "Assemblea venerdì"})
        )
        await schedule(uow, later, now + timedelta(hours=3), now)
        dropped = await uow.broadcasts.add(
            Broadcast(author="cli", audience="volunteers", texts={"it": "Non partirà"})
        )
        await schedule(uow, dropped, now + timedelta(hours=3), now)
    async with app.database.unit_of_work() as uow:
        dropped_again = await uow.broadcasts.get(dropped.id or 0)
        assert dropped_again is not None and await cancel(uow, dropped_again)

    await time_passes(app, clock, hours=2)
    assert marco.unread() == []
    await time_passes(app, clock, hours=1)
    assert [m.text for m in marco.unread()] == ["📢 Assemblea venerdì"]
    await time_passes(app, clock, hours=1)
    assert marco.unread() == []
    async with app.database.unit_of_work() as uow:
        sent = await uow.broadcasts.get(later.id or 0)
        assert sent is not None and sent.status == "sent" and sent.recipients == 1


@pytest.mark.parametrize("backend", ["memory"])
async def test_a_notice_sent_at_night_waits_for_the_morning(
    app: App, clock: FakeClock, channel: RecordingChannel
):
    marco = await a_volunteer(app, channel, "Marco Blu")
    marco.unread()
    clock.advance(hours=13)  # 23:00 in Rome
    async with app.database.unit_of_work() as uow:
        notice = await uow.broadcasts.add(
            Broadcast(author="cli", audience="everyone", texts={"it": "Buongiorno!"})
        )
        assert await fan_out(uow, notice, app.engine.settings, clock.now()) == 1
    await time_passes(app, clock)
    assert marco.unread() == []
    await time_passes(app, clock, hours=9)  # 08:00
    assert [m.text for m in marco.unread()] == ["📢 Buongiorno!"]
