"""``askloop eval`` and ``askloop promote``: judge a candidate on the tenant's held-out
rated questions, and make it the tenant's fine-tuned model (or roll back)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

__all__ = ["add_parsers", "run_eval", "run_promote"]


def add_parsers(sub: Any) -> None:
    ev = sub.add_parser("eval", help="replay held-out rated questions through a model")
    ev.add_argument("--model", required=True, metavar="SPEC", help="candidate: DIR or SPEC")
    ev.add_argument(
        "--baseline", metavar="SPEC", help="default: the tenant's current fine-tuned model"
    )
    ev.add_argument("--tenant", help="log tenant (default: settings)")
    ev.add_argument("--json", action="store_true", help="print one JSON object")

    pr = sub.add_parser("promote", help="make a candidate the tenant's fine-tuned model")
    pr.add_argument(
        "candidate",
        nargs="?",
        metavar="DIR|SPEC",
        help="the tuned model's folder (tune model --out) or a model spec; none with --rollback",
    )
    pr.add_argument("--tenant", help="log tenant (default: settings)")
    pr.add_argument("--force", action="store_true", help="promote even if not better")
    pr.add_argument("--rollback", action="store_true", help="undo the last promotion")
    pr.add_argument("--json", action="store_true", help="print one JSON object")


def _serving_spec(services: Any, tenant: str) -> str:
    from askloop.integrations.tuning.promotion import current

    entry = current(services.settings.home, tenant)
    return str(entry["spec"]) if entry else services.settings.models.finetuned


def _evaluation(services: Any, tenant: str, candidate: str, baseline: str | None) -> Any:
    from askloop.integrations.tuning.evaluate import evaluate
    from askloop.integrations.tuning.promotion import resolve_spec

    cand_spec, _ = resolve_spec(candidate)
    base_spec, _ = resolve_spec(baseline) if baseline else (_serving_spec(services, tenant), None)
    return evaluate(
        services.answer_log,
        tenant=tenant,
        candidate=services.chat_model(cand_spec),
        baseline=services.chat_model(base_spec),
    )


def _keep(candidate: str, result: Any) -> None:
    """A candidate folder keeps its latest evaluation beside its manifest."""
    folder = Path(candidate)
    if folder.is_dir():
        partial = folder / ".evaluation.json.partial"
        partial.write_text(json.dumps(result.to_json(), indent=2), encoding="utf-8")
        os.replace(partial, folder / "evaluation.json")


def run_eval(args: argparse.Namespace, services: Any, tenant: str) -> int:
    result = _evaluation(services, tenant, args.model, args.baseline)
    _keep(args.model, result)
    if args.json:
        print(json.dumps(result.to_json(), ensure_ascii=False))
    else:
        print(f"tenant {tenant}: {result.questions} held-out rated questions")
        print(result.table())
    return 0


def run_promote(args: argparse.Namespace, services: Any, tenant: str) -> int:
    from askloop.integrations.tuning.promotion import promote, rollback

    home = services.settings.home
    if args.rollback:
        if args.candidate:
            print("askloop: error: --rollback takes no candidate", file=sys.stderr)
            return 2
        entry = rollback(home, tenant)
        now = entry["version"] if entry else f"the configured {services.settings.models.finetuned}"
        _say(
            args,
            {"tenant": tenant, "rolled_back": True, "current": entry},
            f"tenant {tenant}: rolled back; the fine-tuned model is {now}",
        )
        return 0
    if not args.candidate:
        print("askloop: error: promote needs DIR|SPEC (or --rollback)", file=sys.stderr)
        return 2
    evaluation = None
    if not args.force:
        evaluation = _evaluation(services, tenant, args.candidate, None)
        _keep(args.candidate, evaluation)
        if evaluation.verdict is not None and not evaluation.verdict.better:
            print(evaluation.table(), file=sys.stderr)
            print(
                f"askloop: error: not promoted: the candidate is not better than tenant {tenant}'s "
                "current model (--force promotes anyway)",
                file=sys.stderr,
            )
            return 2
    entry = promote(home, tenant, args.candidate)
    payload = {
        "tenant": tenant,
        "promoted": entry,
        "evaluation": evaluation.to_json() if evaluation is not None else None,
    }
    text = f"tenant {tenant}: the fine-tuned model is now {entry['version']}"
    if evaluation is not None:
        text = evaluation.table() + "\n" + text
    _say(args, payload, text)
    return 0


def _say(args: argparse.Namespace, payload: dict[str, Any], text: str) -> None:
    if args.json:
        print(json.dumps(payload, ensure_ascii=False))
    else:
        print(text)
