"""Forgiving understanding of typed answers: numbers, labels, synonyms, small typos."""

from __future__ import annotations

import re
from collections.abc import Sequence

from rapidfuzz import fuzz, process

from flows.i18n import LOCALES, normalize, render, words
from flows.messages import Choice, msg

FUZZY_CUTOFF = 80
GLOBAL_WORDS = {
    "menu": msg("words.menu"),
    "back": msg("words.back"),
    "cancel": msg("words.cancel"),
    "help": msg("words.help"),
    "language": msg("words.language"),
    "privacy": msg("words.privacy"),
    "stop": msg("words.stop"),
    "start": msg("words.start"),
}
_NUMBER = re.compile(r"^\s*(\d{1,3})\s*[.)]?\s*$")  # "2", "2.", "2)"
GLOBAL_PREFIX = "g:"  # payload of a tapped global button, e.g. "g:menu"


def global_command(text: str | None, choice: str | None) -> str | None:
    """The global word this message is (menu, back, cancel, ...), in any shipped language."""
    if choice is not None and choice.startswith(GLOBAL_PREFIX):
        name = choice.removeprefix(GLOBAL_PREFIX)
        return name if name in GLOBAL_WORDS else None
    if not text:
        return None
    said = normalize(text)
    for name, key in GLOBAL_WORDS.items():
        if said in words(key):
            return name
    return None


def _phrases(choice: Choice) -> set[str]:
    phrases = {normalize(render(locale, choice.label, choice.params)) for locale in LOCALES}
    phrases.add(normalize(choice.id))
    if choice.words:
        phrases |= words(choice.words)
    return {p for p in phrases if p}


def _contains(tokens: list[str], phrase: list[str]) -> bool:
    size = len(phrase)
    return any(tokens[i : i + size] == phrase for i in range(len(tokens) - size + 1))


def _only(found: set[str]) -> str | None:
    return next(iter(found)) if len(found) == 1 else None


def match_choice(text: str, choices: Sequence[Choice], *, strict: bool = False) -> Choice | None:
    """The one choice `text` means, or None when it is unclear.

    `strict` (for questions that also take free text) accepts only the number and
    the exact label or synonym, so that a name or a note is not taken for a choice.

    Otherwise, tried in order: the number in the list, the exact label or a synonym (in any
    shipped language), a label or synonym inside a longer answer ("sì grazie"),
    the answer inside a longer label ("famiglia" for "Sono una famiglia"), and
    last a close spelling ("italaino").
    """
    said = normalize(text)
    if not said or not choices:
        return None
    if number := _NUMBER.match(text):
        index = int(number.group(1)) - 1
        return choices[index] if 0 <= index < len(choices) else None

    by_id = {choice.id: choice for choice in choices}
    phrases = {choice.id: _phrases(choice) for choice in choices}
    tokens = said.split()
    exact = {cid for cid, options in phrases.items() if said in options}
    if exact or strict:
        chosen = _only(exact)
        return by_id[chosen] if chosen else None
    # a phrase inside the answer: the longest wins ("non sono d'accordo" over "d'accordo")
    inside = [
        (len(p.split()), cid)
        for cid, options in phrases.items()
        for p in options
        if _contains(tokens, p.split())
    ]
    if not inside and len(said) >= 3:  # the answer inside a label: "famiglia"
        inside = [
            (0, cid)
            for cid, options in phrases.items()
            for p in options
            if _contains(p.split(), tokens)
        ]
    if inside:
        longest = max(size for size, _ in inside)
        chosen = _only({cid for size, cid in inside if size == longest})
        return by_id[chosen] if chosen else None

    candidates = [(phrase, cid) for cid, options in phrases.items() for phrase in options]
    ranked = process.extract(
        said, [p for p, _ in candidates], scorer=fuzz.ratio, score_cutoff=FUZZY_CUTOFF, limit=5
    )
    if not ranked:
        return None
    best = ranked[0][1]
    close = {candidates[index][1] for _, score, index in ranked if score >= best - 5}
    chosen = _only(close)
    return by_id[chosen] if chosen else None
