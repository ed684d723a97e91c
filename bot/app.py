"""The composition root: settings in, a wired application out."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from bot.channels.telegram import TelegramApi, TelegramChannel
from bot.channels.twilio import SMS, WHATSAPP, TwilioChannel, twilio_client
from bot.delivery import Channel, Delivery
from bot.metrics import Metrics
from bot.ratelimit import RateLimits
from bot.settings import Settings
from bot.whatsapp_window import Templates
from flows.catalogue import all_steps
from flows.config import Clock, SystemClock
from flows.engine import ConversationEngine
from flows.incoming import Incoming
from scheduler.service import Scheduler
from scheduler.sweep import ReminderSweep
from storage.migrate import current_revision, head_revision
from storage.unit_of_work import Database

CHAT_BURST = 3.0


class DatabaseNotReady(Exception):
    """The schema is older than the code: `cisono db upgrade` is needed."""


@dataclass
class App:
    settings: Settings
    database: Database
    engine: ConversationEngine
    delivery: Delivery
    metrics: Metrics
    scheduler: Scheduler

    @classmethod
    def build(
        cls,
        settings: Settings,
        channels: Mapping[str, Channel],
        clock: Clock | None = None,
        database: Database | None = None,
        limits: RateLimits | None = None,
    ) -> App:
        clock = clock or SystemClock()
        database = database or Database(settings.database_url, settings.database_pool)
        engine = ConversationEngine(database, all_steps(), settings.flow_settings(), clock)
        metrics = Metrics()
        limits = limits or RateLimits(
            {
                "telegram": settings.telegram_rate,
                WHATSAPP: settings.twilio_whatsapp_rate,
                SMS: settings.twilio_sms_rate,
            },
            # one chat: on average this many a second, short bursts of a reply's few messages
            per_chat={"telegram": (settings.telegram_chat_rate, CHAT_BURST)},
        )
        delivery = Delivery(
            database,
            channels,
            clock,
            limits=limits,
            templates=Templates.load(settings.twilio_templates),
            metrics=metrics,
            quiet=settings.quiet,
            lease=timedelta(seconds=settings.outbox_lease_seconds),
        )
        scheduler = Scheduler(
            ReminderSweep(database, engine.settings, clock),
            timezone=settings.timezone,
            every_seconds=settings.sweep_seconds,
            retention_days=settings.retention_days,
            on_queued=delivery.poke,
        )
        return cls(settings, database, engine, delivery, metrics, scheduler)

    async def handle(self, incoming: Incoming) -> None:
        """A message from any channel: into the engine, and the replies on their way."""
        self.metrics.inbound.labels(incoming.channel).inc()
        handled = await self.engine.handle(incoming)
        if not handled.duplicate:
            # replies and notifications; a notice sent from the chat is in the bulk lanes,
            # which look again within a moment anyway
            self.delivery.poke(bulk=False)

    async def check_schema(self) -> None:
        current = await current_revision(self.database.engine)
        if current != head_revision():
            raise DatabaseNotReady(
                f"the database is at revision {current or 'none'}, the code needs "
                f"{head_revision()}: run `cisono db upgrade`"
            )

    async def close(self) -> None:
        await self.database.dispose()


# Libraries that log each request at INFO: httpx (python-telegram-bot's client) with the
# bot token in the URL, Twilio's clients with every header. Their warnings still show.
CHATTY_LOGGERS = ("httpx", "httpcore", "twilio.http_client", "twilio.async_http_client")


def quiet_chatty_loggers() -> None:
    for name in CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


def platform_channels(settings: Settings) -> dict[str, Channel]:
    """The messaging platforms the settings configure (none, one, or all three)."""
    quiet_chatty_loggers()  # `cisono run` logs at INFO
    channels: dict[str, Channel] = {}
    if settings.telegram_token:
        channels["telegram"] = TelegramChannel(
            telegram_api(settings), settings.telegram_webhook_url, settings.telegram_webhook_secret
        )
    if settings.twilio_account_sid and settings.twilio_auth_token:
        client = twilio_client(
            settings.twilio_account_sid, settings.twilio_auth_token, settings.twilio_api_url
        )
        callback = f"{(settings.public_url or '').rstrip('/')}/twilio/status"
        for name, sender in (
            (WHATSAPP, settings.twilio_whatsapp_from),
            (SMS, settings.twilio_sms_from),
        ):
            if sender:
                channels[name] = TwilioChannel(
                    name, client, sender, callback, settings.send_timeout
                )
    return channels


def telegram_api(settings: Settings) -> TelegramApi:
    """The driver chosen; only it is imported (aiogram's types alone take seconds, which
    every `cisono` command would pay)."""
    if settings.telegram_driver == "ptb":
        from bot.channels.telegram_ptb import PtbApi

        return PtbApi(
            settings.telegram_token or "", settings.telegram_api_url, settings.send_timeout
        )
    from bot.channels.telegram_aiogram import AiogramApi

    return AiogramApi(
        settings.telegram_token or "", settings.telegram_api_url, settings.send_timeout
    )


def configure_logging(level: str = "WARNING") -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
