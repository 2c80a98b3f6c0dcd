"""Retrieval quality of the embedded knowledge base: MRR@10 and Recall@10 per search mode.

Ingests 2,000 Wikipedia extracts through askloop's own store and embedder, queries with
the descriptions of 200 held-out articles (see bench/_wiki.py for the protocol), and
prints one line per mode. ``--tune`` grid-searches the hybrid ``alpha`` on the 300
TUNE queries only; the EVAL figures are never used to choose anything.

By default each extract is one chunk, as the corpus gives it. ``--ingest`` instead
chunks every extract through askloop's own chunker with the default ingest settings,
as `askloop ingest` would (a query's answer is the article of any of its chunks).

    python bench/retrieval_quality.py [--threads 2] [--tune] [--ingest]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from askloop.agent.records import document_id_for  # noqa: E402
from askloop.config.settings import IngestSettings, SearchSettings  # noqa: E402
from askloop.integrations.ingest.chunker import chunk_document  # noqa: E402
from askloop.integrations.ingest.loaders import LoadedDocument, Section  # noqa: E402
from askloop.integrations.models.embedders import MiniLMEmbedder  # noqa: E402
from askloop.integrations.stores.lance.store import LanceStore  # noqa: E402
from bench._wiki import benchmark_split, wiki_chunks  # noqa: E402

TARGET_HYBRID_MRR = 0.82


def mrr_recall(store, embedder, docs, ids, mode, k=10, vectors=None):
    rr = hit = 0.0
    for i in ids:
        query = docs[i]["description"].strip()
        vector = vectors[i] if vectors is not None else embedder.embed_query(query)
        hits = store.search(tenant="bench", query=query, vector=vector, k=k, mode=mode)
        ranked = [h.chunk.document_id for h in hits]
        gold = document_id_for(f"wiki:{docs[i]['title']}")
        if gold in ranked:
            rr += 1 / (ranked.index(gold) + 1)
            hit += 1
    return rr / len(ids), hit / len(ids)


def ingest_chunks(docs, embedder):
    """Each extract through the ingest chunker, with the default ingest settings."""
    settings = IngestSettings()
    max_tokens = min(settings.chunk_tokens, embedder.max_tokens)
    chunks = []
    for v in docs:
        doc = LoadedDocument(
            source=f"wiki:{v['title']}",
            title=v["title"],
            doc_type="text",
            content_hash="1",
            sections=[Section((), v["extract"].strip())],
        )
        chunks.extend(
            chunk_document(
                doc,
                count_tokens=embedder.count_tokens,
                max_tokens=max_tokens,
                overlap=settings.chunk_overlap,
            )
        )
    return chunks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--tune", action="store_true", help="grid-search alpha on TUNE queries")
    parser.add_argument(
        "--ingest", action="store_true", help="chunk the extracts with the ingest chunker"
    )
    args = parser.parse_args()

    docs, eval_ids, tune_ids = benchmark_split()
    embedder = MiniLMEmbedder(threads=args.threads)
    chunks = ingest_chunks(docs, embedder) if args.ingest else wiki_chunks(docs)
    t0 = time.perf_counter()
    vectors = embedder.embed_documents([c.search_text for c in chunks])
    embed_s = time.perf_counter() - t0
    query_ids = eval_ids + tune_ids
    qvec = dict(
        zip(
            query_ids,
            embedder.embed_documents([docs[i]["description"].strip() for i in query_ids]),
            strict=True,
        )
    )
    alpha = SearchSettings().alpha

    with tempfile.TemporaryDirectory() as tmp:
        store = LanceStore(
            Path(tmp), embedder_id=embedder.model_id, dimensions=embedder.dimensions, alpha=alpha
        )
        store.upsert(tenant="bench", chunks=chunks, vectors=vectors)
        store.close()  # builds the indexes, as `askloop ingest` does
        print(
            f"ingested {len(docs)} extracts as {len(chunks)} chunks (embedding {embed_s:.0f}s); "
            f"{len(eval_ids)} EVAL queries, {len(tune_ids)} TUNE queries"
        )
        if args.tune:
            for a in [x / 20 for x in range(4, 17)]:
                store._alpha = a
                mrr, rec = mrr_recall(store, embedder, docs, tune_ids, "hybrid", vectors=qvec)
                print(f"  tune alpha={a:.2f}  MRR@10={mrr:.4f}  Recall@10={rec:.3f}")
            store._alpha = alpha
        results = {}
        for mode in ("keyword", "vector", "hybrid"):
            mrr, rec = mrr_recall(store, embedder, docs, eval_ids, mode, vectors=qvec)
            results[mode] = mrr
            print(f"{mode:8s} MRR@10={mrr:.4f}  Recall@10={rec:.3f}")
        store.close()
    verdict = "meets" if results["hybrid"] >= TARGET_HYBRID_MRR else "MISSES"
    print(
        f"hybrid (relative score fusion, alpha={alpha}) {verdict} the target "
        f"MRR@10 >= {TARGET_HYBRID_MRR}"
    )


if __name__ == "__main__":
    main()
