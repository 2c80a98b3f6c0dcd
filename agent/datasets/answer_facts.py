"""What in a document gives an answer away, so RAFT distractors can be kept free of it.

A distractor that holds the answer teaches the model that the answer may come from any
document. Two things give it away: the oracle's *answer-bearing sentence* (the sentence
of the cited document the 👍 answer draws on most), and the answer's *key facts* that
the oracle states: numbers with their unit ("72 hours"), dates and codes, emails and
phone numbers.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from askloop.agent.redaction import facts_in
from askloop.agent.text import content_words

__all__ = ["AnswerGuard"]

_MARKER = re.compile(r"\[\d{1,3}\]")
# A number, date or code: digits with inner separators, and a unit word after it.
_QUANTITY = re.compile(r"(?<![\w.])(\d(?:[\d,.:/-]*\d)?)(?:\s+([a-z]{2,}))?", re.IGNORECASE)
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
_NOT_UNITS = frozenset("and or the a an to of in on at for by with is are was from".split())
#: An answer-bearing sentence shorter than this is too generic to look for elsewhere.
_MIN_SENTENCE = 20


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


@dataclass(frozen=True, slots=True)
class AnswerGuard:
    """Tells whether a document holds the answer of one (oracle documents, answer)."""

    sentences: tuple[str, ...]
    quantities: tuple[re.Pattern[str], ...]
    contacts: frozenset[str]

    @classmethod
    def of(cls, answer: str, oracle: Sequence[str]) -> AnswerGuard:
        answer = _MARKER.sub(" ", answer)
        oracle_text = "\n".join(oracle)
        contacts = facts_in(answer) & facts_in(oracle_text)
        quantities = []
        for number, unit in _QUANTITY.findall(answer):
            if any(number in c for c in contacts):
                continue  # part of a phone number, matched as one
            phrase = re.escape(number)
            if unit and unit.lower() not in _NOT_UNITS:
                phrase += r"\s+" + re.escape(unit)
            pattern = re.compile(rf"(?<![\w.]){phrase}(?!\w)", re.IGNORECASE)
            if pattern.search(oracle_text):
                quantities.append(pattern)
        said = set(content_words(answer))
        sentences = []
        for text in oracle:
            best, score = "", 0
            for sentence in _SENTENCE.split(text):
                shared = len(said & set(content_words(sentence)))
                shared += sum(1 for q in quantities if q.search(sentence))
                if shared > score:
                    best, score = sentence, shared
            if len(best.strip()) >= _MIN_SENTENCE:
                sentences.append(_norm(best))
        return cls(tuple(sentences), tuple(quantities), frozenset(contacts))

    def gives_away(self, text: str) -> bool:
        """Whether ``text`` holds the answer-bearing sentence or one of the key facts."""
        norm = _norm(text)
        if any(s in norm for s in self.sentences):
            return True
        if any(q.search(text) for q in self.quantities):
            return True
        return bool(self.contacts and self.contacts & facts_in(text))
