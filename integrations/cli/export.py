"""``askloop export``: write a fine-tuning dataset from the rated answers in the log."""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from askloop.agent.answers import RetrievedChunk
from askloop.agent.datasets.formats import FORMATS
from askloop.agent.errors import InvalidInputError, ModelUnavailableError
from askloop.agent.routing import tune_threshold
from askloop.config.settings import validate_tenant
from askloop.integrations.cli.args import whole_number
from askloop.integrations.export.writer import (
    TOKEN_FORMATS,
    WARN_BELOW,
    CountTokens,
    ExportOptions,
    ExportReport,
    export_dataset,
)

__all__ = ["add_parser", "kto_weights", "more_distractors", "run"]


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError("must be at least 0 and below 1")
    return value


def _probability(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError("must be between 0 and 1")
    return value


def _since(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO date or time") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def add_parser(sub: Any) -> None:
    p = sub.add_parser("export", help="write a fine-tuning dataset from rated answers")
    p.add_argument(
        "--format", dest="fmt", required=True, choices=list(FORMATS), help="the dataset's format"
    )
    p.add_argument("--out", required=True, type=Path, metavar="PATH", help="the file to write")
    scope = p.add_mutually_exclusive_group()
    scope.add_argument("--tenant", help="export this tenant only (default: each tenant in the log)")
    scope.add_argument("--all-tenants", action="store_true", help="one file for all tenants")
    p.add_argument(
        "--since", type=_since, help="only answers from this ISO date/time on (default: all)"
    )
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
    p.add_argument(
        "--redact-documents",
        action="store_true",
        help="also redact personal data in knowledge-base text (default: documents keep "
        "the phone numbers and addresses they publish; secrets are removed everywhere)",
    )
    p.add_argument(
        "--max-tokens",
        type=whole_number(low=0),
        default=1024,
        metavar="N",
        help="warn about TRL/RAFT examples longer than N tokens of the local model's "
        "tokenizer, TRL's max_length (0: don't count)",
    )
    p.add_argument(
        "--raft-distractors",
        type=int,
        default=3,
        metavar="K",
        help="documents that do not answer, added to each RAFT record",
    )
    p.add_argument(
        "--raft-oracle-p",
        type=_probability,
        default=0.8,
        metavar="P",
        help="chance that a RAFT record keeps its oracle documents, 0 to 1",
    )


def _progress(items: Iterable[Any], total: int) -> Iterator[Any]:
    from tqdm import tqdm

    yield from tqdm(
        items, total=total, desc="export", unit="answer", file=sys.stderr, delay=1.0, disable=None
    )


def more_distractors(services: Any) -> Any:
    """RAFT's extra distractors: the hybrid search the graph runs, minus the chunks shown."""

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


def _scopes(args: argparse.Namespace, answer_log: Any) -> list[tuple[str | None, Path]]:
    """(tenant, path) to export: PATH itself for one tenant, ``PATH-stem.TENANT.ext`` each
    when the log holds several."""
    out: Path = args.out
    if args.all_tenants:
        return [(None, out)]
    tenants = answer_log.tenants()
    if args.tenant:
        tenant = validate_tenant(args.tenant)
        if tenant not in tenants:
            held = ", ".join(tenants) if tenants else "none yet"
            raise InvalidInputError(f"unknown tenant {tenant!r} (the log holds: {held})")
        return [(tenant, out)]
    if not tenants:
        raise InvalidInputError("the log holds no answers yet: nothing to export")
    if len(tenants) == 1:
        return [(tenants[0], out)]
    return [(t, out.with_name(f"{out.stem}.{t}{out.suffix}")) for t in tenants]


def run(args: argparse.Namespace, services: Any) -> int:
    answer_log = services.answer_log
    if args.no_redact:
        print(
            "askloop: warning: --no-redact: personal data and secrets stay in the output",
            file=sys.stderr,
        )
    scopes = _scopes(args, answer_log)
    with contextlib.ExitStack() as stack:
        return _export(args, services, scopes, stack)


def _token_counter(args: argparse.Namespace, stack: contextlib.ExitStack) -> CountTokens | None:
    """The local model's chat template and tokenizer (llama.cpp on the shipped GGUF,
    loaded on the first long example, ~1 s), counting in batches."""
    if args.max_tokens <= 0 or args.fmt not in TOKEN_FORMATS:
        return None
    from askloop.integrations.export.tokens import BatchCounter
    from askloop.integrations.models.local import LocalChatModel, default_model_path

    try:
        default_model_path()
    except ModelUnavailableError as exc:
        print(f"askloop: warning: not counting tokens: {exc}", file=sys.stderr)
        return None
    return BatchCounter(stack.enter_context(LocalChatModel(threads=1))).count


def _export(
    args: argparse.Namespace,
    services: Any,
    scopes: list[tuple[str | None, Path]],
    stack: contextlib.ExitStack,
) -> int:
    answer_log = services.answer_log
    more = more_distractors(services) if args.fmt == "raft" else None
    reports: list[ExportReport] = []
    counter = _token_counter(args, stack)
    for tenant, path in scopes:
        opts = ExportOptions(
            fmt=args.fmt,
            out=path,
            tenant=tenant,
            since=args.since,
            val_fraction=args.val_fraction,
            seed=args.seed,
            redact=not args.no_redact,
            redact_documents=args.redact_documents,
            raft_k=args.raft_distractors,
            raft_p=args.raft_oracle_p,
            max_tokens=args.max_tokens,
        )
        report = export_dataset(
            answer_log, opts, more=more, progress=_progress, count_tokens=counter
        )
        reports.append(report)
        _print_report(args.fmt, report, args.max_tokens)
        if args.fmt == "router" and report.files:
            _print_tuning(report, services.settings.graph.route_threshold)
    return _status(reports)


def _status(reports: list[ExportReport]) -> int:
    """0 when at least one file was written (the refused ones named), 2 when none was,
    1 when a written file skipped invalid records (a bug)."""
    written = [r for r in reports if not r.refused]
    refused = [r for r in reports if r.refused]
    if written and refused:
        names = "; ".join(f"{r.tenant}: {r.refused}" for r in refused)
        print(
            f"askloop: warning: {len(written)} of {len(reports)} tenants written; refused: {names}",
            file=sys.stderr,
        )
    if any(r.invalid for r in written):
        return 1
    return 0 if written else 2


def _print_tuning(r: ExportReport, current: float) -> None:
    """What the examples say about ``route_threshold`` (both labels are needed)."""
    search = sum(1 for _, s in r.routing if s)
    print(f"  router: {search} examples should search, {len(r.routing) - search} should not")
    if not 0 < search < len(r.routing):
        print("  router: both kinds are needed to suggest a route_threshold")
        return
    best, accuracy = tune_threshold(r.routing)
    now = sum((score >= current) == s for score, s in r.routing) / len(r.routing)
    if accuracy <= now:
        print(f"  router: route_threshold {current} is right on {now:.1%} of them; keep it")
        return
    print(
        f"  router: route_threshold {current} is right on {now:.1%} of them; {best} would "
        f"be on {accuracy:.1%} ([graph] route_threshold = {best}; in-sample, check on "
        f"new feedback before trusting it)"
    )


def kto_weights(desirable: int, undesirable: int) -> tuple[float, float]:
    """``(desirable_weight, undesirable_weight)``: the minority's weight in the middle of
    the range TRL's KTOTrainer recommends for the training file (desirable_weight *
    👍 / (undesirable_weight * 👎) between 1 and 4/3, Eq. 8 of the KTO paper); the
    majority's is 1."""
    if desirable == undesirable:
        return 1.0, 1.0
    if desirable > undesirable:
        return 1.0, round(desirable / undesirable / 1.15, 2)
    return round(undesirable / desirable * 1.15, 2), 1.0


def _print_report(fmt: str, r: ExportReport, max_tokens: int) -> None:
    who = f"tenant {r.tenant}" if r.tenant else "all tenants"
    detail = (
        f"{r.read} rated answers read; {r.duplicates} duplicates, {r.conflicts} "
        f"conflicting labels dropped, {r.not_applicable} not usable for {fmt}, "
        f"{r.unknown_prompt} with unknown prompt versions, {r.invalid} invalid"
    )
    if r.refused:
        kept = f"; the older {r.path} is untouched" if r.untouched else ""
        print(f"askloop: error: {who}: not written: {r.refused} ({detail}){kept}", file=sys.stderr)
        return
    files = ", ".join(str(f) for f in r.files)
    print(f"{who}: {r.train} train + {r.val} validation examples -> {files} ({detail})")
    if r.stale_removed is not None:
        print(f"  removed {r.stale_removed}: left by an earlier export with a validation share")
    if fmt == "trl-kto":
        d, u = r.desirable, r.undesirable
        dw, uw = kto_weights(d, u)
        print(
            f"  KTO (training file): {d} desirable, {u} undesirable; balance with "
            f"desirable_weight={dw}, undesirable_weight={uw}"
        )
    if r.over_tokens:
        print(
            f"askloop: warning: {r.over_tokens} of {r.written} examples are longer than "
            f"--max-tokens {max_tokens} (the longest {r.longest_tokens} tokens of the local "
            "model's tokenizer); TRL truncates them from the end, cutting the answer: raise "
            "the trainer's max_length or drop them",
            file=sys.stderr,
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
