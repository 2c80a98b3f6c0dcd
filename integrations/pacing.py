"""Pacing what askloop sends per key (a Slack channel, a Teams conversation).

Slack accepts about one message per second per channel, Teams about seven per second
per conversation. :class:`KeyedPacer` keeps the sends under one key within such a limit
and lets different keys go independently; the clock and the sleep are injected so that
tests run on simulated time.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Clock", "KeyedPacer", "Sleep"]

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[Any]]

#: Forget idle keys once this many are remembered.
_SWEEP_AT = 512


@dataclass
class _Lane:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    #: When each recent send under the key finished.
    finished: deque[float] = field(default_factory=deque)
    users: int = 0


class KeyedPacer:
    """At most ``limit`` sends under one key arrive in any ``window`` seconds.

    Sends under a key run one at a time, in the order they asked (``asyncio.Lock`` is
    fair), and one starts only while fewer than ``limit`` earlier sends finished within
    the last ``window``. A request arrives between its start and its finish, so no
    window ever sees more than ``limit`` arrivals, however long the requests take.
    Different keys never wait for each other. ``window <= 0`` paces nothing.
    """

    def __init__(
        self,
        *,
        limit: int,
        window: float,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self._limit = limit
        self._window = window
        self._clock = clock
        self._sleep = sleep
        self._lanes: dict[str, _Lane] = {}

    @contextlib.asynccontextmanager
    async def slot(self, key: str) -> AsyncIterator[None]:
        """Hold the key's turn for one send."""
        if self._window <= 0:
            yield
            return
        if len(self._lanes) >= _SWEEP_AT:
            self._sweep()
        lane = self._lanes.setdefault(key, _Lane())
        lane.users += 1
        try:
            async with lane.lock:
                while True:
                    now = self._clock()
                    while lane.finished and lane.finished[0] + self._window <= now:
                        lane.finished.popleft()
                    if len(lane.finished) < self._limit:
                        break
                    await self._sleep(lane.finished[0] + self._window - now)
                    # Slept until the oldest send left the window (and no other send
                    # under this key can have happened meanwhile).
                    lane.finished.popleft()
                try:
                    yield
                finally:
                    lane.finished.append(self._clock())
        finally:
            lane.users -= 1
            idle = not lane.finished or lane.finished[-1] <= self._clock() - self._window
            if lane.users == 0 and idle:
                del self._lanes[key]

    def _sweep(self) -> None:
        horizon = self._clock() - self._window
        for key, lane in list(self._lanes.items()):
            if lane.users == 0 and (not lane.finished or lane.finished[-1] <= horizon):
                del self._lanes[key]

    def __len__(self) -> int:
        """Keys with recent or pending sends (the rest are forgotten)."""
        return len(self._lanes)
