"""Edge functions: pure, total over what they read, returning the next node's name.

Each declares the few state fields it reads, so LangGraph hands it only those.
"""

from __future__ import annotations

from typing import Literal

from typing_extensions import TypedDict  # pydantic needs it on Python < 3.12

__all__ = [
    "GradeOutcome",
    "RewriteOutcome",
    "RouteOutcome",
    "after_grade",
    "after_rewrite",
    "after_route",
]


class RouteOutcome(TypedDict, total=False):
    error: str
    decision: Literal["retrieve", "finetuned"]


class RewriteOutcome(TypedDict, total=False):
    give_up_reason: str


class GradeOutcome(TypedDict, total=False):
    error: str
    grade: Literal["good", "poor"]
    rewrites: int
    max_rewrites: int


def after_route(state: RouteOutcome) -> Literal["retrieve", "answer_direct", "give_up"]:
    if state.get("error"):
        return "give_up"
    decision = state.get("decision")
    if decision == "retrieve":
        return "retrieve"
    if decision == "finetuned":
        return "answer_direct"
    raise ValueError(f"route left an unknown decision: {decision!r}")


def after_grade(state: GradeOutcome) -> Literal["answer_with_context", "rewrite", "give_up"]:
    # A failed search (store down) is graded poor and goes straight to give_up: a
    # rewrite would search the same dead store again.
    if state.get("error"):
        return "give_up"
    verdict = state.get("grade")
    if verdict == "good":
        return "answer_with_context"
    if verdict != "poor":
        raise ValueError(f"grade left an unknown verdict: {verdict!r}")
    # The loop is bounded by its own counter, never by the recursion limit.
    if state.get("rewrites", 0) < state.get("max_rewrites", 0):
        return "rewrite"
    return "give_up"


def after_rewrite(state: RewriteOutcome) -> Literal["retrieve", "give_up"]:
    # No new query could be made: searching an earlier one again finds nothing new.
    return "give_up" if state.get("give_up_reason") else "retrieve"
