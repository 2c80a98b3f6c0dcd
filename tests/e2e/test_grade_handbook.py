"""Grading on the evidence the search ranked by, end to end through the graph: the
sample handbook in the embedded store, the real embedder, a fake chat model."""

from __future__ import annotations

from pathlib import Path

import pytest

from askloop.agent.context import Context, Policy
from askloop.agent.graph import graph
from askloop.config.settings import IngestSettings
from askloop.integrations.ingest.pipeline import ingest_paths
from askloop.integrations.models.embedders import MiniLMEmbedder
from askloop.integrations.stores.lance.store import LanceStore
from tests.fakes import FakeChatModel

HANDBOOK = Path(__file__).resolve().parents[2] / "kb" / "handbook"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def handbook(tmp_path_factory):
    embedder = MiniLMEmbedder(threads=1)
    path = tmp_path_factory.mktemp("handbook")
    store = LanceStore(path, embedder_id=embedder.model_id, dimensions=embedder.dimensions)
    ingest_paths([HANDBOOK], tenant="nw", store=store, embedder=embedder, settings=IngestSettings())
    yield store, embedder
    store.close()


def test_the_phone_bridge_pin_is_graded_good_on_the_first_search_and_cited(handbook):
    store, embedder = handbook
    answer = FakeChatModel("The phone bridge PIN is 4242# [1].")
    context = Context(
        store=store,
        embedder=embedder,
        answer_model=answer,
        finetuned_model=FakeChatModel("1234567890", model_id="fake:tuned"),
        # Only the grade is under test here: the router always searches.
        policy=Policy(route_threshold=0.0),
    )
    result = graph.invoke(
        {"question": "what is the phone bridge PIN?", "tenant": "nw"}, context=context
    )
    grades = [s for s in result["trace"] if s["node"] == "grade"]
    assert [g["verdict"] for g in grades] == ["good"], grades
    detail = grades[0]["detail"]
    # The old grader saw only this cosine, below its 0.45.
    assert detail["best_cosine"] < 0.45
    assert detail["features"]["coverage"] == 1.0 and detail["missing_terms"] == []
    assert result["route"] == "retrieve" and result["rewrites"] == 0
    (n, chunk_id), *_ = result["cited"]
    cited = next(h for h in result["context_hits"] if h["chunk_id"] == chunk_id)
    assert "PIN 4242#" in cited["text"] and cited["source"].endswith("incident-response.md")
    assert n == result["context_hits"].index(cited) + 1
