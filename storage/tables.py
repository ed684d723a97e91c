"""The database tables: people, their channel accounts and roles, conversation state,
the outbox, processed inbound ids, the audit log, requests, shifts, reminders and broadcasts."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(sa.TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite keeps no time zone)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _when() -> Any:
    """An optional moment."""
    return Field(default=None, sa_column=sa.Column(UTCDateTime(), nullable=True))


def _now(index: bool = False) -> Any:
    """A moment that defaults to now."""
    return Field(
        default_factory=utcnow, sa_column=sa.Column(UTCDateTime(), nullable=False, index=index)
    )


def _json(default: Any) -> Any:
    return Field(default_factory=default, sa_column=sa.Column(sa.JSON(), nullable=False))


def _person_fk() -> Any:
    """The owning person; rows go when the person is erased."""
    return Field(
        sa_column=sa.Column(
            sa.Integer, sa.ForeignKey("person.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )


class Person(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str | None = Field(default=None, max_length=120)
    phone: str | None = Field(default=None, max_length=20, unique=True, index=True)
    locale: str | None = Field(default=None, max_length=10)
    timezone: str | None = Field(default=None, max_length=64)
    consent_at: datetime | None = _when()
    consent_version: str | None = Field(default=None, max_length=20)
    opted_out_at: datetime | None = _when()
    created_at: datetime = _now()


class ChannelAccount(SQLModel, table=True):
    __tablename__ = "channel_account"
    __table_args__ = (sa.UniqueConstraint("channel", "external_id", name="uq_account_external"),)

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = _person_fk()
    channel: str = Field(max_length=20)
    external_id: str = Field(max_length=64)
    created_at: datetime = _now()
    last_inbound_at: datetime | None = _when()  # opens WhatsApp's 24-hour window
    unreachable_at: datetime | None = _when()  # the person blocked the bot here
    opted_out_at: datetime | None = _when()  # STOP on this channel, or Twilio's 21610


class PersonRole(SQLModel, table=True):
    __tablename__ = "person_role"
    __table_args__ = (sa.UniqueConstraint("person_id", "role", name="uq_person_role"),)

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = _person_fk()
    role: str = Field(max_length=20)
    status: str = Field(default="active", max_length=10)  # active | pending
    granted_by: str | None = Field(default=None, max_length=40)
    granted_at: datetime = _now()


class ConversationState(SQLModel, table=True):
    __tablename__ = "conversation_state"

    person_id: int = Field(
        sa_column=sa.Column(
            sa.Integer, sa.ForeignKey("person.id", ondelete="CASCADE"), primary_key=True
        )
    )
    step: str | None = Field(default=None, max_length=80)
    data: dict[str, Any] = _json(dict)
    history: list[str] = _json(list)
    version: int = Field(default=0)
    updated_at: datetime = _now()


WAITING = ("queued", "sending")  # an outbox message not sent yet, nor given up on
_WAITING_ROWS = f"status IN ({', '.join(repr(status) for status in WAITING)})"


def _only_set(column: str) -> sa.Index:
    """An outbox index of the rows where `column` has a value: all that its queries seek."""
    where = sa.text(f"{column} IS NOT NULL")
    return sa.Index(f"ix_outbox_{column}", column, postgresql_where=where, sqlite_where=where)


class OutboxMessage(SQLModel, table=True):
    __tablename__ = "outbox"
    # A message is written three times (queued, claimed, sent), and each write adds an
    # entry to every index its new row belongs in: an index that serves some rows holds
    # only those (migrations 0011, 0012): a reply's writes touch five indexes, then four.
    __table_args__ = (
        sa.Index("ix_outbox_chat", "channel", "address", "id"),  # one chat's latest messages
        # one chat's messages still to go: PostgreSQL's claims keep a chat's order with it
        # (SQLite's take turns and need none; the schema is the same on both)
        sa.Index(
            "ix_outbox_waiting_chat",
            "channel",
            "address",
            "id",
            postgresql_where=sa.text(_WAITING_ROWS),
            sqlite_where=sa.text(_WAITING_ROWS),
        ),
        # the claim's: what still waits to go, on PostgreSQL; SQLite's planner cannot tell
        # that the claim's condition falls in a list of statuses, so there it holds all
        sa.Index(
            "ix_outbox_due",
            "status",
            "priority",
            "next_attempt_at",
            postgresql_where=sa.text(_WAITING_ROWS),
        ),
        _only_set("provider_id"),  # status reports
        _only_set("origin"),  # a broadcast's messages
        _only_set("replaces"),  # live messages
    )

    id: int | None = Field(default=None, primary_key=True)
    person_id: int | None = Field(
        default=None,
        sa_column=sa.Column(
            sa.Integer, sa.ForeignKey("person.id", ondelete="SET NULL"), nullable=True, index=True
        ),
    )
    account_id: int | None = Field(
        default=None,
        sa_column=sa.Column(
            sa.Integer, sa.ForeignKey("channel_account.id", ondelete="SET NULL"), nullable=True
        ),
    )
    channel: str = Field(max_length=20)
    address: str = Field(max_length=64)
    locale: str = Field(max_length=10)
    timezone: str = Field(max_length=64)
    body: dict[str, Any] = _json(dict)  # a serialised flows.messages.Reply
    priority: int = Field(default=0)  # 0 replies, 10 reminders, 20 broadcasts
    status: str = Field(default="queued", max_length=12)
    attempts: int = Field(default=0)
    next_attempt_at: datetime = _now()
    claimed_until: datetime | None = _when()
    provider_id: str | None = Field(default=None, max_length=64)
    provider_status: str | None = Field(default=None, max_length=20)  # delivered, read, ...
    failure_reason: str | None = Field(default=None, max_length=255)
    created_at: datetime = _now()
    sent_at: datetime | None = _when()
    origin: str | None = Field(default=None, max_length=40)  # "broadcast:3"
    urgent: bool = Field(default=False)  # goes out during quiet hours too
    # a live message's tag: it replaces the last one sent with this tag to the same chat
    replaces: str | None = Field(default=None, max_length=40)


INBOUND_ID_LENGTH = 64  # a Twilio MessageSid is 34 characters, a Telegram update_id ten digits


class ProcessedInbound(SQLModel, table=True):
    """Ids of inbound updates already handled (Telegram update_id, Twilio MessageSid)."""

    __tablename__ = "processed_inbound"

    channel: str = Field(primary_key=True, max_length=20)
    inbound_id: str = Field(primary_key=True, max_length=INBOUND_ID_LENGTH)
    received_at: datetime = _now()


class AuditEntry(SQLModel, table=True):
    __tablename__ = "audit_log"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = _now(index=True)
    actor: str = Field(max_length=40)  # "person:12", "cli", "system"
    action: str = Field(max_length=60)
    subject: str | None = Field(default=None, max_length=60)
    details: dict[str, Any] = _json(dict)


class SupportRequest(SQLModel, table=True):
    """A family's request for support; health details are not asked for (GDPR art. 9)."""

    __tablename__ = "support_request"

    id: int | None = Field(default=None, primary_key=True)
    reference: str = Field(max_length=20, unique=True, index=True)  # R-2026-0042
    family_person_id: int | None = Field(
        default=None,
        sa_column=sa.Column(
            sa.Integer, sa.ForeignKey("person.id", ondelete="SET NULL"), nullable=True, index=True
        ),
    )
    category: str = Field(max_length=30)
    beneficiary: str = Field(max_length=20)  # self, parent, child, other
    age_band: str = Field(max_length=10)
    zone: str = Field(max_length=80)
    days: str = Field(max_length=120)
    times: str = Field(max_length=120)
    urgency: str = Field(max_length=12)  # ordinary, week, urgent
    notes: str | None = Field(default=None, max_length=500)
    status: str = Field(default="new", max_length=12, index=True)
    created_at: datetime = _now()
    updated_at: datetime = _now()


class RequestEvent(SQLModel, table=True):
    """Every change of a request: who, when, what, and the reason told to the family."""

    __tablename__ = "request_event"

    id: int | None = Field(default=None, primary_key=True)
    request_id: int = Field(
        sa_column=sa.Column(
            sa.Integer,
            sa.ForeignKey("support_request.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        )
    )
    at: datetime = _now()
    actor: str = Field(max_length=40)
    kind: str = Field(max_length=20)  # created, status, note
    status: str | None = Field(default=None, max_length=12)
    text: str | None = Field(default=None, max_length=500)


class ReferenceCounter(SQLModel, table=True):
    """The last request number given in a year, for references like R-2026-0042."""

    __tablename__ = "reference_counter"

    year: int = Field(primary_key=True)
    last: int = Field(default=0)


class Shift(SQLModel, table=True):
    """A piece of work with a number of places, filled first come, first served."""

    id: int | None = Field(default=None, primary_key=True)
    title: str = Field(max_length=120)
    category: str | None = Field(default=None, max_length=30)
    zone: str = Field(max_length=80)
    place: str | None = Field(default=None, max_length=160)
    starts_at: datetime = _now(index=True)
    ends_at: datetime = _now()
    needed: int = Field(default=1)
    skills: list[str] = _json(list)  # all of them needed to be offered the shift
    notes: str | None = Field(default=None, max_length=500)  # for the volunteers
    status: str = Field(default="open", max_length=12)  # open, cancelled
    request_id: int | None = Field(
        default=None,
        sa_column=sa.Column(
            sa.Integer, sa.ForeignKey("support_request.id", ondelete="SET NULL"), nullable=True
        ),
    )
    created_at: datetime = _now()


class ShiftAssignment(SQLModel, table=True):
    """A volunteer on a shift: confirmed, waitlisted, withdrawn, or how it went."""

    __tablename__ = "shift_assignment"
    __table_args__ = (sa.UniqueConstraint("shift_id", "person_id", name="uq_assignment"),)

    id: int | None = Field(default=None, primary_key=True)
    shift_id: int = Field(
        sa_column=sa.Column(
            sa.Integer, sa.ForeignKey("shift.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    person_id: int = _person_fk()
    status: str = Field(default="confirmed", max_length=12)
    created_at: datetime = _now()
    updated_at: datetime = _now()


class VolunteerProfile(SQLModel, table=True):
    """What a volunteer can do, where and when: shifts are offered to those who fit."""

    __tablename__ = "volunteer_profile"

    person_id: int = Field(
        sa_column=sa.Column(
            sa.Integer, sa.ForeignKey("person.id", ondelete="CASCADE"), primary_key=True
        )
    )
    skills: list[str] = _json(list)
    zones: list[str] = _json(list)  # empty: anywhere
    days: str = Field(default="any_day", max_length=12)  # weekdays, weekend, any_day
    updated_at: datetime = _now()


class Reminder(SQLModel, table=True):
    """Something to say at a due time; a scheduler sweep fires it exactly once."""

    __tablename__ = "reminder"
    __table_args__ = (sa.Index("ix_reminder_due", "status", "due_at"),)

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=30)  # shift, shift_escalation, request_untriaged, ...
    subject: str = Field(max_length=40, index=True)  # what it is about: "shift:12"
    label: str = Field(default="", max_length=20)  # which one of the subject's: "24h"
    due_at: datetime = _now()
    status: str = Field(default="pending", max_length=12)  # pending, sent, skipped, cancelled
    reason: str | None = Field(default=None, max_length=160)  # why skipped or cancelled
    recipients: int = Field(default=0)
    fired_at: datetime | None = _when()
    created_at: datetime = _now()


class Broadcast(SQLModel, table=True):
    """A notice to an audience, previewed and confirmed by a coordinator; its messages are
    the outbox rows whose origin is "broadcast:<id>"."""

    id: int | None = Field(default=None, primary_key=True)
    author: str = Field(max_length=40)  # "person:3", "cli"
    audience: str = Field(max_length=20)  # everyone, families, volunteers, zone, shift, ...
    audience_arg: str | None = Field(default=None, max_length=80)  # the zone, the shift id...
    texts: dict[str, str] = _json(dict)  # locale → text; Italian always there
    status: str = Field(default="draft", max_length=12)  # draft, scheduled, sent, cancelled
    send_at: datetime | None = _when()
    recipients: int = Field(default=0)
    opted_out: int = Field(default=0)  # left out: they asked for no messages
    created_at: datetime = _now()
    sent_at: datetime | None = _when()


class Member(SQLModel, table=True):
    """An entry of the member registry (libro soci): since when, and in which category."""

    person_id: int = Field(
        sa_column=sa.Column(
            sa.Integer, sa.ForeignKey("person.id", ondelete="CASCADE"), primary_key=True
        )
    )
    number: str | None = Field(default=None, max_length=20, unique=True, index=True)
    since: date = Field(sa_column=sa.Column(sa.Date(), nullable=False))
    category: str = Field(max_length=20)  # worker, volunteer, user, financing
    email: str | None = Field(default=None, max_length=160)
    updated_at: datetime = _now()


class Assembly(SQLModel, table=True):
    """A members' assembly, first and second call; times are UTC."""

    id: int | None = Field(default=None, primary_key=True)
    title: str = Field(max_length=160)
    first_call_at: datetime = _now(index=True)
    second_call_at: datetime = _now()
    place: str = Field(max_length=200)
    agenda: list[str] = _json(list)
    remote_link: str | None = Field(default=None, max_length=300)
    answer_deadline: datetime = _now()
    notice_ref: str | None = Field(default=None, max_length=200)  # the formal notice
    checkin_code: str = Field(max_length=8)
    status: str = Field(default="open", max_length=12)  # open, cancelled
    created_by: str = Field(max_length=40)
    created_at: datetime = _now()


class AssemblyInvite(SQLModel, table=True):
    """One member invited to an assembly: the vote, the answer, the proxy, the check-in."""

    __tablename__ = "assembly_invite"
    __table_args__ = (sa.UniqueConstraint("assembly_id", "person_id", name="uq_invite"),)

    id: int | None = Field(default=None, primary_key=True)
    assembly_id: int = Field(
        sa_column=sa.Column(
            sa.Integer, sa.ForeignKey("assembly.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    person_id: int = _person_fk()
    voting: bool = Field(default=True)
    answer: str | None = Field(default=None, max_length=10)  # present, remote, absent, proxy
    delegate_id: int | None = Field(
        default=None,
        sa_column=sa.Column(
            sa.Integer, sa.ForeignKey("person.id", ondelete="SET NULL"), nullable=True, index=True
        ),
    )
    proxy_status: str | None = Field(default=None, max_length=10)  # pending, accepted
    answered_at: datetime | None = _when()
    checked_in_at: datetime | None = _when()
    checked_in_by: str | None = Field(default=None, max_length=40)
    nudged_at: datetime | None = _when()


class Worker(SQLModel, table=True):
    """A running `cisono run`, seen lately: the platforms' limits are shared among them."""

    __tablename__ = "worker"

    name: str = Field(primary_key=True, max_length=80)
    seen_at: datetime = _now(index=True)
