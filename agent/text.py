"""Small text utilities shared by the core: token estimates, keywords, input cleaning."""

from __future__ import annotations

import functools
import re
import unicodedata

__all__ = [
    "STOPWORDS",
    "TOKEN_PATTERN",
    "WORD_PATTERN",
    "clean_text",
    "content_words",
    "count_tokens",
    "stem",
]

# Word pieces of a BERT-style tokenizer are close to words and punctuation marks; a
# long run of letters (a hash, base64) is many pieces, so it counts per 16 characters.
TOKEN_PATTERN = re.compile(r"\w{1,16}|[^\w\s]")
#: A word as askloop reads text: letters, digits, apostrophes and hyphens.
WORD_PATTERN = re.compile(r"[\w'-]+")
# Invisible characters used to hide or split text: zero-width, bidi controls, BOM.
_INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")
STOPWORDS = frozenset(
    """a about an and are as at be been but by can could did do does doing for from had has
    have how i if in into is it its me my of on or our please should so than that the their
    them then there these they this to was we were what when where which who whom why will
    with would you your tell know need get""".split()
)


def count_tokens(text: str) -> int:
    return len(TOKEN_PATTERN.findall(text))


def content_words(text: str) -> list[str]:
    """The words of ``text`` that carry meaning, lower-cased, in order, without repeats."""
    words = (w.strip("'-").lower() for w in WORD_PATTERN.findall(text))
    return list(dict.fromkeys(w for w in words if w and w not in STOPWORDS))


_SUFFIXES = ("ing", "es", "ed", "s")


@functools.lru_cache(maxsize=1 << 16)
def stem(word: str) -> str:
    """A crude stem (a common suffix cut from a long word): "leaves" and "leave" meet."""
    for suffix in _SUFFIXES:
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def clean_text(text: str) -> str:
    """NFKC-normalise, drop invisible characters, collapse runs of whitespace."""
    text = unicodedata.normalize("NFKC", text)
    text = _INVISIBLE.sub("", text)
    return re.sub(r"\s+", " ", text).strip()
