"""The graph for LangGraph hosts (``langgraph.json``: ``langgraph dev``, LangGraph Platform).

A host runs the graph without askloop's runtime context, so every node here falls back
to the process's default dependencies, built from settings (env / ``ASKLOOP_CONFIG``)
on the first run — never at import. A caller that passes ``context=Context(...)`` keeps
full control.
"""

from __future__ import annotations

import atexit
import dataclasses
import functools
import threading
from collections.abc import Callable
from typing import Any

from langgraph.runtime import Runtime

from agent.context import Context
from agent.graph import make_builder

__all__ = ["graph"]

_lock = threading.Lock()
_default: Context | None = None


def _default_context() -> Context:
    global _default
    with _lock:
        if _default is None:
            from config.settings import load_settings
            from integrations.wiring import Services

            services = Services(load_settings())
            atexit.register(services.close)
            _default = services.context
        return _default


def _with_default_context(node: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(node)
    def run(state: Any, runtime: Runtime[Any]) -> Any:
        if not isinstance(runtime.context, Context):
            runtime = dataclasses.replace(runtime, context=_default_context())
        return node(state, runtime)

    return run


graph = make_builder(_with_default_context).compile(name="askloop")
