"""What the rewrite step accepts as a new search query, and the keyword rewrite it falls
back on when the model's reply is not one.

A small model asked for a new query sometimes answers with the instruction itself
("Rewrite the search query to:"), a label ("New query: …"), the question again or
nothing; searching for any of those wastes a round. A reply line is taken only when,
with list marks, labels and quotes stripped, it is a query that is not empty, not
mostly the prompt's own words, and not (ignoring case, spacing and punctuation) the
question or an earlier query.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from askloop.agent.text import content_words

__all__ = ["accepted_rewrite", "keyword_rewrite", "normalised"]

#: Words a model puts before or instead of its query; with the prompt's own words they
#: make a label ("Here is the new query:") or an echo.
_LABEL_WORDS = frozenset(
    """here new better improved alternative alternate rewritten rewrite rewrites rewriting
    revised reformulated query queries search searches keyword keywords answer output
    result suggestion suggested try version sure okay ok""".split()
)
_LIST_MARK = re.compile(r"^\s*(?:[-*•>]+|\d{1,2}[.)])\s+")
_LABEL = re.compile(r"^(?P<label>[^:\n]{1,60}?)\s*[:：]\s*")
_PLACEHOLDER = re.compile(r"\{\w+\}")
_WRAPPING = "\"'`“”‘’«»*_ "
#: Lines of a reply looked at: the query is on the first line or just after a preamble.
_MAX_LINES = 4


def normalised(text: str) -> str:
    """``text`` lower-cased with punctuation dropped and spacing collapsed: two queries
    that normalise alike search for the same thing."""
    return " ".join(re.findall(r"\w+", text.casefold()))


def _is_label(text: str, question_words: set[str], prompt_words: set[str]) -> bool:
    words = content_words(text)
    return not (set(words) & question_words) and all(w in prompt_words for w in words)


def _unwrap(line: str) -> str:
    line = _LIST_MARK.sub("", line).strip()
    return line.strip(_WRAPPING).rstrip(".!?;,").strip(_WRAPPING)


def accepted_rewrite(
    reply: str | None, *, question: str, earlier: Sequence[str], prompt: str
) -> tuple[str | None, str]:
    """``(query, "")`` for the first acceptable query in a model's ``reply``, else
    ``(None, why)``. ``prompt`` is the rewrite prompt's template: a reply made mostly of
    its words (and not the question's) echoes the instruction."""
    question_words = set(content_words(question))
    prompt_words = set(content_words(_PLACEHOLDER.sub(" ", prompt))) | _LABEL_WORDS
    seen = {normalised(q) for q in (question, *earlier)}
    lines = [line for line in (reply or "").splitlines() if line.strip(_WRAPPING + "`")]
    why = "empty reply"
    for line in lines[:_MAX_LINES]:
        candidate = _unwrap(line)
        label = _LABEL.match(candidate)
        if label and _is_label(label["label"], question_words, prompt_words):
            candidate = _unwrap(candidate[label.end() :])
            if not candidate:
                why = "only a label"
                continue
        words = content_words(candidate)
        if not words:
            why = "no query in the reply"
            continue
        echoed = [w for w in words if w in prompt_words and w not in question_words]
        if 2 * len(echoed) >= len(words):
            why = "echoes the prompt"
            continue
        if normalised(candidate) in seen:
            same_as_question = normalised(candidate) == normalised(question)
            why = "same as the question" if same_as_question else "same as an earlier query"
            continue
        return candidate, ""
    return None, why


def keyword_rewrite(question: str, earlier: Sequence[str], names: Sequence[str]) -> str | None:
    """A query of the question's content words (stopwords dropped), else with the words
    of ``names`` (titles and headings of the hits) added, else a shorter one: the first
    that differs from the question and the earlier queries, or None."""
    seen = {normalised(q) for q in (question, *earlier)}
    words = content_words(question)
    extra = [w for name in names for w in content_words(name)]
    candidates = [words, list(dict.fromkeys([*words, *extra]))]
    candidates += [words[:n] for n in range(len(words) - 1, 0, -1)]
    for candidate in candidates:
        query = " ".join(candidate)
        if normalised(query) and normalised(query) not in seen:
            return query
    return None
