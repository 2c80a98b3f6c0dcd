"""One contract suite, every VectorStore backend. Weaviate joins when its issue lands."""

from __future__ import annotations

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
