"""Work after the acknowledgement, tracked so that shutdown waits for all of it.

``runtime.spawn`` registers a task for the server's drain. An event acknowledged early
(``endpoint``) is routed by a spawned task whose listeners spawn the actual work; that
routing task also waits for the work it started, so whoever drains the routing task
drains the answer too.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from askloop.integrations.server.runtime import ServerRuntime

__all__ = ["collect", "start"]

_started: ContextVar[list[asyncio.Task[Any]] | None] = ContextVar(
    "slack_started_work", default=None
)


def start(runtime: ServerRuntime, work: Coroutine[Any, Any, Any], *, name: str) -> None:
    """Run ``work`` after the ack (``runtime.spawn``), noted for a ``collect`` around it."""
    task = runtime.spawn(work, name=name)
    started = _started.get()
    if started is not None:
        started.append(task)


@contextmanager
def collect() -> Iterator[list[asyncio.Task[Any]]]:
    """The tasks ``start`` is called for inside the block (in this task's context)."""
    tasks: list[asyncio.Task[Any]] = []
    token = _started.set(tasks)
    try:
        yield tasks
    finally:
        _started.reset(token)
