"""The in-memory vector copy answers exactly as LanceDB does, and follows every write."""

from __future__ import annotations

import pytest

from askloop.integrations.stores.lance.store import LanceStore
from tests.contract.test_vector_store import DOCS, make_chunks, put, search
from tests.fakes import HashingEmbedder

QUERIES = ["annual leave", "pages within minutes", "garage visitors", "escalate", "zebra"]


def store_at(path, embedder, **kw) -> LanceStore:
    return LanceStore(path, embedder_id=embedder.model_id, dimensions=embedder.dimensions, **kw)


@pytest.fixture
def embedder():
    return HashingEmbedder()


@pytest.mark.parametrize("mode", ["vector", "hybrid"])
def test_the_copy_ranks_and_scores_like_lancedb(tmp_path, embedder, mode):
    cached = store_at(tmp_path, embedder)
    for source in DOCS:
        put(cached, embedder, "acme", make_chunks(source))
    put(cached, embedder, "globex", make_chunks("/kb/parking.md"))
    direct = store_at(tmp_path, embedder, vector_cache_rows=0)
    for query in QUERIES:
        a = search(cached, embedder, "acme", query, mode=mode, k=4)
        b = search(direct, embedder, "acme", query, mode=mode, k=4)
        assert [h.chunk for h in a] == [h.chunk for h in b], query  # rows from memory
        assert [h.score for h in a] == pytest.approx([h.score for h in b], abs=1e-5)
    assert {h.chunk.title for h in search(cached, embedder, "globex", "leave", mode=mode)} == {
        "Parking"
    }  # the copy is per tenant


@pytest.mark.parametrize("mode", ["vector", "hybrid"])
def test_beyond_the_row_budget_rows_are_read_from_lancedb(tmp_path, embedder, mode):
    store = store_at(tmp_path, embedder, row_cache_rows=2)  # vectors in memory, not rows
    for source in DOCS:
        put(store, embedder, "acme", make_chunks(source))
    direct = store_at(tmp_path, embedder, vector_cache_rows=0)
    a = search(store, embedder, "acme", "garage visitors", mode=mode)
    assert [h.chunk for h in a] == [
        h.chunk for h in search(direct, embedder, "acme", "garage visitors", mode=mode)
    ]


def test_a_write_is_seen_by_the_next_search(tmp_path, embedder):
    store = store_at(tmp_path, embedder)
    put(store, embedder, "acme", make_chunks("/kb/leave.md"))
    assert search(store, embedder, "acme", "garage visitors", mode="vector")[0].chunk.title != (
        "Parking"
    )
    put(store, embedder, "acme", make_chunks("/kb/parking.md"))
    assert search(store, embedder, "acme", "garage visitors", mode="vector")[0].chunk.title == (
        "Parking"
    )
    doc = make_chunks("/kb/parking.md")[0].document_id
    store.delete_document(tenant="acme", document_id=doc)
    titles = {h.chunk.title for h in search(store, embedder, "acme", "garage", mode="vector")}
    assert "Parking" not in titles


def test_a_tenant_bigger_than_the_copy_is_searched_in_lancedb(tmp_path, embedder, caplog):
    store = store_at(tmp_path, embedder, vector_cache_rows=2)
    for source in DOCS:
        put(store, embedder, "acme", make_chunks(source))
    with caplog.at_level("INFO"):
        hits = search(store, embedder, "acme", "garage visitors", mode="vector")
    assert hits[0].chunk.title == "Parking"
    assert "more than the vector cache holds" in caplog.text


def test_filtered_searches_go_to_lancedb(tmp_path, embedder):
    store = store_at(tmp_path, embedder)
    for source in DOCS:
        put(store, embedder, "acme", make_chunks(source))
    hits = search(
        store, embedder, "acme", "leave", mode="vector", filters={"source": "/kb/oncall.md"}
    )
    assert hits and {h.chunk.source for h in hits} == {"/kb/oncall.md"}


def test_the_vector_cache_holds_numpy_to_one_blas_thread():
    """Its products are small; BLAS threads would spin against the embedder's and the
    local model's (route-latency stalls on a two-core machine)."""
    from threadpoolctl import threadpool_info, threadpool_limits

    from askloop.integrations.stores.lance import vectors

    with threadpool_limits(limits=2, user_api="blas"):
        vectors._limit_blas_threads.cache_clear()
        vectors.VectorCache(max_rows=100, columns=["chunk_id"])
        blas = [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]
        assert blas and set(blas) == {1}
