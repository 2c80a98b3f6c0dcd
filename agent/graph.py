"""The routed answer graph (DESIGN.md §1): wiring only; the steps are in nodes/.

START → route ─┬─ finetuned ─────────────────────────→ answer_direct ─┐
               └─ retrieve → grade ─┬─ good → answer_with_context ────┤
                    ↑               ├─ poor, rewrites left → rewrite  ├→ check_citations
                    └───────────────┴─────── new query ────┘          │
                                    └─ poor, none left, no new ───────┘
                                       query, or the search failed → give_up
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from langgraph.graph import END, START, StateGraph

from askloop.agent.context import Context
from askloop.agent.edges import after_grade, after_rewrite, after_route
from askloop.agent.nodes import (
    answer_direct,
    answer_with_context,
    check_citations,
    give_up,
    grade,
    retrieve,
    rewrite,
    route,
)
from askloop.agent.state import InputState, State

__all__ = ["add_answer_steps", "build_graph", "builder", "graph"]

NodeWrapper = Callable[[Callable[..., Any]], Callable[..., Any]]

_NODES: dict[str, Callable[..., Any]] = {
    "route": route,
    "retrieve": retrieve,
    "grade": grade,
    "rewrite": rewrite,
    "answer_with_context": answer_with_context,
    "answer_direct": answer_direct,
    "give_up": give_up,
    "check_citations": check_citations,
}


def add_answer_steps(
    builder: StateGraph[Any, Any, Any, Any],
    *,
    after: str = START,
    then: str = END,
    wrap: NodeWrapper | None = None,
) -> StateGraph[Any, Any, Any, Any]:
    """Add the answer steps to ``builder``, run between ``after`` and ``then``.

    ``builder``'s state must hold :class:`State`'s fields; ``wrap`` decorates every step
    (the host graph uses it to supply the context a host does not give).
    """
    for name, fn in _NODES.items():
        builder.add_node(name, wrap(fn) if wrap else fn)
    builder.add_edge(after, "route")
    builder.add_conditional_edges("route", after_route)
    builder.add_edge("retrieve", "grade")
    builder.add_conditional_edges("grade", after_grade)
    builder.add_conditional_edges("rewrite", after_rewrite)
    builder.add_edge("answer_with_context", "check_citations")
    builder.add_edge("answer_direct", "check_citations")
    builder.add_edge("give_up", "check_citations")
    builder.add_edge("check_citations", then)
    return builder


builder = add_answer_steps(StateGraph(State, context_schema=Context, input_schema=InputState))


def build_graph(checkpointer: Any = None) -> Any:
    """Compile the graph, with thread memory when a checkpointer is given."""
    return builder.compile(checkpointer=checkpointer, name="askloop")


graph = build_graph()
