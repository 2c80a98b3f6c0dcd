"""Schema, filters, fusion and row mapping of the embedded LanceDB knowledge base."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pyarrow as pa

from askloop.agent.errors import InvalidInputError
from askloop.agent.ports import FILTER_FIELDS, Filters
from askloop.agent.records import Chunk, Hit, SearchMode
from askloop.config.settings import validate_tenant

__all__ = [
    "META_EMBEDDER",
    "RESULT_COLUMNS",
    "TABLE",
    "chunk_from_row",
    "fuse_relative",
    "quote",
    "run_leg",
    "single_leg_hits",
    "table_schema",
    "where_clause",
]

TABLE = "chunks"
SCHEMA_VERSION = "1"
META_EMBEDDER = b"askloop.embedder"
META_SCHEMA = b"askloop.schema"
RESULT_COLUMNS = [
    "chunk_id",
    "document_id",
    "document_hash",
    "text",
    "title",
    "source",
    "url",
    "heading_path",
    "position",
    "updated_at",
    "doc_type",
    "acl",
]


def table_schema(dimensions: int, embedder_id: str) -> pa.Schema:
    return pa.schema(
        [
            pa.field("tenant", pa.string(), nullable=False),
            pa.field("chunk_id", pa.string(), nullable=False),
            pa.field("document_id", pa.string(), nullable=False),
            pa.field("document_hash", pa.string(), nullable=False),
            pa.field("text", pa.string(), nullable=False),
            pa.field("search_text", pa.string(), nullable=False),
            pa.field("title", pa.string()),
            pa.field("source", pa.string()),
            pa.field("url", pa.string()),
            pa.field("heading_path", pa.list_(pa.string())),
            pa.field("position", pa.int32()),
            pa.field("updated_at", pa.timestamp("us", tz="UTC")),
            pa.field("doc_type", pa.string()),
            pa.field("acl", pa.string()),
            pa.field("vector", pa.list_(pa.float32(), dimensions)),
        ],
        metadata={META_EMBEDDER: embedder_id.encode(), META_SCHEMA: SCHEMA_VERSION.encode()},
    )


def quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def where_clause(tenant: str, filters: Filters | None) -> str:
    clauses = [f"tenant = {quote(validate_tenant(tenant))}"]
    for name, value in (filters or {}).items():
        if name not in FILTER_FIELDS:
            raise InvalidInputError(
                f"cannot filter on {name!r}; filterable: {', '.join(sorted(FILTER_FIELDS))}"
            )
        if isinstance(value, str):
            clauses.append(f"{name} = {quote(value)}")
        else:
            values = list(value)
            if not values:
                return "false"
            clauses.append(f"{name} IN ({', '.join(quote(v) for v in values)})")
    return " AND ".join(clauses)


def fuse_relative(
    keyword: Mapping[str, float], vector: Mapping[str, float], *, alpha: float
) -> dict[str, float]:
    """Relative score fusion: per side min-max to [0, 1], then ``alpha``·vector + rest·keyword.

    A candidate missing from one side scores 0 there. A side whose candidates all
    score the same contributes 1 for each of them.
    """

    def normalise(scores: Mapping[str, float]) -> dict[str, float]:
        if not scores:
            return {}
        lo, hi = min(scores.values()), max(scores.values())
        span = hi - lo
        return {key: ((s - lo) / span if span > 0 else 1.0) for key, s in scores.items()}

    kw, vec = normalise(keyword), normalise(vector)
    return {
        key: alpha * vec.get(key, 0.0) + (1 - alpha) * kw.get(key, 0.0)
        for key in kw.keys() | vec.keys()
    }


def run_leg(
    query_builder: Any, where: str, n: int, column: str, to_score: Callable[[float], float]
) -> dict[str, tuple[float, int]]:
    """Run one search leg for ids only: {chunk_id: (score, row id)}."""
    result = (
        query_builder.where(where, prefilter=True)
        .select(["chunk_id", column])
        .with_row_id(True)
        .limit(n)
        .to_arrow()
    )
    ids = result.column("chunk_id").to_pylist()
    scores = (to_score(v) for v in result.column(column).to_pylist())
    row_ids = result.column("_rowid").to_pylist()
    return dict(zip(ids, zip(scores, row_ids, strict=True), strict=True))


def single_leg_hits(
    query_builder: Any,
    where: str,
    k: int,
    column: str,
    to_score: Callable[[float], float],
    mode: SearchMode,
) -> list[Hit]:
    """One leg with its rows in a single query (each LanceDB query costs milliseconds,
    so a one-leg search does not fetch ids first and rows after, as hybrid must)."""
    rows = (
        query_builder.where(where, prefilter=True)
        .select([*RESULT_COLUMNS, column])
        .limit(k)
        .to_list()
    )
    hits = [
        Hit(
            chunk=chunk_from_row(r),
            score=to_score(r[column]),
            mode=mode,
            keyword_score=to_score(r[column]) if mode == "keyword" else None,
            vector_score=to_score(r[column]) if mode == "vector" else None,
        )
        for r in rows
    ]
    # Ties broken by id, as the fused search does, so results are deterministic.
    return sorted(hits, key=lambda h: (-h.score, h.chunk.chunk_id))


def chunk_from_row(row: Mapping[str, Any]) -> Chunk:
    return Chunk(
        chunk_id=row["chunk_id"],
        document_id=row["document_id"],
        document_hash=row["document_hash"],
        text=row["text"],
        title=row.get("title") or "",
        source=row.get("source") or "",
        position=int(row.get("position") or 0),
        heading_path=tuple(row.get("heading_path") or ()),
        url=row.get("url") or "",
        updated_at=row.get("updated_at"),
        doc_type=row.get("doc_type") or "",
        acl=row.get("acl") or "",
    )
