"""The routed answer graph (DESIGN.md §1): wiring only; the steps are in nodes/.

START → route ─┬─ finetuned ─────────────────────────→ answer_direct ─┐
               └─ retrieve → grade ─┬─ good → answer_with_context ────┤
                    ↑               ├─ poor, rewrites left → rewrite  ├→ check_citations
                    └───────────────┴──────────────────────┘          │
                                    └─ poor, none left, or the ───────┘
                                       search failed → give_up
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from langgraph.graph import END, START, StateGraph

from askloop.agent.context import Context
from askloop.agent.edges import after_grade, after_route
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

__all__ = ["build_graph", "builder", "graph", "make_builder"]

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


def make_builder(wrap: NodeWrapper | None = None) -> StateGraph[Any, Any, Any, Any]:
    """The graph's wiring; ``wrap`` decorates every node (hosts use it to supply context)."""
    b: StateGraph[Any, Any, Any, Any] = StateGraph(
        State, context_schema=Context, input_schema=InputState
    )
    for name, fn in _NODES.items():
        b.add_node(name, wrap(fn) if wrap else fn)
    b.add_edge(START, "route")
    b.add_conditional_edges("route", after_route)
    b.add_edge("retrieve", "grade")
    b.add_conditional_edges("grade", after_grade)
    b.add_edge("rewrite", "retrieve")
    b.add_edge("answer_with_context", "check_citations")
    b.add_edge("answer_direct", "check_citations")
    b.add_edge("give_up", "check_citations")
    b.add_edge("check_citations", END)
    return b


builder = make_builder()


def build_graph(checkpointer: Any = None) -> Any:
    """Compile the graph, with thread memory when a checkpointer is given."""
    return builder.compile(checkpointer=checkpointer, name="askloop")


graph = build_graph()
