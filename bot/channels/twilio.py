"""WhatsApp and SMS through Twilio: inbound form webhooks in, messages out."""

from __future__ import annotations

import asyncio
import base64
import functools
import hmac
import json
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import urlencode

import aiohttp
from multidict import MultiDict, MultiDictProxy
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.base.version import Version
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.response import Response
from twilio.request_validator import RequestValidator
from twilio.rest import Client
from yarl import URL

from bot.delivery import SendError
from bot.rendering import Rendered, split_text
from flows.incoming import Incoming
from flows.phones import normalize_phone

log = logging.getLogger(__name__)
WHATSAPP, SMS = "whatsapp", "sms"
BODY_LIMIT = 1600  # characters in one Twilio message body
SEND_TIMEOUT = 15.0  # seconds, unless CISONO_SEND_TIMEOUT says otherwise
OPTED_OUT = 21610  # "Attempt to send to unsubscribed recipient"
OUTSIDE_WINDOW = 63016  # free-form WhatsApp message outside the 24-hour window


def parse_inbound(form: Mapping[str, str]) -> Incoming | None:
    """The Incoming of a Twilio inbound webhook, WhatsApp or SMS; None if unusable."""
    sender = form.get("From", "")
    channel = WHATSAPP if sender.startswith("whatsapp:") else SMS
    phone = normalize_phone(sender)
    if phone is None:
        return None
    return Incoming(
        channel=channel,
        external_id=phone,
        text=form.get("Body") or form.get("ButtonText") or "",
        choice=form.get("ButtonPayload") or None,
        phone=phone,
        profile_name=form.get("ProfileName") or None,
        inbound_id=form.get("MessageSid") or None,
    )


def signature_valid(auth_token: str, url: str, form: Mapping[str, str], signature: str) -> bool:
    """Whether X-Twilio-Signature signs this form for `url`. The address as Twilio was
    given it is tried first: one HMAC, where the library always makes two (with and
    without the port). The library is given a multidict: of a plain dict it asks first
    for `getall` and `getlist`, by two exceptions a field."""
    validator = _validator(auth_token)
    params = form if isinstance(form, MultiDictProxy | MultiDict) else MultiDict(form)
    if hmac.compare_digest(validator.compute_signature(url, params).encode(), signature.encode()):
        return True
    return bool(validator.validate(url, params, signature))


@functools.lru_cache(maxsize=4)
def _validator(auth_token: str) -> RequestValidator:
    return RequestValidator(auth_token)


def parse_form(body: bytes) -> MultiDictProxy[str]:
    """A webhook's urlencoded form (Twilio sends no other kind), every value of a repeated
    field kept, as Twilio signs them. Parsed by yarl, in C, as parse_qsl would: parse_qsl
    took ten times as long."""
    return URL.build(query_string=body.decode("utf-8", "replace"), encoded=True).query


class TwilioChannel:
    """One Twilio sender: `whatsapp` (addresses get the `whatsapp:` prefix) or `sms`."""

    def __init__(
        self,
        name: str,
        client: Client,
        sender: str,
        status_callback: str | None,
        timeout: float = SEND_TIMEOUT,
    ) -> None:
        self.name, self.client, self.sender = name, client, sender
        self.timeout = timeout
        self.status_callback = status_callback
        self.running = True

    async def close(self) -> None:
        session = getattr(self.client.http_client, "session", None)
        if session is not None and not session.closed:
            await session.close()

    def _to(self, number: str) -> str:
        return f"whatsapp:{number}" if self.name == WHATSAPP else number

    def _from(self) -> str:
        bare = self.sender.removeprefix("whatsapp:")
        return f"whatsapp:{bare}" if self.name == WHATSAPP else bare

    async def send(self, address: str, message: Rendered) -> str | None:
        if message.template_sid is not None:
            variables = json.dumps(message.template_variables, ensure_ascii=False)
            return await self._create(
                address, ContentSid=message.template_sid, ContentVariables=variables
            )
        text = message.numbered()
        if message.attachment is not None:
            text = f"{text}\n\n{message.attachment.filename}:\n{message.attachment.content}"
        sid = None
        for body in split_text(text, BODY_LIMIT):
            sid = await self._create(address, Body=body)
        return sid

    async def _create(self, address: str, **fields: str) -> str | None:
        """POST Messages.json as Twilio's client makes the request and raises its errors,
        reading back only the message's sid: the library's MessageInstance parses every
        field of the answer, dates and prices included (bench/README.md)."""
        form = {"To": self._to(address), "From": self._from(), **fields}
        if self.status_callback:
            form["StatusCallback"] = self.status_callback
        base, account = self.client.api.base_url.rstrip("/"), self.client.account_sid
        url = f"{base}/2010-04-01/Accounts/{account}/Messages.json"
        try:
            # the client's own timeout setting is not applied to requests (twilio 9.13)
            async with asyncio.timeout(self.timeout):
                response = await self.client.request_async(
                    "POST", url, data=form, headers=dict(_FORM_HEADERS)
                )
            if not 200 <= response.status_code < 300:
                raise Version.exception("POST", url, response, "Unable to create record")
        except TwilioRestException as error:
            raise _send_error(error) from error
        except TwilioException as error:
            raise SendError(f"twilio: {error}", permanent=False) from error
        except (TimeoutError, aiohttp.ClientError) as error:
            raise SendError(f"twilio unreachable: {error!r}", permanent=False) from error
        created = json.loads(response.text) if response.text else {}
        sid = created.get("sid") if isinstance(created, dict) else None
        return str(sid) if sid is not None else None


# what MessageList.create sends with its form (ClientBase adds the rest)
_FORM_HEADERS = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}


def _send_error(error: TwilioRestException) -> SendError:
    reason = f"twilio {error.code or error.status}: {error.msg}"
    if error.code == OPTED_OUT:
        return SendError(reason, permanent=True, opted_out=True)
    if error.status == 429 or error.status >= 500:
        return SendError(reason, permanent=False)
    return SendError(reason, permanent=True)


def retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds a `Retry-After` header asks to wait (a number or an HTTP date), if usable."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            return None
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    return seconds if 0 < seconds < float("inf") else None


class TwilioHttpClient(AsyncTwilioHttpClient):  # type: ignore[misc]  # untyped
    """Twilio's own client over its aiohttp session, with two differences.

    A 429 says how long Twilio asked us to wait: the library's exception keeps the
    status and the code, not the headers. And a request costs less: the form goes as
    bytes already encoded (aiohttp's FormData encodes it again, field by field), the
    Authorization header is made once per credentials, and no request or response is
    formatted for Twilio's INFO log lines, which `cisono` keeps quiet (bot.app). The
    client's `request_async` still adds its headers and credentials to every request.
    """

    async def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109  # the library's interface
        allow_redirects: bool = False,
    ) -> Response:
        if timeout is not None and timeout <= 0:
            raise ValueError(timeout)
        headers = dict(headers or {})
        if auth is not None:
            headers["Authorization"] = _basic_auth(*auth)
        body = form_body(data) if data else None
        limit = aiohttp.ClientTimeout(total=timeout) if timeout is not None else None
        call = (method, url, params, body, headers, limit, allow_redirects)
        if self.session is None:  # made without pool_connections: as the library does
            async with aiohttp.ClientSession() as own:
                return await _answer(own, *call)
        return await _answer(self.session, *call)


def form_body(data: Mapping[str, object]) -> bytes:
    """The request's form, as `urlencode(data, doseq=True)` makes it, by yarl's quoting
    in C: urlencode's, in Python, was a ninth of the bot's instructions in a WhatsApp
    step answering 600 characters with accents and emoji (bench/README.md)."""
    try:
        return URL.build(query=data).raw_query_string.encode()  # type: ignore[arg-type]
    except TypeError:  # a kind of value yarl does not take (a bool): as urlencode does
        return urlencode(data, doseq=True).encode()


async def _answer(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    params: dict[str, object] | None,
    body: bytes | None,
    headers: dict[str, str],
    limit: aiohttp.ClientTimeout | None,
    allow_redirects: bool,
) -> Response:
    async with session.request(
        method.upper(),
        url,
        params=params,  # type: ignore[arg-type]  # the library's query values
        data=body,
        headers=headers,
        allow_redirects=allow_redirects,
        timeout=limit or session.timeout,
    ) as answer:
        text = await answer.text()
    if answer.status == 429:
        try:
            detail = json.loads(text)
        except ValueError:
            detail = None
        if not isinstance(detail, dict):
            detail = {}
        reason = f"twilio {detail.get('code') or 429}: {detail.get('message', 'Too Many Requests')}"
        wait = retry_after(answer.headers.get("Retry-After"))
        # Twilio's 429 is the account's or the sender's limit, not one chat's
        raise SendError(reason, permanent=False, retry_after=wait, overwhelmed=True)
    return Response(answer.status, text, answer.headers)


@functools.lru_cache(maxsize=4)
def _basic_auth(username: str, password: str) -> str:
    """HTTP Basic credentials, as aiohttp encodes them (latin-1)."""
    return "Basic " + base64.b64encode(f"{username}:{password}".encode("latin1")).decode()


def twilio_client(account_sid: str, auth_token: str, api_url: str) -> Client:
    client = Client(account_sid, auth_token, http_client=TwilioHttpClient())
    client.api.base_url = api_url.rstrip("/")  # TWILIO_API_URL: another server, or a fake
    return client
