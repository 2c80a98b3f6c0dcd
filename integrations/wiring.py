"""The composition root: turn settings into the objects of one process.

The only place that creates clients. Everything is built on first use and closed once
(``Services`` is a context manager), so a command that only searches never loads a
chat model, and one that only rates never loads the embedder.
"""

from __future__ import annotations

import atexit
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from types import TracebackType
from typing import TYPE_CHECKING, Any

from askloop.agent.chat import ChatModel
from askloop.agent.context import Context, Policy
from askloop.agent.ports import (
    AnswerLog,
    CorpusWordCounts,
    Embedder,
    FinetunedModels,
    RouterModels,
    VectorStore,
)
from askloop.config.settings import Settings, model_cache_dir

if TYPE_CHECKING:
    from askloop.agent.service import Assistant

log = logging.getLogger(__name__)

__all__ = [
    "Services",
    "build_embedder",
    "build_store",
    "forget_process_services",
    "process_services",
    "services_for",
    "using_services",
]


def build_embedder(settings: Settings) -> Embedder:
    from askloop.integrations.models.embedders import make_embedder

    key = settings.providers.openai_api_key
    return make_embedder(
        settings.embedder,
        openai_api_key=key.get_secret_value() if key else None,
        openai_base_url=settings.providers.openai_base_url,
        cache_dir=model_cache_dir(),
    )


def build_store(settings: Settings, embedder: Embedder) -> VectorStore:
    """Weaviate when ``WEAVIATE_URL`` is set (or embedded Weaviate is opted into), else
    the embedded LanceDB store."""
    if settings.weaviate.url or settings.weaviate.embedded:
        from askloop.integrations.stores.weaviate.store import make_weaviate_store

        return make_weaviate_store(settings, embedder)
    from askloop.integrations.stores.lance.store import LanceStore

    return LanceStore(
        settings.store_path,
        embedder_id=embedder.model_id,
        dimensions=embedder.dimensions,
        alpha=settings.search.alpha,
        candidates=settings.search.candidates,
    )


class Services:
    """The long-lived objects of one process, created on first use and closed once."""

    def __init__(
        self,
        settings: Settings,
        *,
        embedder: Embedder | None = None,
        store: VectorStore | None = None,
        answer_log: AnswerLog | None = None,
        chat_models: dict[str, ChatModel] | None = None,
    ) -> None:
        """Objects passed in are used instead of building them from settings (tests,
        benchmarks, hosts that own their clients); the caller keeps closing them."""
        self.settings = settings
        given: dict[str, Any] = {"embedder": embedder, "store": store, "answer_log": answer_log}
        given |= {f"model:{spec}": m for spec, m in (chat_models or {}).items()}
        self._cache: dict[str, Any] = {k: v for k, v in given.items() if v is not None}
        self._closers: list[Any] = []
        # The server builds on several threads at once; each object is built once.
        self._lock = threading.RLock()

    def _get(self, name: str, build: Any) -> Any:
        with self._lock:
            if name not in self._cache:
                self._cache[name] = build()
            return self._cache[name]

    @property
    def embedder(self) -> Embedder:
        return self._get("embedder", lambda: build_embedder(self.settings))

    @property
    def store(self) -> VectorStore:
        def build() -> VectorStore:
            store = build_store(self.settings, self.embedder)
            self._closers.append(store.close)
            return store

        return self._get("store", build)

    @property
    def answer_log(self) -> AnswerLog:
        def build() -> AnswerLog:
            from askloop.integrations.answer_log.sql_log import open_answer_log

            log = open_answer_log(self.settings.database_url, self.settings.home)
            self._closers.append(log.close)
            return log

        return self._get("answer_log", build)

    def chat_model(self, spec: str) -> ChatModel:
        """One instance per model spec: answer and fine-tuned models may be the same."""

        def build() -> ChatModel:
            from askloop.integrations.models.factory import make_chat_model

            model = make_chat_model(spec, self.settings)
            if hasattr(model, "close"):
                self._closers.append(model.close)
            return model

        return self._get(f"model:{spec}", build)

    @property
    def policy(self) -> Policy:
        return self.settings.graph

    @property
    def context(self) -> Context:
        models = self.settings.models
        return self._get(
            "context",
            lambda: Context(
                store=self.store,
                embedder=self.embedder,
                answer_model=self.chat_model(models.answer),
                finetuned_model=self.chat_model(models.finetuned),
                policy=self.policy,
                router_models=self.router_models,
                corpus_words=self.corpus_words,
                finetuned_models=self.finetuned_models,
            ),
        )

    @property
    def finetuned_models(self) -> FinetunedModels:
        """Tenants' promoted fine-tuned models (``askloop promote``), picked up live."""

        def build() -> FinetunedModels:
            from askloop.integrations.tuning.promotion import PromotedModels

            return PromotedModels(self.settings.home, self.chat_model)

        return self._get("finetuned_models", build)

    def calibrate_router(self, tenant: str, *, force: bool = False) -> Any:
        """Fit ``tenant``'s route decision on its corpus and its rated decisions, unless
        the stored one was fitted on this corpus already (``force`` fits anyway): a
        ``Calibration``."""
        from askloop.integrations.tuning.router import calibrate

        return calibrate(
            self.store,
            self.embedder,
            tenant=tenant,
            home=self.settings.home,
            policy=self.policy,
            force=force,
            answer_log=self.answer_log,
        )

    @property
    def router_models(self) -> RouterModels:
        """Tenants' calibrated route decisions, stored in ``ASKLOOP_HOME/router``."""

        def build() -> RouterModels:
            from askloop.integrations.tuning.router import RouterModelFiles

            return RouterModelFiles(self.settings.home)

        return self._get("router_models", build)

    @property
    def corpus_words(self) -> CorpusWordCounts:
        """Tenants' word counts (``askloop ingest`` writes them), for the evidence router."""

        def build() -> CorpusWordCounts:
            from askloop.integrations.tuning.router import CorpusWordFiles

            return CorpusWordFiles(self.settings.home)

        return self._get("corpus_words", build)

    def write_corpus_words(self, tenant: str) -> None:
        """Count ``tenant``'s words after its corpus changed (a failure only logs)."""
        from askloop.integrations.tuning.router import write_corpus_words

        try:
            write_corpus_words(self.store, tenant=tenant, home=self.settings.home)
        except Exception:
            log.warning("could not count tenant %s's words for the router", tenant, exc_info=True)

    @property
    def graph(self) -> Any:
        """The compiled answer graph, with the conversations' memory."""

        def build() -> Any:
            from askloop.agent.graph import build_graph

            saver, _ = self.thread_memory
            return build_graph(saver)

        return self._get("graph", build)

    @property
    def assistant(self) -> Assistant:
        """The one Assistant of this wiring. Making it builds nothing: it takes each part
        from here when first needed (``Assistant.prepare`` builds them all)."""

        def build() -> Assistant:
            from askloop.agent.service import Assistant

            return Assistant(self)

        return self._get("assistant", build)

    @property
    def thread_memory(self) -> tuple[Any, Any]:
        """(LangGraph checkpointer, its connection): the conversations' memory."""

        def build() -> tuple[Any, Any]:
            from askloop.integrations.answer_log.checkpoints import open_checkpointer

            saver, conn = open_checkpointer(self.settings.database_url, self.settings.home)

            def close() -> None:
                # Under the saver's lock: never while a graph run or the hourly clean-up
                # is using the connection (closing SQLite under a running query crashes).
                with saver.lock:
                    conn.close()

            self._closers.append(close)
            return saver, conn

        return self._get("thread_memory", build)

    def ping_thread_memory(self) -> None:
        """Raise unless the conversations' memory answers (opening it if need be)."""
        from askloop.integrations.answer_log.checkpoints import ping_checkpointer

        saver, conn = self.thread_memory
        ping_checkpointer(saver, conn)

    def forget_idle_threads(self, *, older_than: timedelta) -> int:
        """Delete the memory of conversations idle for longer than ``older_than``."""
        from askloop.integrations.answer_log.checkpoints import forget_idle_threads

        saver, conn = self.thread_memory
        return forget_idle_threads(saver, conn, older_than=older_than)

    def close(self) -> None:
        while self._closers:
            self._closers.pop()()
        self._cache.clear()

    def __enter__(self) -> Services:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


# -- one wiring per process --------------------------------------------------------------------
# The CLI, the server, the tools and the LangGraph host graph all answer through the same
# objects: whichever entry point comes first builds them (or installs its own), the rest
# find them here.

_process_lock = threading.Lock()
_process: Services | None = None


def process_services() -> Services:
    """This process's wiring: the one a running command installed with
    :func:`using_services`, else one built from the settings on the first call and closed
    at exit. A bad configuration raises here and leaves nothing behind."""
    global _process
    with _process_lock:
        if _process is None:
            from askloop.config.settings import load_settings

            services = Services(load_settings())
            try:
                services.assistant.prepare()  # now, so a bad configuration fails here
            except BaseException:
                services.close()
                raise
            atexit.register(services.close)
            _process = services
        return _process


@contextmanager
def using_services(services: Services) -> Iterator[Services]:
    """Make ``services`` this process's wiring while the block runs (``askloop serve``
    and every other command), so tools or the host graph used meanwhile share it."""
    global _process
    with _process_lock:
        previous, _process = _process, services
    try:
        yield services
    finally:
        with _process_lock:
            _process = previous


@contextmanager
def services_for(settings: Settings) -> Iterator[Services]:
    """The wiring a command runs on: the process's own when it was built from the same
    settings (a host that loaded the tools or the host graph runs the CLI on their
    objects), else one built for the block, this process's wiring while it runs and
    closed after."""
    with _process_lock:
        current = _process
    if current is not None and current.settings == settings:
        yield current
        return
    with Services(settings) as services, using_services(services):
        yield services


def forget_process_services() -> None:
    """Close and drop the process's wiring (tests; a host reloading its settings)."""
    global _process
    with _process_lock:
        services, _process = _process, None
    if services is not None:
        services.close()
