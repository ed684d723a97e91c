"""A fake Telegram Bot API server over real HTTP, checked against the published spec."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import functools
import itertools
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import Any

from aiohttp import ClientError, ClientSession, ClientTimeout, TCPConnector, web

from tests.tally import Tally

WEBHOOK_KEEPALIVE = 2.0  # seconds a connection to the bot may stay idle and be used again

SPEC_PATH = Path(__file__).parent / "specs" / "telegram-bot-api.json"
Json = dict[str, Any]
BLOCKED = "Forbidden: bot was blocked by the user"
WEBHOOK_ACTIVE = (
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first"
)
OTHER_POLLER = (
    "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running"
)
NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup "
    "are exactly the same as a current content and reply markup of the message"
)
OLD_QUERY = "Bad Request: query is too old and response timeout expired or query ID is invalid"
DEFAULT_UPDATES = {"chat_member", "message_reaction", "message_reaction_count"}  # opt-in only


@functools.cache
def _load_spec(path: Path) -> dict[str, dict[str, Json]]:
    """Method name -> {field name -> field} from the Bot API spec JSON."""
    methods = json.loads(path.read_text(encoding="utf-8"))["methods"]
    return {name: {f["name"]: f for f in m.get("fields", [])} for name, m in methods.items()}


class ApiError(Exception):
    """An error answer of the Bot API: HTTP status == error_code."""

    def __init__(self, status: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.status, self.description, self.retry_after = status, description, retry_after

    def response(self) -> web.Response:
        """The JSON error body Telegram sends."""
        body: Json = {"ok": False, "error_code": self.status, "description": self.description}
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return web.json_response(body, status=self.status)


@dataclass
class _Pending:
    """An update waiting for getUpdates; `again` ones ignore the offset until returned once."""

    update: Json
    again: bool = False
    returned: bool = False


def _decode(field: Json | None, value: Any) -> Any:
    """A form (string) value as the Python value the spec type implies."""
    if not isinstance(value, str) or field is None:
        return value
    types = field["types"]
    if types == ["String"] or "InputFile" in types:
        return value
    if "String" in types:  # Integer or String: chat_id
        return int(value) if re.fullmatch(r"-?\d+", value) else value
    try:
        return json.loads(value)
    except ValueError:
        return value


class FakeTelegram:
    """A Bot API server on 127.0.0.1: private chats only, every call recorded and spec-checked."""

    def __init__(self, token: str = "123456:TEST", spec_path: Path = SPEC_PATH) -> None:
        self.token = token
        self.url = ""
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.violations: list[str] = []
        self.webhook_url: str | None = None
        self.webhook_secret: str | None = None
        self.webhook_responses: list[int] = []
        # a load balancer in front of several bots' webhooks: the URL an update goes to
        self.webhook_for: Callable[[Json], str] | None = None
        self.undelivered: list[Json] = []  # updates filtered out by allowed_updates
        self.commands: dict[tuple[str, str], list[Json]] = {}
        self.now: Callable[[], float] = time.time  # message dates; plug a fake clock in here
        self.bot_user: Json = {
            "id": int(token.split(":")[0]),
            "is_bot": True,
            "first_name": "Ci sono",
            "username": "cisono_test_bot",
            "can_join_groups": False,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }
        self._spec = _load_spec(spec_path)
        self._names = {name.lower(): name for name in self._spec}
        self._users: dict[int, Json] = {}
        self._messages: dict[tuple[int, int], Json] = {}
        self._last_id: dict[int, int] = {}
        self._sent: list[tuple[int, str, dict[str, Any]]] = []
        self._sent_to = Tally()  # messages per chat, for cheap waiting
        self._pending: list[_Pending] = []
        self._allowed: list[str] = []
        self._failures: dict[str, list[ApiError]] = {}
        self._slow: dict[str, list[float]] = {}  # seconds before the next answers
        self._garbled: dict[str, int] = {}  # the next answers are not JSON
        self.timed_out: list[tuple[str, dict[str, Any]]] = []  # calls the client gave up
        self._blocked: set[int] = set()
        self._query_ids: set[str] = set()
        self._update_ids = itertools.count(1000)
        self._counter = itertools.count(1)
        self._poll_generation = 0
        self._wakeup = asyncio.Event()
        self._closing = False
        self._runner: web.AppRunner | None = None
        self._session: ClientSession | None = None

    async def start(self) -> None:
        """Serve on 127.0.0.1 at a free port."""
        self._closing = False
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        app.router.add_route("*", "/{tail:.*}", self._not_found)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        # a connection idle for 2 s is dropped here before the bot's server (uvicorn,
        # 5 s) closes it: one it is closing, taken for the next webhook, fails that one
        idle = TCPConnector(keepalive_timeout=WEBHOOK_KEEPALIVE)
        self._session = ClientSession(timeout=ClientTimeout(total=10), connector=idle)

    async def stop(self) -> None:
        """End pending long polls, stop serving, close the webhook client."""
        self._closing = True
        self._notify()
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    async def __aenter__(self) -> FakeTelegram:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # What the bot did

    def calls_to(self, method: str) -> list[dict[str, Any]]:
        """Params of every call of `method`, in order."""
        return [params for name, params in self.calls if name == method]

    def count_to(self, chat_id: int) -> int:
        """How many messages and documents reached `chat_id` (without scanning them all)."""
        return self._sent_to[chat_id]

    async def until_count(self, chat_id: int, count: int) -> None:
        """Until `count` messages and documents reached `chat_id` (no polling)."""
        await self._sent_to.reach(chat_id, count)

    def texts_to(self, chat_id: int) -> list[str]:
        """Texts (and document captions) that reached `chat_id`, in order."""
        texts: list[str] = []
        for chat, method, params in self._sent:
            text = params.get("text" if method == "sendMessage" else "caption")
            if chat == chat_id and text:
                texts.append(text)
        return texts

    def last_message_to(self, chat_id: int) -> dict[str, Any]:
        """Params of the last sendMessage/sendDocument that reached `chat_id`."""
        for chat, _, params in self._sent[::-1]:
            if chat == chat_id:
                return params
        raise AssertionError(f"nothing was sent to chat {chat_id}\n{self._summary()}")

    def message_text(self, chat_id: int, message_id: int) -> str | None:
        """What a message in the chat says now, after any edits."""
        message = self._messages.get((chat_id, message_id))
        return None if message is None else message.get("text")

    # What the users do

    async def user_sends_text(
        self, chat_id: int, text: str, first_name: str = "Maria", last_name: str | None = None
    ) -> Json:
        """A text message from the user; a leading /command gets its bot_command entity."""
        if chat_id not in self._users or (first_name, last_name) != ("Maria", None):
            user: Json = {"id": chat_id, "is_bot": False, "first_name": first_name}
            user |= {"last_name": last_name} if last_name else {}
            self._users[chat_id] = user | {"language_code": "it"}  # known users keep their name
        message = self._store(chat_id, self._users[chat_id], {"text": text})
        if text.startswith("/"):
            length = len(text.split()[0])
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
        return await self._new_update(message=message)

    async def user_taps(self, chat_id: int, data: str, message_id: int | None = None) -> Json:
        """A tap on a button; by default on the bot's latest message in the chat offering it."""
        offers = {
            m["message_id"]: [b.get("callback_data") for row in rows for b in row]
            for (chat, _), m in self._messages.items()
            if chat == chat_id and (rows := m.get("reply_markup", {}).get("inline_keyboard"))
        }
        if message_id is None:
            matching = [number for number, offered in offers.items() if data in offered]
            if not matching:
                raise AssertionError(f"user_taps: no button {data!r} in chat {chat_id}: {offers}")
            message_id = matching[-1]
        message = self._messages.get((chat_id, message_id))
        if message is None:  # deleted or never seen: what Telegram calls inaccessible
            message = {"chat": self._chat(chat_id), "message_id": message_id, "date": 0}
        elif data not in offers.get(message_id, []):
            raise AssertionError(f"user_taps: message {message_id} has no button {data!r}")
        query_id = str(next(self._counter) * 7919)
        self._query_ids.add(query_id)
        query = {"id": query_id, "from": self._user(chat_id), "message": message}
        query |= {"chat_instance": str(-chat_id), "data": data}
        return await self._new_update(callback_query=query)

    async def user_shares_contact(self, chat_id: int, phone_number: str, own: bool = True) -> Json:
        """A shared contact: the user's own (user_id == chat_id) or someone else's."""
        user = self._user(chat_id)
        contact: Json = {"phone_number": phone_number, "first_name": user["first_name"]}
        contact["user_id"] = chat_id if own else chat_id + 1_000_000_000
        if not own:
            contact["first_name"] = "Giulia"
        message = self._store(chat_id, user, {"contact": contact})
        return await self._new_update(message=message)

    async def deliver_again(self, update: dict[str, Any]) -> None:
        """Deliver the very same update (same update_id) once more."""
        await self._deliver(update, again=True)

    # How the server misbehaves

    def fail_next(
        self,
        method: str,
        status: int,
        retry_after: int | None = None,
        description: str | None = None,
        times: int = 1,
    ) -> None:
        """The next `times` calls of `method` get this error."""
        if description is None:
            phrase = HTTPStatus(status).phrase if status in set(HTTPStatus) else "Error"
            description = f"{phrase}: retry after {retry_after}" if retry_after else phrase
        errors = [ApiError(status, description, retry_after) for _ in range(times)]
        self._failures.setdefault(method, []).extend(errors)

    def delay_next(self, method: str, seconds: float, times: int = 1) -> None:
        """The next `times` calls of `method` hang for `seconds`; one whose client gave up
        meanwhile is dropped (it never reached Telegram), and noted in `timed_out`."""
        self._slow.setdefault(method, []).extend([seconds] * times)

    def garble_next(self, method: str, times: int = 1) -> None:
        """The next `times` calls of `method` get a 200 whose body is not JSON (a proxy's
        page, a cut connection), and do nothing."""
        self._garbled[method] = self._garbled.get(method, 0) + times

    def block(self, chat_id: int) -> None:
        """The user blocks the bot: calls to that chat answer 403."""
        self._blocked.add(chat_id)

    def unblock(self, chat_id: int) -> None:
        """The user unblocks the bot."""
        self._blocked.discard(chat_id)

    async def wait_for(
        self,
        predicate: Callable[[], bool],
        timeout: float = 10.0,  # noqa: ASYNC109 (the interface others are written against)
    ) -> None:
        """Poll `predicate` every 10 ms until true; AssertionError after `timeout` seconds."""
        deadline = asyncio.get_running_loop().time() + timeout
        while not predicate():
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"condition still false after {timeout}s\n{self._summary()}")
            await asyncio.sleep(0.01)

    async def wait_for_texts(
        self,
        chat_id: int,
        count: int,
        timeout: float = 10.0,  # noqa: ASYNC109 (the interface others are written against)
    ) -> list[str]:
        """Wait until at least `count` texts reached `chat_id`; return them all."""
        try:
            await self.wait_for(lambda: len(self.texts_to(chat_id)) >= count, timeout)
        except AssertionError as error:
            got = self.texts_to(chat_id)
            raise AssertionError(f"chat {chat_id} got {len(got)}/{count}: {got}\n{error}") from None
        return self.texts_to(chat_id)

    def _summary(self) -> str:
        """Recent calls and problems, for failure messages."""
        lines = [f"  {m} {str(p)[:200]}" for m, p in self.calls[-12:]]
        return "\n".join(
            [
                f"last calls ({len(self.calls)} in all):",
                *lines,
                f"violations: {self.violations}",
                f"webhook responses: {self.webhook_responses}",
                f"not delivered (allowed_updates={self._allowed}): {self.undelivered}",
            ]
        )

    # HTTP side

    async def _not_found(self, request: web.Request) -> web.Response:
        """Anything outside /bot<token>/<method>."""
        return ApiError(404, "Not Found").response()

    async def _handle(self, request: web.Request) -> web.Response:
        """Decode, record, spec-check and answer one Bot API call."""
        method = self._names.get(request.match_info["method"].lower(), "")
        method = method or request.match_info["method"]
        if request.match_info["token"] != self.token:
            self.violations.append(f"{method}: called with wrong token")
            return ApiError(401, "Unauthorized").response()
        params = await self._params(request, self._spec.get(method, {}))
        self.calls.append((method, params))
        if method not in self._spec:
            self.violations.append(f"{method}: unknown method")
            return ApiError(404, "Not Found").response()
        fields = self._spec[method]
        self.violations += [f"{method}: unknown parameter {n!r}" for n in params if n not in fields]
        missing = [n for n, f in fields.items() if f["required"] and n not in params]
        self.violations += [f"{method}: missing required parameter {n!r}" for n in missing]
        if self._slow.get(method):
            try:
                await asyncio.sleep(self._slow[method].pop(0))
            except asyncio.CancelledError:  # aiohttp cancels the handler of a lost client
                self.timed_out.append((method, params))
                raise
            if request.transport is None or request.transport.is_closing():
                self.timed_out.append((method, params))
                return web.Response(status=504)  # nobody reads it
        if self._garbled.get(method):
            self._garbled[method] -= 1
            return web.Response(
                text='{"ok": true, "result": {"message_', content_type="application/json"
            )
        try:
            if self._failures.get(method):
                raise self._failures[method].pop(0)
            if isinstance(params.get("chat_id"), int) and params["chat_id"] in self._blocked:
                raise ApiError(403, BLOCKED)
            result = await self._answer(method, params)
        except ApiError as error:
            return error.response()
        except (ValueError, TypeError, KeyError, AttributeError) as error:  # malformed values
            self.violations.append(f"{method}: malformed parameters ({error!r})")
            return ApiError(400, f"Bad Request: {error}").response()
        if method in ("sendMessage", "sendDocument"):
            self._sent.append((result["chat"]["id"], method, params))
            self._sent_to.add(result["chat"]["id"])
        return web.json_response({"ok": True, "result": result})

    async def _params(self, request: web.Request, fields: dict[str, Json]) -> dict[str, Any]:
        """Query + JSON/urlencoded/multipart body, decoded; attach:// resolved to files."""
        raw: dict[str, Any] = dict(request.query)
        files: dict[str, Json] = {}
        if request.content_type == "application/json":
            with contextlib.suppress(ValueError):
                body = await request.json()
                raw.update(body if isinstance(body, dict) else {})
        else:
            for key, value in (await request.post()).items():
                if isinstance(value, web.FileField):
                    files[key] = {"filename": value.filename, "content": value.file.read()}
                elif isinstance(value, bytes | bytearray):
                    files[key] = {"filename": key, "content": bytes(value)}
                else:
                    raw[key] = value
        used: set[str] = set()

        def resolve(value: Any) -> Any:
            if isinstance(value, str) and value.startswith("attach://") and value[9:] in files:
                used.add(value[9:])
                return files[value[9:]]
            if isinstance(value, list):
                return [resolve(item) for item in value]
            if isinstance(value, dict):
                return {key: resolve(item) for key, item in value.items()}
            return value

        params = {key: resolve(_decode(fields.get(key), value)) for key, value in raw.items()}
        return params | {key: file for key, file in files.items() if key not in used}

    async def _answer(self, method: str, params: dict[str, Any]) -> Any:
        """The result of a successful call."""
        chat_id = params.get("chat_id")
        if method == "getMe":
            return self.bot_user
        if method == "getUpdates":
            return await self._get_updates(params)
        if method in ("setWebhook", "deleteWebhook"):
            url = (params.get("url") or None) if method == "setWebhook" else None
            self.webhook_url = url
            self.webhook_secret = params.get("secret_token") if url else None
            if params.get("drop_pending_updates"):
                self._pending.clear()
            self._allowed = params.get("allowed_updates") or self._allowed
            return True
        if method == "getWebhookInfo":
            info = {"url": self.webhook_url or "", "has_custom_certificate": False}
            return info | {"pending_update_count": len(self._pending)}
        if method in ("setMyCommands", "deleteMyCommands", "getMyCommands"):
            return self._my_commands(method, params)
        if method in ("sendMessage", "sendDocument"):
            if chat_id is None:
                raise ApiError(400, "Bad Request: chat_id is empty")
            if not isinstance(chat_id, int):  # "@username": not a private chat
                raise ApiError(400, "Bad Request: chat not found")
            return self._store(chat_id, self.bot_user, self._content(method, params))
        if method in ("editMessageText", "editMessageReplyMarkup", "deleteMessage"):
            return self._edit(method, params)
        if (
            method == "answerCallbackQuery"
            and params.get("callback_query_id") not in self._query_ids
        ):
            raise ApiError(400, OLD_QUERY)
        return True

    def _content(self, method: str, params: dict[str, Any]) -> Json:
        """What a sent message shows: text or document and caption, plus its inline keyboard."""
        content = self._markup(params)
        if method == "sendMessage":
            return content | self._text(params)
        document, number = params.get("document"), next(self._counter)
        file: Json = {"file_id": f"BQACAgQAAx{number:08d}", "file_unique_id": f"AgAD{number}"}
        if isinstance(document, dict):
            file |= {"file_name": document["filename"], "file_size": len(document["content"])}
        content["document"] = file
        if caption := params.get("caption"):
            if len(caption) > 1024:
                raise ApiError(400, "Bad Request: message caption is too long")
            content["caption"] = caption
        return content

    @staticmethod
    def _text(params: dict[str, Any]) -> Json:
        """The text of a message, checked as Telegram does (a missing one is only a violation)."""
        if "text" not in params:
            return {}
        text = str(params["text"])
        if not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if len(text) > 4096:
            raise ApiError(400, "Bad Request: message is too long")
        return {"text": text}

    @staticmethod
    def _markup(params: dict[str, Any]) -> Json:
        """The inline keyboard a message will show (reply keyboards are not echoed back)."""
        markup = params.get("reply_markup")
        if markup is None:
            return {}
        if not isinstance(markup, dict):
            raise ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")
        if "inline_keyboard" not in markup:
            return {}
        for row in markup["inline_keyboard"]:
            for button in row:
                if not 1 <= len(str(button.get("callback_data", "-")).encode()) <= 64:
                    raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
        return {"reply_markup": {"inline_keyboard": markup["inline_keyboard"]}}

    def _edit(self, method: str, params: dict[str, Any]) -> Any:
        """editMessageText, editMessageReplyMarkup, deleteMessage on a stored message."""
        if "inline_message_id" in params:
            return True
        key: tuple[int, int] = (params.get("chat_id", 0), params.get("message_id", 0))
        message = self._messages.get(key)
        if message is None:
            verb = "delete" if method == "deleteMessage" else "edit"
            raise ApiError(400, f"Bad Request: message to {verb} not found")
        if method == "deleteMessage":
            del self._messages[key]
            return True
        if not message["from"]["is_bot"]:
            raise ApiError(400, "Bad Request: message can't be edited")
        new = self._markup(params)
        if method == "editMessageText":
            if "text" not in message:
                raise ApiError(400, "Bad Request: there is no text in the message to edit")
            new |= self._text(params)
        before = {k: message[k] for k in ("text", "reply_markup") if k in message}
        if before == {k: v for k, v in before.items() if k != "reply_markup"} | new:
            raise ApiError(400, NOT_MODIFIED)
        message.pop("reply_markup", None)
        message.update(new, edit_date=int(self.now()))
        return message

    def _my_commands(self, method: str, params: dict[str, Any]) -> Any:
        """setMyCommands / deleteMyCommands / getMyCommands, per scope and language."""
        key = (
            json.dumps(params.get("scope", {"type": "default"})),
            params.get("language_code", ""),
        )
        if method == "getMyCommands":
            return self.commands.get(key, [])
        if method == "deleteMyCommands":
            self.commands.pop(key, None)
            return True
        commands = params.get("commands", [])
        if any(not re.fullmatch(r"[a-z0-9_]{1,32}", c.get("command", "")) for c in commands):
            raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
        self.commands[key] = commands
        return True

    async def _get_updates(self, params: dict[str, Any]) -> list[Json]:
        """Confirm by offset, then long-poll until an update is queued or `timeout` passes."""
        if self.webhook_url:
            raise ApiError(409, WEBHOOK_ACTIVE)
        self._allowed = params.get("allowed_updates") or self._allowed
        offset = int(params.get("offset", 0))
        if offset < 0:
            self._pending = self._pending[offset:]
        elif offset:
            self._pending = [
                p
                for p in self._pending
                if p.update["update_id"] >= offset or (p.again and not p.returned)
            ]
        self._poll_generation += 1
        generation = self._poll_generation
        self._notify()  # an older long poll still waiting is terminated with 409
        loop = asyncio.get_running_loop()
        deadline = loop.time() + float(params.get("timeout", 0))
        while not self._pending and not self._closing and loop.time() < deadline:
            wakeup = self._wakeup
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wakeup.wait(), deadline - loop.time())
            if generation != self._poll_generation:
                raise ApiError(409, OTHER_POLLER)
        batch = self._pending[: min(max(int(params.get("limit", 100)), 1), 100)]
        for pending in batch:
            pending.returned = True
        return [pending.update for pending in batch]

    # Updates

    def _notify(self) -> None:
        """Wake every long poll."""
        self._wakeup.set()
        self._wakeup = asyncio.Event()

    def _user(self, chat_id: int) -> Json:
        """The user of a private chat (a default Maria if never seen)."""
        default = {"id": chat_id, "is_bot": False, "first_name": "Maria", "language_code": "it"}
        return self._users.setdefault(chat_id, default)

    def _chat(self, chat_id: int) -> Json:
        """The private chat with that user."""
        user = self._user(chat_id)
        names: Json = {k: user[k] for k in ("first_name", "last_name") if k in user}
        return {"id": chat_id, "type": "private", **names}

    def _store(self, chat_id: int, sender: Json, content: Json) -> Json:
        """A new message in the chat (message ids count per chat, both directions)."""
        self._last_id[chat_id] = message_id = self._last_id.get(chat_id, 0) + 1
        message = {"message_id": message_id, "from": sender, "chat": self._chat(chat_id)}
        message |= {"date": int(self.now()), **content}
        self._messages[(chat_id, message_id)] = message
        return message

    async def _new_update(self, **content: Json) -> Json:
        """Number an update and deliver it."""
        update = {"update_id": next(self._update_ids), **copy.deepcopy(content)}  # a snapshot
        await self._deliver(update)
        return update

    async def deliver_raw(self, update: Any) -> None:
        """Deliver anything as an update, however malformed (polling needs an update_id)."""
        await self._deliver(update, raw=True)

    async def _deliver(self, update: Json, again: bool = False, raw: bool = False) -> None:
        """Queue for getUpdates, or POST to the webhook; drop what allowed_updates excludes."""
        if not raw:
            kind = next(key for key in update if key != "update_id")
            allowed = kind in self._allowed if self._allowed else kind not in DEFAULT_UPDATES
        if not raw and not allowed:
            self.undelivered.append(update)
        elif self.webhook_url is None:
            self._pending.append(_Pending(update, again=again))
            self._notify()
        else:
            assert self._session is not None, "FakeTelegram.start() was not awaited"
            secret = self.webhook_secret
            headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret else {}
            headers["Content-Type"] = "application/json"
            body = json.dumps(update)  # aiohttp's json=None would send no body, not null
            try:
                url = self.webhook_for(update) if self.webhook_for else self.webhook_url
                async with self._session.post(url, data=body, headers=headers) as r:
                    self.webhook_responses.append(r.status)
            except (ClientError, TimeoutError):
                self.webhook_responses.append(0)
