"""``askloop tune model --provider openai``: a hosted fine-tuning job.

The tenant's ``openai-sft`` export (integrations/export/writer.py) is split with the
same threads held out as local tuning and ``askloop eval`` use; only the training side
is uploaded (``files.create``), a job is started (``fine_tuning.jobs.create``) and
polled (``fine_tuning.jobs.retrieve``) with a progress line, and DIR's manifest records
the resulting model id, which ``askloop eval``/``promote`` then take as ``DIR``.
``OPENAI_BASE_URL`` points it at any compatible provider. Self-serve fine-tuning is
being wound down at some providers: this is one backend behind ``--provider``.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from askloop.agent.errors import InvalidInputError, ModelUnavailableError

__all__ = ["DEFAULT_BASE", "tune_hosted"]

log = logging.getLogger(__name__)

DEFAULT_BASE = "gpt-4o-mini-2024-07-18"
#: Seconds between two looks at a running job.
POLL_SECONDS = 10.0
_DONE = {"succeeded", "failed", "cancelled"}


def _client(services: Any) -> Any:
    import openai

    keys = services.settings.providers
    if keys.openai_api_key is None and not keys.openai_base_url:
        raise InvalidInputError("--provider openai needs OPENAI_API_KEY (or OPENAI_BASE_URL)")
    key = keys.openai_api_key.get_secret_value() if keys.openai_api_key else "unused"
    return openai.OpenAI(
        api_key=key,
        base_url=keys.openai_base_url,
        timeout=services.settings.models.timeout_seconds,
        max_retries=services.settings.models.max_attempts,
    )


def tune_hosted(
    services: Any,
    *,
    tenant: str,
    out: Path,
    base: str | None = None,
    poll_seconds: float | None = None,
    timeout_seconds: float = 24 * 3600,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """Run a hosted fine-tuning job on ``tenant``'s rated log; writes ``out/manifest.json``."""
    import openai

    from askloop.integrations.export.writer import ExportOptions, export_dataset
    from askloop.integrations.tuning.promotion import MANIFEST
    from askloop.integrations.tuning.samples import HELD_OUT_FRACTION, SPLIT_SEED

    model = (base or f"openai:{DEFAULT_BASE}").removeprefix("openai:")
    started = time.perf_counter()
    client = _client(services)
    with tempfile.TemporaryDirectory(prefix="askloop-ft-") as scratch:
        path = Path(scratch) / "train.jsonl"
        opts = ExportOptions(
            fmt="openai-sft",
            out=path,
            tenant=tenant,
            val_fraction=HELD_OUT_FRACTION,
            seed=SPLIT_SEED,
        )
        report = export_dataset(services.answer_log, opts)
        if not path.is_file():
            raise InvalidInputError(
                f"tenant {tenant}: {report.train} training examples; the openai-sft format "
                "needs more (rate more answers)"
            )
        try:
            with path.open("rb") as f:
                uploaded = client.files.create(file=f, purpose="fine-tune")
            job = client.fine_tuning.jobs.create(
                training_file=uploaded.id, model=model, suffix=f"askloop-{tenant}"[:40]
            )
            every = POLL_SECONDS if poll_seconds is None else poll_seconds
            job = _poll(client, job, every, timeout_seconds, sleep)
        except openai.APIError as exc:
            log.error("hosted fine-tuning failed: %s", exc)
            raise ModelUnavailableError(f"the fine-tuning provider refused: {exc}") from exc
    if job.status != "succeeded" or not job.fine_tuned_model:
        error = getattr(job, "error", None)
        message = getattr(error, "message", None) or job.status
        raise ModelUnavailableError(f"fine-tuning job {job.id} ended {job.status}: {message}")
    manifest = {
        "version": f"openai-{job.id}",
        "provider": "openai",
        "tenant": tenant,
        "created_at": datetime.now(UTC).isoformat(),
        "base": {"spec": f"openai:{model}"},
        "model": job.fine_tuned_model,
        "model_file": None,
        "job": job.id,
        "training_file": uploaded.id,
        "data_hash": None,
        "examples": {"trained": report.train, "held_out": report.val, "read": report.read},
        "steps": getattr(job, "trained_tokens", None) or 0,
        "seconds": round(time.perf_counter() - started, 1),
    }
    out.mkdir(parents=True, exist_ok=True)
    partial = out / f".{MANIFEST}.partial"
    partial.write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    os.replace(partial, out / MANIFEST)
    return manifest


def _poll(
    client: Any, job: Any, every: float, timeout: float, sleep: Callable[[float], None]
) -> Any:
    deadline = time.monotonic() + timeout
    last = None
    while job.status not in _DONE:
        if time.monotonic() > deadline:
            raise ModelUnavailableError(f"fine-tuning job {job.id} still {job.status}; gave up")
        if job.status != last:
            print(f"askloop: fine-tuning job {job.id}: {job.status}", file=sys.stderr)
            last = job.status
        sleep(every)
        job = client.fine_tuning.jobs.retrieve(job.id)
    print(f"askloop: fine-tuning job {job.id}: {job.status}", file=sys.stderr)
    return job
