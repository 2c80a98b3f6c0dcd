"""One contract suite, every VectorStore backend (Weaviate only when WEAVIATE_URL is set)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from askloop.agent.ports import VectorStore
from askloop.integrations.stores.lance.store import LanceStore
from tests.fakes import HashingEmbedder


def _lance(tmp_path: Path, embedder: HashingEmbedder) -> VectorStore:
    return LanceStore(
        tmp_path / "kb", embedder_id=embedder.model_id, dimensions=embedder.dimensions
    )


def _lance_indexed(tmp_path: Path, embedder: HashingEmbedder) -> VectorStore:
    # Builds the HNSW vector and tenant bitmap indexes even for tiny tables, and
    # searches them through LanceDB (no in-memory vector copy), as big tenants do.
    return LanceStore(
        tmp_path / "kb",
        embedder_id=embedder.model_id,
        dimensions=embedder.dimensions,
        vector_index_min_rows=1,
        vector_cache_rows=0,
    )


# Read at import: the autouse clean_env fixture removes WEAVIATE_* before each test.
WEAVIATE_URL = os.environ.get("WEAVIATE_URL")
WEAVIATE_ENV = {k: v for k, v in os.environ.items() if k.startswith("WEAVIATE_")}


def _weaviate(tmp_path: Path, embedder: HashingEmbedder) -> VectorStore:
    # A real Weaviate (integration tier); each test gets its own collection, dropped after.
    if not WEAVIATE_URL:
        pytest.skip("WEAVIATE_URL is not set")
    from askloop.config.settings import load_settings
    from askloop.integrations.stores.weaviate.store import make_weaviate_store

    # WEAVIATE_GRPC_HOST/PORT are this suite's own knobs (askloop reads them from TOML).
    weaviate = {
        "url": WEAVIATE_URL,
        "api_key": WEAVIATE_ENV.get("WEAVIATE_API_KEY"),
        "grpc_host": WEAVIATE_ENV.get("WEAVIATE_GRPC_HOST"),
        "grpc_port": WEAVIATE_ENV.get("WEAVIATE_GRPC_PORT"),
    }
    settings = load_settings(weaviate=weaviate)
    name = f"AskloopTest{uuid.uuid4().hex[:12]}"
    return make_weaviate_store(settings, embedder, collection=name)


BACKENDS: dict[str, Callable[[Path, HashingEmbedder], VectorStore]] = {
    "lance": _lance,
    "lance-indexed": _lance_indexed,
    "weaviate": _weaviate,
}
INTEGRATION_BACKENDS = {"weaviate"}


@pytest.fixture
def embedder() -> HashingEmbedder:
    return HashingEmbedder()


@pytest.fixture(
    params=[
        pytest.param(name, marks=pytest.mark.integration) if name in INTEGRATION_BACKENDS else name
        for name in sorted(BACKENDS)
    ]
)
def store(
    request: pytest.FixtureRequest, tmp_path: Path, embedder: HashingEmbedder
) -> Iterator[VectorStore]:
    backend = BACKENDS[request.param](tmp_path, embedder)
    yield backend
    backend.close()
    drop = getattr(backend, "drop_collection", None)
    if drop is not None:
        drop()
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
