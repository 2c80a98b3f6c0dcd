"""``askloop ask | route | rate | log`` through the real entry points."""

from __future__ import annotations

import json

import pytest

from askloop.agent.answers import CORRECTION_MAX_CHARS
from askloop.integrations.cli.main import main
from tests.e2e.conftest import askloop


def test_rating_an_unknown_answer_is_a_usage_error(capsys):
    assert main(["rate", "no-such-answer", "up"]) == 2
    assert "no answer 'no-such-answer'" in capsys.readouterr().err


def test_a_too_long_correction_is_refused_with_a_message(capsys):
    too_long = "c" * (CORRECTION_MAX_CHARS + 1)
    assert main(["rate", "any-answer", "down", "--correction", too_long]) == 2
    err = capsys.readouterr().err
    assert "correction" in err and f"{CORRECTION_MAX_CHARS:,}" in err


def test_an_empty_log_says_how_to_start(capsys):
    assert main(["log"]) == 0
    assert "No answers logged yet" in capsys.readouterr().out
    assert main(["log", "--json"]) == 0
    assert capsys.readouterr().out == ""


def test_log_limit_must_be_positive(capsys):
    assert main(["log", "--limit", "0"]) == 2
    assert "--limit" in capsys.readouterr().err


def test_bad_rating_value_is_refused(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["rate", "abc", "sideways"])
    assert exc.value.code == 2


@pytest.mark.slow
def test_ask_rate_log_on_the_embedded_default(cli_env, small_kb):
    assert askloop(cli_env, "ingest", str(small_kb)).returncode == 0

    kb = askloop(cli_env, "ask", "How long do I have to acknowledge a page when on call?", "--json")
    assert kb.returncode == 0, kb.stderr
    answer = json.loads(kb.stdout)
    assert set(answer) >= {
        "answer_id",
        "question",
        "answer",
        "route",
        "rewrites",
        "citations",
        "model",
        "tenant",
        "platform",
        "created_at",
    }
    assert answer["route"] in {"retrieve", "rewrite"} and answer["answer"].strip()
    assert answer["model"] == "local:smollm2-135m-instruct"
    assert (answer["tenant"], answer["platform"]) == ("default", "cli")
    for c in answer["citations"]:
        assert set(c) == {"n", "title", "source", "url", "chunk_id"}

    general = askloop(cli_env, "ask", "What is the capital of France?", "--json")
    assert json.loads(general.stdout)["route"] == "finetuned"

    routed = askloop(cli_env, "route", "-", "--json", stdin="Who wrote Hamlet?\nparking levels\n")
    assert [json.loads(line)["route"] for line in routed.stdout.splitlines()] == [
        "finetuned",
        "retrieve",
    ]

    rated = askloop(
        cli_env,
        "rate",
        answer["answer_id"],
        "down",
        "--reason",
        "too vague",
        "--correction",
        "Within 15 minutes.",
    )
    assert rated.returncode == 0 and "👎" in rated.stdout

    logged = [json.loads(line) for line in askloop(cli_env, "log", "--json").stdout.splitlines()]
    assert [x["route"] for x in logged] == ["finetuned", answer["route"]]
    assert logged[1]["rating"] == "down" and logged[1]["reason"] == "too vague"
    assert logged[0]["rating"] is None

    human = askloop(cli_env, "ask", "")
    assert human.returncode == 2 and "empty" in human.stderr
