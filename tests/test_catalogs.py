"""Every message key the code uses exists in every catalog, with the same placeholders."""

from __future__ import annotations

import string
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from flows.i18n import LOCALES, render
from locales import LOCALES_DIR

ROOT = Path(__file__).resolve().parent.parent
CODE = ("flows", "bot", "storage", "scheduler")


def keys_in_code() -> set[str]:
    """Keys marked with msg(...) anywhere in the code, found the way Babel extracts."""
    found: set[str] = set()
    for folder in CODE:
        for _file, _line, key, _comments, _context in extract_from_dir(
            ROOT / folder, method_map=[("**.py", "python")], keywords={"msg": None}
        ):
            found.add(str(key))
    return found


def catalog(locale: str) -> dict[str, str]:
    with (LOCALES_DIR / locale / "LC_MESSAGES" / "messages.po").open("rb") as po:
        return {str(m.id): str(m.string) for m in read_po(po) if m.id}


def placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def test_the_code_uses_message_keys():
    assert {"onboarding.welcome", "menu.title", "words.yes"} <= keys_in_code()


@pytest.mark.parametrize("locale", LOCALES)
def test_catalog_has_every_key_the_code_uses(locale: str):
    missing = keys_in_code() - catalog(locale).keys()
    assert not missing, f"{locale} lacks {sorted(missing)}"


@pytest.mark.parametrize("locale", LOCALES)
def test_catalog_has_no_key_the_code_forgot(locale: str):
    stale = catalog(locale).keys() - keys_in_code()
    assert not stale, f"{locale} has keys no code uses: {sorted(stale)}"


@pytest.mark.parametrize("locale", LOCALES)
def test_every_message_is_translated(locale: str):
    empty = [key for key, text in catalog(locale).items() if not text.strip()]
    assert not empty, f"{locale} has empty translations: {empty}"


@pytest.mark.parametrize("locale", [loc for loc in LOCALES if loc != "it"])
def test_placeholders_match_the_italian_ones(locale: str):
    italian, other = catalog("it"), catalog(locale)
    wrong = {
        key: (placeholders(italian[key]), placeholders(other[key]))
        for key in italian.keys() & other.keys()
        if placeholders(italian[key]) != placeholders(other[key])
    }
    assert not wrong, f"placeholders differ between it and {locale}: {wrong}"


def test_catalogs_compile_and_render():
    assert render("it", "language.changed") == "Va bene, da ora ti scrivo in italiano."
    assert render("en", "menu.title", {"name": "Ada"}) == "Hi Ada! What would you like to do?"
    assert render("fr", "common.yes") == "Sì"  # an unshipped language falls back to Italian
