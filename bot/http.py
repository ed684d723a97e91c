"""The HTTP server: platform webhooks, delivery reports, health and metrics."""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable
from json import JSONDecodeError

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.channels.telegram import TelegramChannel, update_id
from bot.channels.twilio import parse_form, parse_inbound, signature_valid
from bot.delivery import Delivery
from flows.incoming import Incoming
from storage.unit_of_work import Database

log = logging.getLogger(__name__)
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
MAX_BODY = 1024 * 1024  # Telegram updates and Twilio webhooks are a few KiB

Handler = Callable[[Incoming], Awaitable[None]]


class BodyLimit:
    """413 for a body over `limit` bytes: at once when Content-Length says so, without
    reading it; else as soon as the chunks read so far exceed it. Nothing is handled."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length", b"0")
        if not length.isdigit() or int(length) > self.limit:
            await PlainTextResponse("body too large", status_code=413)(scope, receive, send)
            return
        read = 0

        async def capped() -> Message:
            nonlocal read
            message = await receive()
            read += len(message.get("body", b""))
            if read > self.limit:  # raised in the endpoint; Starlette answers 413
                raise HTTPException(413, "body too large")
            return message

        await self.app(scope, capped, send)


class WebApp:
    """The Starlette application; every route answers 5xx when the update could not be
    stored, so that the platform delivers it again."""

    def __init__(
        self,
        database: Database,
        delivery: Delivery,
        handle: Handler,
        *,
        telegram: TelegramChannel | None = None,
        telegram_secret: str | None = None,
        twilio_auth_token: str | None = None,
        public_url: str | None = None,
        channels_running: Callable[[], bool] = lambda: True,
        max_body: int = MAX_BODY,
    ) -> None:
        self.database, self.delivery, self.handle = database, delivery, handle
        self.telegram, self.telegram_secret = telegram, telegram_secret
        self.twilio_auth_token = twilio_auth_token
        self.public_url = (public_url or "").rstrip("/")
        self.channels_running = channels_running
        self.app = Starlette(
            routes=[
                Route("/telegram/webhook", self.telegram_webhook, methods=["POST"]),
                Route("/twilio/inbound", self.twilio_inbound, methods=["POST"]),
                Route("/twilio/status", self.twilio_status, methods=["POST"]),
                Route("/healthz", self.healthz, methods=["GET"]),
                Route("/metrics", self.metrics, methods=["GET"]),
            ],
            middleware=[Middleware(BodyLimit, limit=max_body)],
        )

    async def telegram_webhook(self, request: Request) -> Response:
        if self.telegram is None or not self.telegram_secret:
            return PlainTextResponse("telegram webhook not configured", status_code=404)
        given = request.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(given.encode(), self.telegram_secret.encode()):
            return PlainTextResponse("forbidden", status_code=403)
        try:
            update = await request.json()
        except (JSONDecodeError, UnicodeDecodeError):
            return PlainTextResponse("not JSON", status_code=400)
        try:
            await self.telegram.feed(update)
        except Exception:
            log.exception("telegram update %s not handled", update_id(update))
            return PlainTextResponse("try again", status_code=503)
        return PlainTextResponse("ok")

    async def _twilio_form(self, request: Request) -> dict[str, str] | None:
        """The form, if its X-Twilio-Signature is right for our public address."""
        if not self.twilio_auth_token:
            return None
        fields = parse_form(await request.body())
        url = self.public_url + request.url.path
        if request.url.query:
            url += "?" + request.url.query
        signature = request.headers.get("X-Twilio-Signature", "")
        if not signature_valid(self.twilio_auth_token, url, fields, signature):
            return None
        return dict(fields.items())  # the last of a repeated field

    async def twilio_inbound(self, request: Request) -> Response:
        form = await self._twilio_form(request)
        if form is None:
            return PlainTextResponse("forbidden", status_code=403)
        incoming = parse_inbound(form)
        if incoming is None:
            log.warning("twilio inbound %s without a usable sender", form.get("MessageSid"))
            return Response(EMPTY_TWIML, media_type="text/xml")
        try:
            await self.handle(incoming)
        except Exception:
            log.exception("twilio message %s not handled", form.get("MessageSid"))
            return PlainTextResponse("try again", status_code=503)
        return Response(EMPTY_TWIML, media_type="text/xml")

    async def twilio_status(self, request: Request) -> Response:
        form = await self._twilio_form(request)
        if form is None:
            return PlainTextResponse("forbidden", status_code=403)
        sid, status = form.get("MessageSid", ""), form.get("MessageStatus", "")
        try:
            known = await self.delivery.reports.record_status(
                sid, status, form.get("ErrorCode") or None
            )
        except Exception:
            log.exception("status of %s not recorded", sid)
            return PlainTextResponse("try again", status_code=503)
        if not known:
            log.info("status %s for a message we do not know: %s", status, sid)
        return PlainTextResponse("ok")

    async def healthz(self, request: Request) -> Response:
        problems = []
        try:
            await self.database.ping()
        except Exception as error:
            problems.append(f"database: {type(error).__name__}")
        if not self.channels_running():
            problems.append("a channel is not running")
        if problems:
            return JSONResponse({"status": "unhealthy", "problems": problems}, status_code=503)
        return JSONResponse({"status": "ok"})

    async def metrics(self, request: Request) -> Response:
        metrics = self.delivery.metrics
        async with self.database.unit_of_work() as uow:
            depth = await uow.outbox.depth()
        metrics.outbox_depth.clear()
        for (channel, priority), count in depth.items():
            metrics.outbox_depth.labels(channel, str(priority)).set(count)
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)
