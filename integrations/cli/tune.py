"""``askloop tune router [--tenant T] [--json]``: fit the tenant's route decision on its
own corpus and its rated decisions, keeping the latter only when held-out threads say
they help (integrations/tuning/router.py, rated.py); ``askloop ingest`` does the same whenever
the corpus changed, when the calibrated router is configured (it is opt-in).

``askloop tune model --out DIR [--tenant T] [--base SPEC] [--json]``: train a candidate
fine-tuned model from the tenant's rated log (integrations/tuning/model.py; hosted with
``--provider openai``)."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from askloop.integrations.cli.args import TENANT_HELP, whole_number

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
    router.add_argument("--tenant", help=TENANT_HELP)
    router.add_argument("--json", action="store_true", help="print one JSON object")
    model = what.add_parser("model", help="train a candidate model from the rated log")
    model.add_argument(
        "--out", required=True, type=Path, metavar="DIR", help="folder to write the model to"
    )
    model.add_argument("--tenant", help=TENANT_HELP)
    model.add_argument("--base", metavar="SPEC", help="model to start from (default local:default)")
    model.add_argument(
        "--provider",
        choices=("local", "openai"),
        default="local",
        help="local: LoRA on this machine; openai: a fine-tuning job at OPENAI_BASE_URL",
    )
    model.add_argument(
        "--epochs",
        type=whole_number(high=100),
        default=None,
        help="passes over the examples (default: the trainer's, 8 for local)",
    )
    model.add_argument(
        "--max-steps",
        type=whole_number(),
        default=None,
        help="stop after this many steps (default: as many as the epochs take)",
    )
    model.add_argument("--json", action="store_true", help="print one JSON object")


def run(args: argparse.Namespace, services: Any, tenant: str) -> int:
    if args.tune_what == "model":
        return _tune_model(args, services, tenant)
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


def _tune_model(args: argparse.Namespace, services: Any, tenant: str) -> int:
    if args.provider == "openai":
        from askloop.integrations.tuning.hosted import tune_hosted

        manifest = tune_hosted(services, tenant=tenant, out=args.out, base=args.base)
    else:
        from askloop.integrations.tuning.local_model import LoraSettings
        from askloop.integrations.tuning.model import knowledge_base_states, tune_local

        lora = LoraSettings()
        if args.epochs:
            lora = replace(lora, epochs=args.epochs)
        if args.max_steps:
            lora = replace(lora, max_steps=args.max_steps)
        manifest = tune_local(
            services.answer_log,
            tenant=tenant,
            out=args.out,
            base=args.base,
            settings=lora,
            stated=knowledge_base_states(services, tenant),
        )
    examples = manifest["examples"]
    trained = examples["trained"]
    if args.json:
        summary = {"out": str(args.out), **manifest, "examples": trained, "counts": examples}
        print(json.dumps(summary, ensure_ascii=False))
        return 0
    rows = f" ({examples['train_rows']} rows in other words)" if "train_rows" in examples else ""
    print(
        f"tenant {tenant}: candidate {manifest['version']} in {args.out}\n"
        f"  trained on {trained} rated answers{rows} in {manifest['steps']} steps, "
        f"{manifest['seconds']:.0f}s"
    )
    if examples.get("in_knowledge_base"):
        print(
            f"  {examples['in_knowledge_base']} corrections the knowledge base already states "
            "were left to the router (askloop tune router)"
        )
    if manifest.get("model"):
        print(f"  model {manifest['model']}")
    held = examples.get(
        "held_out", examples.get("held_out_fact", 0) + examples.get("held_out_kb", 0)
    )
    print(f"  {held} held out: askloop eval --model {args.out} --tenant {tenant}")
    return 0


def calibrate_after_ingest(services: Any, tenant: str) -> None:
    """Refit the tenant's router when the ingest changed its corpus (one line on stderr),
    if routing uses it: a fit costs seconds and nothing reads it under another router."""
    if services.policy.router != "calibrated":
        return
    result = services.calibrate_router(tenant)
    if result.status != "unchanged":
        print(f"askloop: router of tenant {tenant} {_STATUS[result.status]}", file=sys.stderr)
