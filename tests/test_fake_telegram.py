"""The fake Telegram server speaks the Bot API as python-telegram-bot and aiogram expect it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiogram
import aiohttp
import pytest
import telegram
from aiogram import exceptions as aiogram_errors
from aiogram import types as aiogram_types
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiohttp import web
from telegram import error as ptb_errors
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, ContextTypes

from tests.fake_telegram import FakeTelegram


@dataclass
class Library:
    """A real client library's Bot pointed at the fake, and its exception classes."""

    name: str
    bot: Any
    conflict: type[Exception]
    retry_after: type[Exception]
    forbidden: type[Exception]


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as server:
        yield server


def aiogram_bot(fake: FakeTelegram) -> aiogram.Bot:
    return aiogram.Bot(
        fake.token, session=AiohttpSession(api=TelegramAPIServer.from_base(fake.url))
    )


@pytest.fixture(params=["ptb", "aiogram"])
async def library(request: pytest.FixtureRequest, fake: FakeTelegram) -> AsyncIterator[Library]:
    if request.param == "ptb":
        async with telegram.Bot(fake.token, base_url=f"{fake.url}/bot") as ptb:
            yield Library(
                "ptb", ptb, ptb_errors.Conflict, ptb_errors.RetryAfter, ptb_errors.Forbidden
            )
        return
    bot = aiogram_bot(fake)
    yield Library(
        "aiogram",
        bot,
        aiogram_errors.TelegramConflictError,
        aiogram_errors.TelegramRetryAfter,
        aiogram_errors.TelegramForbiddenError,
    )
    await bot.session.close()


@pytest.fixture
async def webhook() -> AsyncIterator[tuple[str, list[tuple[str | None, dict[str, Any]]]]]:
    """A receiver for webhook POSTs: its URL and what it got (secret header, JSON body)."""
    received: list[tuple[str | None, dict[str, Any]]] = []

    async def receive(request: web.Request) -> web.Response:
        secret = request.headers.get("X-Telegram-Bot-Api-Secret-Token")
        received.append((secret, await request.json()))
        return web.Response()

    app = web.Application()
    app.router.add_post("/hook", receive)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}/hook", received
    await runner.cleanup()


async def test_a_load_balancer_chooses_the_webhook_of_each_update(
    fake: FakeTelegram,
    library: Library,
    webhook: tuple[str, list[tuple[str | None, dict[str, Any]]]],
) -> None:
    url, received = webhook
    assert await library.bot.set_webhook(url="http://127.0.0.1:9/nobody-here")
    fake.webhook_for = lambda update: url  # several bots behind one address, say
    update = await fake.user_sends_text(5, "ciao")
    assert received == [(None, update)]
    assert fake.webhook_responses == [200]


async def test_ptb_sends_keyboards_and_documents_and_answers_taps(fake: FakeTelegram) -> None:
    async with telegram.Bot(fake.token, base_url=f"{fake.url}/bot") as bot:
        me = await bot.get_me()
        keyboard = telegram.InlineKeyboardMarkup(
            [[telegram.InlineKeyboardButton("Sì", callback_data="shift:7:yes")]]
        )
        sent = await bot.send_message(42, "123", reply_markup=keyboard)
        document = await bot.send_document(42, b"a;b\n1;2\n", filename="turni.csv", caption="Turni")
        await fake.user_taps(42, "shift:7:yes")
        (update,) = await bot.get_updates(timeout=0)
        assert update.callback_query is not None
        assert await bot.answer_callback_query(update.callback_query.id, text="Fatto")

    assert me.username == "cisono_test_bot" and me.id == 123456 and me.is_bot
    assert sent.text == "123" and sent.reply_markup == keyboard and sent.chat.id == 42
    assert document.document is not None and document.document.file_name == "turni.csv"
    assert update.callback_query.data == "shift:7:yes"
    assert update.callback_query.message is not None
    assert update.callback_query.message.message_id == sent.message_id
    assert fake.calls_to("sendMessage") == [
        {
            "chat_id": 42,
            "text": "123",
            "reply_markup": {"inline_keyboard": [[{"text": "Sì", "callback_data": "shift:7:yes"}]]},
        }
    ]
    assert fake.last_message_to(42)["document"] == {
        "filename": "turni.csv",
        "content": b"a;b\n1;2\n",
    }
    assert fake.texts_to(42) == ["123", "Turni"]
    assert fake.calls_to("answerCallbackQuery")[0]["text"] == "Fatto"
    assert fake.violations == []


async def test_aiogram_sends_keyboards_and_documents_and_answers_taps(fake: FakeTelegram) -> None:
    bot = aiogram_bot(fake)
    keyboard = aiogram_types.InlineKeyboardMarkup(
        inline_keyboard=[[aiogram_types.InlineKeyboardButton(text="Sì", callback_data="yes")]]
    )
    try:
        me = await bot.get_me()
        sent = await bot.send_message(chat_id=42, text="123", reply_markup=keyboard)
        upload = aiogram_types.BufferedInputFile(b"a;b\n", filename="turni.csv")
        document = await bot.send_document(chat_id=42, document=upload, caption="Turni")
        await fake.user_taps(42, "yes")
        (update,) = await bot.get_updates(timeout=0)
        assert update.callback_query is not None
        assert await bot.answer_callback_query(callback_query_id=update.callback_query.id)
    finally:
        await bot.session.close()

    assert me.username == "cisono_test_bot" and me.id == bot.id
    assert sent.text == "123" and sent.reply_markup is not None
    assert sent.reply_markup.inline_keyboard[0][0].callback_data == "yes"
    assert document.document is not None and document.document.file_size == 4
    assert update.callback_query.data == "yes"
    assert isinstance(update.callback_query.message, aiogram_types.Message)
    assert update.callback_query.message.message_id == sent.message_id
    params = fake.last_message_to(42)  # aiogram uploads as attach://<random part name>
    assert params == {
        "chat_id": 42,
        "document": {"filename": "turni.csv", "content": b"a;b\n"},
        "caption": "Turni",
    }
    assert fake.calls_to("sendMessage")[0]["reply_markup"]["inline_keyboard"][0][0]["text"] == "Sì"
    assert fake.texts_to(42) == ["123", "Turni"]
    assert fake.violations == []


async def test_long_polling_answers_as_soon_as_a_user_writes(
    fake: FakeTelegram, library: Library
) -> None:
    bot = library.bot
    started = time.monotonic()
    polling = asyncio.create_task(bot.get_updates(timeout=5, allowed_updates=["message"]))
    await asyncio.sleep(0.05)
    sent = await fake.user_sends_text(7, "/start abc", first_name="Anna", last_name="Bo")
    (update,) = await asyncio.wait_for(polling, 2)
    assert time.monotonic() - started < 1.5
    assert update.update_id == sent["update_id"] == 1000
    assert update.message.text == "/start abc" and update.message.chat.id == 7
    assert update.message.from_user.last_name == "Bo"
    assert update.message.entities[0].type == "bot_command"

    for text in ("uno", "due", "tre"):
        await fake.user_sends_text(7, text)
    first_two = await bot.get_updates(offset=update.update_id + 1, limit=2, timeout=0)
    assert [u.message.text for u in first_two] == ["uno", "due"]
    (rest,) = await bot.get_updates(offset=first_two[-1].update_id + 1, timeout=0)
    assert rest.message.text == "tre"

    contact = await fake.user_shares_contact(7, "+393331234567")
    (shared,) = await bot.get_updates(offset=rest.update_id + 1, timeout=0)
    assert shared.update_id == contact["update_id"]
    assert shared.message.contact.user_id == 7
    assert shared.message.contact.phone_number == "+393331234567"

    await fake.deliver_again(contact)  # the same update once more, as after a crash
    (again,) = await bot.get_updates(offset=shared.update_id + 1, timeout=0)
    assert again.update_id == shared.update_id
    assert await bot.get_updates(offset=again.update_id + 1, timeout=0) in ([], ())
    assert fake.violations == []


async def test_webhook_receives_updates_and_blocks_polling(
    fake: FakeTelegram,
    library: Library,
    webhook: tuple[str, list[tuple[str | None, dict[str, Any]]]],
) -> None:
    url, received = webhook
    bot = library.bot
    assert await bot.set_webhook(url=url, secret_token="s3cret-token")
    assert (await bot.get_webhook_info()).url == url
    update = await fake.user_sends_text(5, "ciao")
    await fake.deliver_again(update)
    assert received == [("s3cret-token", update), ("s3cret-token", update)]
    assert fake.webhook_responses == [200, 200]
    with pytest.raises(library.conflict, match="webhook is active"):
        await bot.get_updates(timeout=0)

    assert await bot.delete_webhook()
    queued = await fake.user_sends_text(5, "di nuovo")
    (update_after,) = await bot.get_updates(timeout=0)
    assert update_after.update_id == queued["update_id"]
    assert len(received) == 2
    assert fake.violations == []


@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")  # retry_after
async def test_failures_and_blocked_users_reach_the_library(
    fake: FakeTelegram, library: Library
) -> None:
    bot = library.bot
    fake.fail_next("sendMessage", 429, retry_after=3, times=2)
    for _ in range(2):
        with pytest.raises(library.retry_after) as raised:
            await bot.send_message(chat_id=1, text="piano")
        assert " 3" in str(raised.value)  # PTB: "Retry in 3 seconds"; aiogram: "retry after 3"
    assert (await bot.send_message(chat_id=1, text="piano")).text == "piano"

    fake.block(2)
    with pytest.raises(library.forbidden, match="bot was blocked by the user"):
        await bot.send_message(chat_id=2, text="ci sei?")
    assert fake.texts_to(1) == ["piano"] and fake.texts_to(2) == []
    assert len(fake.calls_to("sendMessage")) == 4
    assert fake.violations == []


async def test_edits_deletes_and_impossible_taps_fail_like_telegram(fake: FakeTelegram) -> None:
    keyboard = telegram.InlineKeyboardMarkup(
        [[telegram.InlineKeyboardButton("A", callback_data="a")]]
    )
    async with telegram.Bot(fake.token, base_url=f"{fake.url}/bot") as bot:
        sent = await bot.send_message(4, "Scegli", reply_markup=keyboard)
        edited = await bot.edit_message_text("Scelto", chat_id=4, message_id=sent.message_id)
        assert isinstance(edited, telegram.Message) and edited.reply_markup is None
        with pytest.raises(ptb_errors.BadRequest, match=r"(?i)message is not modified"):
            await bot.edit_message_text("Scelto", chat_id=4, message_id=sent.message_id)
        with pytest.raises(AssertionError, match="no button 'a'"):
            await fake.user_taps(4, "a")  # the edit removed the keyboard
        assert await bot.delete_message(4, sent.message_id)
        with pytest.raises(ptb_errors.BadRequest, match=r"(?i)message to delete not found"):
            await bot.delete_message(4, sent.message_id)
        with pytest.raises(ptb_errors.BadRequest, match=r"(?i)button_data_invalid"):
            long_data = telegram.InlineKeyboardButton("B", callback_data="x" * 65)
            await bot.send_message(
                4, "Troppo", reply_markup=telegram.InlineKeyboardMarkup([[long_data]])
            )
    with pytest.raises(AssertionError, match=r"chat 4 got 1/2: \['Scegli'\]"):
        await fake.wait_for_texts(4, 2, timeout=0.05)
    assert fake.violations == []


async def test_spec_check_records_unknown_and_missing_parameters(fake: FakeTelegram) -> None:
    base = f"{fake.url}/bot{fake.token}"
    async with aiohttp.ClientSession() as http:
        payload = {"chat_id": 3, "text": "ok", "colour": "red"}
        async with http.post(f"{base}/sendMessage", json=payload) as response:
            unknown = response.status, await response.json()
        async with http.post(f"{base}/sendMessage", data={"chat_id": "3"}) as response:
            missing = response.status, await response.json()
        async with http.get(f"{base}/sendSmokeSignal", params={"chat_id": "3"}) as response:
            no_method = response.status, await response.json()
        async with http.post(f"{fake.url}/bot999:WRONG/getMe") as response:
            wrong_token = response.status

    assert unknown[0] == 200 and unknown[1]["result"]["text"] == "ok"
    assert missing[0] == 200 and missing[1]["ok"] is True
    assert no_method == (404, {"ok": False, "error_code": 404, "description": "Not Found"})
    assert wrong_token == 401
    assert fake.violations == [
        "sendMessage: unknown parameter 'colour'",
        "sendMessage: missing required parameter 'text'",
        "sendSmokeSignal: unknown method",
        "getMe: called with wrong token",
    ]
    assert fake.calls[1] == ("sendMessage", {"chat_id": 3})


async def test_ptb_application_runs_against_the_fake(fake: FakeTelegram) -> None:
    async def start(update: telegram.Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        keyboard = telegram.InlineKeyboardMarkup(
            [[telegram.InlineKeyboardButton("Ci sono", callback_data="here")]]
        )
        await update.effective_message.reply_text("Benvenuta!", reply_markup=keyboard)

    async def tapped(update: telegram.Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.callback_query is not None
        await update.callback_query.answer()
        await update.callback_query.edit_message_text(f"Grazie: {update.callback_query.data}")

    app = Application.builder().token(fake.token).base_url(f"{fake.url}/bot").build()
    app.add_handler(CommandHandler("start", start))
    app.add_handler(CallbackQueryHandler(tapped))
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0, timeout=5)
        await fake.user_sends_text(11, "/start")
        assert await fake.wait_for_texts(11, 1, timeout=5) == ["Benvenuta!"]
        await fake.user_taps(11, "here")
        await fake.wait_for(lambda: bool(fake.calls_to("editMessageText")), timeout=5)
        await app.updater.stop()
        await app.stop()

    assert fake.calls_to("editMessageText")[0]["text"] == "Grazie: here"
    assert len(fake.calls_to("answerCallbackQuery")) == 1
    assert fake.violations == []


async def test_aiogram_dispatcher_runs_against_the_fake(fake: FakeTelegram) -> None:
    router = aiogram.Router()

    @router.message(aiogram.filters.CommandStart())
    async def start(message: aiogram_types.Message) -> None:
        button = aiogram_types.InlineKeyboardButton(text="Ci sono", callback_data="here")
        keyboard = aiogram_types.InlineKeyboardMarkup(inline_keyboard=[[button]])
        await message.answer("Benvenuta!", reply_markup=keyboard)

    @router.callback_query()
    async def tapped(query: aiogram_types.CallbackQuery) -> None:
        await query.answer()
        assert isinstance(query.message, aiogram_types.Message)
        await query.message.edit_text(f"Grazie: {query.data}")

    dispatcher = aiogram.Dispatcher()
    dispatcher.include_router(router)
    bot = aiogram_bot(fake)
    polling = asyncio.create_task(
        dispatcher.start_polling(bot, polling_timeout=5, handle_signals=False)
    )
    try:
        await fake.user_sends_text(12, "/start")
        assert await fake.wait_for_texts(12, 1, timeout=5) == ["Benvenuta!"]
        await fake.user_taps(12, "here")
        await fake.wait_for(lambda: bool(fake.calls_to("editMessageText")), timeout=5)
    finally:
        await dispatcher.stop_polling()
        await polling

    assert set(fake.calls_to("getUpdates")[0]["allowed_updates"]) == {"message", "callback_query"}
    assert fake.calls_to("editMessageText")[0]["text"] == "Grazie: here"
    assert fake.violations == []
