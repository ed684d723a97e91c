"""The database goes away under load and comes back: `cisono run` answers the webhooks
5xx meanwhile (the platforms deliver again), says so on /healthz, and recovers by itself;
every message gets its reply exactly once. A PostgreSQL server of the test's own, stopped
with `pg_ctl stop -m fast` (the shared one on 5432 is left alone)."""

from __future__ import annotations

import asyncio
import secrets
from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest
from sqlmodel import select

from flows.config import SystemClock
from storage.tables import OutboxMessage, Person, Reminder, Shift, ShiftAssignment
from storage.unit_of_work import Database
from tests.fake_telegram import FakeTelegram
from tests.fake_twilio import FakeTwilio
from tests.processes import CisonoRun, PrivatePostgres, cisono_env, upgrade

pytestmark = pytest.mark.slow
WHATSAPP_SENDERS = [f"whatsapp:+39333800{n:04d}" for n in range(40)]
TELEGRAM_CHATS = [60_000 + n for n in range(20)]
OUTAGE = 4.0  # seconds without a database, while messages keep coming
WELCOME = "In che lingua"
LINGER = 1.0  # seconds given to a duplicate to show up, if there were one


@pytest.fixture
async def postgres() -> AsyncIterator[PrivatePostgres]:
    server = PrivatePostgres()
    try:
        await asyncio.to_thread(server.init)
        await asyncio.to_thread(server.start)
        yield server
    finally:
        await asyncio.to_thread(server.destroy)


class Platforms:
    """Twilio and Telegram as they behave towards a webhook that fails: the same message
    again (same MessageSid, same update_id) until it is answered 200."""

    def __init__(self, telegram: FakeTelegram, twilio: FakeTwilio, bot: CisonoRun) -> None:
        self.telegram, self.twilio, self.bot = telegram, twilio, bot
        self.answers: Counter[int] = Counter()  # HTTP status (0: no answer) -> how many
        self.tries: Counter[str] = Counter()  # message -> deliveries needed
        self._telegram_turn = asyncio.Lock()  # webhook_responses is one list: one at a time

    async def whatsapp(self, sender: str) -> None:
        sid = "SM" + secrets.token_hex(16)
        url = f"{self.bot.base}/twilio/inbound"
        while True:
            self.tries[sid] += 1
            try:
                status, _ = await self.twilio.send_inbound(url, sender, "ciao", message_sid=sid)
            except aiohttp.ClientError:
                status = 0
            self.answers[status] += 1
            if status == 200:
                return
            await asyncio.sleep(0.3)

    async def telegram_user(self, chat: int) -> None:
        async with self._telegram_turn:
            update = await self.telegram.user_sends_text(chat, "ciao")
            status = self.telegram.webhook_responses[-1]
        key = f"update {update['update_id']}"
        self.tries[key] += 1
        self.answers[status] += 1
        while status != 200:
            await asyncio.sleep(0.3)
            async with self._telegram_turn:
                await self.telegram.deliver_again(update)
                status = self.telegram.webhook_responses[-1]
            self.tries[key] += 1
            self.answers[status] += 1


async def a_shift_reminder_due_now(database: Database) -> None:
    """Written after the outage: the scheduler must still be sweeping."""
    now = SystemClock().now()
    async with database.unit_of_work() as uow:
        person = await uow.people.add(Person(name="Marco Blu", locale="it", consent_at=now))
        assert person.id is not None
        await uow.people.add_account(person.id, "telegram", "777")
        shift = Shift(
            title="Consegna pasti",
            zone="Bologna",
            starts_at=now + timedelta(hours=3),
            ends_at=now + timedelta(hours=4),
        )
        await uow.shifts.add(shift)
        assert shift.id is not None
        uow.session.add(ShiftAssignment(shift_id=shift.id, person_id=person.id))
        uow.session.add(Reminder(kind="shift", subject=f"shift:{shift.id}", label="2h", due_at=now))


async def test_a_database_outage_under_load_loses_nothing_and_heals_by_itself(
    postgres: PrivatePostgres, telegram: FakeTelegram, twilio: FakeTwilio, tmp_path: Path
):
    env = cisono_env(
        postgres.url,
        telegram=telegram,
        twilio=twilio,
        CISONO_SWEEP_SECONDS=0.5,
        TELEGRAM_CHAT_RATE_LIMIT=100,
        CISONO_OUTBOX_LEASE=2,  # claims left when the database went away: free again soon
    )
    await upgrade(env)
    bot = CisonoRun(env, tmp_path / "run.log")
    await bot.start()
    platforms = Platforms(telegram, twilio, bot)
    health_down: list[int] = []

    async def load() -> None:
        """A message every 60 ms for about 6 s, before, during and after the outage."""
        senders = [platforms.whatsapp(s) for s in WHATSAPP_SENDERS]
        senders += [platforms.telegram_user(chat) for chat in TELEGRAM_CHATS]
        tasks = []
        for sender in senders[::2] + senders[1::2]:  # both platforms all along
            tasks.append(asyncio.create_task(sender))
            await asyncio.sleep(0.06)
        await asyncio.gather(*tasks)

    traffic = asyncio.create_task(load())
    try:
        await asyncio.sleep(1.0)
        await asyncio.to_thread(postgres.stop)
        stopped = asyncio.get_running_loop().time()
        while asyncio.get_running_loop().time() - stopped < OUTAGE:
            health_down.append((await bot.health())[0])
            await asyncio.sleep(0.25)
        await asyncio.to_thread(postgres.start)
        await asyncio.wait_for(traffic, timeout=60)  # every message answered 200 at last
    finally:
        traffic.cancel()

    database = Database(postgres.url)
    try:
        await a_shift_reminder_due_now(database)
        for sender in WHATSAPP_SENDERS:
            await twilio.wait_for(lambda s=sender: len(twilio.bodies_to(s)) >= 1, timeout=30)
        for chat in TELEGRAM_CHATS:
            await telegram.wait_for_texts(chat, 1, timeout=30)
        (reminder,) = await telegram.wait_for_texts(777, 1, timeout=30)
        await asyncio.sleep(LINGER)
        async with database.unit_of_work() as uow:
            rows = (await uow.session.exec(select(OutboxMessage))).all()
    finally:
        await database.dispose()
    health_after = (await bot.health())[0]
    assert bot.running, bot.output()  # no restart: the same process all along
    assert await bot.stop() == 0, bot.output()

    assert set(health_down) == {503}, health_down
    assert health_after == 200
    assert platforms.answers[503] > 0, platforms.answers  # the outage was felt...
    assert set(platforms.answers) <= {200, 503}, platforms.answers  # ...as 503, never a 500
    assert max(platforms.tries.values()) <= OUTAGE / 0.3 + 3  # delivered again, not stormed
    for sender in WHATSAPP_SENDERS:
        (body,) = twilio.bodies_to(sender)  # exactly one reply each
        assert WELCOME in body
    for chat in TELEGRAM_CHATS:
        (text,) = telegram.texts_to(chat)
        assert WELCOME in text
    assert reminder.startswith("⏰ Promemoria: il turno «Consegna pasti»")
    assert Counter(r.status for r in rows) == {"sent": len(rows)}
    assert len(rows) == len(WHATSAPP_SENDERS) + len(TELEGRAM_CHATS) + 1
    print(
        f"\noutage: {sum(platforms.tries.values())} webhook deliveries for "
        f"{len(platforms.tries)} messages, answers {dict(platforms.answers)}, "
        f"/healthz during the outage {Counter(health_down)}, lost 0, twice 0"
    )


async def test_a_reply_accepted_while_the_database_is_away_is_recorded_not_sent_again(
    postgres: PrivatePostgres, twilio: FakeTwilio, tmp_path: Path
):
    """Twilio takes 3 s to accept the reply; the database goes away meanwhile and comes
    back later: the bot records the send then, instead of sending it again."""
    env = cisono_env(postgres.url, twilio=twilio, CISONO_OUTBOX_LEASE=2)
    await upgrade(env)
    bot = CisonoRun(env, tmp_path / "run.log")
    await bot.start()
    sender = WHATSAPP_SENDERS[0]
    twilio.delay_next(3.0)
    status, _ = await twilio.send_inbound(f"{bot.base}/twilio/inbound", sender, "ciao")
    assert status == 200
    await twilio.wait_for(lambda: not twilio._slow)  # the reply is on its way, slowly
    await asyncio.to_thread(postgres.stop)
    await twilio.wait_for(lambda: len(twilio.messages) == 1)  # accepted, nowhere to record
    await asyncio.sleep(1.0)
    await asyncio.to_thread(postgres.start)
    database = Database(postgres.url)
    try:
        for _ in range(100):
            async with database.unit_of_work() as uow:
                (row,) = (await uow.session.exec(select(OutboxMessage))).all()
            if row.status == "sent":
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(2 + LINGER)  # past the lease: a second send would show now
    finally:
        await database.dispose()
    assert bot.running, bot.output()
    assert await bot.stop() == 0, bot.output()
    (message,) = twilio.messages_to(sender)
    assert (row.status, row.attempts, row.provider_id) == ("sent", 1, message["sid"])
    assert "outcome not recorded yet" in bot.log.read_text()  # it waited for the database
