"""LoRA tuning of the embedded chat model on the CPU, written back as a GGUF.

transformers reads the shipped GGUF (dequantised to an fp32 Llama), the weights are
copied into a plain model (``save_pretrained`` and peft refuse GGUF-loaded ones), TRL's
SFTTrainer trains a LoRA on prompt/completion conversations (loss on the completion
only) with early stopping on a held-out split, the adapter is merged and the result is
written as ``model.gguf`` (integrations/tuning/gguf_out.py) for llama.cpp.
"""

from __future__ import annotations

import logging
import math
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from askloop.agent.errors import AskloopError
from askloop.integrations.models.gguf import MODEL_FILE

__all__ = ["LoraSettings", "TrainingRun", "TuningError", "train_local"]

log = logging.getLogger(__name__)


class TuningError(AskloopError):
    """Tuning could not run (missing packages, unreadable base model)."""


@dataclass(frozen=True, slots=True)
class LoraSettings:
    epochs: int = 6
    learning_rate: float = 1e-3
    batch_size: int = 8
    rank: int = 16
    #: LoRA on the top this-many transformer layers only: backpropagation stops below
    #: them, which halves a step's cost on a CPU (0 = every layer).
    layers: int = 10
    alpha: int = 32
    dropout: float = 0.05
    #: Epochs without a better held-out loss before training stops.
    patience: int = 1
    max_tokens: int = 768
    threads: int = 2
    seed: int = 0
    #: Cap on optimiser steps (tests and quick runs); 0 = as many as the epochs take.
    max_steps: int = 0


@dataclass(slots=True)
class TrainingRun:
    steps: int = 0
    epochs_run: float = 0.0
    best_eval_loss: float | None = None
    first_eval_loss: float | None = None
    train_loss: float | None = None
    stopped_early: bool = False
    seconds: float = 0.0
    eval_losses: list[float] = field(default_factory=list)


Row = dict[str, list[dict[str, str]]]


def _require() -> None:
    missing = []
    for name in ("peft", "trl", "gguf", "accelerate"):
        try:
            __import__(name)
        except ImportError:
            missing.append(name)
    if missing:
        raise TuningError(
            f"local tuning needs {', '.join(missing)}: "
            "pip install 'askloop[tune]' (make install does)"
        )


def load_base(path: Path, *, threads: int) -> tuple[Any, Any]:
    """(model, tokenizer) from a GGUF: fp32 weights in a plain, trainable Llama."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.set_num_threads(threads)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
        loaded = AutoModelForCausalLM.from_pretrained(
            path.parent, gguf_file=path.name, dtype=torch.float32
        )
    except Exception as exc:
        log.exception("reading %s for tuning failed", path)
        raise TuningError(f"cannot read the base model {path.name} for tuning") from exc
    config = loaded.config
    # A plain copy: GGUF-loaded weights carry a quantization config that peft and
    # save_pretrained refuse.
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = type(loaded)(config)
    model.load_state_dict(loaded.state_dict())
    model.tie_weights()
    del loaded
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer


class _Progress:
    """A TrainerCallback: one tqdm bar over the optimiser steps (ETA), eval loss shown."""

    def __init__(self, total_hint: int) -> None:
        self._bar: Any = None
        self._total_hint = total_hint

    def on_train_begin(self, args: Any, state: Any, control: Any, **_: Any) -> None:
        from tqdm import tqdm

        total = state.max_steps or self._total_hint
        self._bar = tqdm(total=total, desc="tune", unit="step", file=sys.stderr, disable=None)

    def on_step_end(self, args: Any, state: Any, control: Any, **_: Any) -> None:
        log.debug("step %d of %d", state.global_step, state.max_steps)
        if self._bar is not None:
            self._bar.update(state.global_step - self._bar.n)

    def on_evaluate(self, args: Any, state: Any, control: Any, metrics: Any = None, **_: Any):
        loss = (metrics or {}).get("eval_loss")
        if loss is not None:
            if self._bar is not None and not self._bar.disable:
                self._bar.set_postfix(eval_loss=f"{loss:.3f}")
            else:  # no terminal: one line per epoch instead of a bar
                where = (
                    f"epoch {state.epoch or 0.0:.0f}, step {state.global_step} of {state.max_steps}"
                    if state.global_step
                    else "before training"
                )
                print(f"askloop: tune: {where}: held-out loss {loss:.4f}", file=sys.stderr)
            log.info("epoch %.1f: held-out loss %.4f", state.epoch or 0.0, loss)

    def on_train_end(self, args: Any, state: Any, control: Any, **_: Any) -> None:
        if self._bar is not None:
            self._bar.close()


def _callback_class() -> type:
    from transformers import TrainerCallback

    return type("ProgressCallback", (_Progress, TrainerCallback), {})


def train_local(
    base: Path,
    train_rows: Sequence[Row],
    eval_rows: Sequence[Row],
    *,
    out: Path,
    settings: LoraSettings,
    name: str,
) -> TrainingRun:
    """Train a LoRA on ``train_rows`` (prompt/completion conversations), stop early on
    ``eval_rows``, merge it and write ``out/model.gguf``."""
    _require()
    import torch
    from datasets import Dataset
    from peft import LoraConfig, get_peft_model
    from transformers import EarlyStoppingCallback, PrinterCallback
    from trl import SFTConfig, SFTTrainer

    from askloop.integrations.tuning.gguf_out import write_gguf

    if not train_rows:
        raise TuningError("there is nothing to train on")
    started = time.perf_counter()
    model, tokenizer = load_base(base, threads=settings.threads)
    torch.manual_seed(settings.seed)
    blocks = int(model.config.num_hidden_layers)
    top = range(max(0, blocks - settings.layers), blocks) if settings.layers else None
    lora = LoraConfig(
        r=settings.rank,
        layers_to_transform=list(top) if top is not None else None,
        lora_alpha=settings.alpha,
        lora_dropout=settings.dropout,
        target_modules=[
            "q_proj",
            "k_proj",
            "v_proj",
            "o_proj",
            "gate_proj",
            "up_proj",
            "down_proj",
        ],
        task_type="CAUSAL_LM",
    )
    model = get_peft_model(model, lora)
    steps_per_epoch = math.ceil(len(train_rows) / settings.batch_size)
    run = TrainingRun()
    with tempfile.TemporaryDirectory(prefix="askloop-tune-") as scratch:
        has_eval = bool(eval_rows)
        config = SFTConfig(
            output_dir=scratch,
            num_train_epochs=settings.epochs,
            max_steps=settings.max_steps or -1,
            per_device_train_batch_size=settings.batch_size,
            per_device_eval_batch_size=settings.batch_size,
            learning_rate=settings.learning_rate,
            lr_scheduler_type="constant_with_warmup",
            warmup_steps=min(10, steps_per_epoch),
            weight_decay=0.0,
            max_length=settings.max_tokens,
            completion_only_loss=True,
            gradient_checkpointing=False,
            use_cpu=True,
            bf16=False,  # bf16 autocast on a CPU without bf16 units is many times slower
            report_to="none",
            disable_tqdm=True,
            logging_strategy="epoch",
            eval_strategy="epoch" if has_eval else "no",
            save_strategy="epoch" if has_eval else "no",
            save_total_limit=2,
            save_only_model=True,
            load_best_model_at_end=has_eval,
            metric_for_best_model="eval_loss" if has_eval else None,
            greater_is_better=False,
            seed=settings.seed,
            data_seed=settings.seed,
            dataloader_num_workers=0,
        )
        callbacks: list[Any] = [_callback_class()(steps_per_epoch * settings.epochs)]
        if has_eval:
            callbacks.append(EarlyStoppingCallback(early_stopping_patience=settings.patience))
        trainer = SFTTrainer(
            model=model,
            args=config,
            train_dataset=Dataset.from_list(list(train_rows)),
            eval_dataset=Dataset.from_list(list(eval_rows)) if has_eval else None,
            processing_class=tokenizer,
            callbacks=callbacks,
        )
        # With its own bar off, the Trainer prints every log dict to stdout, which is
        # the CLI's (--json) output: our callback reports instead.
        trainer.remove_callback(PrinterCallback)
        if has_eval:
            run.first_eval_loss = float(trainer.evaluate()["eval_loss"])
        result = trainer.train()
        history = trainer.state.log_history
        run.eval_losses = [h["eval_loss"] for h in history if "eval_loss" in h]
        run.steps = trainer.state.global_step
        run.epochs_run = float(trainer.state.epoch or 0.0)
        run.train_loss = float(result.training_loss)
        if run.eval_losses:
            run.best_eval_loss = min(run.eval_losses[1:] or run.eval_losses)
        run.stopped_early = bool(settings.max_steps == 0 and run.epochs_run < settings.epochs)
        tuned: Any = trainer.model  # a PeftModel: the LoRA folds into its base here
        merged = tuned.merge_and_unload()
    merged.eval()
    write_gguf(merged.state_dict(), base=base, out=out / MODEL_FILE, name=name)
    run.seconds = time.perf_counter() - started
    return run
