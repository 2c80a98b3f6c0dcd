"""The last step, check_citations, and the four things it does, each a function of its own:
clean the [n] markers, name the final route, attribute an uncited answer to a document,
and keep what the thread's next question may remember."""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from typing import Any, Literal

from langgraph.runtime import Runtime

from askloop.agent.attribution import attribute
from askloop.agent.context import Context
from askloop.agent.nodes.common import recent_turns, trace_step
from askloop.agent.state import HitData, State, ThreadTurn

__all__ = [
    "attribute_uncited",
    "check_citations",
    "clean_markers",
    "final_route",
    "remembered_turns",
]

FinalRoute = Literal["retrieve", "rewrite", "finetuned"]

_MARKER = re.compile(r"\[(\d{1,3}(?:\s*,\s*\d{1,3})*)\]")
_SPACE_BEFORE_PUNCTUATION = re.compile(r"[ \t]+([.,;:!?])")


def clean_markers(answer: str, docs: Sequence[HitData]) -> tuple[str, dict[int, str], list[int]]:
    """The answer without [n] markers that point at no document, the cited documents
    (number → chunk id) and the dropped numbers."""
    cited: dict[int, str] = {}
    dropped: list[int] = []

    def keep(match: re.Match[str]) -> str:
        numbers = [int(n) for n in re.findall(r"\d+", match.group(1))]
        good = [n for n in numbers if 1 <= n <= len(docs)]
        dropped.extend(n for n in numbers if n not in good)
        for n in good:
            cited[n] = docs[n - 1]["chunk_id"]
        return "".join(f"[{n}]" for n in good)

    cleaned = _SPACE_BEFORE_PUNCTUATION.sub(r"\1", _MARKER.sub(keep, answer)).strip()
    return cleaned, cited, dropped


def final_route(state: State) -> FinalRoute:
    """The route the answer took, as the log and the CLI report it."""
    if state.get("decision") == "finetuned" or (state.get("give_up_reason") and state.get("model")):
        return "finetuned"  # the fine-tuned model wrote it, by decision or after giving up
    return "rewrite" if state.get("rewrites", 0) else "retrieve"


def attribute_uncited(answer: str, docs: Sequence[HitData]) -> tuple[str, int | None]:
    """An answer that cites nothing, with a marker for the one document it clearly
    comes from (if any) placed before its final punctuation, and that document's number."""
    attributed = attribute(answer, docs)
    if attributed is None:
        return answer, None
    # "… per year [1]." as the models write it
    end = len(answer) - 1 if answer.endswith((".", "!", "?")) else len(answer)
    return f"{answer[:end]} [{attributed}]{answer[end:]}", attributed


def remembered_turns(
    turns: Sequence[ThreadTurn], question: str, answer: str, budget: int
) -> list[ThreadTurn]:
    """What the next question's history can use: the newest earlier turns that fit the
    budget (history_window never reaches further), then this exchange."""
    return [
        *recent_turns(turns, budget),
        {"role": "user", "content": question},
        {"role": "assistant", "content": answer},
    ]


def check_citations(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Drop [n] markers that point at no document; record which documents are cited."""
    started = time.perf_counter()
    policy = runtime.context.policy
    docs = state.get("context_hits") or []
    answer, cited, dropped = clean_markers(state.get("answer", ""), docs)
    route = final_route(state)
    attributed = None
    if not cited and route != "finetuned" and not state.get("error") and policy.attribute_citations:
        answer, attributed = attribute_uncited(answer, docs)
        if attributed is not None:
            cited[attributed] = docs[attributed - 1]["chunk_id"]
    step = trace_step(
        "check_citations",
        f"{len(cited)} cited",
        started,
        dropped=dropped,
        attributed=attributed,
        route=route,
    )
    turns = remembered_turns(
        state.get("turns") or [], state["question"], answer, policy.history_tokens
    )
    return {
        "answer": answer,
        "cited": sorted(cited.items()),
        "route": route,
        "turns": turns,
        "trace": [*state["trace"], step],
    }
