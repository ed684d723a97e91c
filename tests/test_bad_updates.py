"""Whatever reaches the webhooks, the bot answers it plainly and keeps working: Telegram
updates with fields missing or of the wrong type, kinds it does not know, bodies that
are not updates at all; Twilio forms from no number or with strange fields; text at
unicode's edges (RTL, emoji, zero-width, NUL, lone surrogates, 5,000 characters). On
PostgreSQL, which refuses a NUL character that SQLite keeps.

A webhook must answer 2xx for what it can never handle (a platform sends a refused
update again and again) and 5xx only when trying again could help."""

from __future__ import annotations

import asyncio
import copy
import itertools
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from twilio.request_validator import RequestValidator

from bot.runner import Runner
from storage.unit_of_work import Database
from tests.conftest import TABLES
from tests.fake_telegram import FakeTelegram
from tests.fake_twilio import FakeTwilio
from tests.platforms import settings_for

EXAMPLES = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
NASTY_TEXTS = [
    "ciao",
    "\u202eilatnemirepse\u202c",  # right-to-left override
    "مرحبا، أريد المساعدة",
    "👨‍👩‍👧‍👦🇮🇹",
    "a\u200bb\u200cc\u200dd\ufeff",  # zero-width characters and a BOM
    "\x00",
    "Maria\x00Rossi",
    "\ud800 alone",  # a lone surrogate: JSON can carry it, UTF-8 cannot
    "𝕄𝕒𝕣𝕚𝕒 ℝ𝕠𝕤𝕤𝕚",
    "\r\n\t\x0b\x1b[31m",
    "",
    "x" * 5000,
]
texts = st.one_of(st.sampled_from(NASTY_TEXTS), st.text(max_size=40))
form_texts = texts.filter(lambda t: "\ud800" not in t)  # a form is UTF-8: no lone surrogate
junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)
FIELDS = [
    ("message",),
    ("message", "message_id"),
    ("message", "date"),
    ("message", "text"),
    ("message", "chat"),
    ("message", "chat", "id"),
    ("message", "chat", "type"),
    ("message", "from"),
    ("message", "from", "id"),
    ("message", "from", "first_name"),
    ("message", "from", "is_bot"),
]
UNKNOWN_KINDS = ["edited_message", "channel_post", "my_chat_member", "poll", "zz_next_year"]
ids = itertools.count(1)
FORM = "application/x-www-form-urlencoded"  # built here: aiohttp refuses odd field names


@dataclass
class Platforms:
    telegram: FakeTelegram
    twilio: FakeTwilio
    runner: Runner

    @property
    def inbound_url(self) -> str:
        return f"http://127.0.0.1:{self.runner.port}/twilio/inbound"


@pytest.fixture(scope="module")
def loop() -> Iterator[asyncio.Runner]:
    with asyncio.Runner() as loop:
        yield loop


@pytest.fixture(scope="module", params=["aiogram", "ptb"])
def platforms(
    request: pytest.FixtureRequest, loop: asyncio.Runner, postgres_url: str
) -> Iterator[Platforms]:
    """`cisono run` on PostgreSQL with a Telegram webhook and Twilio, for the module."""

    async def start() -> Platforms:
        database = Database(postgres_url)
        async with database.engine.begin() as connection:
            await connection.exec_driver_sql(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE")
        await database.dispose()
        telegram, twilio = FakeTelegram(), FakeTwilio()
        await telegram.start()
        await twilio.start()
        settings = settings_for(
            postgres_url, telegram=telegram, driver=request.param, webhook=True, twilio=twilio
        )
        runner = Runner(settings)
        await runner.start()
        return Platforms(telegram, twilio, runner)

    running = loop.run(start())
    yield running
    loop.run(running.runner.stop())
    loop.run(running.telegram.stop())
    loop.run(running.twilio.stop())
    assert running.telegram.violations == [], "the bot spoke something else than the Bot API"


def message_update(text: str, chat: int | None = None) -> tuple[int, dict[str, Any]]:
    """A private text message (from a chat never seen, unless given), as the Bot API
    sends it."""
    chat = chat or 6_000_000 + next(ids)
    user = {"id": chat, "is_bot": False, "first_name": "Maria"}
    message = {
        "message_id": next(ids),
        "date": 1_767_225_600,
        "chat": {"id": chat, "type": "private", "first_name": "Maria"},
        "from": user,
        "text": text,
    }
    return chat, {"update_id": 10_000_000 + next(ids), "message": message}


async def says(telegram: FakeTelegram, text: str, chat: int | None = None) -> tuple[int, str]:
    """The chat (a new one, unless given) writes `text` to the webhook; its answer."""
    chat, update = message_update(text, chat)
    before = len(telegram.texts_to(chat))
    await telegram.deliver_raw(update)
    assert telegram.webhook_responses[-1] == 200
    await telegram.wait_for(lambda: len(telegram.texts_to(chat)) > before)
    return chat, telegram.texts_to(chat)[-1]


@st.composite
def malformed_updates(draw: st.DrawFn) -> Any:
    """A message update with one thing wrong, or something that is no update at all."""
    _, update = message_update(draw(texts))
    how = draw(st.sampled_from(["drop", "retype", "kind", "not an object", "no id"]))
    if how == "not an object":
        return draw(st.one_of(st.lists(st.integers(), max_size=3), st.text(), st.none()))
    if how == "no id":
        update["update_id"] = draw(st.one_of(st.none(), st.text(max_size=5), st.booleans()))
        return update
    if how == "kind":
        update[draw(st.sampled_from(UNKNOWN_KINDS))] = update.pop("message")
        return update
    *path, last = draw(st.sampled_from(FIELDS))
    parent = update
    for key in path:
        parent = parent[key]
    if how == "drop":
        del parent[last]
    else:
        parent[last] = draw(junk)
    return update


async def answered(telegram: FakeTelegram, chat: int) -> str:
    await telegram.wait_for(lambda: bool(telegram.texts_to(chat)))
    return telegram.texts_to(chat)[0]


@EXAMPLES
@given(text=texts)
def test_any_text_at_the_name_step_is_answered(
    loop: asyncio.Runner, platforms: Platforms, text: str
):
    """At the name step the text is stored (where a NUL stopped PostgreSQL)."""

    async def play() -> None:
        chat, _ = await says(platforms.telegram, "ciao")
        for answer in ("1", "sì", "salta"):  # Italian, consent, no number shared
            _, asked = await says(platforms.telegram, answer, chat)
        assert "Come ti chiami?" in asked
        _, reply = await says(platforms.telegram, text, chat)
        assert reply.strip()

    loop.run(play())


@EXAMPLES
@given(update=malformed_updates())
def test_a_malformed_telegram_update_is_acknowledged_not_retried_forever(
    loop: asyncio.Runner, platforms: Platforms, update: Any
):
    async def play() -> None:
        await platforms.telegram.deliver_raw(copy.deepcopy(update))
        # 200: handled, or skipped as unusable; never 5xx, which Telegram would retry
        assert platforms.telegram.webhook_responses[-1] == 200, update
        _, reply = await says(platforms.telegram, "ciao")  # and the bot talks on
        assert "In che lingua" in reply

    loop.run(play())


def number() -> str:
    return f"+39333{7_000_000 + next(ids):07d}"


@st.composite
def twilio_forms(draw: st.DrawFn) -> tuple[dict[str, str], str | None]:
    """A signed inbound form, with the number it should be answered at (None: none)."""
    sender = number()
    form = {
        "MessageSid": "SM" + f"{next(ids):032x}",
        "AccountSid": "AC" + "0" * 32,
        "From": f"whatsapp:{sender}",
        "To": "whatsapp:+14155238886",
        "Body": draw(form_texts),
        "ProfileName": draw(form_texts),
        "NumMedia": "0",
    }
    expected: str | None = f"whatsapp:{sender}"
    how = draw(st.sampled_from(["as is", "drop", "junk", "extra", "bad sender"]))
    if how == "drop":
        field = draw(st.sampled_from(sorted(form)))
        del form[field]
        expected = None if field == "From" else expected
    elif how == "junk":
        field = draw(st.sampled_from(["Body", "ProfileName", "MessageSid", "ButtonPayload"]))
        form[field] = draw(form_texts)
        if field == "MessageSid":  # odd, yet never seen before: a sid seen is a replay
            form[field] += f" {next(ids)}"
    elif how == "extra":
        form["X" + draw(st.text(max_size=10))] = draw(form_texts)
    elif how == "bad sender":
        form["From"] = draw(st.sampled_from(["", "whatsapp:", "whatsapp:+", "ciao", "+0"]))
        expected = None
    return form, expected


@EXAMPLES
@given(sample=twilio_forms())
def test_any_twilio_form_is_answered_plainly(
    loop: asyncio.Runner, platforms: Platforms, sample: tuple[dict[str, str], str | None]
):
    form, expected = sample
    url = platforms.inbound_url
    signature = RequestValidator(platforms.twilio.auth_token).compute_signature(url, form)
    headers = {"X-Twilio-Signature": signature, "Content-Type": FORM}

    async def play() -> None:
        if expected is not None:
            platforms.twilio.open_window(expected)  # it comes from WhatsApp
        async with (
            aiohttp.ClientSession() as http,
            http.post(url, data=urlencode(form), headers=headers) as response,
        ):
            assert response.status == 200, form
        if expected is not None:
            await platforms.twilio.wait_for(lambda: bool(platforms.twilio.bodies_to(expected)))

    loop.run(play())


def test_a_message_id_too_long_to_record_is_answered_once(
    loop: asyncio.Runner, platforms: Platforms
):
    sender = f"whatsapp:+39333700{next(ids) % 10_000:04d}"
    form = {
        "MessageSid": "SM" + "x" * 5000,  # no platform's is; a forged one could be
        "AccountSid": "AC00000000000000000000000000000000",
        "From": sender,
        "To": "whatsapp:+14155238886",
        "Body": "ciao",
        "NumMedia": "0",
    }
    url = platforms.inbound_url
    signature = RequestValidator(platforms.twilio.auth_token).compute_signature(url, form)
    headers = {"X-Twilio-Signature": signature, "Content-Type": FORM}

    async def play() -> None:
        platforms.twilio.open_window(sender)
        async with aiohttp.ClientSession() as http:
            for _ in range(2):  # the second time, a replay
                async with http.post(url, data=urlencode(form), headers=headers) as response:
                    assert response.status == 200
        await platforms.twilio.wait_for(lambda: bool(platforms.twilio.bodies_to(sender)))
        await asyncio.sleep(0.3)  # a second answer would have come by now
        assert len(platforms.twilio.bodies_to(sender)) == 1

    loop.run(play())


def test_a_malformed_update_does_not_stop_polling(
    loop: asyncio.Runner, sqlite_template: Path, tmp_path: Path
):
    """Polling reads updates in batches: one that cannot be read is skipped, the ones
    after it are answered, and it is not asked for again."""

    async def play(driver: str) -> None:
        path = tmp_path / f"{driver}.db"  # not the module's database: its own worker
        shutil.copy(sqlite_template, path)
        async with FakeTelegram() as telegram:
            runner = Runner(settings_for(f"sqlite:///{path}", telegram=telegram, driver=driver))
            await runner.start()
            try:
                chat, good = message_update("ciao")
                bad = {"update_id": good["update_id"] - 1, "message": {"chat": "?"}}
                await telegram.deliver_raw(bad)
                await telegram.deliver_raw(good)
                assert "In che lingua" in await answered(telegram, chat)
                chat, later = message_update("ciao")
                await telegram.deliver_raw(later)  # polling goes on past both
                await answered(telegram, chat)
            finally:
                await runner.stop()

    for driver in ("aiogram", "ptb"):
        loop.run(play(driver))
