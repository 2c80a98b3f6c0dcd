"""The embedded knowledge base: LanceDB under ``ASKLOOP_HOME`` with native BM25 + vectors.

One table holds every tenant's chunks; the tenant is a mandatory prefilter on every
read and part of the key on every write, so tenants never see each other's rows.
Hybrid search fuses a BM25 and a cosine search with relative score fusion (each
side's scores min-max normalised over its candidates, then ``alpha`` weighted),
the same fusion Weaviate calls ``relativeScoreFusion``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa

from askloop.agent.errors import IncompatibleStoreError, InvalidInputError, StoreUnavailableError
from askloop.agent.ports import Filters, Vectors, check_search, check_upsert
from askloop.agent.records import Chunk, Hit, SearchMode
from askloop.config.settings import validate_tenant
from askloop.integrations.stores.lance.schema import (
    META_EMBEDDER,
    RESULT_COLUMNS,
    TABLE,
    chunk_from_row,
    fuse_relative,
    quote,
    run_leg,
    single_leg_hits,
    table_schema,
    where_clause,
)
from askloop.integrations.stores.lance.vectors import TenantCopy, VectorCache

__all__ = ["LanceStore"]

log = logging.getLogger(__name__)


def _safe(what: str) -> str:
    """A message safe to show: what failed, never LanceDB's own text (that is logged)."""
    return f"{what}; try again, and if it persists see askloop's log for the details"


class LanceStore:
    """``VectorStore`` over an embedded LanceDB directory."""

    def __init__(
        self,
        path: Path,
        *,
        embedder_id: str,
        dimensions: int,
        alpha: float = 0.6,
        candidates: int = 50,
        vector_index_min_rows: int = 20_000,
        refresh_seconds: float = 5.0,
        vector_cache_rows: int = 20_000,
        row_cache_rows: int = 20_000,
    ) -> None:
        self._path = Path(path)
        # How stale a long-running reader (askloop serve) may be after another process
        # (askloop ingest) writes: each read checks for a newer version at most this often.
        self._refresh = timedelta(seconds=refresh_seconds)
        self._vector_index_min_rows = vector_index_min_rows
        self._embedder_id = embedder_id
        self._dimensions = dimensions
        self._alpha = alpha
        self._candidates = candidates
        self._db: Any = None
        self._table: Any = None
        self._dirty = False
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.RLock()
        # Exact vector search in memory for tenants up to this many chunks (~3 KB each
        # with their rows); bigger ones have an HNSW index, which is faster at their size.
        # Up to row_cache_rows chunks, their result columns are held too; beyond, only the
        # vectors are, and the rows of the hits are read from LanceDB.
        self._vectors = VectorCache(
            max_rows=vector_cache_rows, max_cached_rows=row_cache_rows, columns=RESULT_COLUMNS
        )

    # -- connection -------------------------------------------------------------------

    def _connect(self) -> Any:
        if self._db is None:
            import lancedb

            try:
                self._path.mkdir(parents=True, exist_ok=True)
                self._db = lancedb.connect(self._path, read_consistency_interval=self._refresh)
            except Exception as exc:
                log.exception("cannot open the embedded store at %s", self._path)
                raise StoreUnavailableError(
                    "cannot open the knowledge base; check that ASKLOOP_HOME is a writable folder"
                ) from exc
        return self._db

    def _open(self, *, create: bool) -> Any:
        with self._lock:
            if self._table is not None:
                return self._table
            db = self._connect()
            try:
                if TABLE in db.list_tables().tables:
                    table = db.open_table(TABLE)
                elif create:
                    schema = table_schema(self._dimensions, self._embedder_id)
                    table = db.create_table(TABLE, schema=schema, exist_ok=True)
                else:
                    return None
            except (IncompatibleStoreError, InvalidInputError):
                raise
            except Exception as exc:
                log.exception("cannot open table %s in %s", TABLE, self._path)
                raise StoreUnavailableError(_safe("cannot read the knowledge base")) from exc
            self._check_compatible(table.schema)
            self._table = table
            return table

    def _check_compatible(self, schema: pa.Schema) -> None:
        meta = schema.metadata or {}
        built_with = meta.get(META_EMBEDDER, b"").decode()
        if built_with != self._embedder_id:
            raise IncompatibleStoreError(
                f"the knowledge base at {self._path} was embedded with {built_with or 'unknown'}, "
                f"but the embedder is now {self._embedder_id}; re-ingest into a new ASKLOOP_HOME"
            )
        vector = schema.field("vector").type
        if getattr(vector, "list_size", None) != self._dimensions:
            raise IncompatibleStoreError(
                f"the knowledge base stores {getattr(vector, 'list_size', '?')}-dim vectors, "
                f"the embedder makes {self._dimensions}"
            )

    def ping(self) -> None:
        db = self._connect()
        try:
            db.list_tables()
        except Exception as exc:
            log.warning("the embedded store does not answer: %r", exc)
            raise StoreUnavailableError(_safe("the knowledge base does not answer")) from exc

    def close(self) -> None:
        """Fold new rows into the indexes and compact, if anything was written."""
        with self._lock:
            if self._table is not None and self._dirty:
                self._maintain(self._table)
            self._dirty = False
            self._table = None
            self._db = None
            self._vectors.clear()
            if self._pool is not None:
                self._pool.shutdown(wait=True)
                self._pool = None

    def _maintain(self, table: Any) -> None:
        """Create missing indexes, fold new rows into existing ones, compact files.

        Small tables are searched exactly (brute force is fast and exact there); from
        ``vector_index_min_rows`` on, an HNSW index keeps vector search within a few ms.
        """
        from lancedb.index import FTS, Bitmap, HnswSq

        try:
            indexed = {idx.name for idx in table.list_indices()}
            if "search_text_idx" not in indexed:
                # Stemming is what lifts BM25 on natural-language questions (bench/).
                table.create_index("search_text", config=FTS(), name="search_text_idx")
            rows = table.count_rows()
            if rows >= self._vector_index_min_rows:
                if "tenant_idx" not in indexed:
                    table.create_index("tenant", config=Bitmap(), name="tenant_idx")
                if "vector_idx" not in indexed:
                    table.create_index(
                        "vector",
                        config=HnswSq(distance_type="cosine", num_partitions=1),
                        name="vector_idx",
                    )
            table.optimize()
        except Exception:  # the data is written; a stale index only slows queries
            log.exception("index maintenance of the embedded store failed")

    # -- writes -------------------------------------------------------------------------

    def upsert(self, *, tenant: str, chunks: Sequence[Chunk], vectors: Vectors) -> int:
        validate_tenant(tenant)
        if not chunks:
            return 0
        vectors = check_upsert(chunks, vectors, dimensions=self._dimensions)
        table = self._open(create=True)
        now = datetime.now(UTC)
        data = pa.table(
            {
                "tenant": [tenant] * len(chunks),
                "chunk_id": [c.chunk_id for c in chunks],
                "document_id": [c.document_id for c in chunks],
                "document_hash": [c.document_hash for c in chunks],
                "text": [c.text for c in chunks],
                "search_text": [c.search_text for c in chunks],
                "title": [c.title for c in chunks],
                "source": [c.source for c in chunks],
                "url": [c.url for c in chunks],
                "heading_path": [list(c.heading_path) for c in chunks],
                "position": [c.position for c in chunks],
                "updated_at": [c.updated_at or now for c in chunks],
                "doc_type": [c.doc_type for c in chunks],
                "acl": [c.acl for c in chunks],
                "vector": pa.FixedSizeListArray.from_arrays(
                    pa.array(vectors.reshape(-1), type=pa.float32()), self._dimensions
                ),
            },
            schema=table.schema,
        )
        with self._lock:
            try:
                (
                    table.merge_insert(["tenant", "chunk_id"])
                    .when_matched_update_all()
                    .when_not_matched_insert_all()
                    .execute(data)
                )
            except Exception as exc:
                log.exception("upsert of %d chunks failed", len(chunks))
                raise StoreUnavailableError(_safe("cannot write to the knowledge base")) from exc
            self._dirty = True
        return len(chunks)

    def delete_document(
        self, *, tenant: str, document_id: str, keep_hash: str | None = None
    ) -> int:
        table = self._open(create=False)
        if table is None:
            return 0
        where = where_clause(tenant, {"document_id": document_id})
        if keep_hash is not None:
            where += f" AND document_hash != {quote(keep_hash)}"
        with self._lock:
            try:
                doomed = table.count_rows(where)
                if doomed:
                    table.delete(where)
                    self._dirty = True
            except Exception as exc:
                log.exception("deleting chunks of %s failed", document_id)
                raise StoreUnavailableError(_safe("cannot delete from the knowledge base")) from exc
        return int(doomed)

    # -- reads --------------------------------------------------------------------------

    def documents(self, *, tenant: str) -> dict[str, tuple[str, frozenset[str]]]:
        table = self._open(create=False)
        if table is None:
            return {}
        rows = self._scan(
            table, where_clause(tenant, None), ["document_id", "source", "document_hash"]
        )
        grouped: dict[str, tuple[str, set[str]]] = {}
        for doc_id, source, doc_hash in zip(
            rows["document_id"], rows["source"], rows["document_hash"], strict=True
        ):
            grouped.setdefault(doc_id, (source, set()))[1].add(doc_hash)
        return {k: (src, frozenset(h)) for k, (src, h) in grouped.items()}

    def sections(self, *, tenant: str) -> list[tuple[str, tuple[str, ...], str]]:
        """(title, heading path, text) of every chunk of ``tenant``: the corpus the
        router calibrates on (integrations/tuning/router.py)."""
        table = self._open(create=False)
        if table is None:
            return []
        rows = self._scan(table, where_clause(tenant, None), ["title", "heading_path", "text"])
        return [
            (title, tuple(headings or ()), text)
            for title, headings, text in zip(
                rows["title"], rows["heading_path"], rows["text"], strict=True
            )
        ]

    def count(self, *, tenant: str) -> int:
        table = self._open(create=False)
        if table is None:
            return 0
        try:
            return int(table.count_rows(where_clause(tenant, None)))
        except Exception as exc:
            log.exception("reading the embedded store failed")
            raise StoreUnavailableError(_safe("cannot read the knowledge base")) from exc

    def _scan(self, table: Any, where: str, columns: list[str]) -> dict[str, list[Any]]:
        try:
            result = table.search().where(where).select(columns).limit(None).to_arrow()
        except Exception as exc:
            log.exception("reading the embedded store failed")
            raise StoreUnavailableError(_safe("cannot read the knowledge base")) from exc
        return {name: result.column(name).to_pylist() for name in columns}

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
        vector = check_search(
            query=query, vector=vector, k=k, mode=mode, dimensions=self._dimensions
        )
        where = where_clause(tenant, filters)
        table = self._open(create=False)
        if table is None:
            return []
        try:
            if mode == "keyword":
                builder = table.search(query, query_type="fts", fts_columns="search_text")
                return single_leg_hits(builder, where, k, "_score", lambda s: s, "keyword")
            assert vector is not None
            # Unfiltered searches (the graph's) use the in-memory copy of the vectors.
            cached = filters is None
            if mode == "vector":
                near = self._vectors.top(table, tenant, where, vector, k) if cached else None
                if near is not None:
                    return self._hits(table, {}, near[0], dict(near[0]), "vector", k, near[1])
                builder = table.search(
                    vector, vector_column_name="vector", query_type="vector"
                ).distance_type("cosine")
                return single_leg_hits(builder, where, k, "_distance", lambda d: 1.0 - d, "vector")
            n = max(k, self._candidates)
            # The two legs are independent; LanceDB releases the GIL, so run them at once.
            pool = self._executor()
            kw_future = pool.submit(self._keyword, table, query, where, n)
            near = self._vectors.top(table, tenant, where, vector, n) if cached else None
            held: TenantCopy | None = None
            if near is not None:
                vec, held = near
            else:
                vec = self._vector(table, vector, where, n)
            kw = kw_future.result()
            fused = fuse_relative(
                {key: s for key, (s, _) in kw.items()},
                {key: s for key, (s, _) in vec.items()},
                alpha=self._alpha,
            )
            scores = {key: (score, (kw.get(key) or vec[key])[1]) for key, score in fused.items()}
            return self._hits(table, kw, vec, scores, "hybrid", k, held)
        except (InvalidInputError, IncompatibleStoreError):
            raise
        except Exception as exc:
            log.exception("search failed (tenant=%s mode=%s)", tenant, mode)
            raise StoreUnavailableError(_safe("the knowledge base search failed")) from exc

    def _executor(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="askloop-kb")
            return self._pool

    # Each leg returns {chunk_id: (score, row id)}; rows are fetched only for the winners.

    def _keyword(self, table: Any, query: str, where: str, n: int) -> dict[str, tuple[float, int]]:
        query_builder = table.search(query, query_type="fts", fts_columns="search_text")
        return run_leg(query_builder, where, n, "_score", lambda score: score)

    def _vector(
        self, table: Any, vector: Vectors, where: str, n: int
    ) -> dict[str, tuple[float, int]]:
        query_builder = table.search(
            vector, vector_column_name="vector", query_type="vector"
        ).distance_type("cosine")
        return run_leg(query_builder, where, n, "_distance", lambda distance: 1.0 - distance)

    def _hits(
        self,
        table: Any,
        keyword: dict[str, tuple[float, int]],
        vector: dict[str, tuple[float, int]],
        scores: dict[str, tuple[float, int]],
        mode: SearchMode,
        k: int,
        held: TenantCopy | None = None,
    ) -> list[Hit]:
        """The ``k`` best as hits; rows from the in-memory copy ``held`` when it has
        them all, else read from LanceDB by row id."""
        best = sorted(scores.items(), key=lambda item: (-item[1][0], item[0]))[:k]
        if not best:
            return []
        by_id = None
        if held is not None:
            by_id = held.rows_for([key for key, _ in best])
        if by_id is None:
            rows = table.take_row_ids([row_id for _, (_, row_id) in best])
            by_id = {r["chunk_id"]: r for r in rows.select(RESULT_COLUMNS).to_list()}
        return [
            Hit(
                chunk=chunk_from_row(by_id[key]),
                score=score,
                mode=mode,
                keyword_score=keyword[key][0] if key in keyword else None,
                vector_score=vector[key][0] if key in vector else None,
            )
            for key, (score, _) in best
            if key in by_id
        ]
