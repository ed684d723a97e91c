"""Every step of every flow, registered once."""

from __future__ import annotations

from flows import menu, onboarding, privacy, profile, roles
from flows.step import Steps


def all_steps() -> Steps:
    return Steps(*onboarding.STEPS, *menu.STEPS, *profile.STEPS, *privacy.STEPS, *roles.STEPS)
