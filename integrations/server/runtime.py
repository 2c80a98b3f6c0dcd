"""What the platform adapters share inside ``askloop serve``.

The graph, the embedder and the local model are synchronous and CPU-bound, so answers
run on a bounded thread pool; the event loop only acknowledges platform requests and
moves bytes. Adapters get one :class:`ServerRuntime`: the Assistant wrapped for async
use, the settings, the metrics and a place to run work after the acknowledgement.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any, TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from askloop.agent.answers import AnswerRecord, LoggedAnswer, MessageRole, Progress, Turn
from askloop.agent.deliveries import FinishedState, PendingDelivery
from askloop.agent.errors import UnknownAnswerError
from askloop.agent.service import feedback_event
from askloop.config.settings import Settings
from askloop.integrations.server.leases import Leases
from askloop.integrations.server.ratings import RatingWriter
from askloop.integrations.server.tenancy import Platform, tenant_of
from askloop.integrations.wiring import Services

__all__ = ["AsyncAssistant", "Metrics", "ProgressListener", "ServerRuntime"]

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Called on the event loop, in order, for each progress event of one answer.
ProgressListener = Callable[[Progress], Awaitable[None]]


class Metrics:
    """Prometheus metrics of one server (its own registry, so tests can run several)."""

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.requests = Counter(
            "askloop_platform_requests_total",
            "Platform requests received, by outcome",
            ["platform", "outcome"],
            registry=r,
        )
        self.answers = Counter(
            "askloop_answers_total", "Answers delivered", ["platform", "route"], registry=r
        )
        self.answer_failures = Counter(
            "askloop_answer_failures_total",
            "Turns that ended in an apology or no reply",
            ["platform", "reason"],
            registry=r,
        )
        self.feedback = Counter(
            "askloop_feedback_total",
            "Feedback events recorded",
            ["platform", "source", "rating"],
            registry=r,
        )
        self.duplicates = Counter(
            "askloop_duplicate_deliveries_total",
            "Redelivered events skipped",
            ["platform"],
            registry=r,
        )
        self.answer_seconds = Histogram(
            "askloop_answer_seconds",
            "Time to generate an answer",
            ["platform"],
            registry=r,
            buckets=(0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120),
        )
        self.in_flight = Gauge(
            "askloop_answers_in_flight", "Answers being generated or queued", registry=r
        )
        self.answering = Gauge(
            "askloop_requests_in_flight",
            "Platform requests received and not yet responded to",
            ["platform"],
            registry=r,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)


class AsyncAssistant:
    """The Assistant for async callers: every call runs the Assistant's own on a thread
    pool (answers on one, quick log reads and writes on another)."""

    def __init__(self, services: Services, *, workers: int, metrics: Metrics) -> None:
        self._services = services
        self._assistant = services.assistant
        self._metrics = metrics
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="askloop-answer")
        # Ratings, claims and links are quick DB writes: never queue them behind answers.
        self._io = ThreadPoolExecutor(max_workers=4, thread_name_prefix="askloop-io")
        self._ratings = RatingWriter(
            lambda items: self._run(self._io, self._assistant.record_feedback, items)
        )
        self._async_store: Any = None  # a store whose async client this loop opened
        #: Answers running on the pool's threads (abandoned ones included).
        self._generating = 0
        self._generating_lock = threading.Lock()
        #: Set (on its loop) when the last of them ends, once shutdown waits for that.
        self._idle: tuple[asyncio.AbstractEventLoop, asyncio.Event] | None = None

    async def _run(self, pool: ThreadPoolExecutor, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(pool, fn, *args)

    async def warm_up(self) -> None:
        """Build the graph, open the store and the log, load the models (before serving)."""

        def build() -> None:
            from askloop.integrations.tuning.router import everyday_words

            self._assistant.prepare()
            self._assistant.ping()
            # The grader's English word list (read with a tenant's word counts, the same
            # for every tenant): here, not on the first question's hot path.
            everyday_words()

        await self._run(self._pool, build)

    async def answer(
        self, turn: Turn, *, on_progress: ProgressListener | None = None
    ) -> AnswerRecord:
        """Answer a turn off the event loop; progress reaches ``on_progress`` in order.

        Raises what ``Assistant.answer`` raises (``InvalidInputError`` for an empty
        question, ``AnswerFailedError`` when the graph fails).
        """
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Progress | None] = asyncio.Queue()

        def report(event: Progress) -> None:
            # An answer abandoned at shutdown may still be running when the loop closes.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(queue.put_nowait, event)

        async def relay() -> None:
            while (event := await queue.get()) is not None:
                try:
                    await on_progress(event)  # type: ignore[misc]
                except Exception:
                    log.warning("a progress listener failed", exc_info=True)

        def work() -> AnswerRecord:
            listener = report if on_progress else None
            with self._generating_lock:
                self._generating += 1
            try:
                return self._assistant.answer(turn, on_progress=listener)
            finally:
                with self._generating_lock:
                    self._generating -= 1
                    idle = self._idle if self._generating == 0 else None
                if idle is not None:
                    with contextlib.suppress(RuntimeError):  # the loop is gone
                        idle[0].call_soon_threadsafe(idle[1].set)

        relay_task = asyncio.create_task(relay()) if on_progress else None
        started = time.perf_counter()
        self._metrics.in_flight.inc()
        try:
            return await self._run(self._pool, work)
        finally:
            self._metrics.in_flight.dec()
            self._metrics.answer_seconds.labels(turn.platform).observe(
                time.perf_counter() - started
            )
            if relay_task is not None:
                queue.put_nowait(None)
                await relay_task

    async def rate(self, *, tenant: str | None = None, **feedback: Any) -> None:
        """Record feedback durably: committed when this returns, in one transaction with
        the ratings that arrived meanwhile. Raises like ``agent.service.rate_answer``."""
        event = feedback_event(**feedback)
        if not await self._ratings.write(event, tenant):
            raise UnknownAnswerError(f"no answer {event.answer_id!r} to rate")
        self._metrics.feedback.labels(
            feedback.get("platform", "?"),
            feedback.get("source", "?"),
            feedback.get("rating") or "cleared",
        ).inc()

    async def read_log(self, fn: Callable[..., T], *args: Any) -> T:
        """A quick call on the log, off the event loop (the console's reads and reviews,
        which commit before this returns)."""
        return await self._run(self._io, fn, *args)

    async def get_answer(self, answer_id: str, *, tenant: str | None = None) -> LoggedAnswer | None:
        return await self._run(
            self._io, lambda: self._assistant.get_answer(answer_id, tenant=tenant)
        )

    async def claim_delivery(
        self,
        key: str,
        *,
        lease: timedelta | None = None,
        owner: str = "",
        platform: str = "",
        job: Mapping[str, Any] | None = None,
    ) -> bool:
        return await self._run(
            self._io,
            lambda: self._assistant.claim_delivery(
                key, lease=lease, owner=owner, platform=platform, job=job
            ),
        )

    async def renew_delivery(self, key: str, *, owner: str, lease: timedelta) -> bool:
        return await self._run(
            self._io, lambda: self._assistant.renew_delivery(key, owner=owner, lease=lease)
        )

    async def finish_delivery(self, key: str, *, owner: str, state: FinishedState) -> bool:
        return await self._run(
            self._io, lambda: self._assistant.finish_delivery(key, owner=owner, state=state)
        )

    async def take_over_deliveries(
        self, *, owner: str, lease: timedelta, platforms: Sequence[str]
    ) -> list[PendingDelivery]:
        return await self._run(
            self._io,
            lambda: self._assistant.take_over_deliveries(
                owner=owner, lease=lease, platforms=platforms
            ),
        )

    async def prune_deliveries(self, *, older_than: timedelta) -> int:
        return await self._run(
            self._io, lambda: self._assistant.prune_deliveries(older_than=older_than)
        )

    async def forget_idle_threads(self, *, older_than: timedelta) -> int:
        return await self._run(
            self._io, lambda: self._services.forget_idle_threads(older_than=older_than)
        )

    async def link_message(
        self, *, answer_id: str, platform: str, message_ref: str, role: MessageRole
    ) -> None:
        await self._run(
            self._io,
            lambda: self._assistant.link_message(
                answer_id=answer_id, platform=platform, message_ref=message_ref, role=role
            ),
        )

    async def answer_for_message(self, *, platform: str, message_ref: str) -> str | None:
        return await self._run(
            self._io,
            lambda: self._assistant.answer_for_message(platform=platform, message_ref=message_ref),
        )

    async def mark_undelivered(self, answer_id: str) -> bool:
        """Log the answer as undelivered; never raises (a failure is logged: the
        platform's delivery has failed already and nothing more can be done)."""
        try:
            return await self._run(self._io, self._assistant.mark_undelivered, answer_id)
        except Exception as exc:
            log.error("cannot log answer %s as undelivered: %s", answer_id, exc)
            return False

    async def withdraw_message(self, *, platform: str, message_ref: str) -> str | None:
        return await self._run(
            self._io,
            lambda: self._assistant.withdraw_message(platform=platform, message_ref=message_ref),
        )

    async def healthy(self) -> dict[str, str]:
        """``{"store", "log", "memory"}`` each ``"ok"`` or ``"failed"`` (never raises):
        the knowledge base, the answer log and the conversations' memory (a threaded
        question needs all three).

        Only the verdict: a failure's text may name hosts and databases, so it goes to
        the log, never to the HTTP client.
        """

        def check(ping: Callable[[], None], name: str = "log") -> str:
            try:
                ping()
                return "ok"
            except Exception as exc:
                return _failed(name, exc)

        # Built off the loop: building may wait on warm-up holding the services lock.
        store_obj = await self._run(self._io, lambda: self._services.store)
        aping = getattr(store_obj, "aping", None)
        if aping is not None:  # an async client: no thread needed
            try:
                await asyncio.wait_for(aping(), timeout=10)
                store = "ok"
            except Exception as exc:
                store = _failed("store", exc)
            self._async_store = store_obj
        else:
            store = await self._run(self._io, check, store_obj.ping, "store")
        # Side by side: while a database is down each check waits for it in vain.
        answer_log, memory = await asyncio.gather(
            self._run(self._io, check, lambda: self._services.answer_log.ping()),
            self._run(self._io, check, self._services.ping_thread_memory, "memory"),
        )
        return {"store": store, "log": answer_log, "memory": memory}

    async def aclose(self, *, wait_seconds: float = 0.0) -> None:
        """Stop taking work; wait up to ``wait_seconds`` for answers still generating.

        An answer whose question was given up on (shutdown apologised for it) still
        runs on its thread until its model call returns. It must end before the
        interpreter does: at exit every executor refuses new work, and the graph run
        would fail with a traceback half-way.
        """
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._io.shutdown(wait=False, cancel_futures=True)
        if self._async_store is not None:
            await self._async_store.aclose()
        idle = asyncio.Event()
        with self._generating_lock:
            if not self._generating:
                return
            self._idle = (asyncio.get_running_loop(), idle)
        try:
            await asyncio.wait_for(idle.wait(), wait_seconds)
        except TimeoutError:
            log.warning("shutdown: %d abandoned answers are still generating", self._generating)


def _failed(check: str, exc: BaseException) -> str:
    cause = exc.__cause__ or exc
    log.warning("health check %s failed: %s (%r)", check, exc, cause)
    return "failed"


class ServerRuntime:
    """Everything an adapter needs; built once by ``askloop serve`` (or a test)."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.settings: Settings = services.settings
        self.metrics = Metrics()
        self.assistant = AsyncAssistant(
            services, workers=self.settings.server.workers, metrics=self.metrics
        )
        self._tasks: set[asyncio.Task[Any]] = set()
        #: Leases on the questions being answered (``server.leases``).
        self.leases = Leases(
            self.assistant, seconds=self.settings.server.delivery_lease_seconds, spawn=self.spawn
        )
        #: Closed by the server on shutdown (e.g. adapters' HTTP sessions).
        self.on_close: list[Callable[[], Awaitable[None]]] = []
        #: The server's periodic upkeep (not background work: shutdown cancels it).
        self.housekeeping: asyncio.Task[None] | None = None
        #: Taking over questions whose server died (``Leases.keep_sweeping``); cancelled
        #: on shutdown like the housekeeping.
        self.sweeping: asyncio.Task[None] | None = None

    def tenant_for(self, platform: Platform, platform_tenant: str | None) -> str | None:
        """The askloop tenant of a verified platform tenant id; None: refuse it
        (``server.tenancy``)."""
        return tenant_of(self.settings, platform, platform_tenant)

    def spawn(self, work: Coroutine[Any, Any, Any], *, name: str) -> asyncio.Task[Any]:
        """Run ``work`` after the platform was acknowledged; failures are logged, and
        shutdown waits for it (up to the grace period)."""
        task = asyncio.create_task(work, name=name)
        self._tasks.add(task)

        def done(t: asyncio.Task[Any]) -> None:
            self._tasks.discard(t)
            if not t.cancelled() and t.exception() is not None:
                log.error("background work %s failed", name, exc_info=t.exception())

        task.add_done_callback(done)
        return task

    async def drain(self, grace_seconds: float) -> int:
        """Wait for background work, including work that it spawns meanwhile; cancel
        what is left after ``grace_seconds``. Returns how many tasks were cancelled."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace_seconds
        while self._tasks:
            left = deadline - loop.time()
            if left <= 0:
                break
            await asyncio.wait(set(self._tasks), timeout=left)
            await asyncio.sleep(0)  # let done-callbacks forget finished tasks
        pending = [t for t in self._tasks if not t.done()]
        for task in pending:
            task.cancel()
        if pending:
            # Let them unwind now, while the pools and clients they use are still open.
            await asyncio.wait(pending, timeout=5.0)
        return len(pending)

    async def aclose(self) -> None:
        await self.leases.aclose()
        for close in reversed(self.on_close):
            try:
                await close()
            except Exception:
                log.warning("closing an adapter failed", exc_info=True)
        # Abandoned answers get as long again as the grace to let go of their threads.
        await self.assistant.aclose(wait_seconds=self.settings.server.shutdown_grace_seconds)
