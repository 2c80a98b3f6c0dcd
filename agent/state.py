"""The graph's data: a narrow input and the full state the nodes read and write.

Per-run fields are overwritten by ``route`` (the first node) at the start of every run,
so a thread's checkpoint carries only ``turns`` from one question to the next.
"""

from __future__ import annotations

from typing import Any, Literal, NotRequired

# pydantic reads these for the graph's JSON schemas, and needs typing_extensions'
# TypedDict on Python < 3.12.
from typing_extensions import TypedDict

__all__ = ["HitData", "InputState", "State", "ThreadTurn"]


class ThreadTurn(TypedDict):
    role: Literal["user", "assistant"]
    content: str


class HitData(TypedDict):
    """A search hit as plain data (checkpoint-safe)."""

    chunk_id: str
    title: str
    source: str
    url: str
    heading_path: list[str]
    text: str
    score: float
    vector_score: float | None
    keyword_score: float | None
    query: str


class InputState(TypedDict):
    #: The user's question, already cleaned by the Assistant.
    question: str
    #: Knowledge-base tenant; every search is confined to it.
    tenant: str
    #: False where only knowledge-base answers are allowed (a channel rule): route
    #: always searches and give_up says "not found" instead of asking the tuned model.
    allow_finetuned: NotRequired[bool]
    #: True when someone listens to the graph's "custom" stream: the answer nodes then
    #: stream the model's text into it as ``{"text": piece}``. Off, models are called
    #: without streaming (no streaming HTTP nobody reads, and full usage figures).
    stream: NotRequired[bool]
    #: True when the caller asked for the fine-tuned model's own answer: route sends
    #: the question to ``answer_direct`` without a probe search (unless the tuned
    #: model is not allowed, when it searches as usual).
    direct: NotRequired[bool]


class State(InputState, total=False):
    #: Thread memory: this conversation's questions and answers, oldest first; only the
    #: newest that the next answer's history window can use are kept (``check_citations``
    #: trims it), so a long-lived chat does not grow its checkpoint without bound.
    turns: list[ThreadTurn]
    #: "retrieve" or "finetuned", as decided by ``route``.
    decision: Literal["retrieve", "finetuned"]
    #: Queries sent to the knowledge base this run: the question, then each rewrite.
    queries: list[str]
    #: How many times the query was rewritten this run.
    rewrites: int
    #: The bound on ``rewrites`` for this run (copied from the policy by ``route``).
    max_rewrites: int
    #: The latest search's hits, best first.
    hits: list[HitData]
    #: Every hit seen this run, across rewrites (kept with the answer; RAFT negatives).
    retrieved: list[HitData]
    #: ``grade``'s verdict on ``hits``.
    grade: Literal["good", "poor"]
    #: Why the run gave up: "rewrites_exhausted", "no_new_query" (set by ``rewrite``),
    #: "store_unavailable", "empty_knowledge_base", "no_answering_sentence" (set by
    #: ``answer_with_context``: no sentence of the hits answers the question).
    give_up_reason: str
    #: The hits shown to the answer model as numbered documents [1]..[n].
    context_hits: list[HitData]
    answer: str
    #: Chunk ids of the documents the answer cites, as (n, chunk_id) pairs.
    cited: list[tuple[int, str]]
    #: "retrieve" | "rewrite" | "finetuned": how the answer was made (DESIGN.md §3).
    route: Literal["retrieve", "rewrite", "finetuned"]
    #: Model id that wrote the answer.
    model: str
    #: Prompt name -> content-hash version, for every prompt used this run.
    prompt_versions: dict[str, str]
    #: Each node's verdict, why and how long it took: training data for the router.
    trace: list[dict[str, Any]]
    #: A short machine-readable error, when a dependency failed.
    error: str
