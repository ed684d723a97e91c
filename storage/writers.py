"""Who is writing: the person, the account, the roles and the conversation, read for
every message in one query, with whether the message was handled already (its id is
recorded with the step's turn, storage.turns)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, TypeVar

from sqlalchemy import LABEL_STYLE_TABLENAME_PLUS_COL, Integer, bindparam, exists, select, true
from sqlalchemy.orm import Mapper, class_mapper
from sqlalchemy.orm.attributes import instance_state
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.conversations import STORED, Conversation
from storage.direct import Direct, Row
from storage.tables import (
    ChannelAccount,
    ConversationState,
    Person,
    PersonRole,
    ProcessedInbound,
)


@dataclass(frozen=True)
class Writer:
    """Who wrote a message, and where their conversation stands."""

    person: Person
    account: ChannelAccount
    roles: dict[str, str]  # role → status ("active" or "pending")
    conversation: Conversation


@dataclass(frozen=True)
class Arrival:
    fresh: bool  # False: the message was handled already (a platform delivering again)
    writer: Writer | None  # None: nobody writes from this chat yet


M = TypeVar("M", Person, ChannelAccount)
_tables = SQLModel.metadata.tables
_people, _accounts = _tables["person"], _tables[ChannelAccount.__tablename__]
_states, _roles = _tables[ConversationState.__tablename__], _tables[PersonRole.__tablename__]
_inbound = _tables[ProcessedInbound.__tablename__]
_PERSON, _ACCOUNT = len(_people.c), len(_accounts.c)
_WRITING_QUERY = (
    select(*_people.c, *_accounts.c, *STORED, _roles.c.role, _roles.c.status)
    .join(_accounts, _accounts.c.person_id == _people.c.id)
    .outerjoin(_states, _states.c.person_id == _people.c.id)
    .outerjoin(_roles, _roles.c.person_id == _people.c.id)
    .where(
        _accounts.c.channel == bindparam("account_channel"),
        _accounts.c.external_id == bindparam("account_external_id"),
    )
)
_WRITING = Direct(_WRITING_QUERY)


def _arriving() -> Direct:
    """SELECT whether the message's id is recorded, and the writing query's rows (none:
    one row of NULLs)."""
    handled = exists().where(
        _inbound.c.channel == bindparam("account_channel"),
        _inbound.c.inbound_id == bindparam("inbound_id"),
    )
    seen = select(handled.label("seen")).subquery("arrival")
    writing = _WRITING_QUERY.set_label_style(LABEL_STYLE_TABLENAME_PLUS_COL).subquery("writing")
    ticket = bindparam("arrival_ticket", type_=Integer).label("ticket")  # read_together's
    columns = select(ticket, seen.c.seen, *writing.c)
    return Direct(columns.select_from(seen.outerjoin(writing, true())))


_ARRIVING = _arriving()


async def writing(session: AsyncSession, channel: str, external_id: str) -> Writer | None:
    params = {"account_channel": channel, "account_external_id": external_id}
    return _writer(session, await _WRITING.rows(await session.connection(), params))


async def arriving(
    session: AsyncSession, channel: str, external_id: str, inbound_id: str
) -> Arrival:
    params = {
        "arrival_ticket": 0,
        "account_channel": channel,
        "account_external_id": external_id,
        "inbound_id": inbound_id,
    }
    rows = await _ARRIVING.read_together(await session.connection(), params)
    if rows[0][0]:
        return Arrival(False, None)
    found = [row[1:] for row in rows if row[1] is not None]  # the person's id
    return Arrival(True, _writer(session, found))


def _writer(session: AsyncSession, rows: Sequence[Row]) -> Writer | None:
    if not rows:
        return None
    first = rows[0]
    person = _persistent(session, Person, first[:_PERSON])
    account = _persistent(session, ChannelAccount, first[_PERSON : _PERSON + _ACCOUNT])
    assert person.id is not None
    stored = first[_PERSON + _ACCOUNT : -2]
    roles = {role: status for *_, role, status in rows if role}
    return Writer(person, account, roles, Conversation.stored(person.id, *stored))


@cache
def _mapping(model: type[SQLModel]) -> tuple[Mapper[Any], tuple[str, ...]]:
    """The model's mapper, configured (the first message may come before any query),
    and its table's column names in order; looked up once, not twice per message."""
    mapper = class_mapper(model)
    return mapper, tuple(mapper.local_table.c.keys())


def _persistent(session: AsyncSession, model: type[M], values: Sequence[Any]) -> M:
    """An instance as the ORM loads one (persistent in `session`, nothing changed), from
    its table's columns in order; the session's own, if it holds that row already.

    Made as the ORM's loading makes one: its identity key set and its state put in the
    session's identity map, with no `session.add` (under cProfile, more than half of
    the Python work of reading who is writing: the cascade, the attach events, none of
    which applies to a row just read). What a step changes on it is flushed at the
    commit as for any loaded object.
    """
    mapper, names = _mapping(model)
    fields = dict(zip(names, values, strict=True))
    key = mapper.identity_key_from_primary_key((fields["id"],))
    sync = session.sync_session
    held = sync.identity_map.get(key)
    if held is not None:
        return held  # type: ignore[no-any-return]
    instance: M = mapper.class_manager.new_instance()
    instance.__dict__.update(fields)
    state = instance_state(instance)
    state.key, state.session_id = key, sync.hash_key
    sync.identity_map.add(state)
    return instance
