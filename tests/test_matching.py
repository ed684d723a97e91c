"""Forgiving understanding of typed answers."""

from __future__ import annotations

import pytest

from flows.i18n import normalize
from flows.matching import global_command, match_choice
from flows.messages import Choice
from flows.onboarding import LANGUAGE_CHOICES
from flows.roles import role_choices
from flows.step import yes_no

YES_NO = yes_no("privacy.confirm_erase").choices
ROLES = role_choices()


def chosen(text: str, choices: tuple[Choice, ...], strict: bool = False) -> str | None:
    choice = match_choice(text, choices, strict=strict)
    return choice.id if choice else None


def test_normalize_drops_accents_case_and_punctuation():
    assert normalize("  Sì, GRAZIE!! ") == "si grazie"
    assert normalize("/start") == "start"
    assert normalize("d'accordo") == "d accordo"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1", "yes"),
        ("2.", "no"),
        (" 2) ", "no"),
        ("3", None),
        ("0", None),
        ("-1", None),
        ("sì", "yes"),
        ("si", "yes"),
        ("SI", "yes"),
        ("Sì grazie", "yes"),
        ("ok", "yes"),
        ("va bene", "yes"),
        ("yes", "yes"),
        ("certo!", "yes"),
        ("no", "no"),
        ("No grazie", "no"),
        ("non sono d'accordo", "no"),
        ("sì no", None),
        ("forse", None),
        ("", None),
    ],
)
def test_yes_and_no_in_many_ways(text: str, expected: str | None):
    assert chosen(text, YES_NO) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("famiglia", "family"),
        ("sono una famiglia", "family"),
        ("volontaria", "volunteer"),
        ("Un volontario", "volunteer"),
        ("socio", "member"),
        ("member", "member"),
        ("volontraio", "volunteer"),
        ("famigila", "family"),
        ("pizza", None),
    ],
)
def test_roles_by_label_synonym_or_small_typo(text: str, expected: str | None):
    assert chosen(text, ROLES) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [("Italiano", "it"), ("ENGLISH", "en"), ("inglese", None), ("italaino", "it"), ("2", "en")],
)
def test_languages(text: str, expected: str | None):
    assert chosen(text, LANGUAGE_CHOICES) == expected


def test_strict_matching_for_questions_that_take_free_text():
    suggested = (Choice("suggested", "onboarding.use_name", {"name": "Mario Rossi"}, "words.yes"),)
    assert chosen("Mario", suggested, strict=True) is None  # a name, not the suggestion
    assert chosen("sì", suggested, strict=True) == "suggested"
    assert chosen("1", suggested, strict=True) == "suggested"


@pytest.mark.parametrize(
    ("text", "command"),
    [
        ("menu", "menu"),
        ("Menù", "menu"),
        ("indietro", "back"),
        ("back", "back"),
        ("annulla", "cancel"),
        ("Cancel", "cancel"),
        ("aiuto", "help"),
        ("help", "help"),
        ("lingua", "language"),
        ("language", "language"),
        ("privacy", "privacy"),
        ("STOP", "stop"),
        ("/start", "start"),
        ("iscrivimi", "start"),
        ("aiuto per mia madre", None),
        ("Maria", None),
        ("", None),
    ],
)
def test_global_words_in_every_language(text: str, command: str | None):
    assert global_command(text, None) == command


def test_tapped_global_buttons():
    assert global_command(None, "g:menu") == "menu"
    assert global_command(None, "g:unknown") is None
    assert global_command(None, "yes") is None
