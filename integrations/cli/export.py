"""``askloop export``: write a fine-tuning dataset from the rated answers in the log."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from askloop.agent.answers import RetrievedChunk
from askloop.agent.datasets.formats import FORMATS
from askloop.agent.errors import InvalidInputError
from askloop.agent.routing import tune_threshold
from askloop.config.settings import validate_tenant
from askloop.integrations.export.writer import (
    WARN_BELOW,
    ExportOptions,
    ExportReport,
    export_dataset,
)

__all__ = ["add_parser", "run"]


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError("must be at least 0 and below 1")
    return value


def _since(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO date or time") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def add_parser(sub: Any) -> None:
    p = sub.add_parser("export", help="write a fine-tuning dataset from rated answers")
    p.add_argument("--format", dest="fmt", required=True, choices=list(FORMATS))
    p.add_argument("--out", required=True, type=Path, metavar="PATH")
    scope = p.add_mutually_exclusive_group()
    scope.add_argument("--tenant", help="export this tenant only")
    scope.add_argument("--all-tenants", action="store_true", help="one file for all tenants")
    p.add_argument("--since", type=_since, help="only answers from this ISO date/time on")
    p.add_argument(
        "--val-fraction",
        type=_fraction,
        default=0.0,
        help="share of conversation threads written to PATH's .val file",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the split and RAFT sampling")
    p.add_argument(
        "--no-redact", action="store_true", help="operator only: keep emails, ids, tokens (logged)"
    )
    p.add_argument("--raft-distractors", type=int, default=3, metavar="K")
    p.add_argument("--raft-oracle-p", type=_fraction, default=0.8, metavar="P")


def _progress(items: Iterable[Any], total: int) -> Iterator[Any]:
    from tqdm import tqdm

    yield from tqdm(
        items, total=total, desc="export", unit="answer", file=sys.stderr, delay=1.0, disable=None
    )


def _more(services: Any) -> Any:
    def more(tenant: str, question: str, exclude: set[str], n: int) -> list[RetrievedChunk]:
        # The search the graph ran for the question (the one in agent/search.py).
        hits = services.assistant.search(question, tenant=tenant, k=n + len(exclude), mode="hybrid")
        return [
            RetrievedChunk(
                chunk_id=h.chunk.chunk_id,
                title=h.chunk.title,
                source=h.chunk.source,
                score=h.score,
                text=h.chunk.text,
                url=h.chunk.url,
                heading_path=h.chunk.heading_path,
            )
            for h in hits
            if h.chunk.chunk_id not in exclude
        ][:n]

    return more


def run(args: argparse.Namespace, services: Any) -> int:
    answer_log = services.answer_log
    if args.no_redact:
        print(
            "askloop: warning: --no-redact: personal data and secrets stay in the output",
            file=sys.stderr,
        )
    if args.tenant:
        scopes: list[tuple[str | None, Path]] = [(validate_tenant(args.tenant), args.out)]
    elif args.all_tenants:
        scopes = [(None, args.out)]
    else:
        tenants = answer_log.tenants()
        out: Path = args.out
        scopes = [(t, out.with_name(f"{out.stem}.{t}{out.suffix}")) for t in tenants]
        if not scopes:
            raise InvalidInputError("the log holds no answers yet: nothing to export")
    more = _more(services) if args.fmt == "raft" else None
    status = 0
    for tenant, path in scopes:
        opts = ExportOptions(
            fmt=args.fmt,
            out=path,
            tenant=tenant,
            since=args.since,
            val_fraction=args.val_fraction,
            seed=args.seed,
            redact=not args.no_redact,
            raft_k=args.raft_distractors,
            raft_p=args.raft_oracle_p,
        )
        report = export_dataset(answer_log, opts, more=more, progress=_progress)
        status = max(status, _print_report(args.fmt, report))
        if args.fmt == "router" and report.files:
            _print_tuning(report, services.settings.graph.route_threshold)
    return status


def _print_tuning(r: ExportReport, current: float) -> None:
    """What the examples say about ``route_threshold`` (both labels are needed)."""
    search = sum(1 for _, s in r.routing if s)
    print(f"  router: {search} examples should search, {len(r.routing) - search} should not")
    if not 0 < search < len(r.routing):
        print("  router: both kinds are needed to suggest a route_threshold")
        return
    best, accuracy = tune_threshold(r.routing)
    now = sum((score >= current) == s for score, s in r.routing) / len(r.routing)
    print(
        f"  router: route_threshold {current} is right on {now:.1%} of them; {best} would "
        f"be on {accuracy:.1%} ([graph] route_threshold = {best}; in-sample, check on "
        f"new feedback before trusting it)"
    )


def _print_report(fmt: str, r: ExportReport) -> int:
    who = f"tenant {r.tenant}" if r.tenant else "all tenants"
    minimum = FORMATS[fmt].minimum
    detail = (
        f"{r.read} rated answers read; {r.duplicates} duplicates, {r.not_applicable} "
        f"not usable for {fmt}, {r.unknown_prompt} with unknown prompt versions, "
        f"{r.invalid} invalid"
    )
    if not r.files:
        why = f"{r.written} examples, {fmt} needs at least {minimum}"
        if fmt == "trl-kto" and r.written >= minimum:
            why = f"{r.desirable} 👍 and {r.undesirable} 👎: KTO needs both"
        print(f"askloop: {who}: not written: {why} ({detail})", file=sys.stderr)
        return 2
    files = ", ".join(str(f) for f in r.files)
    print(f"{who}: {r.train} train + {r.val} validation examples -> {files} ({detail})")
    if fmt == "trl-kto":
        d, u = r.desirable, r.undesirable
        dw, uw = (1.0, round(d / u, 3)) if d >= u else (round(u / d, 3), 1.0)
        print(
            f"  KTO: {d} desirable, {u} undesirable; balance with desirable_weight={dw}, "
            f"undesirable_weight={uw}"
        )
    if r.written < WARN_BELOW:
        print(
            f"askloop: warning: only {r.written} examples; fine-tuning usually wants {WARN_BELOW}+",
            file=sys.stderr,
        )
    if r.invalid:
        print(
            f"askloop: error: {r.invalid} records failed validation (see the log)", file=sys.stderr
        )
        return 1
    return 0
