"""RAFT records (Zhang et al. 2024): the question with its oracle documents kept with
probability ``p`` among ``k`` hard-negative distractors, and the 👍 answer. A distractor
never holds the answer (:class:`AnswerGuard`): it would teach that any document will do.

Citation markers are renumbered to the shuffled document order; when the oracle is
left out the markers are removed (the model learns to answer from memory).
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Callable, Sequence
from typing import Any

from askloop.agent.answers import RetrievedChunk
from askloop.agent.datasets.answer_facts import AnswerGuard
from askloop.agent.datasets.examples import Example, scrubbed_chunk
from askloop.agent.prompting import documents_block

__all__ = ["MoreDistractors", "is_validation", "raft_record"]

#: (tenant, question, chunk ids to exclude, how many) -> more chunks from a fresh search.
MoreDistractors = Callable[[str, str, set[str], int], Sequence[RetrievedChunk]]

_MARKER = re.compile(r"\[(\d{1,3})\]")


def is_validation(thread: str, fraction: float, seed: int) -> bool:
    """Deterministic, per-thread: every example of a thread lands on the same side."""
    if fraction <= 0:
        return False
    digest = hashlib.sha256(f"{seed}:{thread}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < fraction


def raft_record(
    example: Example,
    *,
    system: str,
    template: str,
    k: int,
    p_oracle: float,
    seed: int,
    more: MoreDistractors | None,
    scrub: bool = True,
    redact_documents: bool = False,
) -> dict[str, Any] | None:
    if example.rating != "up" or not example.cited:
        return None
    shown = {c.chunk_id: c for c in example.shown}
    oracle = [shown[cid] for cid in example.cited if cid in shown]
    if not oracle:
        return None
    guard = AnswerGuard.of(example.answer, [c.text for c in oracle])
    distractors = _distractors(example, oracle, guard, k, more)
    # Seeded by content, not by answer id: identical answers make one identical record.
    rng = random.Random(f"{seed}:{example.question_key}:{example.answer}")
    keep_oracle = rng.random() < p_oracle
    docs = ([*oracle] if keep_oracle else []) + distractors
    rng.shuffle(docs)
    position = {c.chunk_id: n for n, c in enumerate(docs, 1)}
    old_order = [c.chunk_id for c in example.shown]

    def renumber(match: re.Match[str]) -> str:
        n = int(match.group(1))
        cid = old_order[n - 1] if 0 < n <= len(old_order) else None
        return f"[{position[cid]}]" if cid in position else ""

    answer = _MARKER.sub(renumber, example.answer)
    answer = re.sub(r"[ \t]+([.,;:!?])", r"\1", answer).strip()
    if not docs or not answer:
        return None
    if scrub:
        docs = [scrubbed_chunk(c, personal=redact_documents) for c in docs]
    # The question and history come from the example's prompt, redacted as users' text.
    user = template.format(documents=documents_block(docs), question=_question_of(example))
    history = example.prompt[1:-1]
    return {
        "prompt": [
            {"role": "system", "content": system},
            *history,
            {"role": "user", "content": user},
        ],
        "completion": [{"role": "assistant", "content": answer}],
    }


def _distractors(
    example: Example,
    oracle: list[RetrievedChunk],
    guard: AnswerGuard,
    k: int,
    more: MoreDistractors | None,
) -> list[RetrievedChunk]:
    """Up to ``k`` hard negatives (what the search returned besides the oracle, then a
    fresh search), none of which gives the answer away."""
    skip = {c.chunk_id for c in oracle}
    picked: list[RetrievedChunk] = []
    for chunk in example.retrieved:
        if len(picked) == k:
            return picked
        if chunk.chunk_id not in skip:
            skip.add(chunk.chunk_id)
            if not guard.gives_away(chunk.text):
                picked.append(chunk)
    if len(picked) < k and more is not None:
        # Ask for a few spare ones: some may hold the answer too.
        wanted = k - len(picked)
        for chunk in more(example.tenant, _question_of(example), set(skip), 2 * wanted):
            if len(picked) == k:
                break
            if chunk.chunk_id not in skip and not guard.gives_away(chunk.text):
                skip.add(chunk.chunk_id)
                picked.append(chunk)
    return picked


def _question_of(example: Example) -> str:
    """The question as asked: the text after the last 'Question:' of the user turn."""
    user = example.prompt[-1]["content"]
    head, sep, tail = user.rpartition("Question:")
    return tail.strip() if sep else user
