"""A bare echo bot (no database, one message back per message): the ceiling.

python bench/bare_echo_bot.py aiogram|ptb|ptb-aiohttp   (TELEGRAM_BOT_TOKEN, TELEGRAM_API_URL set)
python bench/bare_echo_bot.py aiogram-webhook PORT   (the same, on aiogram's own webhook server)
python bench/bare_echo_bot.py twilio PORT   (TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN,
                                             TWILIO_API_URL set)

The Twilio one is what Ci sono does per message, without the rest: a Starlette form
webhook under uvicorn that checks the signature, answers empty TwiML, and sends the echo
with Twilio's own async client. With ECHO_TEXT set it answers every message with that
text instead of the one it got (bench/step.py gives it the step's own reply, so that
it sends as much as the step does).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import AsyncIterator


async def aiogram_echo(token: str, api: str) -> None:
    from aiogram import Bot, Dispatcher
    from aiogram.client.session.aiohttp import AiohttpSession
    from aiogram.client.telegram import TelegramAPIServer
    from aiogram.types import Message

    bot = Bot(token, session=AiohttpSession(api=TelegramAPIServer.from_base(api)))
    dispatcher = Dispatcher()

    @dispatcher.message()
    async def echo(message: Message) -> None:
        await message.answer(message.text or "?")

    await dispatcher.start_polling(bot, handle_signals=True, tasks_concurrency_limit=64)


def aiogram_webhook_echo(token: str, api: str, port: int) -> None:
    """aiogram's own webhook server (aiohttp): updates POSTed to it, answered at once
    and handled in the background, as aiogram does by default."""
    from aiogram import Bot, Dispatcher
    from aiogram.client.session.aiohttp import AiohttpSession
    from aiogram.client.telegram import TelegramAPIServer
    from aiogram.types import Message
    from aiogram.webhook.aiohttp_server import SimpleRequestHandler, setup_application
    from aiohttp import web

    bot = Bot(token, session=AiohttpSession(api=TelegramAPIServer.from_base(api)))
    dispatcher = Dispatcher()

    @dispatcher.message()
    async def echo(message: Message) -> None:
        await message.answer(message.text or "?")

    @dispatcher.startup()
    async def register(bot: Bot) -> None:
        await bot.set_webhook(f"http://127.0.0.1:{port}/telegram/webhook")

    app = web.Application()
    SimpleRequestHandler(dispatcher=dispatcher, bot=bot).register(app, path="/telegram/webhook")
    setup_application(app, dispatcher, bot=bot)
    web.run_app(app, host="127.0.0.1", port=port, print=None)


def ptb_echo(token: str, api: str, over_aiohttp: bool) -> None:
    """PTB's own Application; `over_aiohttp`: its calls through Ci sono's AiohttpRequest,
    as Ci sono's python-telegram-bot driver makes them, instead of PTB's default httpx."""
    from telegram import Update
    from telegram.ext import Application, ContextTypes, MessageHandler, filters

    from bot.channels.ptb_aiohttp import AiohttpRequest

    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None
        await update.message.reply_text(update.message.text or "?")

    builder = (
        Application.builder().token(token).base_url(f"{api}/bot").base_file_url(f"{api}/file/bot")
    )
    if over_aiohttp:
        builder = builder.request(AiohttpRequest(16, read_timeout=5.0))
        builder = builder.get_updates_request(AiohttpRequest(1, read_timeout=5.0))
    application = builder.build()
    application.add_handler(MessageHandler(filters.TEXT, echo))
    application.run_polling()


def twilio_echo(port: int) -> None:
    import uvicorn
    from starlette.applications import Starlette
    from starlette.background import BackgroundTask
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse, Response
    from starlette.routing import Route
    from twilio.http.async_http_client import AsyncTwilioHttpClient
    from twilio.request_validator import RequestValidator
    from twilio.rest import Client

    token = os.environ["TWILIO_AUTH_TOKEN"]
    fixed = os.environ.get("ECHO_TEXT")  # the reply to every message, if not the message
    validator = RequestValidator(token)
    clients: list[Client] = []  # made in the loop: Twilio's async client needs one running
    public = f"http://127.0.0.1:{port}/twilio/inbound"

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        client = Client(
            os.environ["TWILIO_ACCOUNT_SID"], token, http_client=AsyncTwilioHttpClient()
        )
        client.api.base_url = os.environ["TWILIO_API_URL"].rstrip("/")
        clients.append(client)
        yield

    async def inbound(request: Request) -> Response:
        form = {key: str(value) for key, value in (await request.form()).items()}
        if not validator.validate(public, form, request.headers.get("X-Twilio-Signature", "")):
            return PlainTextResponse("forbidden", status_code=403)
        echo = BackgroundTask(
            clients[0].messages.create_async,
            to=form["From"],
            from_=form["To"],
            body=fixed or form["Body"],
        )
        return Response("<Response/>", media_type="text/xml", background=echo)

    routes = [Route("/twilio/inbound", inbound, methods=["POST"])]
    app = Starlette(routes=routes, lifespan=lifespan)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


if __name__ == "__main__":
    driver = sys.argv[1]
    if driver == "twilio":
        twilio_echo(int(sys.argv[2]))
    else:
        token, api = os.environ["TELEGRAM_BOT_TOKEN"], os.environ["TELEGRAM_API_URL"]
        if driver == "aiogram":
            asyncio.run(aiogram_echo(token, api))
        elif driver == "aiogram-webhook":
            aiogram_webhook_echo(token, api, int(sys.argv[2]))
        else:
            ptb_echo(token, api, over_aiohttp=driver == "ptb-aiohttp")
