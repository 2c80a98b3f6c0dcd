"""Ingest end to end with a fake embedder and the real embedded store."""

from __future__ import annotations

from pathlib import Path

import pytest

from askloop.agent.records import document_id_for
from askloop.config.settings import IngestSettings
from askloop.integrations.ingest.pipeline import ingest_paths
from askloop.integrations.stores.lance.store import LanceStore
from tests.fakes import HashingEmbedder

LEAVE = "# Leave\n\n## Annual leave\n\nEveryone gets 26 days of annual leave.\n"
ONCALL = "# On-call\n\nPages are answered within 15 minutes.\n\n## Escalation\n\nUse #inc-bridge.\n"


@pytest.fixture
def kb(tmp_path: Path) -> Path:
    root = tmp_path / "kb"
    (root / "people").mkdir(parents=True)
    (root / "people" / "leave.md").write_text(LEAVE)
    (root / "oncall.md").write_text(ONCALL)
    (root / "notes.txt").write_text("The kitchen closes at 18:00.\n")
    (root / ".hidden.md").write_text("# Secret\n\nnot for ingest\n")
    (root / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    return root


@pytest.fixture
def embedder() -> HashingEmbedder:
    return HashingEmbedder()


@pytest.fixture
def store(tmp_path: Path, embedder: HashingEmbedder):
    s = LanceStore(
        tmp_path / "store", embedder_id=embedder.model_id, dimensions=embedder.dimensions
    )
    yield s
    s.close()


def run(paths, store, embedder, *, prune=False, tenant="acme", **settings):
    return ingest_paths(
        [Path(p) for p in paths],
        tenant=tenant,
        store=store,
        embedder=embedder,
        settings=IngestSettings(**settings),
        prune=prune,
    )


def sources(store, tenant="acme") -> set[str]:
    return {Path(src).name for src, _ in store.documents(tenant=tenant).values()}


def test_ingests_supported_files_and_skips_the_rest(kb, store, embedder):
    report = run([kb], store, embedder)
    assert report.ok
    assert report.documents_written == 3
    assert report.unsupported_skipped == 1
    assert sources(store) == {"leave.md", "oncall.md", "notes.txt"}
    assert store.count(tenant="acme") == report.chunks_written == 4


def test_reingest_is_idempotent_and_embeds_nothing(kb, store, embedder):
    run([kb], store, embedder)
    before = embedder.texts_embedded
    report = run([kb], store, embedder)
    assert (report.documents_written, report.documents_unchanged) == (0, 3)
    assert embedder.texts_embedded == before
    assert store.count(tenant="acme") == 4


def test_a_changed_file_replaces_its_chunks(kb, store, embedder):
    run([kb], store, embedder)
    (kb / "people" / "leave.md").write_text(LEAVE.replace("26", "30") + "\nCarry over 5.\n")
    report = run([kb], store, embedder)
    assert report.documents_written == 1 and report.chunks_replaced == 1
    doc = store.documents(tenant="acme")[document_id_for(str((kb / "people/leave.md").resolve()))]
    assert len(doc[1]) == 1  # only the new version's chunks remain
    texts = [
        h.chunk.text
        for h in store.search(
            tenant="acme", query="annual leave", vector=None, k=10, mode="keyword"
        )
    ]
    assert any("30 days" in t for t in texts) and not any("26 days" in t for t in texts)


def test_prune_removes_only_files_that_are_gone(kb, store, embedder, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    (other / "faq.md").write_text("# FAQ\n\nAsk in #help.\n")
    run([kb, other], store, embedder)
    (kb / "oncall.md").unlink()
    report = run([kb], store, embedder)  # without --prune nothing is removed
    assert "oncall.md" in sources(store) and report.documents_pruned == 0
    report = run([kb], store, embedder, prune=True)
    assert report.documents_pruned == 1 and report.chunks_pruned == 2
    assert sources(store) == {"leave.md", "notes.txt", "faq.md"}


def test_bad_files_are_reported_and_the_rest_continues(kb, store, embedder):
    (kb / "empty.md").write_bytes(b"")
    (kb / "blob.txt").write_bytes(b"\x00\x01\x02binary")
    report = run([kb, kb / "missing.md"], store, embedder)
    reasons = {Path(p.path).name: p.reason for p in report.problems}
    assert set(reasons) == {"empty.md", "blob.txt", "missing.md"}
    assert "empty" in reasons["empty.md"]
    assert "binary" in reasons["blob.txt"]
    assert "no such file" in reasons["missing.md"]
    assert report.documents_written == 3 and not report.ok


def test_oversized_files_are_skipped_not_embedded(kb, store, embedder):
    (kb / "huge.txt").write_text("word " * 300_000)
    report = run([kb], store, embedder, max_file_mb=1)
    assert [Path(p.path).name for p in report.problems] == ["huge.txt"]
    assert "max_file_mb" in report.problems[0].reason
    assert "huge.txt" not in sources(store)


def test_an_embedder_failure_writes_nothing_of_that_document(kb, store, tmp_path):
    failing = HashingEmbedder(fail_on="15 minutes")
    s = LanceStore(tmp_path / "s2", embedder_id=failing.model_id, dimensions=failing.dimensions)
    with pytest.raises(RuntimeError):
        run([kb], s, failing)
    assert "oncall.md" not in sources(s)
    s.close()


def test_tenants_are_ingested_separately(kb, store, embedder):
    run([kb / "oncall.md"], store, embedder, tenant="acme")
    run([kb / "notes.txt"], store, embedder, tenant="globex")
    assert sources(store, "acme") == {"oncall.md"}
    assert sources(store, "globex") == {"notes.txt"}


def test_base_url_gives_citation_links(kb, store, embedder):
    run([kb], store, embedder, base_url="https://handbook.example/")
    hits = store.search(tenant="acme", query="annual leave", vector=None, k=1, mode="keyword")
    assert hits[0].chunk.url == "https://handbook.example/people/leave.md"


def test_chunks_are_bounded_by_what_the_embedder_reads(tmp_path):
    embedder = HashingEmbedder(max_tokens=40)
    (tmp_path / "kb").mkdir()
    paragraphs = [" ".join(f"word{p}x{i}" for i in range(25)) for p in range(8)]
    (tmp_path / "kb" / "long.md").write_text("# Long\n\n## Part\n\n" + "\n\n".join(paragraphs))
    store = LanceStore(tmp_path / "s", embedder_id=embedder.model_id, dimensions=64)
    try:
        run([tmp_path / "kb"], store, embedder, chunk_tokens=200, chunk_overlap=10)
        hits = store.search(tenant="acme", query="Part", vector=None, k=100, mode="keyword")
    finally:
        store.close()
    assert len(hits) == store.count(tenant="acme") > 1
    assert all(embedder.count_tokens(h.chunk.search_text) <= 40 for h in hits)


def test_a_change_in_how_documents_are_cut_rechunks_them(kb, store, embedder):
    run([kb], store, embedder)
    report = run([kb], store, embedder, chunk_tokens=64, chunk_overlap=8)
    assert (report.documents_written, report.documents_unchanged) == (3, 0)
    assert store.count(tenant="acme") == 4
    assert all(len(hashes) == 1 for _, hashes in store.documents(tenant="acme").values())
    report = run([kb], store, embedder, chunk_tokens=64, chunk_overlap=8)
    assert (report.documents_written, report.documents_unchanged) == (0, 3)
