"""The graph for LangGraph hosts (``langgraph.json``: ``langgraph dev``, LangGraph Platform).

A host runs the graph without askloop's runtime context, so every node here falls back
to the process's default dependencies, built from settings (env / ``ASKLOOP_CONFIG``)
on the first run — never at import. A caller that passes ``context=Context(...)`` keeps
full control.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

from langgraph.runtime import Runtime

from askloop.agent.context import Context
from askloop.agent.graph import make_builder

__all__ = ["graph"]


def _default_context() -> Context:
    from askloop.integrations.wiring import process_services

    return process_services().context


def _with_default_context(node: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(node)
    def run(state: Any, runtime: Runtime[Any]) -> Any:
        if not isinstance(runtime.context, Context):
            runtime = dataclasses.replace(runtime, context=_default_context())
        return node(state, runtime)

    return run


graph = make_builder(_with_default_context).compile(name="askloop")
