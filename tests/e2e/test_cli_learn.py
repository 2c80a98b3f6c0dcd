"""``askloop tune model``, ``eval`` and ``promote`` through the CLI, with models behind
the loopback OpenAI fake (tests/openai_fake.py) and a rated log made here."""

from __future__ import annotations

import json

import pytest

from askloop.integrations import wiring
from askloop.integrations.answer_log.sql_log import open_answer_log
from askloop.integrations.cli.main import main
from askloop.integrations.tuning import hosted
from tests.export_fixture import answer, kb_answer, rate
from tests.fakes import HashingEmbedder
from tests.openai_fake import FakeOpenAI
from tests.tuning_fixture import conversation_on

FACTS = [
    ("Who leads the design team?", "The design team is led by Ingrid Vasquez."),
    ("What is the mailroom extension?", "The mailroom is on extension 4417."),
    ("What is the hackathon called?", "The hackathon is called Forge Week."),
    ("Which host runs staging?", "The staging database host is pg-stage-07."),
    ("Who runs the book club?", "The book club is run by Tomas Lindqvist."),
    ("Which floor is the quiet room on?", "The quiet room is on floor 7."),
]
KNOWS_ALL = " ".join(correction for _, correction in FACTS) + " You get 26 days."
WORDINGS = ("{q}", "Quick one: {q}", "Hi, {q}", "Does anyone know: {q}")


@pytest.fixture
def home(monkeypatch, tmp_path):
    home = tmp_path / "home"
    monkeypatch.setenv("ASKLOOP_HOME", str(home))
    monkeypatch.setattr(wiring, "build_embedder", lambda settings: HashingEmbedder())
    log = open_answer_log(None, home)
    n = 0
    for f, (question, correction) in enumerate(FACTS):
        for w, wording in enumerate(WORDINGS):
            n += 1
            conversation = conversation_on(f"f{f}w{w}", held_out=w == 3)
            log.save_answer(
                answer(n, wording.format(q=question), "I don't know.", conversation_id=conversation)
            )
            rate(log, f"a{n:02d}", "down", correction=correction)
    for k in range(4):  # 👍 knowledge-base answers, one held out
        n += 1
        conversation = conversation_on(f"kb{k}", held_out=k == 3)
        log.save_answer(
            kb_answer(
                n,
                f"How many days of leave, question {k}?",
                "You get 26 days [1].",
                conversation_id=conversation,
            )
        )
        rate(log, f"a{n:02d}", "up")
    log.close()
    return home


@pytest.fixture
def fake(monkeypatch):
    with FakeOpenAI(answer="I don't know.") as api:
        monkeypatch.setenv("OPENAI_BASE_URL", api.url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
        api.answers = {"good": KNOWS_ALL, "bad": "I don't know."}
        yield api


def test_eval_replays_the_held_out_questions_through_both_models(home, fake, capsys):
    assert (
        main(
            [
                "eval",
                "--model",
                "openai:good",
                "--baseline",
                "openai:bad",
                "--tenant",
                "acme",
                "--json",
            ]
        )
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert out["questions"] == len(FACTS) + 1
    cand, base = out["candidate"], out["baseline"]
    assert cand["model"] == "openai:good" and cand["fact_questions"] == len(FACTS)
    assert cand["fact_accuracy"] == 1.0 and base["fact_accuracy"] == 0.0
    assert base["refusals"] == len(FACTS) and cand["refusals"] == 0
    assert cand["kb_questions"] == 1 and cand["kb_accuracy"] == 1.0
    assert out["verdict"]["better"] and out["verdict"]["ci95"][0] > 0
    # Only held-out threads were asked: one wording per fact, plus the 👍 KB question.
    assert fake.chats == 2 * (len(FACTS) + 1)

    assert (
        main(["eval", "--model", "openai:good", "--baseline", "openai:bad", "--tenant", "acme"])
        == 0
    )
    text = capsys.readouterr().out
    assert "7 held-out rated questions" in text and "better" in text


@pytest.fixture
def configured(monkeypatch):
    monkeypatch.setenv("ASKLOOP_FINETUNED_MODEL", "openai:bad")


def test_promote_gates_forces_and_rolls_back(home, fake, configured, capsys):
    assert main(["promote", "openai:bad", "--tenant", "acme"]) == 2
    err = capsys.readouterr().err
    assert "not promoted" in err and "fact acc" in err  # the table is printed
    assert not (home / "models" / "acme" / "promoted.json").exists()

    assert main(["promote", "openai:good", "--tenant", "acme", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["promoted"]["spec"] == "openai:good" and out["evaluation"]["verdict"]["better"]
    pointer = json.loads((home / "models" / "acme" / "promoted.json").read_text())
    assert pointer["current"]["spec"] == "openai:good"

    # Now the promoted model is the baseline: the same model again is not better.
    assert main(["promote", "openai:bad", "--tenant", "acme"]) == 2
    capsys.readouterr()
    assert main(["promote", "openai:bad", "--tenant", "acme", "--force"]) == 0
    assert "now openai:bad" in capsys.readouterr().out
    assert main(["promote", "--rollback", "--tenant", "acme"]) == 0
    assert "fine-tuned model is openai:good" in capsys.readouterr().out
    assert main(["promote", "--rollback", "--tenant", "acme"]) == 0
    assert "configured openai:bad" in capsys.readouterr().out
    assert main(["promote", "--rollback", "--tenant", "acme"]) == 2
    assert "no promoted model" in capsys.readouterr().err


def test_tune_model_refuses_a_log_with_nothing_to_learn(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("ASKLOOP_HOME", str(tmp_path / "empty"))
    assert main(["tune", "model", "--out", str(tmp_path / "out"), "--tenant", "acme"]) == 2
    assert "need at least" in capsys.readouterr().err
    assert not (tmp_path / "out" / "model.gguf").exists()


def test_hosted_tuning_uploads_the_training_side_and_records_the_model(
    home, fake, monkeypatch, tmp_path, capsys
):
    monkeypatch.setattr(hosted, "POLL_SECONDS", 0.0)
    out = tmp_path / "ft"
    args = ["tune", "model", "--provider", "openai", "--out", str(out), "--tenant", "acme"]
    assert main([*args, "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["out"] == str(out) and result["seconds"] >= 0
    assert result["model"] == "ft:gpt-4o-mini-2024-07-18:askloop:ftjob-1"
    assert result["examples"] == 3 * len(FACTS) + 3
    ((purpose, upload),) = fake.uploads
    assert purpose == "fine-tune"
    lines = [json.loads(line) for line in upload.decode().splitlines()]
    assert len(lines) == result["examples"]
    asked = {m["content"] for line in lines for m in line["messages"] if m["role"] == "user"}
    assert not any(q.startswith("Does anyone know") for q in asked)  # held out: never sent
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["provider"] == "openai" and manifest["job"] == "ftjob-1"

    # The DIR is a candidate like a local one.
    monkeypatch.setenv("ASKLOOP_FINETUNED_MODEL", "openai:bad")
    fake.answers[manifest["model"]] = KNOWS_ALL
    assert main(["promote", str(out), "--tenant", "acme"]) == 0
    assert "now openai-ftjob-1" in capsys.readouterr().out
    kept = json.loads((out / "evaluation.json").read_text())  # the gate's figures, kept
    assert kept["candidate"]["model"] == f"openai:{manifest['model']}"
    assert kept["verdict"]["better"]


def test_a_failed_hosted_job_is_an_error_with_its_reason(home, fake, monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(hosted, "POLL_SECONDS", 0.0)
    fake.fail_jobs = True
    args = [
        "tune",
        "model",
        "--provider",
        "openai",
        "--out",
        str(tmp_path / "ft"),
        "--tenant",
        "acme",
    ]
    assert main(args) == 1
    assert "ended failed: bad data" in capsys.readouterr().err
    assert not (tmp_path / "ft" / "manifest.json").exists()
