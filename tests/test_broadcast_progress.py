"""While a notice is being delivered its author follows one progress message: on Telegram
edited in place at every check; on channels that cannot edit (WhatsApp, the terminal) none,
only the final report."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlmodel import col, select

from bot.app import App
from bot.delivery import NO_EDITS
from flows.broadcasting import REPORT, fan_out
from flows.config import SystemClock
from storage.tables import Broadcast, OutboxMessage, Person, PersonRole, Reminder
from storage.unit_of_work import Database
from tests.fake_telegram import FakeTelegram
from tests.fake_twilio import FakeTwilio
from tests.fakes import EditingChannel, FakeClock, RecordingChannel
from tests.platforms import running, settings_for
from tests.test_reminders import time_passes
from tests.test_shifts import a_volunteer
from tests.transcript import Person as TranscriptPerson
from tests.transcript import a_coordinator

GIULIA, VOLUNTEERS = 900, (901, 902, 903)
PAOLO = "+393334445555"  # a coordinator on WhatsApp
TEXT = "Domani la sede apre alle 10."
STILL = "⏳ Avviso #1 a Volontari: inviati {} di {}, consegnati 0, non riusciti 0, in attesa {}."


async def someone(database: Database, role: str, channel: str, address: str) -> int:
    """A signed-up person with one account, who wrote an hour ago."""
    now = SystemClock().now()
    async with database.unit_of_work() as uow:
        person = await uow.people.add(Person(name=f"{role} {address}", consent_at=now))
        assert person.id is not None
        account = await uow.people.add_account(person.id, channel, address)
        account.last_inbound_at = now - timedelta(hours=1)
        uow.session.add(PersonRole(person_id=person.id, role=role))
        return person.id


async def a_notice_by(database: Database, app: App, author: int) -> None:
    async with database.unit_of_work() as uow:
        notice = await uow.broadcasts.add(
            Broadcast(author=f"person:{author}", audience="volunteers", texts={"it": TEXT})
        )
        await fan_out(uow, notice, app.engine.settings, SystemClock().now())
    app.delivery.poke()


async def a_minute_passes(database: Database) -> None:
    """The broadcast's next check, planned a minute on, is due now; wait until it fired."""
    async with database.unit_of_work() as uow:
        pending = select(Reminder).where(Reminder.kind == REPORT, Reminder.status == "pending")
        (check,) = (await uow.session.exec(pending)).all()
        check.due_at = SystemClock().now()
    deadline = asyncio.get_running_loop().time() + 10
    while True:
        async with database.unit_of_work() as uow:
            fired = await uow.session.get(Reminder, check.id)
            if fired is not None and fired.status != "pending":
                return
        assert asyncio.get_running_loop().time() < deadline, "the check did not fire"
        await asyncio.sleep(0.02)


async def progress_rows(database: Database, count: int) -> list[OutboxMessage]:
    """The author's progress messages, once `count` of them are done with."""
    deadline = asyncio.get_running_loop().time() + 10
    while True:
        async with database.unit_of_work() as uow:
            live = select(OutboxMessage).where(col(OutboxMessage.replaces).is_not(None))
            rows = list((await uow.session.exec(live.order_by(col(OutboxMessage.id)))).all())
        if len(rows) == count and all(r.status not in ("queued", "sending") for r in rows):
            return rows
        assert asyncio.get_running_loop().time() < deadline, [(r.id, r.status) for r in rows]
        await asyncio.sleep(0.02)


async def lives_in(app: App, who: TranscriptPerson, timezone: str) -> None:
    """Someone's own time zone (their quiet hours follow it)."""
    async with app.database.unit_of_work() as uow:
        account = await uow.people.account(who.on, who.address)
        assert account is not None
        person = await uow.people.get(account.person_id)
        assert person is not None
        person.timezone = timezone


def volunteers_reached(telegram: FakeTelegram) -> int:
    return sum(len(telegram.texts_to(chat)) for chat in VOLUNTEERS)


async def reached(telegram: FakeTelegram, database: Database, count: int) -> None:
    """`count` volunteers have the notice, and the outbox says so: a check counts what
    the database holds, which a sent message reaches a moment after the platform."""
    addresses = [str(chat) for chat in VOLUNTEERS]
    await telegram.wait_for(lambda: volunteers_reached(telegram) == count)
    deadline = asyncio.get_running_loop().time() + 10
    while True:
        async with database.unit_of_work() as uow:
            sent = select(OutboxMessage).where(
                col(OutboxMessage.address).in_(addresses), OutboxMessage.status == "sent"
            )
            if len((await uow.session.exec(sent)).all()) == count:
                return
        assert asyncio.get_running_loop().time() < deadline, "the sends were not recorded"
        await asyncio.sleep(0.02)


def hold_two_volunteers(telegram: FakeTelegram) -> None:
    """Flood control for the first two notices: one goes a second later, one 4 seconds."""
    telegram.fail_next("sendMessage", 429, retry_after=1)
    telegram.fail_next("sendMessage", 429, retry_after=4)


@pytest.mark.parametrize("backend", ["sqlite"])
@pytest.mark.parametrize("driver", ["aiogram", "ptb"])
async def test_on_telegram_one_progress_message_is_edited_then_the_report_comes(
    database: Database, telegram: FakeTelegram, driver: str
):
    giulia = await someone(database, "coordinator", "telegram", str(GIULIA))
    for chat in VOLUNTEERS:
        await someone(database, "volunteer", "telegram", str(chat))
    hold_two_volunteers(telegram)
    settings = settings_for(
        database.url,
        telegram=telegram,
        driver=driver,
        CISONO_QUIET_HOURS="off",
        CISONO_SWEEP_SECONDS=0.1,
    )
    async with running(settings) as runner:
        await a_notice_by(database, runner.app, giulia)
        await telegram.wait_for(lambda: len(telegram.calls_to("sendMessage")) == 3)
        await reached(telegram, database, 1)

        # the first check: one of three has gone; Giulia gets a progress message
        await a_minute_passes(database)
        assert await telegram.wait_for_texts(GIULIA, 1) == [STILL.format(1, 3, 2)]
        (first,) = await progress_rows(database, 1)
        assert first.provider_id is not None
        message_id = int(first.provider_id)

        # the next check, once a second volunteer got it: the same message, edited
        await reached(telegram, database, 2)
        await a_minute_passes(database)
        await telegram.wait_for(lambda: len(telegram.calls_to("editMessageText")) == 1)
        (edit,) = telegram.calls_to("editMessageText")
        assert (edit["chat_id"], edit["message_id"]) == (GIULIA, message_id)
        assert telegram.message_text(GIULIA, message_id) == STILL.format(2, 3, 1)

        # nothing moved since: Telegram answers "message is not modified", which is fine
        await a_minute_passes(database)
        rows = await progress_rows(database, 3)
        assert [(r.status, r.provider_id) for r in rows[1:]] == [("sent", str(message_id))] * 2
        assert len(telegram.calls_to("editMessageText")) == 2

        # a message Telegram will not edit any more: the figures come in a new one
        refusal = "Bad Request: message can't be edited"
        telegram.fail_next("editMessageText", 400, description=refusal)
        await a_minute_passes(database)
        texts = await telegram.wait_for_texts(GIULIA, 2)
        assert texts == [STILL.format(1, 3, 2), STILL.format(2, 3, 1)]
        rows = await progress_rows(database, 4)
        assert rows[-1].status == "sent" and rows[-1].provider_id != str(message_id)

        # the last volunteer gets it: the next check sends the report
        await reached(telegram, database, 3)
        await a_minute_passes(database)
        texts = await telegram.wait_for_texts(GIULIA, 3)
        assert texts[-1].startswith("📊 Resoconto dell'avviso #1 a Volontari:")
        assert "destinatari 3, inviati 3" in texts[-1]
        async with database.unit_of_work() as uow:
            pending = select(Reminder).where(Reminder.status == "pending")
            assert (await uow.session.exec(pending)).all() == []  # no more checks
    assert len(telegram.calls_to("editMessageText")) == 3  # edited, unchanged, refused


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_a_whatsapp_author_gets_no_progress_only_the_report(
    database: Database, telegram: FakeTelegram, twilio: FakeTwilio
):
    paolo = await someone(database, "coordinator", "whatsapp", PAOLO)
    twilio.open_window(PAOLO)
    for chat in VOLUNTEERS:
        await someone(database, "volunteer", "telegram", str(chat))
    hold_two_volunteers(telegram)
    settings = settings_for(
        database.url,
        telegram=telegram,
        twilio=twilio,
        CISONO_QUIET_HOURS="off",
        CISONO_SWEEP_SECONDS=0.1,
    )
    async with running(settings) as runner:
        await a_notice_by(database, runner.app, paolo)
        await telegram.wait_for(lambda: len(telegram.calls_to("sendMessage")) == 3)
        await a_minute_passes(database)
        await reached(telegram, database, 2)
        await a_minute_passes(database)
        rows = await progress_rows(database, 2)
        assert [(r.status, r.failure_reason) for r in rows] == [("skipped", NO_EDITS)] * 2
        assert twilio.bodies_to(f"whatsapp:{PAOLO}") == []

        await reached(telegram, database, 3)
        await a_minute_passes(database)
        await twilio.wait_for(lambda: len(twilio.bodies_to(f"whatsapp:{PAOLO}")) == 1)
    (report,) = twilio.bodies_to(f"whatsapp:{PAOLO}")
    assert report.startswith("📊 Resoconto dell'avviso #1 a Volontari:")
    assert telegram.calls_to("editMessageText") == []


@pytest.mark.parametrize("backend", ["memory"])
async def test_a_terminal_author_gets_only_the_report(
    app: App, clock: FakeClock, channel: RecordingChannel
):
    giulia = await a_coordinator(app, channel)  # the terminal cannot edit a message
    await a_volunteer(app, channel, "Marco Blu")
    sara = await a_volunteer(app, channel, "Sara Rosa")
    await lives_in(app, sara, "America/Los_Angeles")  # 01:00 there: it waits for 08:00
    await giulia.says("menu")
    await giulia.says("avvisi")
    await giulia.taps("Nuovo avviso")
    await giulia.says(TEXT)
    await giulia.taps("Volontari")
    await giulia.taps("Salta")
    assert "Avviso #1 in partenza per 2 persone." in await giulia.taps("Invia")

    await time_passes(app, clock, minutes=1)
    await time_passes(app, clock, minutes=1)
    assert giulia.unread() == []  # the checks found Sara's notice waiting: no progress
    await time_passes(app, clock, hours=7)  # 08:02 in California
    assert [m.text for m in sara.unread()] == [f"📢 {TEXT}"]
    await time_passes(app, clock, minutes=1)
    (report,) = giulia.unread()
    assert report.text.startswith("📊 Resoconto dell'avviso #1 a Volontari:")
    assert "destinatari 2, inviati 2" in report.text
    async with app.database.unit_of_work() as uow:
        live = select(OutboxMessage).where(col(OutboxMessage.replaces).is_not(None))
        rows = (await uow.session.exec(live)).all()
    assert len(rows) == 3 and {(r.status, r.failure_reason) for r in rows} == {
        ("skipped", NO_EDITS)
    }


@pytest.mark.parametrize("backend", ["memory"])
async def test_progress_held_by_the_authors_night_is_dropped_for_the_report(
    app: App, clock: FakeClock, channel: RecordingChannel
):
    editing = EditingChannel()
    app.delivery.channels = dict.fromkeys(app.delivery.channels, editing)
    giulia = await a_coordinator(app, editing)
    await a_volunteer(app, editing, "Marco Blu")
    sara = await a_volunteer(app, editing, "Sara Rosa")
    await lives_in(app, sara, "Asia/Tokyo")
    clock.advance(hours=10, minutes=30)  # 19:30 UTC: 20:30 in Rome, 04:30 in Tokyo
    await giulia.says("menu")
    await giulia.says("avvisi")
    await giulia.taps("Nuovo avviso")
    await giulia.says(TEXT)
    await giulia.taps("Volontari")
    await giulia.taps("Salta")
    await giulia.taps("Invia")

    await time_passes(app, clock, minutes=1)
    (progress,) = giulia.unread()
    assert progress.text == STILL.format(1, 2, 1)
    await time_passes(app, clock, minutes=1)  # edited in place
    assert giulia.unread() == [] and len(editing.edits) == 1
    for _ in range(4):  # night in Rome: the progress waits for the morning
        await time_passes(app, clock, hours=1)
    assert [m.text for m in sara.unread()] == [f"📢 {TEXT}"]  # 08:32 in Tokyo
    await time_passes(app, clock, minutes=1)  # nothing waits: the report (also in the morning)
    assert giulia.unread() == []
    await time_passes(app, clock, hours=8)  # 08:33 in Rome
    (report,) = giulia.unread()
    assert report.text.startswith("📊 Resoconto dell'avviso #1 a Volontari:")
    assert len(editing.edits) == 1  # no burst of stale edits in the morning
    async with app.database.unit_of_work() as uow:
        live = select(OutboxMessage).where(col(OutboxMessage.replaces).is_not(None))
        rows = (await uow.session.exec(live.order_by(col(OutboxMessage.id)))).all()
    assert [(r.status, r.failure_reason) for r in rows] == [
        ("sent", None),
        ("sent", None),
        *[("skipped", "the report follows")] * 4,
    ]
