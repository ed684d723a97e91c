"""The python-telegram-bot driver: PTB's Bot for the Bot API calls and its Update model."""

from __future__ import annotations

import warnings
from datetime import timedelta
from typing import Any

from telegram import (
    Bot,
    InlineKeyboardMarkup,
    InputFile,
    Update,
)
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError

from bot.channels.ptb_aiohttp import AiohttpRequest
from bot.channels.telegram import ParsedUpdate, Part, from_update, keyboard, unchanged
from bot.sending import EditRefused, SendError

ALLOWED_UPDATES = ["message", "callback_query"]
CONNECTIONS = 16  # to the Bot API for sends, edits and callback answers
GARBLED = "Invalid server response"  # PTB's error for an answer that is not JSON: transient


class LeanBot(Bot):
    """PTB's Bot, with two calls that leave unread what they need not read."""

    async def raw_updates(self, offset: int | None, wait: int) -> list[Any]:
        data = {"offset": offset, "timeout": wait, "allowed_updates": ALLOWED_UPDATES}
        read_timeout = (self._request[0].read_timeout or 0) + wait  # as PTB's get_updates
        result = await self._post("getUpdates", data, read_timeout=read_timeout)
        return list(result)  # unread: one that PTB cannot read must not hold up the others

    async def send_text(self, chat_id: int, text: str, markup: dict[str, Any] | None) -> int:
        """sendMessage, reading back only the new message's id: building the whole
        Message that Telegram answers with, keyboard and all, took a quarter of a send."""
        data: dict[str, Any] = {"chat_id": chat_id, "text": text}
        if markup is not None:
            data["reply_markup"] = markup  # the Bot API's JSON, dumped by PTB as it is
        result = await self._post("sendMessage", data)
        return int(result["message_id"])


class PtbApi:
    def __init__(self, token: str, api_url: str, timeout: float = 15.0) -> None:
        self._token, self._api_url = token, api_url.rstrip("/")
        self._timeout = timeout  # seconds for a call; a slower answer is retried later
        self.bot: LeanBot | None = None

    async def open(self) -> None:
        self.bot = LeanBot(
            self._token,
            base_url=f"{self._api_url}/bot",
            base_file_url=f"{self._api_url}/file/bot",
            request=AiohttpRequest(CONNECTIONS, read_timeout=self._timeout),
            get_updates_request=AiohttpRequest(1, read_timeout=40),  # plus the poll's own
        )
        await self.bot.initialize()

    async def close(self) -> None:
        if self.bot is not None:
            await self.bot.shutdown()

    def _bot(self) -> LeanBot:
        assert self.bot is not None, "the driver is not open"
        return self.bot

    async def get_updates(self, offset: int | None, wait: int) -> list[Any]:
        return await self._bot().raw_updates(offset, wait)

    def parse(self, data: Any) -> ParsedUpdate:
        return from_update(Update.de_json(data, self.bot))

    async def answer_callback(self, callback_id: str) -> None:
        await self._bot().answer_callback_query(callback_id)

    async def set_webhook(self, url: str, secret: str) -> None:
        await self._bot().set_webhook(url, secret_token=secret, allowed_updates=ALLOWED_UPDATES)

    async def delete_webhook(self) -> None:
        await self._bot().delete_webhook()

    async def send_part(self, chat_id: int, part: Part) -> int:
        bot = self._bot()
        try:
            if part.document is not None:
                document = InputFile(
                    part.document.content.encode(), filename=part.document.filename
                )
                sent = await bot.send_document(chat_id, document, caption=part.text)
                return sent.message_id
            return await bot.send_text(chat_id, part.text, keyboard(part))
        except TelegramError as error:
            raise _send_error(error) from error

    async def edit_part(self, chat_id: int, message_id: int, part: Part) -> int:
        markup = keyboard(part)
        try:
            await self._bot().edit_message_text(
                part.text,
                chat_id=chat_id,
                message_id=message_id,
                reply_markup=InlineKeyboardMarkup.de_json(markup, None)
                if markup and "inline_keyboard" in markup
                else None,
            )
        except BadRequest as error:  # a NetworkError to PTB, but not one to try again
            if not unchanged(error.message):
                raise EditRefused(f"telegram: {error.message}") from error
        except TelegramError as error:
            raise _send_error(error) from error
        return message_id


def _send_error(error: TelegramError) -> SendError:
    """What a refused call means for the outbox row."""
    if isinstance(error, RetryAfter):
        with warnings.catch_warnings():  # int today, timedelta tomorrow: both handled
            warnings.simplefilter("ignore")
            wait = error.retry_after
        seconds = wait.total_seconds() if isinstance(wait, timedelta) else float(wait)
        return SendError("429 flood control", permanent=False, retry_after=seconds)
    if isinstance(error, Forbidden):
        return SendError(f"403 {error.message}", permanent=True, unreachable=True)
    if isinstance(error, NetworkError) or error.message == GARBLED:  # timeouts, 5xx answers
        return SendError(f"telegram: {error.message}", permanent=False)
    return SendError(f"telegram: {error.message}", permanent=True)
