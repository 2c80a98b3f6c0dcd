"""One contract suite, every VectorStore backend. Weaviate joins when its issue lands."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from agent.ports import VectorStore
from integrations.lance_store import LanceStore
from tests.fakes import HashingEmbedder


def _lance(tmp_path: Path, embedder: HashingEmbedder) -> VectorStore:
    return LanceStore(
        tmp_path / "kb", embedder_id=embedder.model_id, dimensions=embedder.dimensions
    )


def _lance_indexed(tmp_path: Path, embedder: HashingEmbedder) -> VectorStore:
    # Builds the HNSW vector and tenant bitmap indexes even for tiny tables.
    return LanceStore(
        tmp_path / "kb",
        embedder_id=embedder.model_id,
        dimensions=embedder.dimensions,
        vector_index_min_rows=1,
    )


BACKENDS: dict[str, Callable[[Path, HashingEmbedder], VectorStore]] = {
    "lance": _lance,
    "lance-indexed": _lance_indexed,
}


@pytest.fixture
def embedder() -> HashingEmbedder:
    return HashingEmbedder()


@pytest.fixture(params=sorted(BACKENDS))
def store(
    request: pytest.FixtureRequest, tmp_path: Path, embedder: HashingEmbedder
) -> Iterator[VectorStore]:
    backend = BACKENDS[request.param](tmp_path, embedder)
    yield backend
    backend.close()


# Tests read this, never write it; CI and dev machines run PostgreSQL here.
PG_URL = os.environ.get("ASKLOOP_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture(scope="module")
def pg_admin():
    psycopg = pytest.importorskip("psycopg")
    try:
        conn = psycopg.connect(PG_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        pytest.skip(f"PostgreSQL not reachable at {PG_URL}: {exc}")
    yield conn
    conn.close()
