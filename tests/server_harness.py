"""The real ``askloop serve`` app on a loopback port, in a background thread.

Tests talk to it over real HTTP; only the seams (embedder, chat models, the platform
Web APIs) are fakes. ``settings`` decides everything else, exactly as in production.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from askloop.config.settings import GraphSettings, ModelSettings, Settings
from askloop.integrations.server.app import start, stop
from askloop.integrations.server.runtime import ServerRuntime
from askloop.integrations.wiring import Services
from tests.fakes import FakeChatModel, HashingEmbedder
from tests.kb_fixture import make_kb_store


@dataclass
class RunningServer:
    url: str
    runtime: ServerRuntime
    loop: asyncio.AbstractEventLoop

    def call(self, coro: Any, timeout: float = 30) -> Any:
        """Run a coroutine on the server's loop (e.g. ``runtime.drain``)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def settle(self, timeout: float = 30) -> None:
        """Wait until all work acknowledged so far has finished."""
        self.call(self.runtime.drain(timeout), timeout + 5)


@contextmanager
def running_server(services: Services, *, host: str = "127.0.0.1") -> Iterator[RunningServer]:
    """The server on ``host`` (``url`` names the address it is reached at: for a
    wildcard bind, 127.0.0.1)."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="askloop-test-server", daemon=True)
    thread.start()
    runtime = ServerRuntime(services)

    async def make() -> Any:
        return await start(runtime, host=host, port=0)

    runner = asyncio.run_coroutine_threadsafe(make(), loop).result(60)
    port = runner.addresses[0][1]
    bound = "127.0.0.1" if host in ("0.0.0.0", "") else host
    try:
        yield RunningServer(url=f"http://{bound}:{port}", runtime=runtime, loop=loop)
    finally:
        asyncio.run_coroutine_threadsafe(stop(runtime, runner), loop).result(60)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def fake_services(
    tmp_path: Path,
    settings: Settings | None = None,
    *,
    answer: FakeChatModel | None = None,
    finetuned: FakeChatModel | None = None,
    embedder: Any = None,
    answer_log: Any = None,
) -> Services:
    """Services over the small test KB (tenant "acme") and scripted models.

    The embedded store and the SQLite log are real; the embedder hashes words and the
    models are scripted, so answers are instant and deterministic. ``embedder`` replaces
    the one questions are embedded with (the KB is still built by the hashing one);
    ``answer_log`` the SQLite log.
    """
    settings = (settings or Settings(home=tmp_path / "home")).model_copy(
        update={
            "models": ModelSettings(answer="test:answer", finetuned="test:tuned"),
            # Thresholds that suit the hashing embedder (as in tests.kb_fixture).
            "graph": GraphSettings(router="probe", route_threshold=0.3, grade_threshold=0.5),
        }
    )
    hashing = HashingEmbedder()
    store = make_kb_store(tmp_path / "store", hashing)
    answer = answer or FakeChatModel("Every employee gets 26 days [1].")
    finetuned = finetuned or FakeChatModel("A general answer.", model_id="fake:tuned")
    chat = {"test:answer": answer, "test:tuned": finetuned}
    return Services(
        settings,
        embedder=embedder or hashing,
        store=store,
        answer_log=answer_log,
        chat_models=chat,
    )
