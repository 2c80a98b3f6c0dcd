"""Round trips with the real consumers: every TRL export loads with ``datasets``,
tokenizes with the shipped model's chat template, and takes two real optimisation steps
of TRL's SFT, DPO and KTO trainers with a small LoRA adapter (peft), as a local
fine-tune on a CPU would.

What is under test is the data: the columns each trainer reads, the prompt masking, the
chosen/rejected pairs, the KTO labels and weights. So the trainers run on SmolLM2's own
tokenizer and architecture (read from the shipped GGUF by transformers' GGUF loader)
shrunk to two narrow layers with seeded random weights: the same code paths at a
hundredth of the cost. The shipped weights themselves are trained, written back and
answered with in tests/e2e/test_cli_tune_model.py.

A format change that breaks training fails here. Slow tier: it reads the GGUF's
tokenizer (transformers and TRL imports dominate); sequences are short, one thread.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from askloop.integrations.export.writer import ExportOptions, export_dataset
from tests.export_fixture import LEAVE, PARKING, populate

pytestmark = pytest.mark.slow

MAX_LENGTH = 256


@pytest.fixture(scope="module")
def exports(tmp_path_factory) -> dict[str, Path]:
    from askloop.integrations.answer_log.sql_log import SqlAnswerLog

    folder = tmp_path_factory.mktemp("exports")
    log = SqlAnswerLog.sqlite(folder / "log.db")
    populate(log)
    out: dict[str, Path] = {}
    for fmt in ("trl-sft", "trl-dpo", "trl-kto", "raft"):
        path = folder / f"{fmt}.jsonl"
        opts = ExportOptions(fmt=fmt, out=path, tenant="acme", raft_k=1)
        report = export_dataset(log, opts, more=lambda *_: [PARKING, LEAVE])
        assert report.files == [path], report.refused
        out[fmt] = path
    log.close()
    return out


@pytest.fixture(scope="module")
def smollm2():
    """SmolLM2's tokenizer and architecture, two layers of width 64, seeded weights."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("gguf")
    pytest.importorskip("trl")
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    from askloop.integrations.models.local import default_model_path

    torch.set_num_threads(1)
    gguf = default_model_path()
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    config = AutoConfig.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    assert config.model_type == "llama" and config.vocab_size == len(tokenizer)
    config.update(
        dict(
            num_hidden_layers=2,
            hidden_size=64,
            intermediate_size=128,
            num_attention_heads=4,
            num_key_value_heads=2,
            head_dim=16,
        )
    )
    torch.manual_seed(0)
    return AutoModelForCausalLM.from_config(config), tokenizer


def load(path: Path):
    import datasets

    return datasets.load_dataset(
        "json", data_files=str(path), split="train", cache_dir=str(path.parent / "hf")
    )


def common(out: Path) -> dict:
    return dict(
        output_dir=str(out),
        max_steps=2,
        per_device_train_batch_size=2,
        gradient_accumulation_steps=1,
        learning_rate=1e-4,
        max_length=MAX_LENGTH,
        logging_steps=1,
        report_to="none",
        save_strategy="no",
        use_cpu=True,
        dataloader_num_workers=0,
        seed=0,
        gradient_checkpointing=False,  # nothing to save on 256 tokens; it only slows CPU
    )


def fresh(model):
    """A copy of the loaded model (each trainer adds its adapter) and a LoRA config."""
    import copy

    from peft import LoraConfig

    lora = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM")
    return copy.deepcopy(model), lora


def trained(trainer) -> list[float]:
    before = [p.detach().clone() for p in trainer.model.parameters() if p.requires_grad][:4]
    result = trainer.train()
    after = [p for p in trainer.model.parameters() if p.requires_grad][:4]
    assert result.global_step == 2
    assert any((a - b).abs().max() > 0 for a, b in zip(after, before, strict=True))
    losses = [e["loss"] for e in trainer.state.log_history if "loss" in e]
    assert len(losses) == 2 and all(math.isfinite(x) for x in losses)
    return losses


def test_every_export_tokenizes_with_the_models_chat_template(exports, smollm2):
    _, tokenizer = smollm2
    for fmt, path in exports.items():
        rows = load(path)
        assert rows.num_rows > 0
        row = rows[0]
        answers = [row[k] for k in ("completion", "chosen", "rejected") if k in row]
        for answer in answers:
            ids = tokenizer.apply_chat_template(row["prompt"] + answer, tokenize=True)
            ids = ids["input_ids"] if hasattr(ids, "keys") else ids  # a BatchEncoding
            text = tokenizer.decode(ids)
            assert "<|im_start|>assistant\n" + answer[0]["content"] in text, fmt


def trainer_for(kind: str, smollm2, rows, out: Path, **config):
    """TRL's ``{kind}Trainer`` with a LoRA adapter on a copy of the model."""
    import trl

    model, tokenizer = smollm2
    base, lora = fresh(model)
    args = getattr(trl, f"{kind}Config")(**{**common(out), **config})
    return getattr(trl, f"{kind}Trainer")(
        model=base, peft_config=lora, args=args, train_dataset=rows, processing_class=tokenizer
    )


def test_sft_trains_on_the_answer_only(exports, smollm2, tmp_path):
    trainer = trainer_for("SFT", smollm2, load(exports["trl-sft"]), tmp_path)
    batch = next(iter(trainer.get_train_dataloader()))
    labelled = (batch["labels"] != -100).sum().item()
    assert 0 < labelled < batch["attention_mask"].sum().item() / 2  # the prompt is masked
    trained(trainer)


def test_raft_trains_with_sft(exports, smollm2, tmp_path):
    rows = load(exports["raft"])
    trained(trainer_for("SFT", smollm2, rows, tmp_path, per_device_train_batch_size=1))


def test_dpo_trains(exports, smollm2, tmp_path):
    trained(trainer_for("DPO", smollm2, load(exports["trl-dpo"]), tmp_path))


def test_kto_trains_with_the_printed_weights(exports, smollm2, tmp_path):
    from askloop.integrations.cli.export import kto_weights

    rows = load(exports["trl-kto"])
    ups = sum(rows["label"])
    desirable, undesirable = kto_weights(ups, rows.num_rows - ups)
    trainer = trainer_for(
        "KTO",
        smollm2,
        rows,
        tmp_path,
        desirable_weight=desirable,
        undesirable_weight=undesirable,
    )
    trained(trainer)
