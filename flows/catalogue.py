"""Every step of every flow, registered once."""

from __future__ import annotations

from flows import (
    assembly_admin,
    assembly_answers,
    assembly_edit,
    assembly_member,
    assembly_new,
    broadcast_chat,
    coverage,
    menu,
    my_requests,
    my_shifts,
    onboarding,
    privacy,
    profile,
    requests,
    roles,
    shift_form,
    shift_summary,
    shifts,
    triage,
    volunteer_profile,
)
from flows.step import Steps


def all_steps() -> Steps:
    return Steps(
        *onboarding.STEPS,
        *menu.STEPS,
        *profile.STEPS,
        *privacy.STEPS,
        *roles.STEPS,
        *requests.STEPS,
        *my_requests.STEPS,
        *triage.STEPS,
        *shifts.STEPS,
        *my_shifts.STEPS,
        *volunteer_profile.STEPS,
        *coverage.STEPS,
        *broadcast_chat.STEPS,
        *shift_form.STEPS,
        *shift_summary.STEPS,
        *assembly_answers.STEPS,
        *assembly_member.STEPS,
        *assembly_admin.STEPS,
        *assembly_new.STEPS,
        *assembly_edit.STEPS,
    )
