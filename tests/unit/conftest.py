"""Fixtures shared by the graph and service tests: a small real knowledge base, fake models."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fakes import HashingEmbedder
from tests.kb_fixture import make_context, make_kb_store

__all__ = ["make_context"]  # graph/service/tool tests import it from here too


@pytest.fixture
def embedder():
    return HashingEmbedder()


@pytest.fixture
def store(tmp_path: Path, embedder):
    s = make_kb_store(tmp_path / "kb", embedder)
    yield s
    s.close()
