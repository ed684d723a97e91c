"""Delivery lanes: a broadcast waiting on one platform's rate limit holds up neither the
other platform nor a reply to someone who is chatting."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from bot.delivery import Delivery
from bot.ratelimit import RateLimits
from bot.rendering import Rendered
from flows.messages import Reply
from storage.outbox import BROADCAST, REPLY
from storage.tables import OutboxMessage
from storage.unit_of_work import Database
from tests.fakes import FakeClock

NOTICES = 12  # per platform, at 2 a second after a burst of 2: five seconds
RATE = 2  # slow enough that a busy machine's slower claim still shows the reply ahead


class TimedChannel:
    """Notes when each message went out."""

    def __init__(self) -> None:
        self.sent: list[tuple[float, str, str]] = []  # (time, address, text)

    async def send(self, address: str, message: Rendered) -> str | None:
        self.sent.append((time.monotonic(), address, message.text))
        return f"id-{len(self.sent)}"


async def until(condition: Callable[[], bool]) -> None:
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("not within 10 s")


def _queued(channel: str, address: str, priority: int) -> OutboxMessage:
    return OutboxMessage(
        channel=channel,
        address=address,
        locale="it",
        timezone="Europe/Rome",
        body=Reply("help.general").to_json(),
        priority=priority,
        next_attempt_at=FakeClock().now(),
    )


async def test_a_reply_and_the_other_platform_do_not_wait_for_a_broadcast(database: Database):
    telegram, sms = TimedChannel(), TimedChannel()
    delivery = Delivery(
        database,
        {"telegram": telegram, "sms": sms},
        FakeClock(),
        limits=RateLimits({"telegram": RATE, "sms": RATE}),
    )
    async with database.unit_of_work() as uow:
        for n in range(NOTICES):
            uow.outbox.add(_queued("telegram", f"t{n}", BROADCAST))
        for n in range(NOTICES):
            uow.outbox.add(_queued("sms", f"w{n}", BROADCAST))
    stop = asyncio.Event()
    running = asyncio.create_task(delivery.run(stop))
    delivery.poke()
    await until(lambda: len(telegram.sent) >= 2)  # the broadcast is under way
    async with database.unit_of_work() as uow:
        uow.outbox.add(_queued("telegram", "maria", REPLY))  # Maria writes meanwhile
    delivery.poke()
    await until(lambda: len(telegram.sent) + len(sms.sent) == 2 * NOTICES + 1)
    stop.set()
    await asyncio.wait_for(running, timeout=5)

    # every message once
    assert sorted(a for _, a, _ in telegram.sent) == sorted(
        [*(f"t{n}" for n in range(NOTICES)), "maria"]
    )
    assert sorted(a for _, a, _ in sms.sent) == sorted(f"w{n}" for n in range(NOTICES))
    # the platforms went side by side: SMS started before Telegram had finished
    assert sms.sent[0][0] < telegram.sent[-1][0]
    # Maria's reply did not queue behind the rest of Telegram's broadcast
    order = [address for _, address, _ in telegram.sent]
    assert order.index("maria") < len(order) - NOTICES // 2
