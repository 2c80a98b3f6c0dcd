"""Weaviate knowledge base: ingest objects/s and search latency against a real server.

Needs ``WEAVIATE_URL`` (and ``WEAVIATE_API_KEY`` when auth is on); the gRPC host/port
come from askloop's settings as usual. Writes ``--chunks`` synthetic chunks (random
words from a 5,000-word vocabulary, random unit vectors of ``--dims``) through
``WeaviateStore.upsert`` in batches of ``--batch``, then runs ``--queries`` searches per
mode. Everything goes to a fresh collection, ``AskloopBench<random>``, dropped at the
end unless ``--keep``.

    WEAVIATE_URL=http://localhost:8080 WEAVIATE_API_KEY=... python bench/weaviate.py \
        [--chunks 20000] [--dims 384] [--batch 256] [--queries 200]
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from pathlib import Path

import numpy as np

# Run as a script, this file's folder is sys.path[0] and this file would shadow the
# weaviate package; search from the repository root instead.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

from askloop.agent.errors import StoreUnavailableError  # noqa: E402
from askloop.agent.records import Chunk, chunk_id_for, document_id_for  # noqa: E402
from askloop.config.settings import load_settings  # noqa: E402
from askloop.integrations.stores.weaviate.store import make_weaviate_store  # noqa: E402


class _RandomEmbedder:
    """Only its identity is used: vectors are generated below."""

    def __init__(self, dims: int) -> None:
        self.model_id, self.dimensions = f"bench:random-{dims}", dims


def synthetic(n: int, rng: np.random.Generator, vocab: list[str]) -> list[Chunk]:
    chunks = []
    for i in range(n):
        doc = document_id_for(f"bench://doc/{i // 8}")
        text = " ".join(rng.choice(vocab, size=int(rng.integers(40, 120))))
        chunks.append(
            Chunk(
                chunk_id=chunk_id_for(doc, i % 8, text),
                document_id=doc,
                document_hash="1",
                text=text,
                title=f"Document {i // 8}",
                source=f"bench://doc/{i // 8}",
                position=i % 8,
            )
        )
    return chunks


def unit(rng: np.random.Generator, n: int, dims: int) -> np.ndarray:
    v = rng.normal(size=(n, dims)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def report(name: str, ms: list[float]) -> None:
    p50, p95, p99 = np.percentile(ms, [50, 95, 99])
    print(f"{name:18s} p50={p50:7.2f} ms  p95={p95:7.2f}  p99={p99:7.2f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--chunks", type=int, default=20_000)
    parser.add_argument("--dims", type=int, default=384)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--keep", action="store_true", help="keep the benchmark collection")
    args = parser.parse_args()

    settings = load_settings()
    if not settings.weaviate.url:
        print("bench/weaviate.py needs WEAVIATE_URL (e.g. http://localhost:8080); skipped.")
        return 0

    rng = np.random.default_rng(0)
    vocab = [f"w{i}" for i in range(5_000)]
    name = f"AskloopBench{uuid.uuid4().hex[:8]}"
    store = make_weaviate_store(settings, _RandomEmbedder(args.dims), collection=name)  # type: ignore[arg-type]
    try:
        store.ping()
    except StoreUnavailableError as exc:
        print(f"bench/weaviate.py: {exc}", file=sys.stderr)
        return 1
    try:
        chunks = synthetic(args.chunks, rng, vocab)
        vectors = unit(rng, len(chunks), args.dims)
        t0 = time.perf_counter()
        for start in range(0, len(chunks), args.batch):
            stop = start + args.batch
            store.upsert(tenant="bench", chunks=chunks[start:stop], vectors=vectors[start:stop])
        seconds = time.perf_counter() - t0
        print(
            f"ingest: {len(chunks)} objects in {seconds:.1f}s = {len(chunks) / seconds:,.0f} "
            f"objects/s (batches of {args.batch}, {args.dims} dims, collection {name})"
        )
        queries = [" ".join(rng.choice(vocab, size=4)) for _ in range(args.queries)]
        qvecs = unit(rng, args.queries, args.dims)
        for q, v in zip(queries[:10], qvecs[:10], strict=True):  # warm up
            store.search(tenant="bench", query=q, vector=v, k=10, mode="hybrid")
        for mode in ("hybrid", "keyword", "vector"):
            ms = []
            for q, v in zip(queries, qvecs, strict=True):
                t = time.perf_counter()
                store.search(tenant="bench", query=q, vector=v, k=10, mode=mode)
                ms.append((time.perf_counter() - t) * 1000)
            report(f"search {mode}", ms)
    finally:
        if not args.keep:
            store.drop_collection()
        store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
