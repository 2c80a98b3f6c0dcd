"""The checkable facts of a text, and whether some documents state them.

A **fact** here is what a reader would take on trust and a small model most often
invents: a number (amount, date, time, version, phone number, quantity) or a name (a
capitalised word that does not start a sentence: "Compass", "London", "CET"). A fact
is **supported** when a document (or the question) holds it: numbers compared by their
digit groups ("1,200" = "1200", "09:30" = "9:30", "4242#" = "4242"; a document's "two"
holds "2"), names as words, case and a plural or possessive ending ignored. Pure
functions, no model.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["Vocabulary", "sentences", "stated_facts", "unsupported", "vocabulary"]

_MARKER = re.compile(r"\[\d{1,3}(?:\s*,\s*\d{1,3})*\]")
_NUMBER = re.compile(r"\d+(?:[.,:]\d+)*")
_GROUPS = re.compile(r"\d+")
# A thousands separator: a comma followed by exactly three digits.
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_WORD = re.compile(r"[^\W\d_][\w'’-]*")
# What may stand between a sentence's start and its first word: quotes, emphasis,
# list markers ("- ", "1. "), a heading's "#".
_LEAD = re.compile(r"^[\s\"'“‘(*_>#-]*(?:\d+[.)]\s+)?[\s\"'“‘(*_]*$")
# Sentence ends: ". ", "? ", "! ", ": ", "; " before an upper-case letter, digit or quote;
# and line breaks. Not after common abbreviations ("e.g. ", "ext. 4357", "No. 5").
_END = re.compile(r"(?<=[.!?])\s+(?=[\"'“(*]*[A-Z0-9])|\s*\n+\s*")
_END_CLAUSE = re.compile(r"(?<=[.!?:;])\s+(?=[\"'“(*]*[A-Z0-9])|\s*\n+\s*")
_ABBREVIATIONS = frozenset(
    "e.g i.e etc ext no nr approx vs st mr mrs ms dr ul incl excl min max tel fig cf".split()
)
_IGNORED_NAMES = frozenset({"i", "i'm", "i've", "i'd", "i'll"})
# A document's "two approvals" supports an answer's "2 approvals".
_NUMBER_WORDS = {
    word: n
    for n, word in enumerate(
        """zero one two three four five six seven eight nine ten eleven twelve thirteen
        fourteen fifteen sixteen seventeen eighteen nineteen twenty""".split()
    )
} | {"thirty": 30, "forty": 40, "fifty": 50, "hundred": 100, "once": 1, "twice": 2}


def sentences(text: str, *, clauses: bool = False) -> list[str]:
    """``text`` cut into sentences and lines (list items, table rows), stripped; with
    ``clauses`` also after ":" and ";" (what follows starts afresh: "Yes: Compass ...")."""
    pieces: list[str] = []
    start = 0
    for end in (_END_CLAUSE if clauses else _END).finditer(text):
        piece = text[start : end.start()]
        last = piece.rsplit(None, 1)[-1].rstrip(".").lower() if piece.strip() else ""
        if "\n" not in end.group() and last in _ABBREVIATIONS:
            continue  # "e.g. NW-RTM-04127" goes on
        pieces.append(piece)
        start = end.end()
    pieces.append(text[start:])
    return [p.strip() for p in pieces if p.strip()]


def _number_key(token: str) -> tuple[int, ...]:
    return tuple(int(g) for g in _GROUPS.findall(_THOUSANDS.sub("", token)))


def _word_keys(word: str) -> set[str]:
    low = word.lower().replace("’", "'")
    out = {low, low.removesuffix("'s"), low.rstrip("'")}
    if low.endswith("s") and len(low) > 3:
        out.add(low[:-1])
    return out


@dataclass(frozen=True, slots=True)
class Vocabulary:
    """What some documents state: their numbers' digit groups and their words."""

    numbers: frozenset[tuple[int, ...]]
    #: Every single digit group (so "113" is found in "BW-113").
    groups: frozenset[int]
    words: frozenset[str]

    def holds_number(self, token: str) -> bool:
        key = _number_key(token)
        if not key:
            return True
        return key in self.numbers or (len(key) == 1 and key[0] in self.groups)

    def holds_name(self, word: str) -> bool:
        return bool(_word_keys(word) & self.words)


def vocabulary(texts: Iterable[str]) -> Vocabulary:
    numbers: set[tuple[int, ...]] = set()
    words: set[str] = set()
    for text in texts:
        text = _MARKER.sub(" ", text)
        numbers.update(k for k in map(_number_key, _NUMBER.findall(text)) if k)
        for word in _WORD.findall(text):
            words.update(_word_keys(word))
            if (n := _NUMBER_WORDS.get(word.lower())) is not None:
                numbers.add((n,))
    groups = frozenset(g for key in numbers for g in key)
    return Vocabulary(frozenset(numbers), groups, frozenset(words))


def stated_facts(sentence: str) -> tuple[list[str], list[str]]:
    """The numbers and names ``sentence`` states (its ``[n]`` markers aside)."""
    text = _MARKER.sub(" ", sentence)
    numbers = _NUMBER.findall(text)
    names = []
    for match in _WORD.finditer(text):
        word = match.group()
        if not word[0].isupper() or word.lower() in _IGNORED_NAMES:
            continue
        if _LEAD.match(text[: match.start()]):
            continue  # the sentence's first word
        names.append(word)
    return numbers, names


def unsupported(text: str, known: Vocabulary) -> list[str]:
    """The numbers and names of ``text`` that ``known`` does not hold, in order."""
    missing: list[str] = []
    for sentence in sentences(text, clauses=True):
        numbers, names = stated_facts(sentence)
        missing += [n for n in numbers if not known.holds_number(n)]
        missing += [w for w in names if not known.holds_name(w)]
    return list(dict.fromkeys(missing))
