"""The composition root: settings in, a wired application out."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from bot.delivery import Channel, Delivery
from bot.settings import Settings
from flows.catalogue import all_steps
from flows.config import Clock, SystemClock
from flows.engine import ConversationEngine
from storage.migrate import current_revision, head_revision
from storage.unit_of_work import Database


class DatabaseNotReady(Exception):
    """The schema is older than the code: `cisono db upgrade` is needed."""


@dataclass
class App:
    settings: Settings
    database: Database
    engine: ConversationEngine
    delivery: Delivery

    @classmethod
    def build(
        cls,
        settings: Settings,
        channels: Mapping[str, Channel],
        clock: Clock | None = None,
        database: Database | None = None,
    ) -> App:
        clock = clock or SystemClock()
        database = database or Database(settings.database_url)
        engine = ConversationEngine(database, all_steps(), settings.flow_settings(), clock)
        return cls(settings, database, engine, Delivery(database, channels, clock))

    async def check_schema(self) -> None:
        current = await current_revision(self.database.engine)
        if current != head_revision():
            raise DatabaseNotReady(
                f"the database is at revision {current or 'none'}, the code needs "
                f"{head_revision()}: run `cisono db upgrade`"
            )

    async def close(self) -> None:
        await self.database.dispose()


def configure_logging(level: str = "WARNING") -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
