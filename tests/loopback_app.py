"""An aiohttp application served on loopback from an event loop of its own, in a
thread: the fake platform and model APIs (``tests.slack_fake``, ``tests.openai_fake``)
answer real HTTP while the test, or the server under test, runs on other threads.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

__all__ = ["LoopbackApp"]


class LoopbackApp:
    """``start()`` serves ``build()``'s application on 127.0.0.1 (a free ``port``);
    ``stop(before=...)`` awaits ``before`` on the loop, then closes the server and the
    loop. ``call(fn)`` runs ``fn`` (a function or coroutine function) on the loop and
    returns its result."""

    def __init__(self, name: str, build: Callable[[], web.Application]) -> None:
        self._name = name
        self._build = build
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self.port = 0

    def start(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=self._name, daemon=True)
        self._thread.start()
        self.call(self._start)

    def stop(self, *, before: Callable[[], Awaitable[None]] | None = None) -> None:
        assert self._loop is not None and self._thread is not None
        if before is not None:
            self.call(before)
        self.call(self._stop)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def call(self, fn: Callable[[], Any]) -> Any:
        assert self._loop is not None

        async def run() -> Any:
            return await fn() if asyncio.iscoroutinefunction(fn) else fn()

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(10)

    async def _start(self) -> None:
        self._runner = web.AppRunner(self._build(), access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.port = self._runner.addresses[0][1]

    async def _stop(self) -> None:
        assert self._runner is not None
        await self._runner.cleanup()
