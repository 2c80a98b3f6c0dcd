"""What a question asks for, and how much of it a set of hits contains.

A question's **key terms** are its numbers and codes ("4242", "12.2", "BW-113"), its
names (capitalised words past the first: "PIN", "FleetOS", "London"; dotted identifiers
and identifiers with an underscore wherever they stand: "os.path", "config.yaml",
"__main__.py", "max_tokens") and its other content words (stopwords
and question fillers removed). **Coverage** is the share of them found in the hits'
titles, headings and text: words compared by a crude stem, numbers and names as whole
tokens. Pure functions, no model, no store; the grader (agent/grading.py) reads them,
and so may the router.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from askloop.agent.state import HitData
from askloop.agent.text import STOPWORDS, content_words, stem

__all__ = [
    "Coverage",
    "KeyTerms",
    "coverage",
    "key_terms",
    "missing_phrases",
    "name_phrases",
    "terms_in",
    "uncommon_words",
]

# A token: letters/digits, keeping inner dots, dashes and slashes ("12.2", "BW-113"),
# and an identifier's underscores ("__main__.py", "_pth", "max_tokens").
_TOKEN = re.compile(r"_*[^\W_](?:[\w'./-]*[^\W_])?_*")
_DIGIT = re.compile(r"\d")
_UPPER = re.compile(r"[A-Z]")
# A dotted identifier names a module, a host or a file ("os.path", "email.mime",
# "vpn.example.com", "config.yaml") as a code does; not "e.g" or "U.S" (one-letter parts).
_DOTTED = re.compile(r"[^\W\d_]\w+(?:\.\w{2,})+")
# An identifier with an underscore names a thing in code ("__main__", "_pth", "max_tokens").
_UNDERSCORED = re.compile(r"\w*_\w*[^\W\d_]\w*(?:\.\w+)*")
# Words of a question's form that a passage answering it need not contain.
_FILLERS = frozenset(
    """long much many often soon quickly way use used want like one ok okay also just
    anything something someone anyone everyone thing things there here still now any
    some more most very really can't i'm i've i'd don't doesn't isn't won't what's it's
    there's who's how's where's""".split()
)


@dataclass(frozen=True, slots=True)
class KeyTerms:
    """A question's key terms, each lower-cased (words stemmed)."""

    #: Tokens with a digit: numbers, versions, codes.
    numbers: tuple[str, ...]
    #: Capitalised tokens that are not the question's first word, and identifiers (dotted
    #: or with an underscore).
    names: tuple[str, ...]
    #: The other content words.
    words: tuple[str, ...]

    @property
    def specific(self) -> tuple[str, ...]:
        """Numbers and names: what a passage must name to be about the same thing."""
        return self.numbers + self.names

    def __len__(self) -> int:
        return len(self.numbers) + len(self.names) + len(self.words)


def _first_word(text: str, start: int) -> bool:
    """The word at ``start`` begins a sentence (its capital names nothing)."""
    before = text[:start].rstrip()
    return not before or before[-1] in ".?!:;\"'("


@functools.lru_cache(maxsize=4096)
def key_terms(question: str) -> KeyTerms:
    numbers: dict[str, None] = {}
    names: dict[str, None] = {}
    for match in _TOKEN.finditer(question):
        token, low = match.group(), match.group().lower()
        if low.endswith("'s") and len(low) > 3:  # "Slack's" names Slack
            token, low = token[:-2], low[:-2]
        first = _first_word(question, match.start())
        if _DIGIT.search(token):
            numbers[low] = None
        elif _DOTTED.fullmatch(token) or ("_" in token and _UNDERSCORED.fullmatch(token)):
            names[low] = None
        elif _UPPER.search(token) and (not first or len(token) > 1 and token.isupper()):
            if low not in _IGNORED_NAMES:
                names[low] = None
    taken = set(numbers) | set(names)
    words = dict.fromkeys(
        stem(w)
        for w in content_words(question)
        if w not in _FILLERS and not _DIGIT.search(w) and w.removesuffix("'s") not in taken
    )
    return KeyTerms(tuple(numbers), tuple(names), tuple(words))


# "I" is capitalised in every question; it names nothing.
_IGNORED_NAMES = frozenset({"i", "i'm", "i've", "i'd", "i'll"})
# Small words a multi-word name may hold between its capitalised words ("Bank of
# England", "Leonardo da Vinci"). Not "and", "with" or "to": "Slack and Teams",
# "Jira with Slack" are two names, not one.
_NAME_JOINERS = frozenset(
    {"of", "the", "de", "da", "del", "der", "di", "du", "la", "le", "van", "von"}
)
# Small words capitalised only in a title-cased sentence ("I" is capitalised anyway).
_TITLE_SMALL_WORDS = STOPWORDS - {"i"}


@functools.lru_cache(maxsize=4096)
def name_phrases(question: str) -> tuple[str, ...]:
    """The question's multi-word names, as written: runs of two or more words with an
    initial capital past the first word ("Event Loop Policies", "Bank of England"), which
    may hold small joining words, unbroken by punctuation.

    A passage that holds every word of "Event Loop Policies" apart ("the event loop",
    "security policies") is not about the thing the name names: ``missing_phrases``
    looks for the words together. A question written in title case ("How Do I Reset My
    Password?") has no such names: its capitals say nothing."""
    if _title_case(question):
        return ()
    phrases: list[str] = []
    run: list[str] = []
    capitals = 0
    end = 0

    def close() -> None:
        nonlocal capitals
        while run and run[-1].lower() in _NAME_JOINERS:
            run.pop()
        if capitals >= 2:
            phrases.append(" ".join(run))
        run.clear()
        capitals = 0

    for match in _TOKEN.finditer(question):
        token = match.group()
        if run and question[end : match.start()].strip():  # punctuation in between
            close()
        end = match.end()
        # Initial capitals only: a run of codes and acronyms ("US VPN gateway") is
        # names side by side, each matched on its own.
        capital = (
            _UPPER.match(token) is not None
            and not token.isupper()
            and not _first_word(question, match.start())
            and token.lower() not in _IGNORED_NAMES
        )
        if capital:
            run.append(token)
            capitals += 1
        elif run and token.lower() in _NAME_JOINERS:
            run.append(token)
        else:
            close()
    close()
    return tuple(dict.fromkeys(phrases))


def _title_case(text: str) -> bool:
    """A small word past the first is capitalised and none is in lower case ("How Do I
    Reset My Password?"): the writer capitalised every word, not names. A capitalised
    small word among lower-case ones begins a name ("how do The Python Standard Library
    and its modules fit together?")."""
    small = [w for w in re.findall(r"[^\W\d_][\w'-]*", text)[1:] if w.lower() in _TITLE_SMALL_WORDS]
    return any(w[0].isupper() for w in small) and not any(w[0].islower() for w in small)


def _words_in_order(text: str) -> list[str]:
    """``text``'s words in order, lower-cased and stemmed, hyphenated ones as their parts
    ("Built-in Functions" holds "built in function", as "built-in functions" does)."""
    return [
        stem(part) for t in _TOKEN.findall(text.lower()) for part in re.split(r"[-/]", t) if part
    ]


def _holds(words: Sequence[str], phrase: tuple[str, ...]) -> bool:
    n = len(phrase)
    return any(tuple(words[i : i + n]) == phrase for i in range(len(words) - n + 1))


def missing_phrases(question: str, hits: Sequence[HitData]) -> tuple[str, ...]:
    """The question's multi-word names (``name_phrases``) that no hit's title, headings
    or text holds as a phrase: the same words (by stem) in the same order."""
    phrases = name_phrases(question)
    if not phrases:
        return ()
    texts = [_words_in_order(" ".join((h["title"], *h["heading_path"], h["text"]))) for h in hits]
    wanted = {name: tuple(_words_in_order(name)) for name in phrases}
    return tuple(name for name, words in wanted.items() if not any(_holds(t, words) for t in texts))


# Endings a word of everyday English may carry ("emulated", "parsers", "copies"), and
# what its dictionary form ends in instead.
_INFLECTIONS = (
    ("s", ""), ("es", ""), ("ies", "y"), ("ed", ""), ("ed", "e"), ("ied", "y"),
    ("ing", ""), ("ing", "e"), ("ly", ""), ("er", ""), ("ers", ""), ("ers", "e"),
    ("est", ""), ("ness", ""), ("ment", ""), ("ments", ""), ("ation", "e"),
    ("ation", ""), ("ations", "e"), ("ations", ""), ("able", ""), ("able", "e"),
)  # fmt: skip


def _everyday(word: str, vocabulary: frozenset[str]) -> bool:
    if word in vocabulary:
        return True
    for ending, base in _INFLECTIONS:
        root = word[: -len(ending)]
        if word.endswith(ending) and len(root) >= 3:
            if root + base in vocabulary:
                return True
            # A doubled final consonant: "debugging", "stopped".
            if ending[0] in "ie" and root[-1] == root[-2] and root[:-1] in vocabulary:
                return True
    return False


_LETTERS = "abcdefghijklmnopqrstuvwxyz"


def _misspelt(word: str, vocabulary: frozenset[str]) -> bool:
    """One letter away from an everyday word (dropped, added, changed or two swapped):
    "pasword", "clinet" are typos, not names."""
    splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
    for a, b in splits:
        if b and a + b[1:] in vocabulary:
            return True
        if len(b) > 1 and a + b[1] + b[0] + b[2:] in vocabulary:
            return True
        for c in _LETTERS:
            if (b and a + c + b[1:] in vocabulary) or a + c + b in vocabulary:
                return True
    return False


def uncommon_words(question: str, vocabulary: frozenset[str]) -> tuple[str, ...]:
    """The question's words (lower-cased, four letters or more) that are no word of
    everyday English, by ``vocabulary`` and common endings, nor one letter away from
    one (a typo): "pkgutil", "kubectl", wherever they stand and however written. Like a
    name they say what the question is about; a passage that lacks them is about
    something else. Empty without a vocabulary."""
    if not vocabulary:
        return ()
    return tuple(
        w
        for w in content_words(question)
        if len(w) > 3
        and w.isalpha()
        and not _everyday(w, vocabulary)
        and not _misspelt(w, vocabulary)
    )


@dataclass(frozen=True, slots=True)
class Coverage:
    """How much of a question's key terms some hits contain. A question with none
    ("how are you?") asks for nothing a passage could contain: its coverage is 0."""

    #: Share of all key terms found.
    terms: float
    #: Share of numbers and names found; None when the question has none.
    specific: float | None
    #: Key terms that none of the hits contains.
    missing: tuple[str, ...]
    #: How many key terms the question has, and how many were found.
    asked: int = 0
    found: int = 0


def _vocabulary(texts: Iterable[str]) -> frozenset[str]:
    vocab: set[str] = set()
    for text in texts:
        for token in _TOKEN.findall(text):
            low = token.lower()
            vocab.add(low)
            vocab.add(stem(low))
            # "BW-113" and "v12.2" also match their parts ("113", "12.2").
            if "-" in low or "/" in low:
                vocab.update(re.split(r"[-/]", low))
    return frozenset(vocab)


def terms_in(*texts: str) -> frozenset[str]:
    """Every term of ``texts`` as ``coverage`` compares them: tokens lower-cased, words
    also by their stem, "BW-113" also as "bw" and "113"."""
    return _vocabulary(texts)


def coverage(question: str, hits: Sequence[HitData]) -> Coverage:
    """The share of ``question``'s key terms found in ``hits`` (titles, headings, text)."""
    terms = key_terms(question)
    if not len(terms):
        return Coverage(0.0, None, ())
    vocab = _vocabulary(part for h in hits for part in (h["title"], *h["heading_path"], h["text"]))
    missing = tuple(t for t in (*terms.specific, *terms.words) if t not in vocab)
    specific = None
    if terms.specific:
        specific = sum(t in vocab for t in terms.specific) / len(terms.specific)
    found = len(terms) - len(missing)
    return Coverage(found / len(terms), specific, missing, len(terms), found)
