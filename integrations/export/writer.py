"""``askloop export``: rated answers from the log into a validated JSONL dataset.

Two passes (see :mod:`askloop.integrations.export.units`): the first reads the log in
keyset pages, merges the votes of identical (prompt, completion) pairs and spools each
unit to disk; the second writes the records of every unit under its merged label.
Memory holds content keys and ballots, not records (DPO's same-question pairs keep the
texts of each question).

Output goes to temporary files moved into place only when the export is accepted: a
refused or failed export writes nothing and leaves an older file at the path as it was.
An accepted export without a validation share removes a stale ``.val`` file beside it.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from askloop.agent.answers import LoggedAnswer, Vote
from askloop.agent.datasets.examples import Example, MissingPromptError, build_example
from askloop.agent.datasets.formats import FORMATS, RecordError, validate
from askloop.agent.datasets.labels import Ballot, merge_votes, resolve
from askloop.agent.datasets.raft import MoreDistractors, is_validation, raft_record
from askloop.agent.errors import InvalidInputError
from askloop.integrations.export.units import QuestionPairs, records_of, unit_of

__all__ = [
    "TOKEN_FORMATS",
    "CountTokens",
    "ExportOptions",
    "ExportReport",
    "export_dataset",
    "val_path",
]

log = logging.getLogger(__name__)
WARN_BELOW = 50


@dataclass(frozen=True, slots=True)
class ExportOptions:
    fmt: str
    out: Path
    tenant: str | None = None
    since: datetime | None = None
    val_fraction: float = 0.0
    seed: int = 0
    redact: bool = True
    #: Redact personal data in knowledge-base text too (by default documents keep the
    #: phone numbers and addresses they publish; secrets go everywhere).
    redact_documents: bool = False
    raft_k: int = 3
    raft_p: float = 0.8
    #: Count examples longer than this many tokens (0: don't), for the TRL formats.
    max_tokens: int = 0


#: Formats a local TRL trainer reads: their length is counted with the local model's
#: tokenizer (OpenAI counts with its own, and its limits are far above ours).
TOKEN_FORMATS = frozenset({"trl-sft", "trl-dpo", "trl-kto", "raft"})
#: conversations -> their lengths in tokens under the model's chat template (batched:
#: see :class:`askloop.integrations.export.tokens.BatchCounter`).
CountTokens = Callable[[list[list[dict[str, str]]]], list[int]]
_COUNT_BATCH = 512


@dataclass(slots=True)
class ExportReport:
    tenant: str | None
    path: Path
    train: int = 0
    val: int = 0
    read: int = 0
    #: Copies of a record already written (identical answers merged into one).
    duplicates: int = 0
    #: (prompt, completion) pairs whose users' votes split evenly: dropped.
    conflicts: int = 0
    invalid: int = 0
    not_applicable: int = 0
    unknown_prompt: int = 0
    #: KTO labels in the training file (its weights balance these).
    desirable: int = 0
    undesirable: int = 0
    #: router: (routing score, should search) of every example written, for tuning.
    routing: list[tuple[float, bool]] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    #: Why nothing was written (None when the files were written).
    refused: str | None = None
    #: A refused export found an older file at ``path`` and left it as it was.
    untouched: bool = False
    #: A ``.val`` file of an earlier export, removed because this one wrote none.
    stale_removed: Path | None = None
    #: Examples written that are longer than ``max_tokens``, and the longest one's length.
    over_tokens: int = 0
    longest_tokens: int = 0

    @property
    def written(self) -> int:
        return self.train + self.val


def val_path(path: Path) -> Path:
    """data.jsonl -> data.val.jsonl"""
    return path.with_name(f"{path.stem}.val{path.suffix}")


def _partial(path: Path) -> Path:
    return path.with_name(f".{path.name}.partial")


class _Writer:
    """Validated, deduplicated, split records into temporary files; ``finish`` decides."""

    def __init__(
        self, opts: ExportOptions, report: ExportReport, count: CountTokens | None
    ) -> None:
        self._opts, self._report, self._path = opts, report, opts.out
        self._count = count if opts.max_tokens > 0 and opts.fmt in TOKEN_FORMATS else None
        #: Records waiting for a count: each is one conversation per answer it holds.
        self._pending: list[list[list[dict[str, str]]]] = []
        self._seen: set[bytes] = set()
        self._targets = {"train": self._path, "val": val_path(self._path)}
        self._tmp = {side: _partial(p) for side, p in self._targets.items()}
        self._files = {side: p.open("wb") for side, p in self._tmp.items()}
        self._val_labels = [0, 0]  # KTO 👍, 👎 in the validation file

    def write(self, record: dict[str, Any], thread: str) -> None:
        try:
            validate(self._opts.fmt, record)
        except RecordError as exc:
            self._report.invalid += 1
            log.error("export: invalid %s record skipped (a bug): %s", self._opts.fmt, exc)
            return
        # Records are built with a fixed key order, so the output is deterministic as is.
        line = orjson.dumps(record)
        # Near-duplicates differ in case or spacing only: hash the normalised text.
        key = hashlib.blake2b(b" ".join(line.lower().split()), digest_size=16).digest()
        if key in self._seen:
            self._report.duplicates += 1
            return
        self._seen.add(key)
        if self._count is not None:
            self._measure(self._count, record, len(line))
        side = "val" if is_validation(thread, self._opts.val_fraction, self._opts.seed) else "train"
        self._files[side].write(line + b"\n")
        if self._opts.fmt == "trl-kto":
            if side == "train":
                self._report.desirable += record["label"]
                self._report.undesirable += not record["label"]
            else:
                self._val_labels[0 if record["label"] else 1] += 1
        elif self._opts.fmt == "router":
            point = (float(record["features"]["score"]), record["label"] == "retrieve")
            self._report.routing.append(point)
        if side == "val":
            self._report.val += 1
        else:
            self._report.train += 1

    def _measure(self, count: CountTokens, record: dict[str, Any], size: int) -> None:
        # A token is at least one byte of the JSON line (a special token of the template
        # is one token for several bytes of role and quotes): short records need no count.
        if size + 64 <= self._opts.max_tokens:
            return
        prompt = record["prompt"]
        answers = [record[k] for k in ("completion", "chosen", "rejected") if k in record]
        self._pending.append([[*prompt, *answer] for answer in answers])
        if len(self._pending) >= _COUNT_BATCH:
            self.flush_counts()

    def flush_counts(self) -> None:
        """Count the records waiting for it (in one batch: one call per ~200k characters)."""
        if not self._pending or self._count is None:
            return
        pending, self._pending = self._pending, []
        sizes = iter(self._count([conv for record in pending for conv in record]))
        r = self._report
        for record in pending:
            tokens = max(next(sizes) for _ in record)
            r.longest_tokens = max(r.longest_tokens, tokens)
            r.over_tokens += tokens > self._opts.max_tokens

    def refusal(self) -> str | None:
        """Why the training file cannot be used: the minimums apply to it, not to both."""
        r, fmt = self._report, self._opts.fmt
        minimum = FORMATS[fmt].minimum
        lower = " (lower --val-fraction)"
        if r.train < minimum:
            if r.written >= minimum:
                return (
                    f"the validation share leaves {r.train} training examples of {r.written}; "
                    f"{fmt} needs at least {minimum} in the training file{lower}"
                )
            return f"{r.written} examples, {fmt} needs at least {minimum}"
        if fmt == "trl-kto" and not (r.desirable and r.undesirable):
            ups, downs = r.desirable + self._val_labels[0], r.undesirable + self._val_labels[1]
            if ups and downs:
                return (
                    f"the validation share leaves the training file {r.desirable} 👍 and "
                    f"{r.undesirable} 👎: KTO needs both{lower}"
                )
            return f"{ups} 👍 and {downs} 👎: KTO needs both"
        return None

    def finish(self, *, keep: bool) -> None:
        for f in self._files.values():
            f.close()
        r = self._report
        if not keep:
            for tmp in self._tmp.values():
                tmp.unlink(missing_ok=True)
            r.untouched = self._path.exists()
            return
        os.replace(self._tmp["train"], self._path)
        r.files.append(self._path)
        val = self._targets["val"]
        if r.val:
            os.replace(self._tmp["val"], val)
            r.files.append(val)
            return
        self._tmp["val"].unlink(missing_ok=True)
        if val.exists():
            # Its lines may be in the new training file: a trainer must not see both.
            val.unlink()
            r.stale_removed = val


def _raft(
    opts: ExportOptions,
    texts: Callable[[str], str | None],
    more: MoreDistractors | None,
) -> Callable[[Example], dict[str, Any] | None]:
    def build(ex: Example) -> dict[str, Any] | None:
        version = ex.versions.get("context_message", "")
        template = texts(version) if ex.shown and version else None
        if template is None:
            return None
        return raft_record(
            ex,
            system=ex.prompt[0]["content"],
            template=template,
            k=opts.raft_k,
            p_oracle=opts.raft_p,
            seed=opts.seed,
            more=more,
            scrub=opts.redact,
            redact_documents=opts.redact_documents,
        )

    return build


def _spool(
    opts: ExportOptions,
    examples: Iterable[Example],
    raft: Callable[[Example], dict[str, Any] | None],
    spool: Path,
) -> dict[bytes, Ballot | tuple[Vote, ...]]:
    """Pass 1: every example's unit to ``spool``; the merged votes of each unit returned."""
    # Most units occur once: they keep the votes they came with, and only a unit seen
    # again gets a merged ballot (a dict per unit costs ~300 bytes, 30 MB a 100k export).
    ballots: dict[bytes, Ballot | tuple[Vote, ...]] = {}
    with spool.open("wb") as f:
        for ex in examples:
            unit = unit_of(opts.fmt, ex, raft)
            if unit is None:
                f.write(b"null\n")  # counted as not applicable in pass 2
                continue
            held = ballots.get(unit.key)
            if held is None:
                ballots[unit.key] = ex.votes
            else:
                ballots[unit.key] = merge_votes(_ballot(held), ex.votes)
            f.write(orjson.dumps([unit.key.hex(), unit.thread, unit.payload]) + b"\n")
    return ballots


def _ballot(held: Ballot | tuple[Vote, ...]) -> Ballot:
    return held if isinstance(held, dict) else merge_votes(None, held)


def _records(
    opts: ExportOptions,
    spool: Path,
    ballots: dict[bytes, Ballot | tuple[Vote, ...]],
    report: ExportReport,
) -> Iterator[tuple[dict[str, Any], str]]:
    """Pass 2: the records of every spooled unit under its merged label."""
    pairs = QuestionPairs(opts.fmt) if opts.fmt in ("openai-dpo", "trl-dpo") else None
    conflicted: set[bytes] = set()
    with spool.open("rb") as f:
        for line in f:
            entry = orjson.loads(line)
            if entry is None:
                report.not_applicable += 1
                continue
            key_hex, thread, payload = entry
            key = bytes.fromhex(key_hex)
            ballot = _ballot(ballots[key])
            label = resolve(ballot)
            if label is None:
                if ballot:
                    conflicted.add(key)
                else:
                    report.not_applicable += 1  # every vote was taken back
                continue
            if pairs is not None:
                pairs.add(payload, label, thread)
            records = records_of(opts.fmt, payload, label)
            if not records and pairs is None:
                report.not_applicable += 1
            for record in records:
                yield record, thread
    if pairs is not None:
        yield from pairs.pairs()
        report.conflicts += pairs.conflicts
    report.conflicts += len(conflicted)


def export_dataset(
    answer_log: Any,
    opts: ExportOptions,
    *,
    more: MoreDistractors | None = None,
    progress: Callable[[Iterable[LoggedAnswer], int], Iterable[LoggedAnswer]] | None = None,
    count_tokens: CountTokens | None = None,
) -> ExportReport:
    """Export one tenant (or all, when ``opts.tenant`` is None) to ``opts.out``;
    ``count_tokens`` measures the TRL formats' examples against ``opts.max_tokens``."""
    if opts.fmt not in FORMATS:
        raise InvalidInputError(f"unknown format {opts.fmt!r}; use one of {', '.join(FORMATS)}")
    if not 0 <= opts.val_fraction < 1:
        raise InvalidInputError("--val-fraction must be at least 0 and below 1")
    if not 0 <= opts.raft_p <= 1:
        raise InvalidInputError("--raft-oracle-p must be between 0 and 1")
    if not opts.redact:
        log.warning("export: redaction disabled by the operator (--no-redact)")
    report = ExportReport(tenant=opts.tenant, path=opts.out)
    cache: dict[str, str | None] = {}

    def texts(version: str) -> str | None:
        if version not in cache:
            cache[version] = answer_log.prompt_text(version)
        return cache[version]

    def examples() -> Iterator[Example]:
        items: Iterable[LoggedAnswer] = answer_log.iter_rated(
            tenant=opts.tenant, since=opts.since, with_trace=opts.fmt == "router"
        )
        if progress is not None:
            items = progress(items, answer_log.count_rated(tenant=opts.tenant, since=opts.since))
        for item in items:
            report.read += 1
            try:
                ex = build_example(
                    item, texts, scrub=opts.redact, redact_documents=opts.redact_documents
                )
            except MissingPromptError as exc:
                report.unknown_prompt += 1
                log.warning("export: skipping %s: %s", item.record.answer_id, exc)
                continue
            yield ex

    # The folders this export creates, outermost first: removed again if it writes nothing.
    created = [p for p in reversed(opts.out.parents) if not p.exists()]
    opts.out.parent.mkdir(parents=True, exist_ok=True)
    spool = opts.out.with_name(f".{opts.out.name}.spool")
    writer = _Writer(opts, report, count_tokens)
    try:
        ballots = _spool(opts, examples(), _raft(opts, texts, more), spool)
        for record, thread in _records(opts, spool, ballots, report):
            writer.write(record, thread)
        writer.flush_counts()
        report.refused = writer.refusal()
    except BaseException:
        writer.finish(keep=False)
        _remove_empty(created)
        raise
    finally:
        spool.unlink(missing_ok=True)
    writer.finish(keep=report.refused is None)
    if report.refused:
        _remove_empty(created)
    return report


def _remove_empty(folders: list[Path]) -> None:
    for folder in reversed(folders):
        try:
            folder.rmdir()
        except OSError:
            return  # not empty (someone else wrote there) or already gone
