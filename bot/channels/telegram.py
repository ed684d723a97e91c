"""Telegram, whatever the library: polling or webhook, updates in, rendered replies out.

The two drivers (python-telegram-bot and aiogram) only speak the Bot API; this
module holds what they share: turning an update into an `Incoming`, planning how a
reply is cut into messages and keyboards, and the polling loop that confirms an
update only once it has been handled.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from bot.rendering import Rendered, split_text
from bot.sending import EditRefused
from flows.i18n import render
from flows.incoming import Incoming
from flows.messages import Attachment, msg

log = logging.getLogger(__name__)
CHANNEL = "telegram"
TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
CALLBACK_DATA_LIMIT = 64  # bytes
POLL_TIMEOUT = 25  # seconds of long polling
NOT_MODIFIED = "message is not modified"  # the Bot API's answer to an edit that changes nothing

Handler = Callable[[Incoming], Awaitable[None]]
T = TypeVar("T")


@dataclass(frozen=True)
class ParsedUpdate:
    update_id: int
    incoming: Incoming | None  # None: nothing for the bot (a group, an edited message...)
    callback_id: str | None = None  # a tapped button, to be answered


@dataclass(frozen=True)
class Part:
    """One Bot API message: text, and the keyboard or file it carries."""

    text: str
    buttons: tuple[tuple[str, str], ...] = ()  # (label, callback data): an inline keyboard
    contact_button: str | None = None  # a reply keyboard asking for the phone number...
    text_buttons: tuple[str, ...] = ()  # ...with these plain answers under it
    document: Attachment | None = None


class TelegramApi(Protocol):
    """What a driver library must do for Ci sono."""

    async def open(self) -> None: ...
    async def close(self) -> None: ...
    async def get_updates(self, offset: int | None, wait: int) -> list[Any]:
        """The updates as the Bot API sent them, unread: each is parsed on its own."""
        ...

    def parse(self, data: Any) -> ParsedUpdate:
        """One update; raises whatever the library raises for one it cannot read."""
        ...

    async def answer_callback(self, callback_id: str) -> None: ...
    async def set_webhook(self, url: str, secret: str) -> None: ...
    async def delete_webhook(self) -> None: ...
    async def send_part(self, chat_id: int, part: Part) -> int:
        """Send one part; return its message_id; raise SendError when refused."""
        ...

    async def edit_part(self, chat_id: int, message_id: int, part: Part) -> int:
        """Change a sent message's text and inline keyboard (editMessageText); an edit that
        changes nothing is done; raise EditRefused when the message cannot be edited."""
        ...


def unchanged(description: str) -> bool:
    """A refused edit that changed nothing (the libraries capitalise the text differently)."""
    return NOT_MODIFIED in description.lower()


def to_incoming(
    update_id: int,
    *,
    chat_id: int,
    chat_type: str,
    user_id: int | None,
    first_name: str | None = None,
    last_name: str | None = None,
    text: str | None = None,
    data: str | None = None,
    contact_phone: str | None = None,
    contact_user_id: int | None = None,
) -> Incoming | None:
    """The Incoming of a private-chat update; None for anything else. Raises TypeError
    for fields of the wrong type (python-telegram-bot reads updates without checking)."""
    if chat_type != "private":
        return None
    if not _is_int(chat_id):
        raise TypeError("the chat id is not a number")
    user_id, contact_user_id = _typed(int, user_id), _typed(int, contact_user_id)
    first_name, last_name, text = _typed(str, first_name), _typed(str, last_name), _typed(str, text)
    data, contact_phone = _typed(str, data), _typed(str, contact_phone)
    if contact_phone and contact_user_id != user_id:
        contact_phone, text = None, text or ""  # someone else's contact proves nothing
    name = " ".join(part for part in (first_name, last_name) if part) or None
    return Incoming(
        channel=CHANNEL,
        external_id=str(chat_id),
        text=text,
        choice=data,
        contact_phone=contact_phone,
        profile_name=name,
        inbound_id=str(update_id),
        can_share_contact=True,
    )


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)  # JSON's true is no id


def _typed(kind: type[T], value: T | None) -> T | None:
    if value is None or (isinstance(value, kind) and not isinstance(value, bool)):
        return value
    raise TypeError(f"{type(value).__name__} where a {kind.__name__} belongs")


def from_update(update: Any) -> ParsedUpdate:
    """A library's Update object (aiogram's and PTB's share these attribute names)."""
    message, query = update.message, update.callback_query
    if message is not None and message.from_user is not None:
        user, contact = message.from_user, message.contact
        incoming = to_incoming(
            update.update_id,
            chat_id=message.chat.id,
            chat_type=message.chat.type,
            user_id=user.id,
            first_name=user.first_name,
            last_name=user.last_name,
            text=message.text or message.caption,
            contact_phone=contact.phone_number if contact else None,
            contact_user_id=contact.user_id if contact else None,
        )
        return ParsedUpdate(update.update_id, incoming)
    if query is not None:
        user = query.from_user
        chat = query.message.chat if query.message is not None else None
        incoming = to_incoming(
            update.update_id,
            chat_id=chat.id if chat else user.id,
            chat_type=chat.type if chat else "private",
            user_id=user.id,
            first_name=user.first_name,
            last_name=user.last_name,
            data=query.data or "",
        )
        return ParsedUpdate(update.update_id, incoming, callback_id=query.id)
    return ParsedUpdate(update.update_id, None)


def update_id(data: Any) -> int | None:
    """An update's id, if it has a usable one."""
    value = data.get("update_id") if isinstance(data, dict) else None
    return value if _is_int(value) else None


def keyboard(part: Part) -> dict[str, Any] | None:
    """The part's keyboard as the Bot API's JSON: the libraries' models of it, made and
    dumped again for every message, took a sixth of an aiogram send."""
    if part.contact_button is not None:
        rows: list[list[dict[str, Any]]] = [
            [{"text": part.contact_button, "request_contact": True}]
        ]
        rows += [[{"text": label}] for label in part.text_buttons]
        return {"keyboard": rows, "one_time_keyboard": True, "resize_keyboard": True}
    if part.buttons:
        rows = [[{"text": label, "callback_data": data}] for label, data in part.buttons]
        return {"inline_keyboard": rows}
    return None


def plan(message: Rendered) -> list[Part]:
    """The Bot API messages for one reply; the keyboard rides on the last text."""
    texts = split_text(message.text, TEXT_LIMIT)
    last = texts.pop()
    parts = [Part(text) for text in texts]
    if message.request_contact:
        label = render(message.locale, msg("telegram.share_phone"))
        labels = tuple(c.label for c in message.choices)
        parts.append(Part(last, contact_button=label, text_buttons=labels))
    else:
        for choice in message.choices:
            if len(choice.id.encode()) > CALLBACK_DATA_LIMIT:
                raise ValueError(f"callback data over 64 bytes: {choice.id!r}")
        parts.append(Part(last, buttons=tuple((c.label, c.id) for c in message.choices)))
    if message.attachment is not None:
        parts.append(Part(message.attachment.filename[:CAPTION_LIMIT], document=message.attachment))
    return parts


class TelegramChannel:
    """The Telegram channel: sends through a driver, and receives by polling or webhook."""

    name = CHANNEL

    def __init__(self, api: TelegramApi, webhook_url: str | None, secret: str | None) -> None:
        self.api, self.webhook_url, self.secret = api, webhook_url, secret
        self._poller: asyncio.Task[None] | None = None
        self._handle: Handler | None = None
        self.running = False

    async def start(self, handle: Handler) -> None:
        self._handle = handle
        await self.api.open()
        if self.webhook_url:
            assert self.secret is not None
            await self.api.set_webhook(self.webhook_url, self.secret)
        else:
            await self.api.delete_webhook()
            self._poller = asyncio.create_task(self._poll(), name="telegram-polling")
        self.running = True

    async def stop(self) -> None:
        self.running = False
        if self._poller is not None:
            self._poller.cancel()
            await asyncio.gather(self._poller, return_exceptions=True)
        await self.api.close()

    async def feed(self, data: Any) -> None:
        """Handle one webhook update; raises if it could not be handled (→ 5xx, retried).
        An update no library can read is skipped: sending it again would not help."""
        update = self._parse(data)
        if update is not None:
            await self._handle_all([update])

    def _parse(self, data: Any) -> ParsedUpdate | None:
        try:
            if update_id(data) is None:  # the Bot API always gives one: it dedupes replays
                raise ValueError("no update_id")
            return self.api.parse(data)
        except Exception as error:  # the libraries raise all sorts for malformed updates
            # the type only: the libraries' messages quote the update, names and texts
            log.warning(
                "telegram update %s unusable, skipped (%s)", update_id(data), type(error).__name__
            )
            return None

    async def send(self, address: str, message: Rendered) -> str | None:
        ids = [await self.api.send_part(int(address), part) for part in plan(message)]
        return str(ids[-1])

    async def edit(self, address: str, provider_id: str, message: Rendered) -> str | None:
        """Edit the message in place; a reply that needs several messages, a file or a
        contact button cannot be shown by editing one."""
        parts = plan(message)
        if len(parts) != 1 or parts[0].document or parts[0].contact_button:
            raise EditRefused("not a single text message")
        return str(await self.api.edit_part(int(address), int(provider_id), parts[0]))

    async def _poll(self) -> None:
        offset: int | None = None
        failures = 0
        while True:
            try:
                received = await self.api.get_updates(offset, POLL_TIMEOUT)
                updates = [u for u in map(self._parse, received) if u is not None]
                await self._handle_all(updates)
            except asyncio.CancelledError:
                raise
            except Exception:  # the network, the Bot API or the database: wait and retry
                failures += 1
                log.exception("telegram polling failed (%s in a row)", failures)
                await asyncio.sleep(min(2**failures, 60))
                continue
            failures = 0
            ids = [i for i in map(update_id, received) if i is not None]
            if ids:  # confirmed only now that every one of them was handled (or unusable)
                offset = max(ids) + 1

    async def _handle_all(self, updates: Sequence[ParsedUpdate]) -> None:
        """One chat's updates in order, different chats in parallel."""
        assert self._handle is not None
        by_chat: dict[str, list[ParsedUpdate]] = defaultdict(list)
        for update in updates:
            if update.incoming is not None:
                by_chat[update.incoming.external_id].append(update)

        async def chat(queue: list[ParsedUpdate]) -> None:
            assert self._handle is not None
            for update in queue:
                assert update.incoming is not None
                await self._handle(update.incoming)
                if update.callback_id:
                    await self._answer(update.callback_id)

        await asyncio.gather(*(chat(queue) for queue in by_chat.values()))

    async def _answer(self, callback_id: str) -> None:
        try:
            await self.api.answer_callback(callback_id)
        except Exception:  # an old or already answered callback: nothing to do
            log.info("callback %s could not be answered", callback_id, exc_info=True)
