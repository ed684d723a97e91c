"""The assembly's arithmetic: who counts, how many votes are expected, whether the quorum
of the first call is reached. Pure functions over plain data, easy to check by hand.

One member, one vote (art. 2538 c.c.); only voting members count, in person, remotely or
through a proxy accepted by a voting delegate who is there. At the second call any number
of votes is enough, so only the first call has a quorum to reach.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction

PRESENT = ("present", "remote")


@dataclass(frozen=True)
class Seat:
    """One invited member as the arithmetic sees them."""

    person_id: int
    voting: bool
    answer: str | None = None  # present, remote, absent, proxy; None: no answer yet
    delegate_id: int | None = None
    proxy_accepted: bool = False
    checked_in: bool = False


@dataclass(frozen=True)
class Figures:
    invited: int
    voters: int  # invited with a vote
    answered: int
    present: int  # in person
    remote: int
    absent: int
    proxies: int  # accepted
    proxies_pending: int
    no_answer: int
    needed: int  # votes needed at the first call
    expected: int  # votes expected: voters coming + proxies their delegates carry
    checked_in: int  # people actually there
    votes_now: int  # votes actually there: checked-in voters + proxies of checked-in delegates

    @property
    def forecast_reached(self) -> bool:
        return self.expected >= self.needed

    @property
    def reached_now(self) -> bool:
        return self.votes_now >= self.needed


def votes_needed(voters: int, rule: Fraction) -> int:
    """More than `rule` of the votes: with 1/2, 10 voters need 6 and 9 voters need 5."""
    return math.floor(voters * rule) + 1


def parse_rule(text: str) -> Fraction:
    """ "1/2", "0.5" or "2/3" → a fraction strictly between 0 and 1."""
    try:
        rule = Fraction(text.strip())
    except (ValueError, ZeroDivisionError) as error:
        raise ValueError(f"{text!r} is not a fraction like 1/2 or 0.5") from error
    if not 0 < rule < 1:
        raise ValueError(f"{text!r} must be between 0 and 1")
    return rule


def _carried(seats: Sequence[Seat], there: set[int]) -> int:
    """Proxies of voters (not there themselves) accepted by a delegate who is there."""
    return sum(
        1
        for s in seats
        if s.voting
        and s.answer == "proxy"
        and s.proxy_accepted
        and s.delegate_id in there
        and s.person_id not in there
    )


def figures(seats: Iterable[Seat], rule: Fraction) -> Figures:
    seats = list(seats)
    voters = [s for s in seats if s.voting]
    coming = {s.person_id for s in voters if s.answer in PRESENT}
    arrived = {s.person_id for s in seats if s.checked_in}
    voters_arrived = {s.person_id for s in voters if s.checked_in}
    return Figures(
        invited=len(seats),
        voters=len(voters),
        answered=sum(1 for s in seats if s.answer is not None),
        present=sum(1 for s in seats if s.answer == "present"),
        remote=sum(1 for s in seats if s.answer == "remote"),
        absent=sum(1 for s in seats if s.answer == "absent"),
        proxies=sum(1 for s in seats if s.answer == "proxy" and s.proxy_accepted),
        proxies_pending=sum(1 for s in seats if s.answer == "proxy" and not s.proxy_accepted),
        no_answer=sum(1 for s in seats if s.answer is None),
        needed=votes_needed(len(voters), rule),
        expected=len(coming) + _carried(voters, coming),
        checked_in=len(arrived),
        votes_now=len(voters_arrived) + _carried(voters, voters_arrived),
    )
