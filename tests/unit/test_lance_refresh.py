"""A long-running reader (askloop serve) sees what another process ingests."""

from __future__ import annotations

from askloop.integrations.stores.lance.store import LanceStore
from tests.contract.test_vector_store import make_chunks, put, search
from tests.fakes import HashingEmbedder


def test_a_reader_sees_chunks_another_store_wrote_after_it_opened(tmp_path):
    embedder = HashingEmbedder()
    kwargs = {"embedder_id": embedder.model_id, "dimensions": embedder.dimensions}
    writer = LanceStore(tmp_path, **kwargs)
    put(writer, embedder, "acme", make_chunks("/kb/leave.md"))
    reader = LanceStore(tmp_path, refresh_seconds=0, **kwargs)
    assert reader.count(tenant="acme") == 2  # the reader has its table open now
    put(writer, embedder, "acme", make_chunks("/kb/parking.md"))
    hits = search(reader, embedder, "acme", "garage levels visitors", mode="keyword")
    assert hits and hits[0].chunk.title == "Parking"
    assert reader.count(tenant="acme") == 3
