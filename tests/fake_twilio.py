"""A fake Twilio Programmable Messaging API, served over real HTTP on 127.0.0.1."""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

from aiohttp import ClientError, ClientSession, ClientTimeout, TCPConnector, web
from twilio.request_validator import RequestValidator

from tests.tally import Tally

WEBHOOK_KEEPALIVE = 2.0  # seconds a connection to the bot may stay idle and be used again

API_VERSION = "2010-04-01"
WHATSAPP = "whatsapp:"
WINDOW_CLOSED = 63016  # "Failed to send freeform message because you are outside the window"
DEFAULT_CODES = {401: 20003, 404: 20404, 429: 20429, 500: 20500, 503: 20503}


def _bare(number: str) -> str:
    """The number without its channel prefix."""
    return number.removeprefix(WHATSAPP)


def _now() -> str:
    """The current time in RFC 2822, as Twilio writes dates."""
    return format_datetime(datetime.now(UTC))


def _error(status: int, code: int, message: str, retry_after: int | None = None) -> web.Response:
    """A Twilio error body (the legacy shape that becomes a TwilioRestException)."""
    body = {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return web.json_response(body, status=status, headers=headers)


class FakeTwilio:
    """Messages.json, status callbacks and signed inbound webhooks, as Twilio does them."""

    def __init__(
        self, account_sid: str = "AC" + "0" * 32, auth_token: str = "test-auth-token"
    ) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.url = ""
        self.messages: list[dict[str, Any]] = []
        self._sent_to = Tally()  # accepted messages per To, for cheap waiting
        self.rejected: list[dict[str, Any]] = []
        self.callbacks: list[dict[str, Any]] = []  # every status callback: fields, url, result
        self.auto_report = False
        self.callback_delay = 0.05  # seconds before automatic callbacks, so the sender saw 201
        self._opted_out: set[str] = set()
        self._open: set[str] = set()
        self._failures: list[tuple[int, int, int | None]] = []
        self._slow: list[float] = []  # seconds before the next answers
        self._garbled = 0  # the next answers are not JSON
        self.timed_out: list[dict[str, Any]] = []  # sends whose client gave up
        self._tasks: set[asyncio.Task[None]] = set()
        self._runner: web.AppRunner | None = None
        self._session: ClientSession | None = None

    async def start(self) -> None:
        """Listen on a free port of 127.0.0.1."""
        app = web.Application()
        base = f"/{API_VERSION}/Accounts/{{account}}/Messages"
        app.router.add_post(base + ".json", self._create)
        app.router.add_get(base + "/{sid}.json", self._fetch)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"
        # a connection idle for 2 s is dropped here before the bot's server (uvicorn,
        # 5 s) closes it: one it is closing, taken for the next webhook, fails that one
        idle = TCPConnector(keepalive_timeout=WEBHOOK_KEEPALIVE)
        self._session = ClientSession(timeout=ClientTimeout(total=10), connector=idle)

    async def stop(self) -> None:
        """Cancel pending callbacks and close everything."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    # --- knobs --------------------------------------------------------------------------

    def opt_out(self, number: str) -> None:
        """Make every send to this number fail with 21610."""
        self._opted_out.add(_bare(number))

    def open_window(self, number: str) -> None:
        """Open the WhatsApp 24-hour window of this number."""
        self._open.add(_bare(number))

    def close_window(self, number: str) -> None:
        """Close the WhatsApp 24-hour window of this number."""
        self._open.discard(_bare(number))

    def fail_next(
        self, status: int, code: int | None = None, times: int = 1, retry_after: int | None = None
    ) -> None:
        """Answer the next `times` sends with this HTTP status."""
        code = code if code is not None else DEFAULT_CODES.get(status, status)
        self._failures.extend([(status, code, retry_after)] * times)

    def delay_next(self, seconds: float, times: int = 1) -> None:
        """The next `times` sends hang for `seconds`; one whose client gave up meanwhile is
        dropped (it never reached Twilio), and noted in `timed_out`."""
        self._slow.extend([seconds] * times)

    def garble_next(self, times: int = 1) -> None:
        """The next `times` sends get a 201 whose body is not JSON, and send nothing."""
        self._garbled += times

    def count_to(self, to: str) -> int:
        """How many messages were accepted for `to` (without scanning them all)."""
        return self._sent_to[to]

    async def until_count(self, to: str, count: int) -> None:
        """Until `count` messages were accepted for `to` (no polling)."""
        await self._sent_to.reach(to, count)

    def messages_to(self, to: str) -> list[dict[str, Any]]:
        """Accepted messages whose To was exactly `to`."""
        return [message for message in self.messages if message["to"] == to]

    def bodies_to(self, to: str) -> list[str]:
        """Bodies of the accepted messages to `to` ("" for a template send)."""
        return [message["body"] or "" for message in self.messages_to(to)]

    # --- the REST API -------------------------------------------------------------------

    def _authorized(self, request: web.Request) -> bool:
        """Whether the request carries this account's Basic credentials."""
        scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
        try:
            credentials = base64.b64decode(encoded, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return False
        expected = f"{self.account_sid}:{self.auth_token}"
        return scheme.lower() == "basic" and credentials == expected

    def _refuse(self, fields: dict[str, Any], status: int, code: int, message: str) -> web.Response:
        """Record a refused send and answer it."""
        self.rejected.append({**fields, "status": status, "code": code})
        return _error(status, code, message)

    async def _create(self, request: web.Request) -> web.StreamResponse:
        """POST Messages.json."""
        form = await request.post()
        fields: dict[str, Any] = {key: form.getone(key) for key in form}
        if "MediaUrl" in form:
            fields["MediaUrl"] = form.getall("MediaUrl")
        if not self._authorized(request):
            return self._refuse(fields, 401, 20003, "Authenticate")
        if request.match_info["account"] != self.account_sid:
            return self._refuse(fields, 404, 20404, "The requested resource was not found")
        if self._slow:
            try:
                await asyncio.sleep(self._slow.pop(0))
            except asyncio.CancelledError:  # aiohttp cancels the handler of a lost client
                self.timed_out.append(fields)
                raise
            if request.transport is None or request.transport.is_closing():
                self.timed_out.append(fields)
                return web.Response(status=504)  # nobody reads it
        if self._garbled:
            self._garbled -= 1
            self.rejected.append({**fields, "status": 201, "code": None})
            return web.Response(text="<html><body>Bad gateway</body></html>", status=201)
        if self._failures:
            status, code, retry_after = self._failures.pop(0)
            self.rejected.append({**fields, "status": status, "code": code, "at": time.monotonic()})
            return _error(status, code, f"Injected failure {status}", retry_after)
        to, sender = fields.get("To", ""), fields.get("From") or None
        body, content_sid = fields.get("Body"), fields.get("ContentSid") or None
        if not to:
            return self._refuse(fields, 400, 21604, "A 'To' phone number is required.")
        if not (sender or fields.get("MessagingServiceSid")):
            return self._refuse(fields, 400, 21603, "A 'From' phone number is required.")
        if not (body or content_sid or fields.get("MediaUrl")):
            return self._refuse(fields, 400, 21602, "Message body is required.")
        if sender and to.startswith(WHATSAPP) != sender.startswith(WHATSAPP):
            return self._refuse(fields, 400, 21910, "Invalid From and To pair.")
        if body and len(body) > 1600:
            return self._refuse(fields, 400, 21617, "The message body exceeds 1600 characters.")
        variables = None
        if content_sid and fields.get("ContentVariables"):
            try:
                variables = json.loads(fields["ContentVariables"])
            except ValueError:
                return self._refuse(fields, 400, 21656, "The ContentVariables are invalid.")
        if _bare(to) in self._opted_out:
            return self._refuse(fields, 400, 21610, "Attempt to send to unsubscribed recipient")
        record: dict[str, Any] = {
            "sid": "SM" + secrets.token_hex(16),
            "to": to,
            "from": sender,
            "body": body,
            "content_sid": content_sid,
            "content_variables": variables,
            "status_callback": fields.get("StatusCallback") or None,
            "status": "queued",
            "error_code": None,
            "media_url": fields.get("MediaUrl", []),
            "messaging_service_sid": fields.get("MessagingServiceSid") or None,
            "date_created": _now(),
            "at": time.monotonic(),  # when it was accepted, for tests of pacing
        }
        self.messages.append(record)
        self._sent_to.add(to)
        response = web.json_response(self._resource(record), status=201)
        await response.prepare(request)
        await response.write_eof()  # the sender has its 201 before any callback starts
        closed = to.startswith(WHATSAPP) and not content_sid and _bare(to) not in self._open
        if closed:
            self._spawn(record, ("failed",), WINDOW_CLOSED)
        elif self.auto_report:
            self._spawn(record, ("sent", "delivered"), None)
        return response

    async def _fetch(self, request: web.Request) -> web.Response:
        """GET Messages/{sid}.json."""
        if not self._authorized(request):
            return _error(401, 20003, "Authenticate")
        for record in self.messages:
            if record["sid"] == request.match_info["sid"]:
                return web.json_response(self._resource(record))
        return _error(404, 20404, "The requested resource was not found")

    def _resource(self, record: dict[str, Any]) -> dict[str, Any]:
        """The Message resource JSON of a record."""
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{record['sid']}"
        sent = record["status"] not in ("queued", "failed")
        return {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "body": record["body"] or "",
            "date_created": record["date_created"],
            "date_sent": record["date_created"] if sent else None,
            "date_updated": _now(),
            "direction": "outbound-api",
            "error_code": record["error_code"],
            "error_message": None,
            "from": record["from"],
            "messaging_service_sid": record["messaging_service_sid"],
            "num_media": str(len(record["media_url"])),
            "num_segments": "1",
            "price": None,
            "price_unit": None,
            "sid": record["sid"],
            "status": record["status"],
            "subresource_uris": {"media": f"{uri}/Media.json", "feedback": f"{uri}/Feedback.json"},
            "to": record["to"],
            "uri": f"{uri}.json",
        }

    # --- webhooks towards the bot -------------------------------------------------------

    def _spawn(self, record: dict[str, Any], statuses: tuple[str, ...], error: int | None) -> None:
        """Send status callbacks in the background, after `callback_delay`."""

        async def run() -> None:
            await asyncio.sleep(self.callback_delay)
            for status in statuses:
                try:
                    await self._callback(record, status, error if status == "failed" else None)
                except (ClientError, OSError) as exc:
                    self.callbacks.append({"MessageSid": record["sid"], "error": repr(exc)})

        task = asyncio.create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _callback(self, record: dict[str, Any], status: str, error_code: int | None) -> int:
        """Set the status and POST its signed callback, if the message asked for one."""
        record["status"] = status
        if error_code is not None:
            record["error_code"] = error_code
        url = record["status_callback"]
        if not url:
            return 0
        fields = {
            "MessageSid": record["sid"],
            "SmsSid": record["sid"],
            "MessageStatus": status,
            "SmsStatus": status,
            "AccountSid": self.account_sid,
            "From": record["from"] or "",
            "To": record["to"],
            "ApiVersion": API_VERSION,
        }
        if record["to"].startswith(WHATSAPP):
            fields |= {"ChannelPrefix": "whatsapp", "ChannelToAddress": _bare(record["to"])}
        if error_code is not None:
            fields["ErrorCode"] = str(error_code)
        code, _ = await self._post(url, fields, url, forged=False)
        self.callbacks.append({**fields, "url": url, "http_status": code})
        return code

    async def report(self, sid: str, *statuses: str, error_code: int | None = None) -> list[int]:
        """POST one signed status callback per status; return the HTTP codes received."""
        record = next((m for m in self.messages if m["sid"] == sid), None)
        assert record is not None, f"no accepted message {sid}"
        assert record["status_callback"], f"message {sid} was sent without StatusCallback"
        return [await self._callback(record, status, error_code) for status in statuses]

    async def send_inbound(
        self,
        url: str,
        from_: str,
        body: str = "",
        *,
        to: str | None = None,
        message_sid: str | None = None,
        profile_name: str | None = None,
        button_payload: str | None = None,
        button_text: str | None = None,
        forged: bool = False,
        signed_url: str | None = None,
    ) -> tuple[int, str]:
        """POST an inbound message webhook, signed like Twilio; return (status, body)."""
        whatsapp = from_.startswith(WHATSAPP)
        sid = message_sid or "SM" + secrets.token_hex(16)
        fields = {
            "MessageSid": sid,
            "SmsMessageSid": sid,
            "SmsSid": sid,
            "AccountSid": self.account_sid,
            "From": from_,
            "To": to or ("whatsapp:+14155238886" if whatsapp else "+15005550006"),
            "Body": body,
            "NumMedia": "0",
            "NumSegments": "1",
            "SmsStatus": "received",
            "ApiVersion": API_VERSION,
        }
        if whatsapp:
            fields["WaId"] = "".join(char for char in from_ if char.isdigit())
            fields["MessageType"] = "button" if button_payload is not None else "text"
        if profile_name is not None:
            fields["ProfileName"] = profile_name
        if button_payload is not None:
            fields["ButtonPayload"] = button_payload
        if button_text is not None:
            fields["ButtonText"] = button_text
        if not forged:  # a forgery does not come from WhatsApp, so it opens nothing
            self.open_window(from_)
        return await self._post(url, fields, signed_url or url, forged=forged)

    async def _post(
        self, url: str, fields: dict[str, str], signed_url: str, *, forged: bool
    ) -> tuple[int, str]:
        """POST a form with X-Twilio-Signature over `signed_url`."""
        assert self._session is not None, "FakeTwilio.start() was not awaited"
        token = "forged-" + self.auth_token if forged else self.auth_token
        signature = RequestValidator(token).compute_signature(signed_url, fields)
        headers = {"X-Twilio-Signature": signature, "User-Agent": "TwilioProxy/1.1"}
        async with self._session.post(url, data=fields, headers=headers) as response:
            return response.status, await response.text()

    async def wait_for(
        self,
        predicate: Callable[[], bool],
        timeout: float = 10.0,  # noqa: ASYNC109 (a polling deadline, not a cancellation)
    ) -> None:
        """Poll `predicate` every 10 ms until it holds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not predicate():
            if loop.time() >= deadline:
                sent = [
                    (m["to"], m["body"] or m["content_sid"], m["status"]) for m in self.messages
                ]
                refused = [(r.get("To"), r["status"], r["code"]) for r in self.rejected]
                raise AssertionError(
                    f"condition not met within {timeout}s; messages={sent}; "
                    f"rejected={refused}; callbacks={self.callbacks}"
                )
            await asyncio.sleep(0.01)
