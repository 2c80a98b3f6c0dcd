"""The graph for LangGraph hosts (``langgraph.json``: ``langgraph dev``, LangGraph Platform).

START → take_question → the answer steps (agent/graph.py) → log_answer → END

A host sends ``{"question": ...}`` (``tenant`` is optional: settings' ``default_tenant``)
and gets back the answer, its route and citations, and the ``answer_id`` it is logged
under: the answer is logged like every other (platform ``langgraph``; the host's thread
is its conversation), so ``askloop rate`` and the datasets see it.

A host passes no askloop context (over HTTP it cannot), so the steps use this process's
wiring, built from settings (env / ``ASKLOOP_CONFIG``) on the first run, never at
import. An in-process caller that passes ``context=Context(...)`` chooses the store and
models itself; its answers still go to the process's log.
"""

# No ``from __future__ import annotations``: hosts load this file by path, outside
# sys.modules, where string annotations of the TypedDicts below could not be resolved.
import dataclasses
import functools
from collections.abc import Callable
from typing import Any, Literal, NotRequired

from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from typing_extensions import TypedDict  # pydantic needs it on Python < 3.12

from askloop.agent.answers import Turn
from askloop.agent.context import Context
from askloop.agent.errors import InvalidInputError
from askloop.agent.graph import add_answer_steps
from askloop.agent.state import State
from askloop.agent.text import clean_text
from askloop.config.settings import SettingsError, validate_tenant

__all__ = ["HostInput", "HostOutput", "graph"]

#: The ``platform`` of answers made through this graph.
PLATFORM = "langgraph"


class HostInput(TypedDict):
    #: The user's question.
    question: str
    #: Knowledge-base tenant; settings' ``default_tenant`` when left out.
    tenant: NotRequired[str]


class CitationData(TypedDict):
    n: int
    title: str
    source: str
    url: str
    chunk_id: str


class HostOutput(TypedDict):
    #: The id the answer is logged under (``askloop rate ANSWER_ID up``).
    answer_id: str
    question: str
    tenant: str
    answer: str
    #: "retrieve" | "rewrite" | "finetuned", as in ``askloop ask --json``.
    route: Literal["retrieve", "rewrite", "finetuned"]
    citations: list[CitationData]


class HostState(State, total=False):
    #: The host's thread this run belongs to ("" outside a thread).
    conversation_id: str
    answer_id: str
    citations: list[CitationData]


def _services() -> Any:
    from askloop.integrations.wiring import process_services

    return process_services()


def take_question(state: HostInput, config: RunnableConfig) -> dict[str, Any]:
    """Clean the question and fill in what a host leaves out."""
    question = clean_text(state.get("question") or "")
    if not question:
        raise InvalidInputError("the question is empty")
    try:
        tenant = validate_tenant(state.get("tenant") or _services().settings.default_tenant)
    except SettingsError as exc:
        raise InvalidInputError(str(exc)) from None
    thread = (config.get("configurable") or {}).get("thread_id") or ""
    return {
        "question": question,
        "tenant": tenant,
        "conversation_id": str(thread),
        # Set every run: a thread's checkpoint keeps the last run's flags.
        "allow_finetuned": True,
        "direct": False,
        "stream": False,
    }


def log_answer(state: HostState) -> dict[str, Any]:
    """Log the run's answer exactly as the Assistant logs its own."""
    turn = Turn(
        question=state["question"],
        tenant=state["tenant"],
        platform=PLATFORM,
        conversation_id=state.get("conversation_id") or "",
    )
    record = _services().assistant.log_run(turn, dict(state))
    return {
        "answer_id": record.answer_id,
        "citations": [
            CitationData(n=c.n, title=c.title, source=c.source, url=c.url, chunk_id=c.chunk_id)
            for c in record.citations
        ],
    }


def _with_default_context(node: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(node)
    def run(state: Any, runtime: Runtime[Any]) -> Any:
        if not isinstance(runtime.context, Context):
            runtime = dataclasses.replace(runtime, context=_services().context)
        return node(state, runtime)

    return run


# No context schema: a host's context arrives as JSON and would be coerced into it.
builder: StateGraph[Any, Any, Any, Any] = StateGraph(
    HostState, input_schema=HostInput, output_schema=HostOutput
)
builder.add_node("take_question", take_question)
builder.add_node("log_answer", log_answer)
builder.add_edge(START, "take_question")
add_answer_steps(builder, after="take_question", then="log_answer", wrap=_with_default_context)
builder.add_edge("log_answer", END)

# The rewrite loop is bounded by its counter (settings allow at most 10 rewrites, three
# steps each), not by the recursion limit: leave it room.
graph = builder.compile(name="askloop").with_config(recursion_limit=64)
