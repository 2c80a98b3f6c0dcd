"""WeaviateStore with the real weaviate-client over loopback REST + gRPC (tests/weaviate_fake)."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import grpc
import numpy as np
import pytest
from pytest_httpserver import HTTPServer
from weaviate.proto.v1 import base_pb2, base_search_pb2, batch_delete_pb2
from weaviate.util import generate_uuid5

from askloop.agent.errors import IncompatibleStoreError, InvalidInputError, StoreUnavailableError
from askloop.agent.ports import VectorStore
from askloop.agent.records import Chunk
from askloop.config.settings import SettingsError, WeaviateSettings, load_settings
from askloop.integrations.stores.weaviate.schema import weaviate_tenant
from askloop.integrations.stores.weaviate.store import (
    BatchWriteError,
    Endpoint,
    Timeouts,
    WeaviateStore,
    make_weaviate_store,
)
from tests.fakes import HashingEmbedder
from tests.weaviate_fake import (
    FakeWeaviate,
    canned_result,
    chunks,
    flat,
    free_port,
    put,
    stored_props,
    vectors_of,
)

UNAVAILABLE = grpc.StatusCode.UNAVAILABLE
OP = base_pb2.Filters


@pytest.fixture(scope="module")
def http():
    server = HTTPServer(host="127.0.0.1", port=0)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def fake(http):
    http.clear()
    fake = FakeWeaviate(http).start()
    yield fake
    fake.stop()


@pytest.fixture
def embedder():
    return HashingEmbedder(dimensions=8)


@pytest.fixture
def make(fake, embedder):
    stores: list[WeaviateStore] = []

    def build(*, grpc_port=None, url=None, api_key=None, query=2.0, **kw) -> WeaviateStore:
        settings = WeaviateSettings(url=url or fake.url, grpc_port=grpc_port or fake.grpc_port)
        store = WeaviateStore(
            Endpoint.from_settings(settings),
            api_key=api_key,
            embedder_id=embedder.model_id,
            dimensions=embedder.dimensions,
            timeouts=Timeouts(init=2, query=query, insert=2),
            backoff=0.01,
            **kw,
        )
        stores.append(store)
        return store

    yield build
    for store in stores:
        store.close()


# -- writes ----------------------------------------------------------------------------


def test_first_upsert_creates_the_collection_and_tenant_then_writes(fake, make, embedder):
    store = make()
    assert isinstance(store, VectorStore)
    items = chunks(3)
    assert put(store, embedder, "acme", items) == 3

    cls = fake.classes["AskloopChunk"]
    assert cls["multiTenancyConfig"]["enabled"] is True
    assert cls["vectorConfig"]["default"]["vectorizer"] == {"none": {}}
    assert cls["vectorConfig"]["default"]["vectorIndexConfig"]["distance"] == "cosine"
    assert "embedder=test:hashing-8; dimensions=8" in cls["description"]
    props = {p["name"]: p for p in cls["properties"]}
    assert props["document_id"]["tokenization"] == "field"
    assert props["search_text"]["indexSearchable"] is True
    assert props["heading_path"]["dataType"] == ["text[]"]
    assert fake.tenants["AskloopChunk"] == {"acme"}

    (batch,) = fake.calls["BatchObjects"]
    vectors = embedder.embed_documents([c.search_text for c in items])
    for obj, chunk, vector in zip(batch.objects, items, vectors, strict=True):
        assert obj.collection == "AskloopChunk" and obj.tenant == "acme"
        assert obj.uuid == generate_uuid5(chunk.chunk_id)
        assert np.allclose(vectors_of(obj)["default"], vector)
        fields = obj.properties.non_ref_properties.fields
        assert fields["chunk_id"].string_value == chunk.chunk_id
        assert fields["search_text"].string_value == chunk.search_text
        assert list(obj.properties.text_array_properties[0].values) == ["Leave", "Annual"]


def test_reingest_overwrites_the_same_objects(fake, make, embedder):
    store = make()
    put(store, embedder, "acme", chunks(3))
    put(store, embedder, "acme", chunks(3))
    first, second = fake.calls["BatchObjects"]
    assert [o.uuid for o in first.objects] == [o.uuid for o in second.objects]
    assert store.count(tenant="acme") == 3
    assert fake.rest.count(("POST", "/v1/schema/AskloopChunk/tenants")) == 1


def test_tenants_outside_weaviates_charset_are_mapped_on_the_wire(fake, make, embedder):
    store = make()
    put(store, embedder, "acme.eu", chunks(1))
    (batch,) = fake.calls["BatchObjects"]
    assert {o.tenant for o in batch.objects} == {weaviate_tenant("acme.eu")}
    assert fake.tenants["AskloopChunk"] == {weaviate_tenant("acme.eu")}


def test_batch_errors_are_counted_raised_and_rolled_back(fake, make, embedder):
    store = make()
    items = chunks(2, doc="doc-a") + chunks(1, doc="doc-b")
    fake.batch_errors = {1: "property text: too long"}
    with pytest.raises(BatchWriteError) as caught:
        put(store, embedder, "acme", items)
    assert (caught.value.failed, caught.value.total) == (1, 3)
    assert caught.value.errors == {"doc-a-c1": "property text: too long"}
    assert "refused 1 of 3 chunks" in str(caught.value)
    # doc-a was not written whole, so its written chunk is removed again; doc-b stays.
    (rollback,) = fake.calls["BatchDelete"]
    assert rollback.tenant == "acme"
    assert flat(rollback.filters) == [
        (OP.OPERATOR_CONTAINS_ANY, "_id", [generate_uuid5("doc-a-c0")])
    ]

    fake.batch_errors = {0: "bad", 1: "bad", 2: "bad"}
    with pytest.raises(BatchWriteError) as caught:
        put(store, embedder, "acme", items)
    assert caught.value.failed == caught.value.total == 3


def test_large_upserts_are_split_and_oversized_chunks_refused(fake, make, embedder):
    store = make(batch_size=2)
    put(store, embedder, "acme", chunks(5))
    assert [len(b.objects) for b in fake.calls["BatchObjects"]] == [2, 2, 1]

    small = make(max_batch_bytes=2000)
    huge = [Chunk("big", "d", "v1", "x" * 5000, "T", "/kb/big.md", 0)]
    with pytest.raises(InvalidInputError, match="split the document"):
        put(small, embedder, "acme", huge)
    assert len(fake.calls["BatchObjects"]) == 3


def test_delete_document_filters_by_document_and_version(fake, make, embedder):
    store = make()
    assert store.delete_document(tenant="acme", document_id="doc-a") == 0  # nothing yet
    assert "BatchDelete" not in fake.calls
    put(store, embedder, "acme", chunks(2))
    fake.delete_reply = batch_delete_pb2.BatchDeleteReply(matches=2, successful=2)
    assert store.delete_document(tenant="acme", document_id="doc-a", keep_hash="v2") == 2
    (request,) = fake.calls["BatchDelete"]
    assert request.tenant == "acme" and request.collection == "AskloopChunk"
    assert flat(request.filters) == [
        (OP.OPERATOR_EQUAL, "document_id", "doc-a"),
        (OP.OPERATOR_NOT_EQUAL, "document_hash", "v2"),
    ]
    fake.delete_reply = batch_delete_pb2.BatchDeleteReply(matches=2, successful=1, failed=1)
    with pytest.raises(StoreUnavailableError, match="did not delete 1 of 2"):
        store.delete_document(tenant="acme", document_id="doc-a")


# -- reads -----------------------------------------------------------------------------


def test_unknown_tenant_or_collection_reads_empty_and_creates_nothing(fake, make, embedder):
    store = make()
    q = embedder.embed_query("leave")
    assert store.count(tenant="acme") == 0
    assert store.documents(tenant="acme") == {}
    assert store.search(tenant="acme", query="leave", vector=q, k=3, mode="hybrid") == []
    put(store, embedder, "acme", chunks(1))
    assert store.search(tenant="globex", query="leave", vector=q, k=3, mode="hybrid") == []
    assert store.count(tenant="globex") == 0
    assert fake.tenants["AskloopChunk"] == {"acme"}
    assert "Search" not in fake.calls and "Aggregate" not in fake.calls


def test_documents_and_count_read_the_tenants_objects(fake, make, embedder):
    store = make()
    put(store, embedder, "acme", chunks(2, doc="doc-a") + chunks(1, doc="doc-b"))
    assert store.count(tenant="acme") == 3
    assert store.documents(tenant="acme") == {
        "doc-a": ("/kb/doc-a.md", frozenset({"v1"})),
        "doc-b": ("/kb/doc-b.md", frozenset({"v1"})),
    }
    assert {r.tenant for r in fake.calls["Search"]} == {"acme"}
    assert set(fake.calls["Search"][0].properties.non_ref_properties) == {
        "document_id",
        "source",
        "document_hash",
    }


@pytest.mark.parametrize("mode", ["hybrid", "keyword", "vector"])
def test_every_search_carries_tenant_and_mode_parameters(fake, make, embedder, mode):
    store = make(alpha=0.35)
    put(store, embedder, "acme.eu", chunks(1))
    q = embedder.embed_query("annual leave")
    store.search(tenant="acme.eu", query="annual leave", vector=q, k=4, mode=mode)
    (request,) = fake.calls["Search"]
    assert request.tenant == weaviate_tenant("acme.eu") and request.limit == 4
    if mode == "hybrid":
        h = request.hybrid_search
        assert h.alpha == pytest.approx(0.35)
        assert h.fusion_type == base_search_pb2.Hybrid.FUSION_TYPE_RELATIVE_SCORE
        assert list(h.properties) == ["search_text"] and h.query == "annual leave"
        assert list(h.targets.target_vectors) == ["default"]
        assert np.allclose(np.frombuffer(h.vector_bytes, dtype=np.float32), q)
        assert request.metadata.score and request.metadata.explain_score
    elif mode == "keyword":
        assert list(request.bm25_search.properties) == ["search_text"]
    else:
        assert list(request.near_vector.targets.target_vectors) == ["default"]
        assert request.metadata.distance


def test_filters_are_sent_as_data_and_unknown_fields_refused(fake, make, embedder):
    store = make()
    put(store, embedder, "acme", chunks(1))
    q = embedder.embed_query("x")
    filters = {"document_id": "doc-a", "title": "x' OR '1'='1", "source": ["/a", "/b"]}
    store.search(tenant="acme", query="x", vector=q, k=3, mode="hybrid", filters=filters)
    assert flat(fake.calls["Search"][0].filters) == [
        (OP.OPERATOR_EQUAL, "document_id", "doc-a"),
        (OP.OPERATOR_EQUAL, "title", "x' OR '1'='1"),
        (OP.OPERATOR_CONTAINS_ANY, "source", ["/a", "/b"]),
    ]
    with pytest.raises(InvalidInputError, match="cannot filter"):
        store.search(tenant="acme", query="x", vector=q, k=3, mode="hybrid", filters={"text": "x"})
    assert (
        store.search(tenant="acme", query="x", vector=q, k=3, mode="hybrid", filters={"source": []})
        == []
    )
    assert len(fake.calls["Search"]) == 1


def test_canned_results_map_back_to_hits(fake, make, embedder):
    store = make()
    put(store, embedder, "acme", chunks(1))
    q = embedder.embed_query("annual leave")
    explain = (
        "\nHybrid (Result Set vector,hybridVector) Document x: original score 0.8, normalized "
        "score: 0.6 - \nHybrid (Result Set keyword,bm25) Document x: original score 2.75, "
        "normalized score: 0.4"
    )
    fake.search_results = [
        canned_result(stored_props(1), score=0.4, vector=list(-q)),  # keyword-only hit, no explain
        canned_result(stored_props(0), score=0.95, explain=explain, vector=list(q)),
    ]
    best, other = store.search(tenant="acme", query="annual leave", vector=q, k=5, mode="hybrid")
    assert best.chunk.chunk_id == "c0" and best.mode == "hybrid"
    assert best.score == pytest.approx(0.95)
    assert best.keyword_score == pytest.approx(2.75)
    assert best.vector_score == pytest.approx(1.0)
    assert (other.keyword_score, other.vector_score) == (None, pytest.approx(-1.0))
    c = best.chunk
    assert (c.title, c.source, c.url, c.position, c.heading_path) == (
        "Leave policy",
        "/kb/a.md",
        "https://wiki/a",
        0,
        ("Leave", "Annual"),
    )
    assert (c.doc_type, c.acl, c.updated_at) == (
        "markdown",
        "staff",
        datetime(2024, 5, 1, tzinfo=UTC),
    )

    fake.search_results = [canned_result(stored_props(0), distance=0.25)]
    (hit,) = store.search(tenant="acme", query="", vector=q, k=1, mode="vector")
    assert hit.score == hit.vector_score == pytest.approx(0.75)
    fake.search_results = [canned_result(stored_props(0), score=3.5)]
    (hit,) = store.search(tenant="acme", query="leave", vector=None, k=1, mode="keyword")
    assert hit.score == hit.keyword_score == pytest.approx(3.5)


# -- compatibility ---------------------------------------------------------------------


def test_an_incompatible_collection_is_refused_and_left_alone(fake, make, embedder):
    put(make(), embedder, "acme", chunks(1))
    cls = fake.classes["AskloopChunk"]
    fake.rest.clear()

    cls["multiTenancyConfig"] = {"enabled": False}
    with pytest.raises(
        IncompatibleStoreError, match=r"multi-tenancy is off\); nothing was changed"
    ):
        put(make(), embedder, "acme", chunks(1))
    cls["multiTenancyConfig"] = {"enabled": True}
    cls["vectorConfig"]["title_vector"] = cls["vectorConfig"].pop("default")
    with pytest.raises(IncompatibleStoreError, match="no named vector 'default'"):
        make().count(tenant="acme")
    cls["vectorConfig"]["default"] = cls["vectorConfig"].pop("title_vector")
    cls["description"] = (
        "askloop knowledge base; embedder=openai:text-embedding-3-small; dimensions=8"
    )
    with pytest.raises(IncompatibleStoreError, match="embedded with openai"):
        make().search(tenant="acme", query="x", vector=None, k=1, mode="keyword")
    assert {m for m, _ in fake.rest} <= {"GET", "HEAD"}
    assert len(fake.calls["BatchObjects"]) == 1 and "BatchDelete" not in fake.calls


def test_a_weaviate_older_than_1_27_is_refused(fake, make):
    fake.version = "1.26.3"
    with pytest.raises(IncompatibleStoreError, match="1.26.3 is not supported"):
        make().count(tenant="acme")


# -- faults ----------------------------------------------------------------------------


def test_weaviate_down_is_a_quick_typed_error(make, embedder):
    port = free_port()
    store = make(url=f"http://127.0.0.1:{port}", grpc_port=free_port())
    started = time.monotonic()
    with pytest.raises(StoreUnavailableError, match="can't search right now: .*unreachable"):
        store.search(tenant="acme", query="leave", vector=None, k=3, mode="keyword")
    with pytest.raises(StoreUnavailableError):
        store.ping()
    assert time.monotonic() - started < 3


def test_grpc_unavailable_is_retried_then_reported(fake, make, embedder):
    store = make(attempts=3)
    put(store, embedder, "acme", chunks(1))
    fake.faults["Search"] = [UNAVAILABLE, 1]
    store.search(tenant="acme", query="leave", vector=None, k=3, mode="keyword")
    assert len(fake.calls["Search"]) == 2

    fake.faults["Search"] = [UNAVAILABLE, 99]
    started = time.monotonic()
    with pytest.raises(StoreUnavailableError, match="can't search right now: .*unavailable"):
        store.search(tenant="acme", query="leave", vector=None, k=3, mode="keyword")
    assert len(fake.calls["Search"]) == 2 + 3 and time.monotonic() - started < 2

    fake.faults["BatchObjects"] = [UNAVAILABLE, 1]
    put(store, embedder, "acme", chunks(1))
    retried, again = fake.calls["BatchObjects"][-2:]
    assert [o.uuid for o in retried.objects] == [o.uuid for o in again.objects]


def test_permission_denied_points_at_the_api_key_without_retrying(fake, make, embedder):
    store = make()
    put(store, embedder, "acme", chunks(1))
    fake.faults["Search"] = [grpc.StatusCode.PERMISSION_DENIED, 99]
    with pytest.raises(StoreUnavailableError, match="check WEAVIATE_API_KEY"):
        store.search(tenant="acme", query="leave", vector=None, k=3, mode="keyword")
    assert len(fake.calls["Search"]) == 1


def test_api_key_is_sent_and_a_wrong_one_is_named(fake, make, embedder):
    fake.api_key = "s3cret"
    put(make(api_key="s3cret"), embedder, "acme", chunks(1))
    assert fake.calls["BatchObjects:metadata"][0]["authorization"] == "Bearer s3cret"
    with pytest.raises(StoreUnavailableError, match="rejected the credentials; check WEAVIATE_API"):
        make(api_key="wrong").count(tenant="acme")


def test_a_slow_server_times_out_quickly_without_retry(fake, make, embedder):
    store = make(query=0.3)
    put(store, embedder, "acme", chunks(1))
    fake.slow.set()
    started = time.monotonic()
    with pytest.raises(StoreUnavailableError, match="did not answer in time"):
        store.search(tenant="acme", query="leave", vector=None, k=3, mode="keyword")
    assert time.monotonic() - started < 1.5 and len(fake.calls["Search"]) == 1


def test_ping_checks_rest_and_grpc(fake, make):
    make().ping()
    assert ("GET", "/v1/.well-known/ready") in fake.rest
    with pytest.raises(StoreUnavailableError, match="gRPC"):
        make(grpc_port=free_port()).ping()


@pytest.mark.asyncio
async def test_the_async_readiness_check_uses_the_async_client(fake, make):
    store = make(api_key="secret")
    fake.api_key = "secret"
    try:
        await store.aping()
        assert ("GET", "/v1/.well-known/ready") in fake.rest
        assert not store._collection.has_client  # the sync client was never opened for it
        fake.api_key = "other"
        with pytest.raises(StoreUnavailableError, match="WEAVIATE_API_KEY"):
            await store.aping()
    finally:
        await store.aclose()
    down = make(url=f"http://127.0.0.1:{free_port()}")
    with pytest.raises(StoreUnavailableError):
        await down.aping()
    await down.aclose()


def test_close_disconnects_and_the_next_call_reconnects(fake, make, embedder):
    store = make()
    store.count(tenant="acme")
    store.close()
    store.close()
    store.count(tenant="acme")
    assert fake.rest.count(("GET", "/v1/meta")) == 2


def test_factory_reads_settings_and_does_not_connect(fake, embedder, monkeypatch):
    monkeypatch.setenv("WEAVIATE_URL", fake.url)
    monkeypatch.setenv("WEAVIATE_API_KEY", "k")
    settings = load_settings(search={"alpha": 0.25}, weaviate={"grpc_port": fake.grpc_port})
    store = make_weaviate_store(settings, embedder)
    assert fake.rest == []
    assert store.collection_name == "AskloopChunk"
    # Used when it is first called: the key authenticates, the alpha weighs the fusion.
    fake.api_key = "k"
    try:
        put(store, embedder, "acme", chunks(1))
        q = embedder.embed_query("annual leave")
        store.search(tenant="acme", query="annual leave", vector=q, k=4, mode="hybrid")
    finally:
        store.close()
    (request,) = fake.calls["Search"]
    assert request.hybrid_search.alpha == pytest.approx(0.25)
    monkeypatch.setenv("WEAVIATE_URL", "https://abc.weaviate.cloud")
    monkeypatch.delenv("WEAVIATE_API_KEY")
    with pytest.raises(SettingsError, match="needs WEAVIATE_API_KEY"):
        make_weaviate_store(load_settings(), embedder)
