"""``askloop tune router [--tenant T] [--json]``: fit the tenant's route decision on its
own corpus and its rated decisions, keeping the latter only when held-out threads say
they help (integrations/tuning/router.py, rated.py); ``askloop ingest`` does the same whenever
the corpus changed, when the calibrated router is configured (it is opt-in)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

__all__ = ["add_parser", "calibrate_after_ingest", "run"]

_STATUS = {
    "fitted": "fitted",
    "unchanged": "unchanged (fitted on this corpus already)",
    "too_small": "not fitted: too little text; the default router decides",
    "empty": "not fitted: nothing is ingested; the default router decides",
}


def add_parser(sub: Any) -> None:
    tune = sub.add_parser("tune", help="fit decisions on the tenant's own data")
    # The same parser class as every other command (usage errors exit 2).
    what = tune.add_subparsers(dest="tune_what", required=True, parser_class=type(tune))
    router = what.add_parser("router", help="fit the route decision on the tenant's corpus")
    router.add_argument("--tenant", help="knowledge-base tenant (default: settings)")
    router.add_argument("--json", action="store_true", help="print one JSON object")


def run(args: argparse.Namespace, services: Any, tenant: str) -> int:
    result = services.calibrate_router(tenant, force=True)
    if args.json:
        print(json.dumps(result.to_json(), ensure_ascii=False))
        return 0
    print(f"tenant {tenant}: router {_STATUS[result.status]}")
    if result.status == "fitted":
        r = result.report
        print(
            f"  on {r['positives']} questions from the corpus and {r['negatives']} off-topic "
            f"ones in {result.seconds:.1f}s; cross-validated: {r['positives_searched']:.0%} "
            f"of the corpus' questions searched, {r['negatives_kept_out']:.0%} of the "
            f"off-topic kept out\n  stored in {result.path}"
        )
        _print_rated(r.get("rated") or {})
    if services.policy.router != "calibrated":
        print(
            'askloop: routing uses it only with [graph] router = "calibrated" (opt-in)',
            file=sys.stderr,
        )
    return 0


def _print_rated(rated: dict[str, Any]) -> None:
    if not rated.get("decisions"):
        print("  rated decisions: none in the log say which route was right")
        return
    print(
        f"  rated decisions: {rated['decisions']} ({rated['fit']} fitted on, "
        f"{rated['held_out']} held out by thread); refit "
        f"{'adopted' if rated['adopted'] else 'not adopted'}: {rated['why']}"
    )
    names = {
        "logged": "decided at the time",
        "threshold_router": "threshold router",
        "corpus_only": "fitted on the corpus",
        "with_ratings": "with the ratings",
    }
    for key, name in names.items():
        s = (rated.get("held_out_scores") or {}).get(key)
        if s:
            print(
                f"    held out, {name}: accuracy {s['accuracy']:.0%}, balanced "
                f"{s['balanced_accuracy']:.0%} (n={s['n']})"
            )


def calibrate_after_ingest(services: Any, tenant: str) -> None:
    """Refit the tenant's router when the ingest changed its corpus (one line on stderr),
    if routing uses it: a fit costs seconds and nothing reads it under another router."""
    if services.policy.router != "calibrated":
        return
    result = services.calibrate_router(tenant)
    if result.status != "unchanged":
        print(f"askloop: router of tenant {tenant} {_STATUS[result.status]}", file=sys.stderr)
