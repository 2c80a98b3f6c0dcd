"""Ingest: walk paths, load, chunk, embed and write documents, one document at a time.

Whole documents are batched (``batch_chunks``), embedded, then written in one upsert,
after which the chunks of their older versions are deleted: a failure never leaves a
half-written document. Unchanged documents are skipped without embedding; a document
is unchanged when its content and how it is cut (chunker version, embedder, chunk
settings: ``chunking_hash``) are. Files that cannot be read are reported and the rest
continues.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from askloop.agent.ports import Embedder, VectorStore
from askloop.agent.records import Chunk, document_id_for
from askloop.config.settings import IngestSettings
from askloop.integrations.ingest.chunker import chunk_document, chunking_hash
from askloop.integrations.ingest.loaders import SUPPORTED_SUFFIXES, LoadError, load_file

__all__ = ["IngestProgress", "IngestReport", "Problem", "ingest_paths"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Problem:
    path: str
    reason: str


@dataclass(slots=True)
class IngestReport:
    files_seen: int = 0
    documents_written: int = 0
    documents_unchanged: int = 0
    chunks_written: int = 0
    chunks_replaced: int = 0
    documents_pruned: int = 0
    chunks_pruned: int = 0
    unsupported_skipped: int = 0
    embed_seconds: float = 0.0
    total_seconds: float = 0.0
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


class IngestProgress(Protocol):
    """Hears how an ingest is going (a progress bar): files read, chunks made and stored."""

    def started(self, *, files: int) -> None: ...

    def file_done(self, *, chunks: int) -> None:
        """A file was read: ``chunks`` new chunks to embed (0 when unchanged or skipped)."""
        ...

    def chunks_stored(self, count: int) -> None: ...


@dataclass(frozen=True, slots=True)
class _Candidate:
    path: Path
    root: Path  # the folder given on the command line (its parent for a single file)


def _walk(paths: Sequence[Path], report: IngestReport) -> Iterator[_Candidate]:
    for given in paths:
        path = given.expanduser()
        if not path.exists():
            report.problems.append(Problem(str(given), "no such file or directory"))
            continue
        path = path.resolve()
        if path.is_file():
            yield _Candidate(path, path.parent)
            continue
        for child in sorted(path.rglob("*")):
            rel = child.relative_to(path)
            if any(part.startswith(".") for part in rel.parts) or not child.is_file():
                continue
            if child.suffix.lower() not in SUPPORTED_SUFFIXES:
                report.unsupported_skipped += 1
                log.debug("skipping unsupported file %s", child)
                continue
            yield _Candidate(child, path)


@dataclass(frozen=True, slots=True)
class _Pending:
    document_id: str
    document_hash: str
    replaces: bool
    chunks: list[Chunk]


@dataclass(slots=True)
class _Batch:
    """Whole documents waiting to be embedded and written together (fewer, larger writes)."""

    docs: list[_Pending] = field(default_factory=list)
    size: int = 0

    def add(self, pending: _Pending) -> None:
        self.docs.append(pending)
        self.size += len(pending.chunks)

    def flush(
        self,
        store: VectorStore,
        embedder: Embedder,
        tenant: str,
        report: IngestReport,
        progress: IngestProgress | None,
    ) -> None:
        if not self.docs:
            return
        chunks = [c for d in self.docs for c in d.chunks]
        t0 = time.perf_counter()
        vectors = embedder.embed_documents([c.search_text for c in chunks])
        report.embed_seconds += time.perf_counter() - t0
        # One upsert for the batch: every document in it is written whole or not at all.
        report.chunks_written += store.upsert(tenant=tenant, chunks=chunks, vectors=vectors)
        for d in self.docs:
            if d.replaces:
                report.chunks_replaced += store.delete_document(
                    tenant=tenant, document_id=d.document_id, keep_hash=d.document_hash
                )
        report.documents_written += len(self.docs)
        if progress is not None:
            progress.chunks_stored(len(chunks))
        self.docs = []
        self.size = 0


def _citation_url(candidate: _Candidate, base_url: str | None) -> str:
    if not base_url:
        return ""
    rel = candidate.path.relative_to(candidate.root).as_posix()
    return f"{base_url.rstrip('/')}/{rel}"


def ingest_paths(
    paths: Sequence[Path],
    *,
    tenant: str,
    store: VectorStore,
    embedder: Embedder,
    settings: IngestSettings,
    prune: bool = False,
    progress: IngestProgress | None = None,
    batch_chunks: int = 256,
) -> IngestReport:
    """Ingest ``paths`` (files or folders) into ``tenant``; see the module docstring."""
    started = time.perf_counter()
    report = IngestReport()
    candidates = list(_walk(paths, report))
    report.files_seen = len(candidates)
    existing = store.documents(tenant=tenant)
    seen: set[str] = set()
    batch = _Batch()
    max_bytes = settings.max_file_mb * 1024 * 1024
    # Chunks are sized by the embedder's own tokenizer and never longer than it reads.
    max_tokens = min(settings.chunk_tokens, embedder.max_tokens)

    if progress is not None:
        progress.started(files=len(candidates))

    def done(chunks: int = 0) -> None:
        if progress is not None:
            progress.file_done(chunks=chunks)

    for candidate in candidates:
        source = str(candidate.path)
        doc_id = document_id_for(source)
        seen.add(doc_id)
        try:
            size = candidate.path.stat().st_size
            if size > max_bytes:
                raise LoadError(
                    f"{size / 1048576:.1f} MB is over ingest.max_file_mb "
                    f"({settings.max_file_mb:g} MB); split it or raise the limit"
                )
            doc = load_file(candidate.path, url=_citation_url(candidate, settings.base_url))
        except LoadError as exc:
            log.info("skipping %s: %s", candidate.path, exc)
            report.problems.append(Problem(source, str(exc)))
            done()
            continue
        document_hash = chunking_hash(
            doc.content_hash,
            model_id=embedder.model_id,
            max_tokens=max_tokens,
            overlap=settings.chunk_overlap,
        )
        previous = existing.get(doc_id)
        if previous is not None and previous[1] == {document_hash}:
            report.documents_unchanged += 1
            done()
            continue
        modified = datetime.fromtimestamp(candidate.path.stat().st_mtime, tz=UTC)
        chunks = chunk_document(
            doc,
            count_tokens=embedder.count_tokens,
            max_tokens=max_tokens,
            overlap=settings.chunk_overlap,
            updated_at=modified,
            document_hash=document_hash,
        )
        batch.add(_Pending(doc_id, document_hash, previous is not None, chunks))
        done(len(chunks))
        if batch.size >= batch_chunks:
            batch.flush(store, embedder, tenant, report, progress)
    batch.flush(store, embedder, tenant, report, progress)

    if prune:
        roots = [p.expanduser().resolve() for p in paths if p.expanduser().is_dir()]
        for doc_id, (source, _) in existing.items():
            if doc_id in seen or not any(_is_under(Path(source), root) for root in roots):
                continue
            if Path(source).exists():
                continue  # still there, just not matched this time (e.g. now hidden)
            report.chunks_pruned += store.delete_document(tenant=tenant, document_id=doc_id)
            report.documents_pruned += 1
            log.info("pruned %s (file is gone)", source)
    report.total_seconds = time.perf_counter() - started
    return report


def _is_under(path: Path, root: Path) -> bool:
    try:
        path.relative_to(root)
    except ValueError:
        return False
    return True
