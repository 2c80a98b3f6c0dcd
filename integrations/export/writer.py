"""``askloop export``: stream rated answers from the log into a validated JSONL dataset.

Constant memory for the single-answer formats (SFT, KTO, RAFT): answers are read in
keyset pages and written line by line; only content hashes are kept for dedup. DPO
pairs from two answers to the same question keep one 👍 and one 👎 per question.
Output is written to temporary files and moved into place only when the export
succeeds, so a refused or failed export leaves nothing half-written.
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

from askloop.agent.answers import LoggedAnswer
from askloop.agent.datasets.examples import Example, MissingPromptError, build_example
from askloop.agent.datasets.formats import (
    FORMATS,
    RecordError,
    dpo_record,
    kto_record,
    router_record,
    sft_record,
    validate,
)
from askloop.agent.datasets.raft import MoreDistractors, is_validation, raft_record
from askloop.agent.errors import InvalidInputError

__all__ = ["ExportOptions", "ExportReport", "export_dataset", "val_path"]

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
    raft_k: int = 3
    raft_p: float = 0.8


@dataclass(slots=True)
class ExportReport:
    tenant: str | None
    path: Path
    train: int = 0
    val: int = 0
    read: int = 0
    duplicates: int = 0
    invalid: int = 0
    not_applicable: int = 0
    unknown_prompt: int = 0
    desirable: int = 0
    undesirable: int = 0
    #: router: (routing score, should search) of every example written, for tuning.
    routing: list[tuple[float, bool]] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)

    @property
    def written(self) -> int:
        return self.train + self.val


def val_path(path: Path) -> Path:
    """data.jsonl -> data.val.jsonl"""
    return path.with_name(f"{path.stem}.val{path.suffix}")


class _Writer:
    def __init__(self, opts: ExportOptions, path: Path, report: ExportReport) -> None:
        self._opts, self._report, self._path = opts, report, path
        self._seen: set[bytes] = set()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = {
            "train": path.with_name(f".{path.name}.partial"),
            "val": val_path(path).with_name(f".{val_path(path).name}.partial"),
        }
        self._files = {k: p.open("wb") for k, p in self._tmp.items()}

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
        if self._opts.fmt == "trl-kto":
            self._report.desirable += record["label"]
            self._report.undesirable += not record["label"]
        elif self._opts.fmt == "router":
            point = (float(record["features"]["score"]), record["label"] == "retrieve")
            self._report.routing.append(point)
        side = "val" if is_validation(thread, self._opts.val_fraction, self._opts.seed) else "train"
        self._files[side].write(line + b"\n")
        if side == "val":
            self._report.val += 1
        else:
            self._report.train += 1

    def finish(self, *, keep: bool) -> None:
        for f in self._files.values():
            f.close()
        targets = {"train": self._path, "val": val_path(self._path)}
        for side, tmp in self._tmp.items():
            if keep and (side == "train" or self._report.val):
                os.replace(tmp, targets[side])
                self._report.files.append(targets[side])
            else:
                tmp.unlink(missing_ok=True)


def _records(
    opts: ExportOptions,
    examples: Iterable[Example],
    texts: Callable[[str], str | None],
    more: MoreDistractors | None,
    report: ExportReport,
) -> Iterator[tuple[dict[str, Any], str]]:
    fmt = opts.fmt
    pairs: dict[str, dict[str, Example]] = {}
    for ex in examples:
        record: dict[str, Any] | None = None
        if fmt in ("openai-sft", "trl-sft"):
            record = sft_record(ex, openai=fmt == "openai-sft")
        elif fmt == "trl-kto":
            record = kto_record(ex)
        elif fmt == "raft":
            record = _raft(opts, ex, texts, more)
        elif fmt == "router":
            record = router_record(ex)
        else:
            if ex.rating == "down" and ex.correction.strip() and ex.correction != ex.answer:
                yield (
                    dpo_record(ex.prompt, ex.correction, ex.answer, openai=fmt == "openai-dpo"),
                    ex.thread,
                )
            if ex.rating in ("up", "down"):
                pairs.setdefault(ex.question_key, {}).setdefault(ex.rating, ex)
            continue
        if record is None:
            report.not_applicable += 1
        else:
            yield record, ex.thread
    for group in pairs.values():
        up, down = group.get("up"), group.get("down")
        if up and down and up.answer != down.answer:
            # The 👍 answer's prompt: the context that led to the better answer.
            yield (
                dpo_record(up.prompt, up.answer, down.answer, openai=fmt == "openai-dpo"),
                up.thread,
            )


def _raft(
    opts: ExportOptions, ex: Example, texts: Callable[[str], str | None], more: Any
) -> dict[str, Any] | None:
    system = ex.prompt[0]["content"]
    version = ex.versions.get("context_message", "")
    template = texts(version) if ex.shown and version else None
    if template is None:
        return None
    return raft_record(
        ex,
        system=system,
        template=template,
        k=opts.raft_k,
        p_oracle=opts.raft_p,
        seed=opts.seed,
        more=more,
        scrub=opts.redact,
    )


def export_dataset(
    answer_log: Any,
    opts: ExportOptions,
    *,
    more: MoreDistractors | None = None,
    progress: Callable[[Iterable[LoggedAnswer], int], Iterable[LoggedAnswer]] | None = None,
) -> ExportReport:
    """Export one tenant (or all, when ``opts.tenant`` is None) to ``opts.out``."""
    if opts.fmt not in FORMATS:
        raise InvalidInputError(f"unknown format {opts.fmt!r}; use one of {', '.join(FORMATS)}")
    if not 0 <= opts.val_fraction < 1:
        raise InvalidInputError("--val-fraction must be at least 0 and below 1")
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
                ex = build_example(item, texts, scrub=opts.redact)
            except MissingPromptError as exc:
                report.unknown_prompt += 1
                log.warning("export: skipping %s: %s", item.record.answer_id, exc)
                continue
            yield ex

    writer = _Writer(opts, opts.out, report)
    try:
        for record, thread in _records(opts, examples(), texts, more, report):
            writer.write(record, thread)
    except BaseException:
        writer.finish(keep=False)
        raise
    minimum = FORMATS[opts.fmt].minimum
    enough = report.written >= minimum
    if opts.fmt == "trl-kto":
        enough = enough and report.desirable > 0 and report.undesirable > 0
    writer.finish(keep=enough)
    return report
