"""Slack accepts about one message per second per channel: space askloop's own posts.

Each post reserves the next free slot of its channel, so posts leave in the order they
asked and a burst of answers in one channel is spread out instead of being refused
with 429s. Slots are per process; replicas should see different channels most of the
time, and a 429 that still happens is retried by slack_sdk after ``Retry-After``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

__all__ = ["ChannelThrottle"]


class ChannelThrottle:
    def __init__(
        self,
        interval: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_channels: int = 10_000,
    ) -> None:
        self._interval = interval
        self._clock = clock
        self._max_channels = max_channels
        self._next: dict[str, float] = {}

    def reserve(self, channel: str) -> float:
        """Reserve the channel's next slot; returns how long to wait for it (seconds)."""
        if self._interval <= 0:
            return 0.0
        now = self._clock()
        slot = max(now, self._next.get(channel, now))
        self._next[channel] = slot + self._interval
        if len(self._next) > self._max_channels:
            self._next = {c: t for c, t in self._next.items() if t > now}
        return slot - now

    async def wait(self, channel: str) -> None:
        delay = self.reserve(channel)
        if delay > 0:
            await asyncio.sleep(delay)
