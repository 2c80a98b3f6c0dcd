"""The VectorStore contract: what every knowledge-base backend must do."""

from __future__ import annotations

import numpy as np
import pytest

from askloop.agent.errors import InvalidInputError
from askloop.agent.ports import VectorStore
from askloop.agent.records import SEARCH_MODES, Chunk, chunk_id_for, document_id_for
from tests.fakes import HashingEmbedder

DOCS = {
    "/kb/leave.md": (
        "Leave policy",
        ["Everyone gets 26 days of annual leave.", "Unused leave carries over until March."],
    ),
    "/kb/oncall.md": (
        "On-call",
        [
            "The on-call engineer answers pages within 15 minutes.",
            "Escalate to the incident commander in #inc-bridge.",
        ],
    ),
    "/kb/parking.md": ("Parking", ["The garage has three levels; level 2 is for visitors."]),
}


def make_chunks(source: str, *, doc_hash: str = "v1", doc_type: str = "markdown") -> list[Chunk]:
    title, texts = DOCS[source]
    doc_id = document_id_for(source)
    return [
        Chunk(
            chunk_id=chunk_id_for(doc_id, i, t),
            document_id=doc_id,
            document_hash=doc_hash,
            text=t,
            title=title,
            source=source,
            position=i,
            url=f"https://wiki.example{source}",
            doc_type=doc_type,
        )
        for i, t in enumerate(texts)
    ]


def put(store: VectorStore, embedder: HashingEmbedder, tenant: str, chunks: list[Chunk]) -> int:
    return store.upsert(
        tenant=tenant,
        chunks=chunks,
        vectors=embedder.embed_documents([c.search_text for c in chunks]),
    )


def search(
    store: VectorStore,
    embedder: HashingEmbedder,
    tenant: str,
    query: str,
    *,
    mode: str = "hybrid",
    k: int = 5,
    filters=None,
):
    vector = embedder.embed_query(query) if mode != "keyword" else None
    return store.search(tenant=tenant, query=query, vector=vector, k=k, mode=mode, filters=filters)


@pytest.fixture
def loaded(store: VectorStore, embedder: HashingEmbedder) -> VectorStore:
    for source in DOCS:
        put(store, embedder, "acme", make_chunks(source))
    put(store, embedder, "globex", make_chunks("/kb/leave.md"))
    store.close()  # index maintenance runs here; the store reopens on next use
    return store


@pytest.mark.parametrize("mode", SEARCH_MODES)
def test_each_mode_finds_the_matching_chunk_first(loaded, embedder, mode):
    hits = search(loaded, embedder, "acme", "annual leave days", mode=mode)
    assert hits, mode
    assert hits[0].chunk.text == "Everyone gets 26 days of annual leave."
    assert hits[0].mode == mode
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_hits_carry_the_chunk_metadata(loaded, embedder):
    hit = search(loaded, embedder, "acme", "garage visitors")[0]
    assert hit.chunk.title == "Parking"
    assert hit.chunk.source == "/kb/parking.md"
    assert hit.chunk.url == "https://wiki.example/kb/parking.md"
    assert hit.chunk.document_id == document_id_for("/kb/parking.md")
    assert hit.chunk.position == 0
    assert hit.keyword_score is not None and hit.vector_score is not None


@pytest.mark.parametrize("mode", SEARCH_MODES)
def test_tenants_never_see_each_other(loaded, embedder, mode):
    hits = search(loaded, embedder, "globex", "on-call engineer pages garage", mode=mode, k=50)
    assert {h.chunk.source for h in hits} <= {"/kb/leave.md"}
    assert search(loaded, embedder, "initech", "annual leave", mode=mode) == []


def test_same_chunk_ids_in_two_tenants_are_independent(loaded, embedder):
    loaded.delete_document(tenant="globex", document_id=document_id_for("/kb/leave.md"))
    assert loaded.count(tenant="globex") == 0
    assert loaded.count(tenant="acme") == 5


def test_upsert_is_idempotent(loaded, embedder):
    before = loaded.count(tenant="acme")
    put(loaded, embedder, "acme", make_chunks("/kb/oncall.md"))
    put(loaded, embedder, "acme", make_chunks("/kb/oncall.md"))
    assert loaded.count(tenant="acme") == before
    hits = search(loaded, embedder, "acme", "incident commander", k=10)
    assert len({h.chunk.chunk_id for h in hits}) == len(hits)


def test_documents_lists_sources_and_versions(loaded, embedder):
    docs = loaded.documents(tenant="acme")
    assert {src for src, _ in docs.values()} == set(DOCS)
    assert all(hashes == frozenset({"v1"}) for _, hashes in docs.values())
    assert loaded.documents(tenant="nobody") == {}


def test_delete_document_removes_only_that_document(loaded, embedder):
    doc_id = document_id_for("/kb/oncall.md")
    assert loaded.delete_document(tenant="acme", document_id=doc_id) == 2
    assert loaded.count(tenant="acme") == 3
    assert all(
        h.chunk.document_id != doc_id
        for h in search(loaded, embedder, "acme", "on-call pages", k=10)
    )
    assert loaded.delete_document(tenant="acme", document_id=doc_id) == 0


def test_delete_keeping_a_version_removes_the_older_ones(loaded, embedder):
    doc_id = document_id_for("/kb/leave.md")
    new = [
        Chunk(
            chunk_id=chunk_id_for(doc_id, 0, "Everyone gets 30 days now."),
            document_id=doc_id,
            document_hash="v2",
            text="Everyone gets 30 days now.",
            title="Leave policy",
            source="/kb/leave.md",
            position=0,
        )
    ]
    put(loaded, embedder, "acme", new)
    assert loaded.delete_document(tenant="acme", document_id=doc_id, keep_hash="v2") == 2
    assert loaded.documents(tenant="acme")[doc_id][1] == frozenset({"v2"})
    assert search(loaded, embedder, "acme", "days", mode="keyword")[0].chunk.document_hash == "v2"


@pytest.mark.parametrize("mode", SEARCH_MODES)
def test_filters_restrict_results(loaded, embedder, mode):
    only = {"document_id": document_id_for("/kb/parking.md")}
    hits = search(loaded, embedder, "acme", "leave garage pages", mode=mode, filters=only)
    assert hits and {h.chunk.source for h in hits} == {"/kb/parking.md"}
    many = {"source": ["/kb/parking.md", "/kb/oncall.md"]}
    hits = search(loaded, embedder, "acme", "leave garage pages", mode=mode, k=10, filters=many)
    assert {h.chunk.source for h in hits} == {"/kb/parking.md", "/kb/oncall.md"}


def test_filter_on_unknown_field_is_rejected(loaded, embedder):
    with pytest.raises(InvalidInputError, match="cannot filter"):
        search(loaded, embedder, "acme", "leave", filters={"text; DROP TABLE": "x"})


def test_filter_values_are_data_not_syntax(loaded, embedder):
    hits = search(loaded, embedder, "acme", "leave", filters={"title": "x' OR '1'='1"})
    assert hits == []


@pytest.mark.parametrize("k", [0, -1])
def test_k_must_be_positive(loaded, embedder, k):
    with pytest.raises(InvalidInputError):
        search(loaded, embedder, "acme", "leave", k=k)


def test_k_bounds_the_result_count(loaded, embedder):
    assert len(search(loaded, embedder, "acme", "the leave pages garage", k=2)) == 2


@pytest.mark.parametrize("mode", ["hybrid", "keyword"])
def test_empty_query_is_rejected(loaded, embedder, mode):
    with pytest.raises(InvalidInputError, match="empty"):
        loaded.search(tenant="acme", query="  ", vector=embedder.embed_query("x"), k=3, mode=mode)


def test_unknown_mode_and_bad_tenant_are_rejected(loaded, embedder):
    with pytest.raises(InvalidInputError):
        loaded.search(tenant="acme", query="x", vector=None, k=3, mode="fuzzy")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        loaded.search(
            tenant="acme' OR tenant != '", query="leave", vector=None, k=3, mode="keyword"
        )


def test_odd_query_text_is_searched_not_parsed(loaded, embedder):
    for query in ['"leave', "leave AND OR NOT", "(((", "leave:*", "it's 26?"]:
        search(loaded, embedder, "acme", query, mode="keyword")


def test_empty_store_answers_empty(store, embedder):
    assert store.count(tenant="acme") == 0
    assert store.documents(tenant="acme") == {}
    assert search(store, embedder, "acme", "anything") == []
    assert store.delete_document(tenant="acme", document_id="nope") == 0
    store.ping()


def test_vectors_must_match_chunks(store, embedder):
    chunks = make_chunks("/kb/leave.md")
    with pytest.raises(InvalidInputError):
        store.upsert(tenant="acme", chunks=chunks, vectors=np.zeros((1, embedder.dimensions)))
    assert store.count(tenant="acme") == 0


def test_data_survives_reopening(loaded, embedder):
    loaded.close()
    assert loaded.count(tenant="acme") == 5
    assert search(loaded, embedder, "acme", "annual leave", mode="keyword")[0].chunk.title == (
        "Leave policy"
    )
