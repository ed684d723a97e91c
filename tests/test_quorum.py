"""The quorum arithmetic, on cases computed by hand."""

from __future__ import annotations

from fractions import Fraction

import pytest

from flows.quorum import Seat, figures, parse_rule, votes_needed

HALF = Fraction(1, 2)


def test_more_than_half_of_the_votes():
    assert [votes_needed(n, HALF) for n in (0, 1, 2, 3, 9, 10, 11)] == [1, 1, 2, 2, 5, 6, 6]
    assert votes_needed(9, Fraction(2, 3)) == 7  # more than 6
    assert votes_needed(10, Fraction(2, 3)) == 7  # more than 6.67


def test_rules_are_read_as_fractions():
    assert parse_rule("1/2") == parse_rule("0.5") == HALF
    assert parse_rule(" 2/3 ") == Fraction(2, 3)
    for bad in ("1", "0", "mezzo", "3/2", "1/0"):
        with pytest.raises(ValueError):
            parse_rule(bad)


def test_ten_voters_four_coming_two_proxies_one_non_voter():
    # Anna and Bruno in person, Carla remote, Dario absent; Elena and Fabio give their proxy
    # to Anna (accepted), Gino to Bruno (not answered yet), Ivo and Luca say nothing,
    # Mara is a member since less than 90 days: present, but without a vote.
    seats = [
        Seat(1, True, "present"),  # Anna
        Seat(2, True, "present"),  # Bruno
        Seat(3, True, "remote"),  # Carla
        Seat(4, True, "absent"),  # Dario
        Seat(5, True, "proxy", delegate_id=1, proxy_accepted=True),  # Elena → Anna
        Seat(6, True, "proxy", delegate_id=1, proxy_accepted=True),  # Fabio → Anna
        Seat(7, True, "proxy", delegate_id=2),  # Gino → Bruno, waiting
        Seat(8, True),  # Ivo
        Seat(9, True),  # Luca
        Seat(10, True, "absent"),  # Nadia
        Seat(11, False, "present"),  # Mara, no vote
    ]
    got = figures(seats, HALF)
    assert (got.invited, got.voters, got.answered, got.no_answer) == (11, 10, 9, 2)
    assert (got.present, got.remote, got.absent) == (3, 1, 2)
    assert (got.proxies, got.proxies_pending) == (2, 1)
    assert got.needed == 6
    assert got.expected == 5  # Anna, Bruno, Carla + Elena's and Fabio's proxies
    assert not got.forecast_reached
    # Gino's proxy accepted: 6 of 10, more than half
    seats[6] = Seat(7, True, "proxy", delegate_id=2, proxy_accepted=True)
    assert figures(seats, HALF).expected == 6 and figures(seats, HALF).forecast_reached


def test_proxies_count_only_when_the_delegate_is_there():
    seats = [
        Seat(1, True, "absent"),
        Seat(2, True, "proxy", delegate_id=1, proxy_accepted=True),  # delegate not coming
        Seat(3, True, "present"),
    ]
    assert figures(seats, HALF).expected == 1
    on_the_day = [
        Seat(1, True, "absent", checked_in=True),  # came after all: carries the proxy
        Seat(2, True, "proxy", delegate_id=1, proxy_accepted=True),
        Seat(3, True, "present"),  # said yes, did not come
        Seat(4, False, "present", checked_in=True),  # no vote
    ]
    got = figures(on_the_day, HALF)
    # three voters (Mara's presence adds no vote): more than 1.5 is 2
    assert (got.checked_in, got.votes_now, got.needed) == (2, 2, 2)
    assert got.reached_now


def test_a_proxy_giver_who_comes_counts_once():
    seats = [
        Seat(1, True, "present", checked_in=True),
        Seat(2, True, "proxy", delegate_id=1, proxy_accepted=True, checked_in=True),
    ]
    got = figures(seats, HALF)
    assert got.votes_now == 2 and got.reached_now
