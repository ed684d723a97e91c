"""Planning reminders when what they remind of is created, moved or cancelled.

Firing them is the scheduler's job (scheduler/reminders.py); here they only become rows.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from flows.config import FlowSettings
from flows.timing import before, next_working_day, offset_label
from storage.tables import Assembly, Shift, SupportRequest
from storage.unit_of_work import UnitOfWork

SHIFT = "shift"  # to the volunteers on it, CISONO_SHIFT_REMINDERS before it starts
SHIFT_SHORT = "shift_short"  # still short of volunteers CISONO_ESCALATE_HOURS before
REQUEST_UNTRIAGED = "request_untriaged"  # nobody took the request in a working day
ASSEMBLY = "assembly"  # CISONO_ASSEMBLY_REMINDERS before the first call
ASSEMBLY_DEADLINE = "assembly_deadline"  # a day before the answers close, to the silent
DEADLINE_NOTICE = timedelta(days=1)


def shift_subject(shift_id: int | None) -> str:
    return f"shift:{shift_id}"


def assembly_subject(assembly_id: int | None) -> str:
    return f"assembly:{assembly_id}"


def request_subject(request_id: int | None) -> str:
    return f"request:{request_id}"


async def plan_shift_reminders(
    uow: UnitOfWork, shift: Shift, settings: FlowSettings, now: datetime
) -> None:
    """The shift's reminders at its current time; a cancelled shift has none."""
    subject = shift_subject(shift.id)
    if shift.status != "open":
        await uow.reminders.cancel(subject, f"shift {shift.status}")
        return
    due = {
        offset_label(offset): before(shift.starts_at, offset, settings.timezone)
        for offset in settings.shift_reminders
    }
    await uow.reminders.plan(SHIFT, subject, due, now)
    short = timedelta(hours=settings.escalate_hours)
    escalation = {offset_label(short): before(shift.starts_at, short, settings.timezone)}
    await uow.reminders.plan(SHIFT_SHORT, subject, escalation if short else {}, now)


async def plan_request_reminder(
    uow: UnitOfWork, request: SupportRequest, settings: FlowSettings
) -> None:
    """Coordinators are reminded of a request still new a working day after it came."""
    due = next_working_day(request.created_at, settings.timezone)
    await uow.reminders.plan(
        REQUEST_UNTRIAGED, request_subject(request.id), {"1wd": due}, request.created_at
    )


async def plan_assembly_reminders(
    uow: UnitOfWork, assembly: Assembly, settings: FlowSettings, now: datetime
) -> None:
    """Reminders before the first call, and before the answers close."""
    subject = assembly_subject(assembly.id)
    if assembly.status != "open":
        await uow.reminders.cancel(subject, f"assembly {assembly.status}")
        return
    due = {
        offset_label(offset): before(assembly.first_call_at, offset, settings.timezone)
        for offset in settings.assembly_reminders
    }
    await uow.reminders.plan(ASSEMBLY, subject, due, now)
    deadline = before(assembly.answer_deadline, DEADLINE_NOTICE, settings.timezone)
    await uow.reminders.plan(ASSEMBLY_DEADLINE, subject, {"1d": deadline}, now)
