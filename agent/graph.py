"""The routed answer graph (DESIGN.md §1): wiring only; the steps are in nodes.py.

START → route ─┬─ finetuned ─────────────────────────→ answer_direct ─┐
               └─ retrieve → grade ─┬─ good → answer_with_context ────┤
                    ↑               ├─ poor, rewrites left → rewrite  ├→ check_citations
                    └───────────────┴──────────────────────┘          │
                                    └─ poor, none left → give_up ─────┘
"""

from __future__ import annotations

from typing import Any

from langgraph.graph import END, START, StateGraph

from agent.context import Context
from agent.edges import after_grade, after_retrieve, after_route
from agent.nodes import (
    answer_direct,
    answer_with_context,
    check_citations,
    give_up,
    grade,
    retrieve,
    rewrite,
    route,
)
from agent.state import InputState, State

__all__ = ["build_graph", "builder", "graph"]

builder = StateGraph(State, context_schema=Context, input_schema=InputState)
builder.add_node("route", route)
builder.add_node("retrieve", retrieve)
builder.add_node("grade", grade)
builder.add_node("rewrite", rewrite)
builder.add_node("answer_with_context", answer_with_context)
builder.add_node("answer_direct", answer_direct)
builder.add_node("give_up", give_up)
builder.add_node("check_citations", check_citations)
builder.add_edge(START, "route")
builder.add_conditional_edges("route", after_route)
builder.add_conditional_edges("retrieve", after_retrieve)
builder.add_conditional_edges("grade", after_grade)
builder.add_edge("rewrite", "retrieve")
builder.add_edge("answer_with_context", "check_citations")
builder.add_edge("answer_direct", "check_citations")
builder.add_edge("give_up", "check_citations")
builder.add_edge("check_citations", END)


def build_graph(checkpointer: Any = None) -> Any:
    """Compile the graph, with thread memory when a checkpointer is given."""
    return builder.compile(checkpointer=checkpointer, name="askloop")


graph = build_graph()
