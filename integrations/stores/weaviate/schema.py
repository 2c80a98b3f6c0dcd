"""Schema, tenant names, filters and object properties of the Weaviate knowledge base.

Pure functions and constants: nothing here opens a connection.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from weaviate.classes.config import (
    Configure,
    DataType,
    Property,
    Tokenization,
    VectorDistances,
    Vectorizers,
)
from weaviate.classes.query import Filter, FilterReturn
from weaviate.util import generate_uuid5

from askloop.agent.errors import IncompatibleStoreError, InvalidInputError
from askloop.agent.ports import FILTER_FIELDS, Filters
from askloop.agent.records import Chunk
from askloop.config.settings import validate_tenant

__all__ = [
    "BM25_PROPERTIES",
    "DEFAULT_COLLECTION",
    "NO_MATCH",
    "RESULT_PROPERTIES",
    "VECTOR_NAME",
    "build_filter",
    "check_compatible",
    "chunk_from_properties",
    "chunk_uuid",
    "collection_spec",
    "estimated_bytes",
    "properties_of",
    "weaviate_tenant",
]

DEFAULT_COLLECTION = "AskloopChunk"
#: The named vector holding askloop's own embeddings (bring-your-own, no vectorizer).
VECTOR_NAME = "default"
_MARKER = "askloop knowledge base"

# (name, type, tokenization, filterable, searchable). Filterable text uses FIELD
# tokenization: the whole value is one token, so ``title == "x"`` is an exact match, as
# in the embedded store. Only ``search_text`` (title + headings + text) is BM25-indexed.
_FIELD, _WORD = Tokenization.FIELD, Tokenization.WORD
_PROPERTIES: tuple[tuple[str, DataType, Tokenization | None, bool, bool], ...] = (
    ("chunk_id", DataType.TEXT, _FIELD, True, False),
    ("document_id", DataType.TEXT, _FIELD, True, False),
    ("document_hash", DataType.TEXT, _FIELD, True, False),
    ("text", DataType.TEXT, _WORD, False, False),
    ("search_text", DataType.TEXT, _WORD, False, True),
    ("title", DataType.TEXT, _FIELD, True, False),
    ("source", DataType.TEXT, _FIELD, True, False),
    ("url", DataType.TEXT, _FIELD, False, False),
    ("heading_path", DataType.TEXT_ARRAY, _FIELD, False, False),
    ("position", DataType.INT, None, False, False),
    ("updated_at", DataType.DATE, None, False, False),
    ("doc_type", DataType.TEXT, _FIELD, True, False),
    ("acl", DataType.TEXT, _FIELD, True, False),
)
RESULT_PROPERTIES = [name for name, *_ in _PROPERTIES if name != "search_text"]
BM25_PROPERTIES = ["search_text"]


class _NoMatch:
    """A filter no object can pass (an empty list of allowed values)."""


NO_MATCH = _NoMatch()


def weaviate_tenant(tenant: str) -> str:
    """The Weaviate tenant name of an askloop tenant; raises ``SettingsError`` if invalid.

    askloop allows ``[A-Za-z0-9][A-Za-z0-9_.-]{0,63}``; Weaviate allows ``[A-Za-z0-9_-]``,
    1-64 characters. Lower-case names without a dot are used as they are (``acme``,
    ``default``). Any other name becomes ``_<readable>_<16 hex of its sha256>``: it starts
    with ``_``, which an unchanged name never does, and the digest of the exact name
    keeps ``a.b``, ``a-b``, ``A.b`` apart. Upper-case names are hashed too, so the mapping
    stays collision-free even where a server compares names case-insensitively. (No
    mapping into 64 characters can be reversible for every 64-character askloop name:
    there are more of those than Weaviate names.)
    """
    validate_tenant(tenant)
    if re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,63}", tenant):
        return tenant
    digest = hashlib.sha256(tenant.encode()).hexdigest()[:16]
    readable = re.sub(r"[^a-z0-9_-]", "-", tenant.lower())[:46]
    return f"_{readable}_{digest}"


def chunk_uuid(chunk_id: str) -> str:
    """Deterministic object id, so re-ingesting a chunk overwrites it.

    The chunk id alone suffices: every tenant is its own shard, so the same chunk in two
    tenants is two objects, and the id stays the same if tenant names are ever remapped.
    """
    return str(generate_uuid5(chunk_id))


def _description(embedder_id: str, dimensions: int) -> str:
    return f"{_MARKER}; embedder={embedder_id}; dimensions={dimensions}"


def collection_spec(name: str, *, embedder_id: str, dimensions: int) -> dict[str, Any]:
    """Keyword arguments of ``client.collections.create`` for askloop's collection."""
    return {
        "name": name,
        "description": _description(embedder_id, dimensions),
        "multi_tenancy_config": Configure.multi_tenancy(
            enabled=True, auto_tenant_creation=True, auto_tenant_activation=True
        ),
        "vector_config": Configure.Vectors.self_provided(
            name=VECTOR_NAME,
            vector_index_config=Configure.VectorIndex.hnsw(distance_metric=VectorDistances.COSINE),
        ),
        "properties": [
            Property(
                name=prop,
                data_type=dtype,
                tokenization=tok,
                index_filterable=filterable,
                index_searchable=searchable
                if dtype in (DataType.TEXT, DataType.TEXT_ARRAY)
                else None,
            )
            for prop, dtype, tok, filterable, searchable in _PROPERTIES
        ],
    }


def check_compatible(config: Any, *, embedder_id: str, dimensions: int) -> None:
    """Raise ``IncompatibleStoreError`` unless ``config`` is a collection askloop can use."""
    name = config.name
    problems: list[str] = []
    if not config.multi_tenancy_config.enabled:
        problems.append("multi-tenancy is off")
    vectors = config.vector_config or {}
    named = vectors.get(VECTOR_NAME)
    if named is None:
        problems.append(f"it has no named vector {VECTOR_NAME!r}")
    else:
        if named.vectorizer.vectorizer != Vectorizers.NONE:
            problems.append(f"vector {VECTOR_NAME!r} is filled by a vectorizer module")
        metric = getattr(named.vector_index_config, "distance_metric", None)
        if metric != VectorDistances.COSINE:
            problems.append(f"vector {VECTOR_NAME!r} uses {metric} distance, not cosine")
    have = {p.name: p for p in config.properties}
    for prop, dtype, tok, filterable, searchable in _PROPERTIES:
        got = have.get(prop)
        if got is None:
            problems.append(f"property {prop!r} is missing")
        elif got.data_type != dtype:
            problems.append(f"property {prop!r} is {got.data_type}, not {dtype}")
        elif (filterable and (got.tokenization != tok or not got.index_filterable)) or (
            searchable and not got.index_searchable
        ):
            problems.append(f"property {prop!r} is indexed differently")
    if problems:
        raise IncompatibleStoreError(
            f"the Weaviate collection {name} was not created by askloop and cannot be used "
            f"({'; '.join(problems)}); nothing was changed. Drop it, or pick another "
            "collection name"
        )
    built_with = re.search(r"embedder=(\S+); dimensions=(\d+)", config.description or "")
    if built_with is None or not (config.description or "").startswith(_MARKER):
        raise IncompatibleStoreError(
            f"the Weaviate collection {name} does not say which embedder filled it; "
            f"askloop cannot tell whether its vectors match {embedder_id}"
        )
    if built_with.group(1) != embedder_id or int(built_with.group(2)) != dimensions:
        raise IncompatibleStoreError(
            f"the Weaviate collection {name} was embedded with {built_with.group(1)} "
            f"({built_with.group(2)} dims), but the embedder is now {embedder_id} "
            f"({dimensions} dims); re-ingest into another collection"
        )


def build_filter(filters: Filters | None) -> FilterReturn | _NoMatch | None:
    """The Weaviate filter for askloop's metadata filters (values are data, not syntax)."""
    clauses: list[FilterReturn] = []
    for name, value in (filters or {}).items():
        if name not in FILTER_FIELDS:
            raise InvalidInputError(
                f"cannot filter on {name!r}; filterable: {', '.join(sorted(FILTER_FIELDS))}"
            )
        if isinstance(value, str):
            clauses.append(Filter.by_property(name).equal(value))
            continue
        values = [str(v) for v in value]
        if not values:
            return NO_MATCH
        clauses.append(Filter.by_property(name).contains_any(values))
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else Filter.all_of(clauses)


def properties_of(chunk: Chunk, now: datetime) -> dict[str, Any]:
    updated = chunk.updated_at or now
    if updated.tzinfo is None:  # Weaviate dates need a zone; askloop's naive times are UTC
        updated = updated.replace(tzinfo=UTC)
    return {
        "chunk_id": chunk.chunk_id,
        "document_id": chunk.document_id,
        "document_hash": chunk.document_hash,
        "text": chunk.text,
        "search_text": chunk.search_text,
        "title": chunk.title,
        "source": chunk.source,
        "url": chunk.url,
        "heading_path": list(chunk.heading_path),
        "position": chunk.position,
        "updated_at": updated,
        "doc_type": chunk.doc_type,
        "acl": chunk.acl,
    }


def estimated_bytes(properties: Mapping[str, Any], dimensions: int) -> int:
    """Rough wire size of one object (text as UTF-8 plus the float32 vector)."""
    text = sum(
        len(v.encode()) if isinstance(v, str) else sum(len(s.encode()) for s in v)
        for v in properties.values()
        if isinstance(v, str | list)
    )
    return text + 4 * dimensions + 256


def _date(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and value:
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return None
    return None


def chunk_from_properties(props: Mapping[str, Any]) -> Chunk:
    return Chunk(
        chunk_id=str(props.get("chunk_id") or ""),
        document_id=str(props.get("document_id") or ""),
        document_hash=str(props.get("document_hash") or ""),
        text=str(props.get("text") or ""),
        title=str(props.get("title") or ""),
        source=str(props.get("source") or ""),
        position=int(props.get("position") or 0),
        heading_path=tuple(props.get("heading_path") or ()),
        url=str(props.get("url") or ""),
        updated_at=_date(props.get("updated_at")),
        doc_type=str(props.get("doc_type") or ""),
        acl=str(props.get("acl") or ""),
    )
