"""`cisono run`: the HTTP server, the Telegram driver, the delivery worker and the
scheduler, together."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
from collections.abc import Mapping

import uvicorn

from bot.app import App, platform_channels
from bot.channels.telegram import TelegramChannel
from bot.channels.twilio import TwilioChannel
from bot.delivery import Channel
from bot.http import WebApp
from bot.settings import Settings
from bot.workers import LimitShare
from flows.config import Clock

log = logging.getLogger(__name__)


class Runner:
    """Everything `cisono run` starts; `start` returns once /healthz can answer 200."""

    def __init__(
        self,
        settings: Settings,
        channels: Mapping[str, Channel] | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.settings = settings
        self.channels = dict(channels if channels is not None else platform_channels(settings))
        self.app = App.build(settings, self.channels, clock)
        telegram = self.channels.get("telegram")
        self.telegram = telegram if isinstance(telegram, TelegramChannel) else None
        self.web = WebApp(
            self.app.database,
            self.app.delivery,
            self.app.handle,
            telegram=self.telegram if settings.telegram_webhook_url else None,
            telegram_secret=settings.telegram_webhook_secret,
            twilio_auth_token=settings.twilio_auth_token,
            public_url=settings.public_url,
            channels_running=self._channels_running,
        )
        self.share = LimitShare(self.app.database, self.app.delivery.limits, self.app.engine.clock)
        self.stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.server: uvicorn.Server | None = None

    def _channels_running(self) -> bool:
        return self.telegram is None or self.telegram.running

    async def start(self) -> None:
        await self.app.check_schema()
        config = uvicorn.Config(
            self.web.app,
            host=self.settings.http_host,
            port=self.settings.http_port,
            log_level="warning",
            lifespan="off",
        )
        self.server = uvicorn.Server(config)
        self._tasks.append(asyncio.create_task(self.server.serve(), name="http"))
        while not self.server.started:
            if self._tasks[0].done():
                await self._tasks[0]  # raises why it could not start (port taken...)
                raise RuntimeError("the HTTP server stopped while starting")
            await asyncio.sleep(0.01)
        if self.telegram is not None:
            await self.telegram.start(self.app.handle)
        await self.share.beat()  # its part of the limits before the first send
        self._tasks.append(asyncio.create_task(self.share.run(self.stopping), name="share"))
        self._tasks.append(
            asyncio.create_task(self.app.delivery.run(self.stopping), name="delivery")
        )
        self.app.scheduler.start()

    @property
    def port(self) -> int:
        """The port really bound (CISONO_HTTP_PORT=0 picks a free one)."""
        assert self.server is not None and self.server.servers
        return int(self.server.servers[0].sockets[0].getsockname()[1])

    async def stop(self) -> None:
        self.stopping.set()
        self.app.scheduler.stop()
        if self.server is not None:
            self.server.should_exit = True
        if self.telegram is not None:
            await self.telegram.stop()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for channel in self.channels.values():
            if isinstance(channel, TwilioChannel):
                await channel.close()
        await self.app.close()

    async def run_until_signalled(self) -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self.stopping.set)
        await self.start()
        # The process's start-up (the libraries' modules and models: most of the heap)
        # lives as long as the process; the collector need not walk it at every sweep.
        # And its youngest sweep waits for 10,000 new objects, not 700: a message's
        # step makes hundreds that die with it (3 % of a step's instructions, bench/README).
        gc.collect()
        gc.freeze()
        gc.set_threshold(10_000)
        log.warning("cisono is running on http://%s:%s", self.settings.http_host, self.port)
        if not self.channels:
            log.warning(
                "no messaging platform is configured: set TELEGRAM_BOT_TOKEN or TWILIO_ACCOUNT_SID"
            )
        http = self._tasks[0]
        # uvicorn catches SIGTERM itself while serving, and then stops the HTTP task
        await asyncio.wait(
            [asyncio.create_task(self.stopping.wait()), http], return_when=asyncio.FIRST_COMPLETED
        )
        await self.stop()
