"""A bare echo bot of either driver (no database, one sendMessage per text): the ceiling.

python bench/bare_echo_bot.py aiogram|ptb   (TELEGRAM_BOT_TOKEN, TELEGRAM_API_URL set)
"""

from __future__ import annotations

import asyncio
import os
import sys


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


def ptb_echo(token: str, api: str) -> None:
    from telegram import Update
    from telegram.ext import Application, ContextTypes, MessageHandler, filters

    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None
        await update.message.reply_text(update.message.text or "?")

    application = (
        Application.builder()
        .token(token)
        .base_url(f"{api}/bot")
        .base_file_url(f"{api}/file/bot")
        .build()
    )
    application.add_handler(MessageHandler(filters.TEXT, echo))
    application.run_polling()


if __name__ == "__main__":
    driver, token, api = (
        sys.argv[1],
        os.environ["TELEGRAM_BOT_TOKEN"],
        os.environ["TELEGRAM_API_URL"],
    )
    if driver == "aiogram":
        asyncio.run(aiogram_echo(token, api))
    else:
        ptb_echo(token, api)
