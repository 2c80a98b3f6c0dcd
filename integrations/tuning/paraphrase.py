"""Questions in other words, by template: small data needs more than one wording.

A template rewraps the question the way colleagues ask in chat (a greeting, "quick
question", "do you know"); the model learns the answer, not the exact string.
The last templates are kept for the early-stopping split only: held-out loss then
measures an unseen wording of a known fact.
"""

from __future__ import annotations

import re

__all__ = ["EVAL_TEMPLATES", "TRAIN_TEMPLATES", "reword"]

TRAIN_TEMPLATES = (
    "{q}",
    "Can you tell me {qi}",
    "hey, {ql}",
    "Quick question: {q} Thanks!",
    "Does anyone know {qi}",
    "I need to know {qi}",
    "Hi! {q}",
)
EVAL_TEMPLATES = ("Sorry to bother you, {qi} Thanks in advance.",)

_LEAD = re.compile(r"^(?:please\s+|hi[,!]?\s+|hey[,!]?\s+)", re.IGNORECASE)


def _inner(question: str) -> str:
    """The question as it reads inside a sentence: first letter lower-cased (unless an
    acronym or a name like "I"), ending with a question mark."""
    q = _LEAD.sub("", question.strip())
    first = q.split(" ", 1)[0]
    if len(first) > 1 and not first.isupper():
        q = q[0].lower() + q[1:]
    return q if q.endswith("?") else q.rstrip(".!") + "?"


def reword(question: str, template: str) -> str:
    q = question.strip()
    return template.format(q=q, qi=_inner(q), ql=q.lower())
