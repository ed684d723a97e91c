"""Inbound idempotency: an update handled once, however often it is delivered."""

from __future__ import annotations

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.direct import Direct
from storage.tables import ProcessedInbound, utcnow

_table = SQLModel.metadata.tables[ProcessedInbound.__tablename__]
_COLUMNS = ("channel", "inbound_id", "received_at")
# built once (this runs for every update): SQLite's, PostgreSQL's
_RECORD = (
    Direct(sqlite_insert(_table).on_conflict_do_nothing(), _COLUMNS),
    Direct(pg_insert(_table).on_conflict_do_nothing(), _COLUMNS),
)


class InboundRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def first_time(self, channel: str, inbound_id: str) -> bool:
        """Record the id; False when it was recorded already (a duplicate delivery)."""
        statement = _RECORD[self.session.get_bind().dialect.name == "postgresql"]
        connection = await self.session.connection()
        values = {"channel": channel, "inbound_id": inbound_id, "received_at": utcnow()}
        return bool(await statement.count(connection, values))
