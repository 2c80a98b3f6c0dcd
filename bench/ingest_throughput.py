"""Ingest throughput end to end: files on disk -> chunks in the embedded store.

Writes ``--docs`` Wikipedia extracts as Markdown files, runs askloop's real ingest
pipeline with the real embedder (warmed up first, so model loading is not counted),
then closes the store (index maintenance, as `askloop ingest` does). Prints chunks/s
and the share of wall time spent inside the embedder; the rest is askloop's overhead.

    python bench/ingest_throughput.py [--docs 300] [--threads 1]
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from askloop.config.settings import IngestSettings  # noqa: E402
from askloop.integrations.ingest.pipeline import ingest_paths  # noqa: E402
from askloop.integrations.models.embedders import MiniLMEmbedder  # noqa: E402
from askloop.integrations.stores.lance.store import LanceStore  # noqa: E402
from bench._wiki import wiki_articles  # noqa: E402

TARGET_EMBED_SHARE = 0.85


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--docs", type=int, default=300)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    embedder = MiniLMEmbedder(threads=args.threads)
    embedder.embed_documents(["warm-up"])
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "kb"
        root.mkdir()
        for i, article in enumerate(wiki_articles()[: args.docs]):
            name = re.sub(r"\W+", "-", article["title"]).strip("-").lower() or f"doc{i}"
            (root / f"{i:05d}-{name}.md").write_text(
                f"# {article['title']}\n\n{article['extract']}\n", encoding="utf-8"
            )
        store = LanceStore(
            Path(tmp) / "store", embedder_id=embedder.model_id, dimensions=embedder.dimensions
        )
        started = time.perf_counter()
        report = ingest_paths(
            [root], tenant="bench", store=store, embedder=embedder, settings=IngestSettings()
        )
        store.close()
        wall = time.perf_counter() - started
    share = report.embed_seconds / wall
    print(
        f"{report.documents_written} documents, {report.chunks_written} chunks in {wall:.1f}s: "
        f"{report.chunks_written / wall:.1f} chunks/s, "
        f"{report.documents_written / wall:.1f} docs/s "
        f"(embedder threads={args.threads})"
    )
    verdict = "met" if share >= TARGET_EMBED_SHARE else "MISSED"
    print(
        f"embedder share of wall time: {share:.1%} "
        f"(target >= {TARGET_EMBED_SHARE:.0%}: {verdict}); "
        f"overhead {wall - report.embed_seconds:.2f}s"
    )


if __name__ == "__main__":
    main()
