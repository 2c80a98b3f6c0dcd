"""Work after the acknowledgement, tracked so that shutdown waits for all of it.

``runtime.spawn`` registers a task for the server's drain. An event acknowledged early
(``endpoint``) is routed by a spawned task whose listeners spawn the actual work; that
routing task also waits for the work it started, so whoever drains the routing task
drains the answer too.

:class:`AcksFirst` puts the work after an acknowledgement behind the acknowledgements
still being made: one event loop answers a burst of requests, and the thanks of the
first clicks would otherwise take turns with the 200s of the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

from askloop.integrations.server.runtime import ServerRuntime

__all__ = ["AcksFirst", "collect", "start"]

T = TypeVar("T")

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


class AcksFirst:
    """Requests are counted while they are answered (``answering``); work passed to
    ``after_acks`` starts once none is and none has begun or ended for ``settle_seconds`` (in a
    burst the loop often catches up for an instant between two arrivals: work started
    then would hold up the rest of the burst's 200s), or after ``max_wait_seconds``
    under a steady stream of them (a 👎's modal needs the click's trigger_id within
    Slack's 3 s)."""

    def __init__(self, *, max_wait_seconds: float = 1.0, settle_seconds: float = 0.02) -> None:
        self._max_wait = max_wait_seconds
        self._settle = settle_seconds
        self._answering = 0
        self._last_seen = float("-inf")
        self._quiet: asyncio.Event | None = None  # made on the loop that uses it

    def _event(self) -> asyncio.Event:
        if self._quiet is None:
            self._quiet = asyncio.Event()
            if not self._answering:
                self._quiet.set()
        return self._quiet

    @property
    def answering_now(self) -> int:
        return self._answering

    @contextmanager
    def answering(self) -> Iterator[None]:
        """Around the answering of one request, up to its response."""
        self._answering += 1
        self._last_seen = time.monotonic()
        self._event().clear()
        try:
            yield
        finally:
            self._answering -= 1
            self._last_seen = time.monotonic()
            if not self._answering:
                self._event().set()

    async def after_acks(self, work: Coroutine[Any, Any, T]) -> T:
        """``work``, started once the requests have settled (or the wait is up)."""
        try:
            await self._settled(time.monotonic() + self._max_wait)
        except BaseException:  # cancelled while waiting: the work never starts
            work.close()
            raise
        return await work

    async def _settled(self, deadline: float) -> None:
        quiet = self._event()
        while (now := time.monotonic()) < deadline:
            if not quiet.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(quiet.wait(), deadline - now)
                continue
            calm = self._last_seen + self._settle - now
            if calm <= 0:
                return
            await asyncio.sleep(min(calm, deadline - now))
