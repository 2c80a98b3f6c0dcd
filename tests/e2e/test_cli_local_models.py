"""``ASKLOOP_ANSWER_MODEL`` / ``ASKLOOP_FINETUNED_MODEL`` = ``local:PATH`` through the CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from askloop.integrations.models.local import default_model_path
from tests.e2e.conftest import askloop


@pytest.mark.parametrize(
    ("name", "content", "says"),
    [
        ("missing.gguf", None, "no model file at"),
        ("weights.bin", b"PK\x03\x04 a zip, not a model", "not a GGUF model file:"),
    ],
)
def test_a_bad_local_model_is_a_usage_error_naming_the_file(
    cli_env: dict[str, str], tmp_path: Path, name: str, content: bytes | None, says: str
):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    cli_env["ASKLOOP_FINETUNED_MODEL"] = f"local:{path}"
    out = askloop(cli_env, "ask", "What is the capital of France?")
    assert out.returncode == 2
    assert f"askloop: error: {says}" in out.stderr and str(path) in out.stderr
    assert "Traceback" not in out.stderr and out.stdout == ""


@pytest.mark.slow
def test_answers_come_from_the_gguf_named_and_record_its_file(
    cli_env: dict[str, str], small_kb: Path, tmp_path: Path
):
    tuned = tmp_path / "promoted"
    tuned.mkdir()
    shutil.copyfile(default_model_path(), tuned / "model.gguf")
    other = tmp_path / "candidate.gguf"
    shutil.copyfile(default_model_path(), other)
    cli_env["ASKLOOP_ANSWER_MODEL"] = f"local:{tuned}"
    cli_env["ASKLOOP_FINETUNED_MODEL"] = f"local:{other}"
    assert askloop(cli_env, "ingest", str(small_kb)).returncode == 0

    kb = askloop(cli_env, "ask", "How many days of annual leave do I get?", "--json")
    assert kb.returncode == 0, kb.stderr
    answer = json.loads(kb.stdout)
    assert answer["route"] in {"retrieve", "rewrite"} and answer["answer"].strip()
    assert answer["model"] == f"local:{tuned / 'model.gguf'}"

    general = askloop(cli_env, "ask", "What is the capital of France?", "--json")
    assert general.returncode == 0, general.stderr
    assert json.loads(general.stdout)["model"] == f"local:{other}"

    logged = askloop(cli_env, "log", "--json")
    assert {json.loads(line)["model"] for line in logged.stdout.splitlines()} == {
        f"local:{tuned / 'model.gguf'}",
        f"local:{other}",
    }
