"""A tiny real tuning run (slow tier): the shipped GGUF read into transformers, a LoRA
step or two through TRL's SFTTrainer, merged and written back as a GGUF that llama.cpp
loads and answers with; and the write-back itself, checked weight by weight."""

from __future__ import annotations

import json

import numpy as np
import pytest

from askloop.agent.chat import Message
from askloop.integrations.answer_log.sql_log import open_answer_log
from askloop.integrations.cli.main import main
from tests.export_fixture import answer, rate
from tests.tuning_fixture import conversation_on

pytestmark = pytest.mark.slow

FACTS = [
    ("Who leads the design team?", "The design team is led by Ingrid Vasquez."),
    ("What is the mailroom extension?", "The mailroom is on extension 4417."),
]


@pytest.fixture
def home(monkeypatch, tmp_path):
    home = tmp_path / "home"
    monkeypatch.setenv("ASKLOOP_HOME", str(home))
    log = open_answer_log(None, home)
    n = 0
    for question, correction in FACTS:
        for w, wording in enumerate(("{q}", "Hi, {q}", "Quick one: {q}")):
            n += 1
            conversation = conversation_on(f"t{n}", held_out=w == 2)
            question_asked = wording.format(q=question)
            log.save_answer(
                answer(n, question_asked, "I don't know.", conversation_id=conversation)
            )
            rate(log, f"a{n:02d}", "down", correction=correction)
    log.close()
    return home


def test_a_tiny_tuning_run_writes_a_gguf_llama_cpp_answers_with(home, tmp_path, capsys):
    from askloop.integrations.models.local import LocalChatModel

    out = tmp_path / "candidate"
    args = ["tune", "model", "--out", str(out), "--tenant", "acme", "--max-steps", "2", "--json"]
    assert main(args) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["out"] == str(out) and result["steps"] == 2 and result["seconds"] > 0
    assert result["examples"] == 4  # rated answers trained on (two threads held out)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["base"]["file"].endswith(".gguf") and len(manifest["data_hash"]) == 16
    assert manifest["examples"]["train_rows"] == 4 * result["examples"]
    assert 0 < manifest["peak_rss_mb"] < 4096
    assert manifest["eval"]["held_out_loss_before"] > 0

    with LocalChatModel(model_path=out / "model.gguf", threads=1) as model:
        reply = model.complete([Message("user", "Who leads the design team?")], max_tokens=24)
    assert reply.model == f"local:{out / 'model.gguf'}"
    assert len(reply.text.split()) >= 2  # words, not a broken model's silence


def test_the_base_written_back_is_the_base(tmp_path):
    """Untrained weights written back equal the shipped ones (dequantised), including
    the query/key rows llama.cpp lays out differently from transformers."""
    import gguf
    from gguf.quants import dequantize

    from askloop.integrations.models.local import default_model_path
    from askloop.integrations.tuning.gguf_out import write_gguf
    from askloop.integrations.tuning.local_model import load_base

    base = default_model_path()
    model, _ = load_base(base, threads=1)
    out = tmp_path / "model.gguf"
    counts = write_gguf(model.state_dict(), base=base, out=out, name="roundtrip", f16=False)
    assert counts["f16"] == 0 and counts["f32"] == 272
    original = {t.name: t for t in gguf.GGUFReader(base).tensors}
    written = {t.name: t for t in gguf.GGUFReader(out).tensors}
    assert written.keys() == original.keys()
    for name in ("blk.0.attn_q.weight", "blk.7.attn_k.weight", "blk.3.ffn_down.weight"):
        want = dequantize(original[name].data, original[name].tensor_type)
        got = np.asarray(written[name].data)
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    fields = gguf.GGUFReader(out).fields
    assert fields["general.name"].contents() == "roundtrip"
    assert fields["tokenizer.chat_template"].contents().startswith("{% for message")
