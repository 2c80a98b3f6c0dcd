"""The calibrated router refitted on the tenant's rated decisions, judged on held-out
threads.

The log's rated answers are labelled (agent/rated_routes.py; a 👎's correction is looked
up in the knowledge base), split by thread, and the corpus-only model is refitted with
the fit side's decisions. Every question goes through today's probe search, as it would
live: the features are the current corpus', not the ones logged. The refit is kept only
when it decides the held-out side better (balanced accuracy) than the corpus-only model;
the report says what each router scores there, the decisions logged at the time too.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from askloop.agent.calibration import RouterModel, decide_calibrated, fit_router, route_features
from askloop.agent.context import Policy
from askloop.agent.ports import Embedder, VectorStore
from askloop.agent.rated_routes import (
    RatedDecision,
    Score,
    label_of,
    score,
    split,
    states_correction,
)
from askloop.agent.routing import decide
from askloop.agent.state import HitData
from askloop.integrations.tuning.router import probe_hits

__all__ = ["MIN_HELD_OUT", "rated_decisions", "refit_on_ratings"]

log = logging.getLogger(__name__)

#: Fewer held-out rated decisions than this judge nothing: the refit is not kept.
MIN_HELD_OUT = 10


def rated_decisions(
    answer_log: Any, store: VectorStore, embedder: Embedder, *, tenant: str, policy: Policy
) -> list[RatedDecision]:
    """The tenant's rated answers that say which route was right, oldest first."""
    out = []
    for item in answer_log.iter_rated(tenant=tenant, with_trace=True):
        correction = (item.gold or item.correction).strip()
        stated = None
        if item.rating == "down" and correction:
            [hits] = probe_hits(
                store, embedder, tenant=tenant, policy=policy, questions=[correction]
            )
            stated = states_correction(correction, hits)
        decision = label_of(item, correction_stated=stated)
        if decision is not None:
            out.append(decision)
    return out


def refit_on_ratings(
    model: RouterModel,
    answer_log: Any,
    store: VectorStore,
    embedder: Embedder,
    *,
    tenant: str,
    policy: Policy,
    positives: Sequence[Mapping[str, float]],
    negatives: Sequence[Mapping[str, float]],
    seed: int = 0,
) -> RouterModel:
    """``model`` (fitted on the corpus alone) or its refit with the rated decisions,
    whichever decides the held-out threads better; its report says which and why."""
    try:
        decisions = rated_decisions(answer_log, store, embedder, tenant=tenant, policy=policy)
    except Exception:  # the corpus-only model still stands
        log.warning("router of tenant %s: the rated log could not be read", tenant, exc_info=True)
        return _reported(model, {"adopted": False, "why": "the rated log could not be read"})
    fit, held = split(decisions, seed=seed)
    report: dict[str, Any] = {"decisions": len(decisions), "fit": len(fit), "held_out": len(held)}
    if len(held) < MIN_HELD_OUT or not {d.label for d in fit} >= {"retrieve", "finetuned"}:
        why = (
            f"too few rated decisions to judge a refit on (held out {len(held)}, "
            f"at least {MIN_HELD_OUT}; the fit side needs both labels)"
        )
        return _reported(model, {**report, "adopted": False, "why": why})
    hits = probe_hits(
        store, embedder, tenant=tenant, policy=policy, questions=[d.question for d in decisions]
    )
    by_id = {d.answer_id: h for d, h in zip(decisions, hits, strict=True)}
    rows = [
        (route_features(d.question, by_id[d.answer_id], model.stats, model.common), d) for d in fit
    ]
    refit = fit_router(
        positives,
        negatives,
        stats=model.stats,
        common=model.common,
        fingerprint=model.fingerprint,
        seed=seed,
        rated=[(row, d.label == "retrieve") for row, d in rows],
    )
    labels = [d.label for d in held]
    held_hits = [by_id[d.answer_id] for d in held]

    def judged(route: Callable[[str, list[HitData]], str]) -> Score:
        return score(labels, [route(d.question, h) for d, h in zip(held, held_hits, strict=True)])

    before = judged(lambda q, h: decide_calibrated(q, h, model)[0])
    after = judged(lambda q, h: decide_calibrated(q, h, refit)[0])
    threshold = judged(lambda q, h: decide(q, h, policy)[0])
    logged = [d for d in held if d.decided in ("retrieve", "finetuned")]
    adopted = after.balanced > before.balanced
    report |= {
        "adopted": adopted,
        "why": (
            "the refit decides the held-out threads better"
            if adopted
            else "the refit does not decide the held-out threads better than the corpus alone"
        ),
        "held_out_scores": {
            "corpus_only": before.to_json(),
            "with_ratings": after.to_json(),
            "threshold_router": threshold.to_json(),
            "logged": score([d.label for d in logged], [d.decided for d in logged]).to_json(),
        },
    }
    log.info("router of tenant %s on rated decisions: %s", tenant, report)
    return _reported(refit if adopted else model, report)


def _reported(model: RouterModel, rated: dict[str, Any]) -> RouterModel:
    return replace(model, report={**model.report, "rated": rated})
