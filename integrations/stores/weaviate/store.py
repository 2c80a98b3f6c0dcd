"""The production knowledge base: Weaviate, one multi-tenant collection, askloop's vectors.

Same contract as the embedded store (``tests/contract``): every askloop tenant is a
Weaviate tenant (created on its first upsert; an unknown one reads as empty), chunks
are objects with deterministic UUIDs so re-ingest overwrites, and hybrid search is
Weaviate's own ``relativeScoreFusion`` with askloop's ``alpha`` (vector weight) and
query vector. The client connects on first use and is closed by :meth:`close`.

Failures become ``StoreUnavailableError`` ("can't search right now: ...") or
``IncompatibleStoreError``; reads and the idempotent batch write are retried a few
times with backoff when Weaviate was unreachable, never when it was slow or refused.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import partial
from typing import Any

from askloop.agent.errors import InvalidInputError, StoreUnavailableError
from askloop.agent.ports import Embedder, Filters, Vectors, check_search, check_upsert
from askloop.agent.records import Chunk, Hit, SearchMode
from askloop.config.settings import Settings, SettingsError
from askloop.integrations.stores.weaviate.collection import TenantCollection
from askloop.integrations.stores.weaviate.connect import EmbeddedEndpoint, Endpoint, Timeouts
from askloop.integrations.stores.weaviate.faults import (
    TRANSLATED,
    BatchWriteError,
    translate,
)
from askloop.integrations.stores.weaviate.schema import (
    DEFAULT_COLLECTION,
    NO_MATCH,
    VECTOR_NAME,
    build_filter,
    chunk_uuid,
    estimated_bytes,
    properties_of,
    weaviate_tenant,
)
from askloop.integrations.stores.weaviate.search import run_query, to_hit

__all__ = ["BatchWriteError", "Endpoint", "Timeouts", "WeaviateStore", "make_weaviate_store"]

log = logging.getLogger(__name__)

_SEARCH, _READ, _WRITE = "search", "read the knowledge base", "write to the knowledge base"


class WeaviateStore:
    """``VectorStore`` over one multi-tenant Weaviate collection."""

    def __init__(
        self,
        endpoint: Endpoint | EmbeddedEndpoint,
        *,
        api_key: str | None,
        embedder_id: str,
        dimensions: int,
        collection: str = DEFAULT_COLLECTION,
        alpha: float = 0.6,
        timeouts: Timeouts | None = None,
        attempts: int = 3,
        backoff: float = 0.25,
        batch_size: int = 200,
        max_batch_bytes: int = 8 << 20,
    ) -> None:
        self._collection = TenantCollection(
            endpoint,
            name=collection,
            api_key=api_key,
            embedder_id=embedder_id,
            dimensions=dimensions,
            timeouts=timeouts,
            attempts=attempts,
            backoff=backoff,
        )
        self._dimensions = dimensions
        self._alpha = alpha
        self._batch_size = batch_size
        self._max_batch_bytes = max_batch_bytes

    @property
    def collection_name(self) -> str:
        return self._collection.name

    # -- connection -------------------------------------------------------------------

    def ping(self) -> None:
        """Readiness: REST answers with our credentials, the node is ready, gRPC answers."""
        call = self._collection.call
        client = self._collection.client(_SEARCH)
        call(_SEARCH, client.get_meta)
        if not call(_SEARCH, client.is_ready):
            raise StoreUnavailableError(f"can't {_SEARCH} right now: Weaviate is not ready yet")
        # The client's own gRPC health probe (its public is_live() prints failures to
        # stdout instead of raising them).
        call(_SEARCH, lambda: client._connection._ping_grpc("sync"))

    async def aping(self) -> None:
        """:meth:`ping` on the caller's event loop with the async client (the server's
        health checks), so a slow Weaviate never ties up a worker thread."""
        if not isinstance(self._collection.endpoint, Endpoint):
            await asyncio.to_thread(self.ping)  # embedded: the sync client owns it
            return
        try:
            client = self._collection.async_client()
            if not client.is_connected():
                await client.connect()
            await client.get_meta()
            ready = await client.is_ready()
        except TRANSLATED as exc:
            raise translate(exc, _SEARCH) from exc
        if not ready:
            raise StoreUnavailableError(f"can't {_SEARCH} right now: Weaviate is not ready yet")

    async def aclose(self) -> None:
        """Close the async client (on the loop that used it)."""
        await self._collection.aclose()

    def drop_collection(self) -> None:
        """Delete the whole collection with every tenant's chunks (tests and benchmarks)."""
        self._collection.drop(_WRITE)

    def close(self) -> None:
        self._collection.close()

    # -- writes -----------------------------------------------------------------------

    def upsert(self, *, tenant: str, chunks: Sequence[Chunk], vectors: Vectors) -> int:
        from weaviate.classes.data import DataObject

        weaviate_tenant(tenant)
        if not chunks:
            return 0
        vectors = check_upsert(chunks, vectors, dimensions=self._dimensions)
        now = datetime.now(UTC)
        objects, sizes = [], []
        for chunk, vector in zip(chunks, vectors, strict=True):
            props = properties_of(chunk, now)
            size = estimated_bytes(props, self._dimensions)
            if size > self._max_batch_bytes:
                raise InvalidInputError(
                    f"chunk {chunk.chunk_id} of {chunk.source} is {size / 1048576:.1f} MB; "
                    f"the limit is {self._max_batch_bytes / 1048576:.1f} MB (split the document)"
                )
            objects.append(
                DataObject(
                    properties=props,
                    uuid=chunk_uuid(chunk.chunk_id),
                    vector={VECTOR_NAME: vector.tolist()},
                )
            )
            sizes.append(size)
        handle = self._collection.tenant(tenant, _WRITE, create=True)
        errors: dict[int, str] = {}
        for start, stop in self._slices(sizes):
            batch = objects[start:stop]
            failed = self._collection.call(_WRITE, partial(self._insert, handle, batch), retry=True)
            errors.update({start + i: message for i, message in failed.items()})
        if errors:
            self._roll_back(handle, chunks, errors)
        return len(chunks)

    def _slices(self, sizes: list[int]) -> list[tuple[int, int]]:
        """Consecutive [start, stop) ranges of at most ``batch_size`` objects and bytes."""
        out, start, used = [], 0, 0
        for i, size in enumerate(sizes):
            if i > start and (i - start >= self._batch_size or used + size > self._max_batch_bytes):
                out.append((start, i))
                start, used = i, 0
            used += size
        out.append((start, len(sizes)))
        return out

    @staticmethod
    def _insert(handle: Any, batch: list[Any]) -> dict[int, str]:
        from weaviate.exceptions import WeaviateInsertManyAllFailedError

        try:
            result = handle.data.insert_many(batch)
        except WeaviateInsertManyAllFailedError as exc:
            return dict.fromkeys(range(len(batch)), exc.message)
        return {index: err.message for index, err in result.errors.items()}

    def _roll_back(self, handle: Any, chunks: Sequence[Chunk], errors: dict[int, str]) -> None:
        """Remove what was written of the documents that were not written whole, then raise.

        A document is then either all new chunks or none (the next ingest retries it).
        """
        from weaviate.classes.query import Filter

        broken = {chunks[i].document_id for i in errors}
        written = [
            chunk_uuid(c.chunk_id)
            for i, c in enumerate(chunks)
            if i not in errors and c.document_id in broken
        ]
        if written:
            try:
                self._collection.call(
                    _WRITE,
                    lambda: handle.data.delete_many(where=Filter.by_id().contains_any(written)),
                )
            except Exception:
                log.exception("could not roll back %d chunks after a failed batch", len(written))
        first = next(iter(errors.values()))
        log.error("Weaviate refused %d of %d chunks: %s", len(errors), len(chunks), first)
        raise BatchWriteError(
            f"can't {_WRITE} right now: Weaviate refused {len(errors)} of {len(chunks)} chunks "
            f"({len(broken)} documents not written; the reasons are in askloop's log)",
            failed=len(errors),
            total=len(chunks),
            errors={chunks[i].chunk_id: message for i, message in errors.items()},
        )

    def delete_document(
        self, *, tenant: str, document_id: str, keep_hash: str | None = None
    ) -> int:
        from weaviate.classes.query import Filter

        handle = self._collection.tenant(tenant, _WRITE, create=False)
        if handle is None:
            return 0
        where = Filter.by_property("document_id").equal(document_id)
        if keep_hash is not None:
            where = where & Filter.by_property("document_hash").not_equal(keep_hash)
        result = self._collection.call(_WRITE, lambda: handle.data.delete_many(where=where))
        if result.failed:
            raise StoreUnavailableError(
                f"can't {_WRITE} right now: Weaviate did not delete {result.failed} of "
                f"{result.matches} chunks"
            )
        return int(result.successful)

    # -- reads ------------------------------------------------------------------------

    def documents(self, *, tenant: str) -> dict[str, tuple[str, frozenset[str]]]:
        handle = self._collection.tenant(tenant, _READ, create=False)
        if handle is None:
            return {}

        def scan() -> dict[str, tuple[str, set[str]]]:
            grouped: dict[str, tuple[str, set[str]]] = {}
            for obj in handle.iterator(
                return_properties=["document_id", "source", "document_hash"], cache_size=1000
            ):
                props = obj.properties
                entry = grouped.setdefault(str(props["document_id"]), (str(props["source"]), set()))
                entry[1].add(str(props["document_hash"]))
            return grouped

        grouped = self._collection.call(_READ, scan, retry=True)
        return {k: (src, frozenset(h)) for k, (src, h) in grouped.items()}

    def count(self, *, tenant: str) -> int:
        handle = self._collection.tenant(tenant, _READ, create=False)
        if handle is None:
            return 0
        result = self._collection.call(
            _READ, lambda: handle.aggregate.over_all(total_count=True), retry=True
        )
        return int(result.total_count or 0)

    def search(
        self,
        *,
        tenant: str,
        query: str,
        vector: Vectors | None,
        k: int,
        mode: SearchMode,
        filters: Filters | None = None,
    ) -> list[Hit]:
        qvec = check_search(query=query, vector=vector, k=k, mode=mode, dimensions=self._dimensions)
        weaviate_tenant(tenant)
        where = build_filter(filters)
        handle = self._collection.tenant(tenant, _SEARCH, create=False)
        if handle is None or where is NO_MATCH:
            return []
        try:
            result = self._collection.call(
                _SEARCH,
                lambda: run_query(handle, mode, query, qvec, k=k, where=where, alpha=self._alpha),
                retry=True,
            )
        except Exception:
            self._collection.forget_tenant(tenant)  # re-check it next time
            raise
        hits = [to_hit(obj, mode, qvec) for obj in result.objects]
        hits.sort(key=lambda h: (-h.score, h.chunk.chunk_id))
        return hits[:k]


def make_weaviate_store(
    settings: Settings,
    embedder: Embedder,
    *,
    collection: str = DEFAULT_COLLECTION,
    timeouts: Timeouts | None = None,
) -> WeaviateStore:
    """The knowledge base when ``WEAVIATE_URL`` is set (or ``weaviate.embedded``).
    Connects on first use, not here."""
    key = settings.weaviate.api_key
    endpoint: Endpoint | EmbeddedEndpoint
    if settings.weaviate.embedded:
        endpoint = EmbeddedEndpoint.from_settings(settings.weaviate, settings.home)
    else:
        endpoint = Endpoint.from_settings(settings.weaviate)
        if endpoint.cloud and key is None:
            raise SettingsError("Weaviate Cloud needs WEAVIATE_API_KEY")
    return WeaviateStore(
        endpoint,
        api_key=key.get_secret_value() if key else None,
        embedder_id=embedder.model_id,
        dimensions=embedder.dimensions,
        collection=collection,
        alpha=settings.search.alpha,
        timeouts=timeouts,
    )
