"""A broadcast to a few thousand people through the fake Telegram and Twilio, with rate
limits, 429s, server errors, blocked chats and opted-out numbers: every recipient gets it
exactly once, and the report matches what the fake servers recorded."""

from __future__ import annotations

from datetime import timedelta

import pytest

from flows.broadcasting import fan_out
from flows.config import SystemClock
from storage.tables import Broadcast, Person, PersonRole
from storage.unit_of_work import Database
from tests.fake_telegram import FakeTelegram
from tests.fake_twilio import FakeTwilio
from tests.platforms import running, settings_for, settled

PER_PLATFORM = 1000
BLOCKED = {20_000 + n for n in range(0, PER_PLATFORM, 250)}  # 4 Telegram chats
OPTED_OUT = {f"+39333{500_000 + n:07d}" for n in range(7, PER_PLATFORM, 400)}  # 3 numbers
TEXT = "Sabato la sede resta aperta fino alle 19."


async def volunteers(database: Database) -> tuple[list[int], list[str]]:
    """Half on Telegram, half on WhatsApp (who wrote within the day: the window is open)."""
    now = SystemClock().now()
    chats = [20_000 + n for n in range(PER_PLATFORM)]
    numbers = [f"+39333{500_000 + n:07d}" for n in range(PER_PLATFORM)]
    async with database.unit_of_work() as uow:
        people = [Person(name=f"Volontario {n}", consent_at=now) for n in range(2 * PER_PLATFORM)]
        uow.session.add_all(people)
        await uow.session.flush()
        for person, address in zip(people, [*map(str, chats), *numbers], strict=True):
            assert person.id is not None
            channel = "telegram" if address.isdigit() else "whatsapp"
            account = await uow.people.add_account(person.id, channel, address)
            account.last_inbound_at = now - timedelta(hours=1)
            uow.session.add(PersonRole(person_id=person.id, role="volunteer"))
    return chats, numbers


@pytest.mark.parametrize("backend", ["postgres"])
async def test_every_recipient_once_and_a_report_that_matches_the_platforms(
    database: Database, telegram: FakeTelegram, twilio: FakeTwilio
):

    chats, numbers = await volunteers(database)

    twilio.auto_report = True  # sent, then delivered, by status callbacks
    for number in numbers:
        twilio.open_window(number)
    for number in OPTED_OUT:
        twilio.opt_out(number)
    for chat in BLOCKED:
        telegram.block(chat)
    telegram.fail_next("sendMessage", 429, retry_after=1, times=3)
    telegram.fail_next("sendMessage", 502, times=2)
    twilio.fail_next(429, times=3)
    twilio.fail_next(500, times=2)
    settings = settings_for(
        database.url,
        telegram=telegram,
        twilio=twilio,
        TELEGRAM_RATE_LIMIT=600,
        TWILIO_WHATSAPP_RATE=400,
        CISONO_QUIET_HOURS="off",  # the test must not depend on the hour it runs at
    )
    async with running(settings) as runner:
        async with database.unit_of_work() as uow:
            notice = await uow.broadcasts.add(
                Broadcast(author="cli", audience="volunteers", texts={"it": TEXT})
            )
            queued = await fan_out(uow, notice, runner.app.engine.settings, SystemClock().now())
        assert queued == 2 * PER_PLATFORM
        runner.app.delivery.poke()
        await settled(database, within=120)
        delivered = PER_PLATFORM - len(OPTED_OUT)
        await twilio.wait_for(
            lambda: (
                sum(c.get("MessageStatus") == "delivered" for c in twilio.callbacks) >= delivered
            ),
            timeout=30,
        )
        async with database.unit_of_work() as uow:
            figures = await uow.broadcasts.figures(notice.id or 0)

    for chat in chats:
        expected = [] if chat in BLOCKED else [f"📢 {TEXT}"]
        assert telegram.texts_to(chat) == expected, chat
    for number in numbers:
        bodies = twilio.bodies_to(f"whatsapp:{number}")
        assert bodies == ([] if number in OPTED_OUT else [f"📢 {TEXT}"]), number

    accepted_by_platforms = sum(len(telegram.texts_to(chat)) for chat in chats) + len(
        twilio.messages
    )
    assert figures.total == 2 * PER_PLATFORM and figures.waiting == 0
    assert figures.sent == accepted_by_platforms == 2 * PER_PLATFORM - len(BLOCKED) - len(OPTED_OUT)
    assert figures.delivered == delivered
    assert sum(figures.failed.values()) == len(BLOCKED) + len(OPTED_OUT)
    assert figures.by_channel == {"telegram": PER_PLATFORM, "whatsapp": PER_PLATFORM}
