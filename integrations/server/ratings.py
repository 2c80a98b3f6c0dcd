"""Group commit for ratings: the clicks of a burst share a transaction.

Every rating is committed before its platform gets the 200 (DESIGN.md §4). One commit
per click would queue a burst of clicks behind one another's fsyncs; instead, while a
batch is being committed (off the event loop), the ratings that arrive wait for the
next one, and each caller returns once its own batch is committed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from askloop.agent.answers import Feedback

__all__ = ["RatingWriter"]

Item = tuple[Feedback, str | None]


class RatingWriter:
    """``await writer.write(feedback, tenant)``: True once committed, False when the
    answer is unknown in ``tenant``; raises what the commit raised."""

    def __init__(self, commit: Callable[[Sequence[Item]], Awaitable[list[bool]]]) -> None:
        self._commit = commit
        self._waiting: list[tuple[Item, asyncio.Future[bool]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def write(self, feedback: Feedback, tenant: str | None) -> bool:
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiting.append(((feedback, tenant), done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write(), name="askloop-ratings")
        return await asyncio.shield(done)  # a caller that gives up still gets written

    async def _write(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting, []
            try:
                stored = await self._commit([item for item, _ in batch])
            except Exception as exc:
                for _, done in batch:
                    done.set_exception(exc)
                    done.exception()  # retrieved here too: a caller may be gone
                continue
            for (_, done), ok in zip(batch, stored, strict=True):
                done.set_result(ok)
