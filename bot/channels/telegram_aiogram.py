"""The aiogram driver: aiogram's Bot for the Bot API calls and its models for updates."""

from __future__ import annotations

import json
from typing import Any

from aiogram import Bot, methods
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.methods.base import Response, TelegramMethod
from aiogram.types import (
    BufferedInputFile,
    InlineKeyboardMarkup,
    MessageId,
    Update,
)

from bot.channels.telegram import ParsedUpdate, Part, from_update, keyboard, unchanged
from bot.sending import EditRefused, SendError

ALLOWED_UPDATES = ["message", "callback_query"]


class GetRawUpdates(TelegramMethod[list[dict[str, Any]]]):
    """getUpdates, the updates left unread: one that aiogram cannot validate must not
    hold up the others (`TelegramChannel` parses and skips it)."""

    __returning__ = list[dict[str, Any]]
    __api_method__ = "getUpdates"

    offset: int | None = None
    timeout: int
    allowed_updates: list[str]


class SendText(TelegramMethod[MessageId]):
    """sendMessage with what a reply uses, reading back only the new message's id:
    validating the whole Message that Telegram answers with took a quarter of a send."""

    __returning__ = MessageId
    __api_method__ = "sendMessage"

    chat_id: int
    text: str
    reply_markup: str | None = None  # the keyboard's JSON, sent as it is


# aiogram reads every answer as `Response[<the method's result>]`, a pydantic generic
# that pydantic caches only weakly: in a busy process the garbage collector drops it and
# answers build the class again (6 % of `cisono run`'s time in bench/step.py).
# Holding the ones we use keeps the cache warm.
KEPT_RESPONSE_TYPES = tuple(
    Response[method.__returning__]  # type: ignore[name-defined]
    for method in (
        methods.AnswerCallbackQuery,
        methods.DeleteWebhook,
        methods.EditMessageText,
        GetRawUpdates,
        methods.SendDocument,
        methods.SendMessage,
        methods.SetWebhook,
        SendText,
    )
)


class AiogramApi:
    def __init__(self, token: str, api_url: str, timeout: float = 15.0) -> None:
        self._token, self._api_url = token, api_url.rstrip("/")
        self._timeout = timeout  # seconds for a call; a slower answer is retried later
        self.bot: Bot | None = None

    async def open(self) -> None:
        session = AiohttpSession(
            api=TelegramAPIServer.from_base(self._api_url), timeout=self._timeout
        )
        self.bot = Bot(self._token, session=session)

    async def close(self) -> None:
        if self.bot is not None:
            await self.bot.session.close()

    def _bot(self) -> Bot:
        assert self.bot is not None, "the driver is not open"
        return self.bot

    async def get_updates(self, offset: int | None, wait: int) -> list[Any]:
        method = GetRawUpdates(offset=offset, timeout=wait, allowed_updates=ALLOWED_UPDATES)
        return await self._bot()(method, request_timeout=wait + 10)

    def parse(self, data: Any) -> ParsedUpdate:
        return from_update(Update.model_validate(data, context={"bot": self.bot}))

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
                document = BufferedInputFile(
                    part.document.content.encode(), filename=part.document.filename
                )
                return (await bot.send_document(chat_id, document, caption=part.text)).message_id
            markup = keyboard(part)
            dumped = json.dumps(markup, ensure_ascii=False) if markup else None
            text = SendText(chat_id=chat_id, text=part.text, reply_markup=dumped)
            return (await bot(text)).message_id
        except TelegramAPIError as error:
            raise _send_error(error) from error

    async def edit_part(self, chat_id: int, message_id: int, part: Part) -> int:
        markup = keyboard(part)
        try:
            await self._bot().edit_message_text(
                part.text,
                chat_id=chat_id,
                message_id=message_id,
                reply_markup=InlineKeyboardMarkup.model_validate(markup)
                if markup and "inline_keyboard" in markup
                else None,
            )
        except TelegramBadRequest as error:
            if not unchanged(error.message):
                raise EditRefused(f"telegram: {error.message}") from error
        except TelegramAPIError as error:
            raise _send_error(error) from error
        return message_id


def _send_error(error: TelegramAPIError) -> SendError:
    """What a refused call means for the outbox row."""
    if isinstance(error, TelegramRetryAfter):
        return SendError("429 flood control", permanent=False, retry_after=error.retry_after)
    if isinstance(error, TelegramForbiddenError):
        return SendError(f"403 {error.message}", permanent=True, unreachable=True)
    if isinstance(error, TelegramServerError | TelegramNetworkError):
        return SendError(f"telegram: {error.message}", permanent=False)
    return SendError(f"telegram: {error.message}", permanent=True)
