"""``askloop export`` through the CLI entry point."""

from __future__ import annotations

import json
import os
import re

import pytest

from askloop.integrations.answer_log.sql_log import open_answer_log
from askloop.integrations.cli.main import main
from askloop.integrations.models import local
from tests.export_fixture import populate


class FourCharTokens:
    """The local model's tokenizer seam: a token per four characters (a special token
    per <|...|>), two per message for the template; no model load."""

    def __init__(self, **_):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *_):
        pass

    def count_tokens(self, messages):
        return sum(len(self.tokenize(m["content"])) + 2 for m in messages)

    def tokenize(self, text):
        ids = []
        for i, piece in enumerate(re.split(r"(<\|[a-z_]+\|>)", text)):
            ids += [0] if i % 2 else [1] * (len(piece) // 4)
        return ids


@pytest.fixture(autouse=True)
def no_model_load(request, monkeypatch):
    if "slow" not in request.keywords:
        monkeypatch.setattr(local, "LocalChatModel", FourCharTokens)


@pytest.fixture
def logged(tmp_path):
    log = open_answer_log(None, __import__("pathlib").Path(os.environ["ASKLOOP_HOME"]))
    populate(log)
    log.close()
    return tmp_path


def test_kto_export_prints_counts_and_balancing_weights(logged, capsys):
    out = logged / "kto.jsonl"
    assert main(["export", "--format", "trl-kto", "--out", str(out), "--tenant", "acme"]) == 0
    printed = capsys.readouterr().out
    assert "desirable_weight=" in printed and "undesirable_weight=" in printed
    assert all("label" in json.loads(line) for line in out.read_text().splitlines())


def test_router_export_suggests_a_route_threshold(logged, capsys, monkeypatch):
    monkeypatch.setenv("ASKLOOP_CONFIG", str(logged / "askloop.toml"))
    (logged / "askloop.toml").write_text("[graph]\nroute_threshold = 0.95\n")
    out = logged / "router.jsonl"
    assert main(["export", "--format", "router", "--out", str(out), "--tenant", "acme"]) == 0
    printed = capsys.readouterr().out
    # The fixture's one 👍 knowledge-base answer scores 0.9, every other 👍 at most 0.5:
    # 0.95 misroutes that one, a threshold between 0.5 and 0.9 gets all of them right.
    assert "1 examples should search, 12 should not" in printed
    assert "route_threshold 0.95 is right on 92.3% of them; 0.7 would be on 100.0%" in printed
    assert len(out.read_text().splitlines()) == 13


def test_a_multi_tenant_run_exits_0_naming_the_refused_tenants(logged, capsys):
    out = logged / "sft.jsonl"
    assert main(["export", "--format", "openai-sft", "--out", str(out)]) == 0
    assert (logged / "sft.acme.jsonl").exists() and not (logged / "sft.globex.jsonl").exists()
    err = capsys.readouterr().err
    assert (
        "1 of 2 tenants written; refused: globex: 1 examples, openai-sft needs at least 10" in err
    )


def test_an_unknown_tenant_is_named_as_such(logged, capsys):
    out = logged / "sft.jsonl"
    assert main(["export", "--format", "trl-sft", "--out", str(out), "--tenant", "nosuch"]) == 2
    assert "unknown tenant 'nosuch' (the log holds: acme, globex)" in capsys.readouterr().err
    assert not out.exists()


def test_a_log_of_one_tenant_writes_path_itself(tmp_path, capsys):
    from tests.export_fixture import answer, rate

    log = open_answer_log(None, __import__("pathlib").Path(os.environ["ASKLOOP_HOME"]))
    log.save_answer(answer(1, "What is the capital of France?", "Paris."))
    rate(log, "a01", "up")
    log.close()
    out = tmp_path / "sft.jsonl"
    assert main(["export", "--format", "trl-sft", "--out", str(out)]) == 0
    assert out.exists() and not (tmp_path / "sft.acme.jsonl").exists()


def test_a_refused_export_says_the_older_file_is_untouched(logged, capsys):
    out = logged / "x.jsonl"
    out.write_text("older\n")
    args = ["export", "--format", "openai-dpo", "--out", str(out), "--tenant", "acme"]
    assert main([*args, "--val-fraction", "0.99"]) == 2
    err = capsys.readouterr().err
    assert "needs at least 10 in the training file" in err
    assert f"the older {out} is untouched" in err and out.read_text() == "older\n"


def test_router_export_keeps_a_threshold_nothing_beats(logged, capsys, monkeypatch):
    monkeypatch.setenv("ASKLOOP_CONFIG", str(logged / "askloop.toml"))
    (logged / "askloop.toml").write_text("[graph]\nroute_threshold = 0.6\n")
    out = logged / "router.jsonl"
    assert main(["export", "--format", "router", "--out", str(out), "--tenant", "acme"]) == 0
    printed = capsys.readouterr().out
    assert "route_threshold 0.6 is right on 100.0% of them; keep it" in printed
    assert "would be on" not in printed


def test_without_a_tenant_each_tenant_gets_its_own_file(logged, capsys):
    out = logged / "sft.jsonl"
    status = main(["export", "--format", "trl-sft", "--out", str(out)])
    assert status == 0
    assert (logged / "sft.acme.jsonl").exists() and (logged / "sft.globex.jsonl").exists()
    assert not out.exists()
    acme = (logged / "sft.acme.jsonl").read_text()
    assert "Globex answer." not in acme


def test_below_the_minimum_exits_2_naming_the_count(logged, capsys):
    out = logged / "x.jsonl"
    assert main(["export", "--format", "openai-sft", "--out", str(out), "--tenant", "globex"]) == 2
    err = capsys.readouterr().err
    assert "1 examples, openai-sft needs at least 10" in err and not out.exists()


def test_validation_split_writes_a_val_file(logged, capsys):
    out = logged / "sft.jsonl"
    assert (
        main(
            [
                "export",
                "--format",
                "openai-sft",
                "--out",
                str(out),
                "--tenant",
                "acme",
                "--val-fraction",
                "0.3",
                "--seed",
                "3",
            ]
        )
        == 0
    )
    assert (logged / "sft.val.jsonl").exists()
    assert "validation examples" in capsys.readouterr().out


def test_no_redact_is_loud(logged, capsys):
    out = logged / "raw.jsonl"
    assert (
        main(
            ["export", "--format", "trl-sft", "--out", str(out), "--tenant", "acme", "--no-redact"]
        )
        == 0
    )
    assert "--no-redact" in capsys.readouterr().err
    assert "bob@corp.example" in out.read_text()


@pytest.mark.parametrize(
    "args",
    [
        ["--val-fraction", "1.5"],
        ["--val-fraction", "1"],
        ["--raft-oracle-p", "1.01"],
        ["--max-tokens", "-1"],
        ["--since", "yesterday"],
        ["--format", "csv"],
        ["--tenant", "a", "--all-tenants"],
    ],
)
def test_bad_options_are_usage_errors(logged, args):
    base = ["export", "--out", str(logged / "o.jsonl")]
    if "--format" not in args:
        base += ["--format", "trl-sft"]
    with pytest.raises(SystemExit) as exc:
        main([*base, *args])
    assert exc.value.code == 2


def test_an_empty_log_says_there_is_nothing_to_export(tmp_path, capsys):
    assert main(["export", "--format", "trl-sft", "--out", str(tmp_path / "o.jsonl")]) == 2
    assert "nothing to export" in capsys.readouterr().err


@pytest.mark.parametrize("p", ["0", "1"])
def test_raft_oracle_probability_accepts_both_ends(logged, p):
    out = logged / "raft.jsonl"
    args = ["export", "--format", "raft", "--out", str(out), "--tenant", "acme"]
    assert main([*args, "--raft-oracle-p", p, "--raft-distractors", "1"]) == 0


def test_examples_over_max_tokens_are_counted_and_warned_about(logged, capsys):
    out = logged / "sft.jsonl"
    args = ["export", "--format", "trl-sft", "--out", str(out), "--tenant", "acme"]
    assert main([*args, "--max-tokens", "150"]) == 0
    err = capsys.readouterr().err
    # The two knowledge-base answers carry the long system prompt and two documents.
    assert "warning: 2 of 22 examples are longer than --max-tokens 150" in err
    assert main([*args, "--max-tokens", "100000"]) == 0
    assert "longer than" not in capsys.readouterr().err


@pytest.mark.slow
def test_tokens_are_counted_with_the_local_models_tokenizer(logged, capsys):
    out = logged / "kto.jsonl"
    args = ["export", "--format", "trl-kto", "--out", str(out), "--tenant", "acme"]
    assert main([*args, "--max-tokens", "120"]) == 0
    err = capsys.readouterr().err
    assert "examples are longer than --max-tokens 120 (the longest" in err
    longest = int(err.split("(the longest ")[1].split(" tokens")[0])
    assert 150 < longest < 1024  # SmolLM2's BPE: ~4 characters a token, plus the template
