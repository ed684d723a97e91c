"""The webhooks under abuse: huge bodies, replays, and what the logs must never say.
`cisono run` against the fake Bot API and the fake Twilio, over real HTTP."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import aiohttp
import pytest
from sqlmodel import select

from bot.http import MAX_BODY
from bot.runner import Runner
from storage.tables import ProcessedInbound
from tests.fake_telegram import FakeTelegram
from tests.fake_twilio import FakeTwilio
from tests.platforms import WEBHOOK_SECRET, outbox, people, running, settings_for, settled

pytestmark = pytest.mark.parametrize("backend", ["sqlite"])  # the engine is tested elsewhere
MARIA_TG = 4242
MARIA = "+393331112222"
WA_MARIA = f"whatsapp:{MARIA}"
PATHS = ("/telegram/webhook", "/twilio/inbound", "/twilio/status")


@pytest.fixture
async def bot(
    telegram: FakeTelegram, twilio: FakeTwilio, database_url: str
) -> AsyncIterator[Runner]:
    settings = settings_for(database_url, telegram=telegram, webhook=True, twilio=twilio)
    async with running(settings) as runner:
        yield runner


def headers_for(path: str) -> str:
    if path.startswith("/telegram"):
        secret = f"X-Telegram-Bot-Api-Secret-Token: {WEBHOOK_SECRET}\r\n"
        return "Content-Type: application/json\r\n" + secret
    return "Content-Type: application/x-www-form-urlencoded\r\nX-Twilio-Signature: x\r\n"


async def status_line(reader: asyncio.StreamReader) -> int:
    line = await asyncio.wait_for(reader.readline(), timeout=10)
    return int(line.split()[1])


async def nothing_was_handled(runner: Runner, telegram: FakeTelegram, twilio: FakeTwilio) -> None:
    assert await people(runner.app.database) == []
    assert await outbox(runner.app.database) == []
    async with runner.app.database.unit_of_work() as uow:
        assert (await uow.session.exec(select(ProcessedInbound))).all() == []
    assert telegram.calls_to("sendMessage") == [] and twilio.messages == []


@pytest.mark.parametrize("path", PATHS)
async def test_a_huge_declared_body_is_refused_unread(
    bot: Runner, telegram: FakeTelegram, twilio: FakeTwilio, path: str
):
    """Content-Length says 64 MiB: the answer comes before the body is even sent."""
    reader, writer = await asyncio.open_connection("127.0.0.1", bot.port)
    length = f"Content-Length: {64 * MAX_BODY}\r\n"
    head = f"POST {path} HTTP/1.1\r\nHost: x\r\n{headers_for(path)}{length}\r\n"
    writer.write(head.encode() + b"{" * 1024)
    await writer.drain()
    assert await status_line(reader) == 413
    writer.close()
    await nothing_was_handled(bot, telegram, twilio)


@pytest.mark.parametrize("path", PATHS)
async def test_a_huge_streamed_body_is_cut_off(
    bot: Runner, telegram: FakeTelegram, twilio: FakeTwilio, path: str
):
    """No Content-Length, chunks that never end: refused once past the limit."""
    reader, writer = await asyncio.open_connection("127.0.0.1", bot.port)
    head = (
        f"POST {path} HTTP/1.1\r\nHost: x\r\n{headers_for(path)}Transfer-Encoding: chunked\r\n\r\n"
    )
    writer.write(head.encode())
    answer = asyncio.create_task(status_line(reader))
    chunk = 64 * 1024
    sent = 0
    try:
        while not answer.done() and sent < 32 * MAX_BODY:
            writer.write(f"{chunk:x}\r\n".encode() + b"a" * chunk + b"\r\n")
            await writer.drain()
            sent += chunk
            await asyncio.sleep(0)
    except ConnectionError:
        pass  # the server answered and hung up while we were still writing
    assert await answer == 413
    assert sent < 16 * MAX_BODY  # refused soon after the limit, not at the end of the flood
    writer.close()
    await nothing_was_handled(bot, telegram, twilio)


async def test_a_large_but_sane_body_is_handled(
    bot: Runner, telegram: FakeTelegram, twilio: FakeTwilio
):
    status, _ = await twilio.send_inbound(
        f"http://127.0.0.1:{bot.port}/twilio/inbound", WA_MARIA, "ciao " * (MAX_BODY // 8)
    )
    assert status == 200
    await twilio.wait_for(lambda: len(twilio.bodies_to(WA_MARIA)) == 1)
    assert "In che lingua" in twilio.bodies_to(WA_MARIA)[0]
    await telegram.user_sends_text(MARIA_TG, "ciao " * (MAX_BODY // 8))
    (welcome,) = await telegram.wait_for_texts(MARIA_TG, 1)
    assert "In che lingua" in welcome
    assert telegram.webhook_responses == [200]


LUCA = "+393339998888"
WA_LUCA = f"whatsapp:{LUCA}"
SECRET_WORDS = ("parola-riservata-7781", "testo-privato-5512", "Ottavia Quercioli")


@pytest.mark.parametrize("driver", ["aiogram", "ptb"])
async def test_logs_at_info_say_no_secret_no_number_no_text(
    telegram: FakeTelegram,
    twilio: FakeTwilio,
    database_url: str,
    caplog: pytest.LogCaptureFixture,
    driver: str,
):
    caplog.set_level(logging.INFO)
    settings = settings_for(
        database_url, telegram=telegram, driver=driver, webhook=True, twilio=twilio
    )
    async with running(settings) as runner:
        inbound = f"http://127.0.0.1:{runner.port}/twilio/inbound"
        # Telegram: a sign-up with a shared contact, and a message to a user who blocks us
        for step in ("ciao", "1", "sì"):
            count = len(telegram.texts_to(MARIA_TG))
            await telegram.user_sends_text(MARIA_TG, step)
            await telegram.wait_for_texts(MARIA_TG, count + 1)
        await telegram.user_shares_contact(MARIA_TG, MARIA.removeprefix("+"))
        await telegram.wait_for(lambda: "Come ti chiami" in telegram.texts_to(MARIA_TG)[-1])
        await telegram.user_sends_text(MARIA_TG, SECRET_WORDS[2])
        await telegram.wait_for(lambda: "Chi sei" in telegram.texts_to(MARIA_TG)[-1])
        await telegram.user_sends_text(MARIA_TG, SECRET_WORDS[0])  # not understood
        await telegram.wait_for(lambda: "Chi sei" in telegram.texts_to(MARIA_TG)[-1])
        telegram.block(MARIA_TG)
        await telegram.user_sends_text(MARIA_TG, "famiglia")
        async with aiohttp.ClientSession() as http:  # a forged secret
            url = f"http://127.0.0.1:{runner.port}/telegram/webhook"
            async with http.post(url, json={"update_id": 1}, headers={}) as response:
                assert response.status == 403
        # WhatsApp: a conversation, delivery reports, a failure, a forgery, a bad sender
        for text in (SECRET_WORDS[1], "1", "sì"):
            count = len(twilio.bodies_to(WA_LUCA))
            assert (await twilio.send_inbound(inbound, WA_LUCA, text, profile_name="Luca"))[
                0
            ] == 200
            await twilio.wait_for(lambda n=count: len(twilio.bodies_to(WA_LUCA)) > n)
        assert set(await twilio.report(twilio.messages[0]["sid"], "sent", "delivered")) == {200}
        twilio.opt_out(MARIA)
        assert (await twilio.send_inbound(inbound, MARIA, SECRET_WORDS[1]))[0] == 200  # SMS
        await twilio.wait_for(lambda: len(twilio.rejected) == 1)
        assert (await twilio.send_inbound(inbound, WA_LUCA, "ciao", forged=True))[0] == 403
        assert (await twilio.send_inbound(inbound, "whatsapp:", SECRET_WORDS[1]))[0] == 200
        await settled(runner.app.database)
    said = [
        "\n".join(filter(None, (r.getMessage(), r.exc_text, r.stack_info)))
        for r in caplog.records
        if r.levelno >= logging.INFO
    ]
    assert said, "nothing was logged at all: the capture does not work"
    forbidden = (
        telegram.token,
        twilio.auth_token,
        WEBHOOK_SECRET,
        MARIA,
        MARIA.removeprefix("+"),
        LUCA,
        LUCA.removeprefix("+"),
        *SECRET_WORDS,
    )
    leaks = [(word, line) for line in said for word in forbidden if word in line]
    assert leaks == []


async def test_a_webhook_replayed_while_it_is_being_handled_counts_once(
    bot: Runner, telegram: FakeTelegram, twilio: FakeTwilio
):
    """The platforms retry when we are slow: the copies arrive together, not in turn
    (sequential replays are in test_telegram.py and test_twilio.py)."""
    update = await telegram.user_sends_text(MARIA_TG, "ciao")
    await asyncio.gather(*(telegram.deliver_again(update) for _ in range(5)))
    url = f"http://127.0.0.1:{bot.port}/twilio/inbound"
    sid = "SM" + "7" * 32
    answers = await asyncio.gather(
        *(twilio.send_inbound(url, WA_MARIA, "ciao", message_sid=sid) for _ in range(6))
    )
    assert {status for status, _ in answers} == {200}
    assert set(telegram.webhook_responses) == {200}
    await settled(bot.app.database)
    assert len(telegram.texts_to(MARIA_TG)) == 1
    assert len(twilio.bodies_to(WA_MARIA)) == 1
    async with bot.app.database.unit_of_work() as uow:
        seen = (await uow.session.exec(select(ProcessedInbound))).all()
    assert len(seen) == 2
