"""The graph's steps. Each reads the state, asks the runtime context for its
dependencies, and returns the fields it changes plus one decision-trace entry.

retrieval.py finds the documents (route, retrieve, grade, rewrite), answering.py writes
the answer (answer_with_context, answer_direct, give_up), finishing.py checks it
(check_citations); common.py holds what they share."""

from askloop.agent.messages import CAVEAT, EMPTY_KNOWLEDGE_BASE, MODEL_DOWN, NOT_FOUND, STORE_DOWN
from askloop.agent.nodes.answering import answer_direct, answer_with_context, give_up
from askloop.agent.nodes.common import history_window, recent_turns
from askloop.agent.nodes.finishing import check_citations
from askloop.agent.nodes.retrieval import grade, retrieve, rewrite, route

__all__ = [
    "CAVEAT",
    "EMPTY_KNOWLEDGE_BASE",
    "NOT_FOUND",
    "STORE_DOWN",
    "MODEL_DOWN",
    "answer_direct",
    "answer_with_context",
    "check_citations",
    "give_up",
    "grade",
    "history_window",
    "recent_turns",
    "retrieve",
    "rewrite",
    "route",
]
