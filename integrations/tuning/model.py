"""``askloop tune model``: from the tenant's rated log to a candidate in DIR.

DIR gets the model (``model.gguf`` for local tuning) and ``manifest.json``: base, data
hash, example counts, steps, time, peak memory and the held-out losses. The threads
``askloop eval`` replays are never trained on (integrations/tuning/samples.py).
"""

from __future__ import annotations

import json
import logging
import os
import resource
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from askloop.agent.errors import InvalidInputError
from askloop.integrations.tuning.paraphrase import EVAL_TEMPLATES, TRAIN_TEMPLATES, reword
from askloop.integrations.tuning.promotion import MANIFEST, MODEL_FILE
from askloop.integrations.tuning.samples import Sample, SampleSet, collect

__all__ = ["MIN_FACTS", "base_model_path", "knowledge_base_states", "training_rows", "tune_local"]

log = logging.getLogger(__name__)

#: Below this many training samples there is nothing worth tuning on.
MIN_FACTS = 2
#: Early-stopping rows at most (one unseen wording per fact).
MAX_EVAL_ROWS = 24
#: Wordings of each fact trained on (paraphrase.TRAIN_TEMPLATES): each costs a row per
#: epoch, and a CPU step costs seconds.
WORDINGS = 4


def base_model_path(spec: str | None) -> Path:
    """The GGUF a ``--base`` spec names: ``local:default`` or ``local:/path/model.gguf``."""
    from askloop.integrations.models.local import default_model_path

    spec = spec or "local:default"
    provider, _, model = spec.partition(":")
    if provider != "local" or not model:
        raise InvalidInputError(
            f"--base {spec!r}: local tuning starts from local:default or local:/path/model.gguf"
            " (hosted models are tuned with --provider openai)"
        )
    if model == "default":
        return default_model_path()
    path = Path(model).expanduser()
    if path.is_dir():
        path = path / MODEL_FILE
    if not path.is_file():
        raise InvalidInputError(f"--base: no model file at {path}")
    return path


def knowledge_base_states(services: Any, tenant: str) -> Callable[[str], bool]:
    """Whether the tenant's knowledge base already states a correction (its facts in
    one hit of the router's probe search, as ``askloop tune router`` judges it)."""
    from askloop.agent.rated_routes import states_correction
    from askloop.integrations.tuning.router import probe_hits

    def stated(correction: str) -> bool:
        [hits] = probe_hits(
            services.store,
            services.embedder,
            tenant=tenant,
            policy=services.policy,
            questions=[correction],
        )
        return states_correction(correction, hits)

    return stated


def _row(prompt: Sequence[dict[str, str]], answer: str) -> dict[str, list[dict[str, str]]]:
    return {
        "prompt": [dict(m) for m in prompt],
        "completion": [{"role": "assistant", "content": answer}],
    }


def _with_question(sample: Sample, question: str) -> list[dict[str, str]]:
    return [*sample.prompt[:-1], {"role": "user", "content": question}]


def training_rows(
    samples: Sequence[Sample], *, with_context: bool = False
) -> tuple[list[Any], list[Any]]:
    """(train rows, early-stopping rows): each fact in several wordings, the eval
    wording kept out of training. With ``with_context``, 👍 knowledge-base answers too,
    once each, with the documents they were made from (RAFT-style; their prompts are
    ten times longer, and so is their share of the training time)."""
    train: list[Any] = []
    held: list[Any] = []
    checked: set[str] = set()
    for sample in samples:
        if sample.kind == "kb":
            if with_context:
                train.append(_row(sample.prompt, sample.reference))
            continue
        for template in TRAIN_TEMPLATES[:WORDINGS]:
            question = reword(sample.question, template)
            train.append(_row(_with_question(sample, question), sample.reference))
        if len(held) < MAX_EVAL_ROWS and sample.reference not in checked:
            checked.add(sample.reference)  # one unseen wording per fact is enough
            question = reword(sample.question, EVAL_TEMPLATES[len(held) % len(EVAL_TEMPLATES)])
            held.append(_row(_with_question(sample, question), sample.reference))
    return train, held


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def tune_local(
    answer_log: Any,
    *,
    tenant: str,
    out: Path,
    base: str | None = None,
    settings: Any = None,
    with_context: bool = False,
    stated: Callable[[str], bool] | None = None,
) -> dict[str, Any]:
    """Train a LoRA candidate of ``base`` on ``tenant``'s rated log into ``out``; the
    manifest (also written to ``out/manifest.json``)."""
    from askloop.integrations.tuning.local_model import LoraSettings, train_local

    started = time.perf_counter()
    base_path = base_model_path(base)
    samples: SampleSet = collect(answer_log, tenant=tenant, stated=stated)
    train = samples.train
    if sum(s.kind == "fact" for s in train) < MIN_FACTS:
        raise InvalidInputError(
            f"tenant {tenant}: {len(train)} rated answers to train on, "
            f"{sum(s.kind == 'fact' for s in train)} of them corrections or tuned-route 👍; "
            f"need at least {MIN_FACTS} (rate answers with 👎 and a correction first)"
        )
    rows, held = training_rows(train, with_context=with_context)
    lora = settings or LoraSettings()
    stamp = datetime.now(UTC)
    version = f"tuned-{stamp:%Y%m%dT%H%M%S}-{samples.digest()[:8]}"
    out.mkdir(parents=True, exist_ok=True)
    log.info(
        "tenant %s: tuning %s on %d rows (%d samples), %d held-out rows",
        tenant,
        base_path.name,
        len(rows),
        len(train),
        len(held),
    )
    run = train_local(base_path, rows, held, out=out, settings=lora, name=version)
    manifest = {
        "version": version,
        "provider": "local",
        "tenant": tenant,
        "created_at": stamp.isoformat(),
        "base": {"spec": base or "local:default", "file": base_path.name},
        "model_file": MODEL_FILE,
        "data_hash": samples.digest(),
        "examples": {
            "trained": len(train),
            **samples.counts(),
            "train_rows": len(rows),
            "early_stop_rows": len(held),
        },
        "steps": run.steps,
        "epochs": round(run.epochs_run, 2),
        "stopped_early": run.stopped_early,
        "seconds": round(time.perf_counter() - started, 1),
        "peak_rss_mb": round(_peak_rss_mb(), 1),
        "eval": {
            "held_out_loss_before": run.first_eval_loss,
            "held_out_loss_best": run.best_eval_loss,
            "held_out_losses": run.eval_losses,
            "train_loss": run.train_loss,
        },
        "with_context": with_context,
        "lora": asdict(lora),
    }
    partial = out / f".{MANIFEST}.partial"
    partial.write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    os.replace(partial, out / MANIFEST)
    return manifest
