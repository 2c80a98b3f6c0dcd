"""The composition root: build the store and embedder the settings ask for.

The only place that turns settings into clients. Callers own the returned objects
and close them (``Services`` is a context manager).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import TracebackType

from agent.ports import Embedder, VectorStore
from config.settings import Settings

__all__ = ["Services", "build_embedder", "build_store"]


def build_embedder(settings: Settings) -> Embedder:
    from integrations.embedders import make_embedder

    key = settings.providers.openai_api_key
    return make_embedder(
        settings.embedder,
        openai_api_key=key.get_secret_value() if key else None,
        openai_base_url=settings.providers.openai_base_url,
    )


def build_store(settings: Settings, embedder: Embedder) -> VectorStore:
    from integrations.lance_store import LanceStore

    return LanceStore(
        settings.store_path,
        embedder_id=embedder.model_id,
        dimensions=embedder.dimensions,
        alpha=settings.search.alpha,
        candidates=settings.search.candidates,
    )


@dataclass
class Services:
    """The long-lived objects of one process, created once and closed once."""

    settings: Settings
    _embedder: Embedder | None = field(default=None, init=False)
    _store: VectorStore | None = field(default=None, init=False)

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = build_embedder(self.settings)
        return self._embedder

    @property
    def store(self) -> VectorStore:
        if self._store is None:
            self._store = build_store(self.settings, self.embedder)
        return self._store

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None

    def __enter__(self) -> Services:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
