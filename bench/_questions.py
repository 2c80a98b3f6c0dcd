"""Labelled questions built mechanically from a corpus, for bench/decisions.py.

No model and no hand-picked question: everything here is a pure function of the
documents and a seed, so the same corpus gives the same questions on every run.

- **answerable**: about a section of an INGESTED document. The subject is the section's
  heading (the document's title when the heading is generic), the detail the rarest
  words of the section's key sentence (its first plain-prose sentence); a template
  phrases them. The label is the document's id (the source the store records).
- **absent**: built the same way from documents held OUT of the ingested set. To keep
  "absent" honest, a question is dropped when an ingested document covers its subject:
  every word of the subject is in an ingested title or heading, or at least half of its
  rare terms (document frequency in the whole corpus <= 2 % of its documents, at least
  2) occur together in one ingested document.
- **small talk**: greetings, thanks, requests and general-knowledge questions from a fixed
  list (not corpus-specific); one an ingested title or heading names is dropped: all its
  words are in it, or all of its names (capitalised words past the first: on an
  encyclopaedia with a "Mona Lisa" article "Who painted the Mona Lisa?" is answerable,
  and one with a "FIFA World Cup" article is where to look up "Who won the football
  World Cup in 2018?").
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from askloop.agent.evidence import key_terms
from askloop.agent.text import content_words

__all__ = [
    "DETAIL_TEMPLATES",
    "SUBJECT_TEMPLATES",
    "Coverage",
    "Doc",
    "LabelledQuestion",
    "build_questions",
    "document_frequencies",
    "key_sentence",
    "small_talk_questions",
    "split_documents",
    "subject_of",
]

Kind = Literal["answerable", "absent", "small_talk"]

SUBJECT_TEMPLATES = (
    "What is {s}?",
    "Tell me about {s}.",
    "How does {s} work?",
    "Can you explain {s}?",
    "Where can I read about {s}?",
)
DETAIL_TEMPLATES = (
    "What does it say about {t} under {s}?",
    "{s}: what about {t}?",
    "Regarding {s}, how do {t} fit together?",
    "I have a question on {s} and {t}.",
)
#: Headings that name no subject: the document's title stands in for them.
GENERIC_HEADINGS = frozenset(
    {
        "overview", "introduction", "examples", "example", "notes", "note", "see also",
        "footnotes", "summary", "contents", "table of contents", "details", "background",
        "general", "usage", "faq",
    }
)  # fmt: skip
#: Frequent English words that name nothing, never used as a question's detail.
COMMON_WORDS = frozenset(
    """also almost always any both each either else ever every few first former further
    here however just last least less like made make many more most much must neither
    never next none once only other others over same several since some such still
    their them then there these those though through thus under until upon used uses
    using very well while within without yet one two three four five six seven eight
    nine ten able about above after again against below between during before being
    another whether whose across along among around because often usually instead""".split()
)
#: Sections that are page furniture, not content: no question is built from them.
FURNITURE = frozenset({"navigation", "previous topic", "next topic", "this page", "quick search"})

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")
_PILCROW = re.compile(r"\s*¶\s*")
_DOC_SUFFIX = re.compile(r"\s+[—-]\s+Python [\d.]+ documentation$")
_NUMBERING = re.compile(r"^\s*(?:\d+[.)]|[A-Z][.)])\s+")
_WORDY = re.compile(r"^[A-Za-z][A-Za-z'-]*$")


@dataclass(frozen=True, slots=True)
class Doc:
    """A corpus document: its id (the source the store records), title and sections."""

    doc_id: str
    title: str
    sections: tuple[tuple[str, str], ...]  # (heading, text)


@dataclass(frozen=True, slots=True)
class LabelledQuestion:
    text: str
    kind: Kind
    #: The document that holds the answer (answerable) or was held out (absent); "" else.
    doc_id: str = ""


def _words(text: str) -> frozenset[str]:
    return frozenset(content_words(text))


def document_frequencies(docs: Iterable[Doc]) -> Counter[str]:
    """In how many documents each content word occurs (title and text)."""
    df: Counter[str] = Counter()
    for d in docs:
        df.update(_words(" ".join([d.title, *(f"{h} {t}" for h, t in d.sections)])))
    return df


def split_documents(docs: Sequence[Doc], held_out: float, seed: int) -> tuple[list[Doc], list[Doc]]:
    """``(ingested, held_out)``: a seeded shuffle of the documents (sorted by id first),
    the first ``held_out`` share of it held out."""
    ordered = sorted(docs, key=lambda d: d.doc_id)
    random.Random(seed).shuffle(ordered)
    n_out = round(len(ordered) * held_out)
    return ordered[n_out:], ordered[:n_out]


def clean_title(title: str) -> str:
    return _PILCROW.sub(" ", _DOC_SUFFIX.sub("", title)).strip()


def subject_of(doc: Doc, heading: str) -> str | None:
    """What a section is about: its heading, or the document's title for a generic one;
    None for page furniture."""
    name = clean_title(heading)
    if name.lower() in FURNITURE:
        return None
    if not name or name.lower() in GENERIC_HEADINGS:
        name = clean_title(doc.title)
    name = _NUMBERING.sub("", name.replace(" — ", ": ")).rstrip("?!.:; ")
    return name or None


def key_sentence(text: str, *, min_words: int = 6, max_words: int = 40) -> str | None:
    """The first plain-prose sentence of a section: no code, no list furniture."""
    lines = [
        ln.strip()
        for ln in text.splitlines()
        if ln.strip() and not ln.lstrip().startswith((">>>", "...", "$", "|", "#", "- ", "* "))
    ]
    for sentence in _SENTENCE_END.split(" ".join(lines)):
        words = sentence.split()
        if not min_words <= len(words) <= max_words:
            continue
        if sum(bool(_WORDY.match(w.strip(".,;:()\"'"))) for w in words) < 0.7 * len(words):
            continue  # code, tables, numbers: not prose
        return sentence.strip()
    return None


def rare_terms(sentence: str, df: Counter[str], exclude: frozenset[str], k: int = 3) -> list[str]:
    """The ``k`` most telling content words of ``sentence``, in sentence order: names
    (capitalised inside the sentence) and long words first, then the rarest in the corpus."""
    named = {w.lower() for w in re.findall(r"(?<!^)(?<![.!?] )\b[A-Z][\w-]+", sentence)}
    words = [
        w
        for w in content_words(sentence)
        if len(w) > 3 and w.isalpha() and w not in exclude and w not in COMMON_WORDS
    ]
    rarest = sorted(words, key=lambda w: (w not in named and len(w) < 7, df[w], words.index(w)))[:k]
    return [w for w in words if w in rarest]


class Coverage:
    """Does an ingested document cover a question's subject? (The honesty test.)"""

    def __init__(self, ingested: Sequence[Doc], df: Counter[str], n_docs: int) -> None:
        self._names = [
            _words(clean_title(name))
            for d in ingested
            for name in (d.title, *(h for h, _ in d.sections))
        ]
        self._names = [n for n in self._names if n]
        self._texts = [
            _words(" ".join([d.title, *(f"{h} {t}" for h, t in d.sections)])) for d in ingested
        ]
        self._df = df
        self.rare_df = max(2, round(0.02 * n_docs))

    def named(self, subject: str) -> bool:
        """Every word of ``subject`` is in one ingested title or heading."""
        asked = _words(subject)
        return bool(asked) and any(asked <= name for name in self._names)

    def names_asked(self, question: str) -> bool:
        """``question`` is named by an ingested title or heading: all its words are in
        one, or all its names are (capitalised words past the first, dotted identifiers;
        numbers aside)."""
        names = key_terms(question).names
        return self.named(question) or (bool(names) and self.named(" ".join(names)))

    def covers(self, subject: str, terms: Sequence[str]) -> bool:
        if self.named(subject):
            return True
        rare = [
            w
            for w in dict.fromkeys([*content_words(subject), *terms])
            if self._df[w] <= self.rare_df
        ]
        return bool(rare) and any(
            2 * sum(w in text for w in rare) >= len(rare) for text in self._texts
        )


def _phrase(subject: str, terms: Sequence[str], rng: random.Random) -> str:
    if terms and rng.random() < 0.5:
        joined = ", ".join(terms[:-1]) + f" and {terms[-1]}" if len(terms) > 1 else terms[0]
        return rng.choice(DETAIL_TEMPLATES).format(s=subject, t=joined)
    return rng.choice(SUBJECT_TEMPLATES).format(s=subject)


def build_questions(
    docs: Sequence[Doc],
    kind: Literal["answerable", "absent"],
    n: int,
    df: Counter[str],
    seed: int,
    coverage: Coverage | None = None,
) -> tuple[list[LabelledQuestion], int]:
    """Up to ``n`` questions about sections of ``docs``, spread round-robin over the
    documents in a seeded order; with ``coverage``, those an ingested document covers
    are dropped. Returns the questions and how many were dropped."""
    rng = random.Random(seed)
    per_doc: list[list[tuple[Doc, str, str]]] = []
    for d in docs:
        found = []
        for heading, text in d.sections:
            subject = subject_of(d, heading)
            sentence = key_sentence(text)
            if subject and sentence:
                found.append((d, subject, sentence))
        if found:
            rng.shuffle(found)
            per_doc.append(found)
    rng.shuffle(per_doc)
    out: list[LabelledQuestion] = []
    seen: set[str] = set()
    dropped = 0
    depth = 0
    while len(out) < n and any(depth < len(p) for p in per_doc):
        for p in per_doc:
            if depth >= len(p) or len(out) >= n:
                continue
            d, subject, sentence = p[depth]
            terms = rare_terms(sentence, df, _words(subject))
            if coverage is not None and coverage.covers(subject, terms):
                dropped += 1
                continue
            text = _phrase(subject, terms, rng)
            if text.lower() not in seen:
                seen.add(text.lower())
                out.append(LabelledQuestion(text, kind, d.doc_id))
        depth += 1
    return out, dropped


def small_talk_questions(
    pool: Sequence[str], n: int, seed: int, coverage: Coverage | None = None
) -> tuple[list[LabelledQuestion], int]:
    """``n`` of ``pool`` in a seeded order, less those an ingested title or heading
    names (``Coverage.names_asked``)."""
    order = random.Random(seed).sample(list(dict.fromkeys(pool)), len(set(pool)))
    out: list[LabelledQuestion] = []
    dropped = 0
    for q in order:
        if len(out) == n:
            break
        if coverage is not None and coverage.names_asked(q):
            dropped += 1
        else:
            out.append(LabelledQuestion(q, "small_talk"))
    return out, dropped
