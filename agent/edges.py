"""Edge functions: pure, total over the state, returning the next node's name."""

from __future__ import annotations

from typing import Literal

from agent.state import State

__all__ = ["after_grade", "after_retrieve", "after_route"]


def after_route(state: State) -> Literal["retrieve", "answer_direct", "give_up"]:
    if state.get("error"):
        return "give_up"
    decision = state.get("decision")
    if decision == "retrieve":
        return "retrieve"
    if decision == "finetuned":
        return "answer_direct"
    raise ValueError(f"route left an unknown decision: {decision!r}")


def after_retrieve(state: State) -> Literal["grade", "give_up"]:
    return "give_up" if state.get("error") else "grade"


def after_grade(state: State) -> Literal["answer_with_context", "rewrite", "give_up"]:
    verdict = state.get("grade")
    if verdict == "good":
        return "answer_with_context"
    if verdict != "poor":
        raise ValueError(f"grade left an unknown verdict: {verdict!r}")
    # The loop is bounded by its own counter, never by the recursion limit.
    if state.get("rewrites", 0) < state.get("max_rewrites", 0):
        return "rewrite"
    return "give_up"
