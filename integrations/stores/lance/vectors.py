"""An in-memory copy of each tenant's vectors (and, for small tenants, rows).

Every LanceDB query costs a few milliseconds however small the table, which is most of
the routing budget, and reading a few rows back costs as much again (more in the tail:
each row may sit in its own page). For knowledge bases up to ``max_rows`` chunks per
tenant the vector leg is a matrix product over a copy of the vectors; up to
``max_cached_rows`` the result rows are kept too (as one Arrow table, ~1-2 KB a chunk),
so a search needs no LanceDB read at all. The copy is keyed by the table version, so
any write (by this process or, after the read-consistency interval, another one) makes
the next search reload it. Bigger tenants use LanceDB's own (indexed) vector search.
"""

from __future__ import annotations

import functools
import logging
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from askloop.agent.ports import Vectors

__all__ = ["TenantCopy", "VectorCache"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TenantCopy:
    version: int
    #: None when the tenant has more rows than the cache holds.
    matrix: np.ndarray | None
    chunk_ids: list[str]
    row_ids: list[int]
    #: The result columns of every row, in ``chunk_ids`` order, when the tenant is small.
    rows: Any = None
    index: dict[str, int] | None = None

    def rows_for(self, chunk_ids: list[str]) -> dict[str, dict[str, Any]] | None:
        """The result columns of these chunks from memory; None unless all are held."""
        if self.rows is None or self.index is None:
            return None
        positions = [self.index[c] for c in chunk_ids if c in self.index]
        if len(positions) != len(chunk_ids):
            return None
        return {r["chunk_id"]: r for r in self.rows.take(positions).to_pylist()}


@functools.cache
def _limit_blas_threads() -> None:
    """One BLAS thread for the process, once (numpy's default is one per core). A search's
    product (at most ``max_rows`` x 384) takes about a millisecond on one thread; more
    threads spin-wait against the embedder's and the local model's own threads, which on
    two shared cores put 12-16 ms stalls into one route decision in fifty
    (bench/decisions.py on python3-doc: route p99 13-22 ms, 8.5-11.7 ms with one thread)."""
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=1, user_api="blas")
    except Exception:  # a slower search, never a failed one
        log.warning("could not limit numpy's BLAS threads", exc_info=True)


class VectorCache:
    def __init__(self, *, max_rows: int, max_cached_rows: int = 20_000, columns: list[str]) -> None:
        if max_rows > 0:
            _limit_blas_threads()
        self._max_rows = max_rows
        self._max_cached_rows = max_cached_rows
        self._columns = columns
        self._copies: dict[str, TenantCopy] = {}
        self._lock = threading.Lock()

    def clear(self) -> None:
        with self._lock:
            self._copies.clear()

    def top(
        self, table: Any, tenant: str, where: str, vector: Vectors, n: int
    ) -> tuple[dict[str, tuple[float, int]], TenantCopy] | None:
        """{chunk_id: (cosine, row id)} of the ``n`` nearest chunks and the copy they
        come from (its ``rows_for`` serves their rows), or None when the tenant is too
        big to hold (the caller then asks LanceDB)."""
        if self._max_rows <= 0:
            return None
        copy = self._current(table, tenant, where)
        if copy.matrix is None:
            return None
        if not copy.chunk_ids:
            return {}, copy
        query = np.asarray(vector, dtype=np.float32).reshape(-1)
        norm = float(np.linalg.norm(query))
        scores = copy.matrix @ (query / norm if norm else query)
        n = min(n, len(scores))
        best = np.argpartition(-scores, n - 1)[:n]
        return {copy.chunk_ids[i]: (float(scores[i]), copy.row_ids[i]) for i in best}, copy

    def _current(self, table: Any, tenant: str, where: str) -> TenantCopy:
        version = int(table.version)
        copy = self._copies.get(tenant)
        if copy is not None and copy.version == version:
            return copy
        with self._lock:
            copy = self._copies.get(tenant)
            if copy is None or copy.version != version:
                copy = self._load(table, tenant, where, version)
                self._copies[tenant] = copy
            return copy

    def _load(self, table: Any, tenant: str, where: str, version: int) -> TenantCopy:
        rows = int(table.count_rows(where))
        if rows > self._max_rows:
            log.info(
                "tenant %s has %d chunks, more than the vector cache holds (%d); "
                "searching LanceDB directly",
                tenant,
                rows,
                self._max_rows,
            )
            return TenantCopy(version, None, [], [])
        keep_rows = rows <= self._max_cached_rows
        columns = [*self._columns, "vector"] if keep_rows else ["chunk_id", "vector"]
        result = (
            table.search().where(where).select(columns).with_row_id(True).limit(None).to_arrow()
        )
        chunk_ids = result.column("chunk_id").to_pylist()
        row_ids = result.column("_rowid").to_pylist()
        vectors = result.column("vector").combine_chunks()
        width = vectors.type.list_size
        matrix = vectors.flatten().to_numpy(zero_copy_only=False).astype(np.float32)
        matrix = matrix.reshape(len(chunk_ids), width)
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        matrix = np.divide(matrix, norms, out=np.zeros_like(matrix), where=norms > 0)
        if not keep_rows:
            return TenantCopy(version, matrix, chunk_ids, row_ids)
        held = result.select(self._columns).combine_chunks()
        index = {c: i for i, c in enumerate(chunk_ids)}
        return TenantCopy(version, matrix, chunk_ids, row_ids, held, index)
