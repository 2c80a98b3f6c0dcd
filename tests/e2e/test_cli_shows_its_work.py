"""``askloop`` says what it does: --version, help with defaults, -v anywhere, one error
format, a log that shows answers and corrections, a failing model as one line, and the
answer streamed on a terminal (a pseudo-terminal here)."""

from __future__ import annotations

import argparse
import json
import os
import pty
import select
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from askloop.integrations.cli.main import _parser
from tests.e2e.conftest import ASKLOOP, askloop
from tests.openai_fake import FakeOpenAI

ANSWER = "Every employee gets 26 days of paid annual leave."


def _parsers(parser: argparse.ArgumentParser) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    yield parser.prog, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                yield from _parsers(child)


def test_version(cli_env: dict[str, str]):
    out = askloop(cli_env, "--version")
    assert out.returncode == 0 and out.stdout.startswith("askloop ")


def test_every_option_has_help_that_names_its_default():
    checked = 0
    for prog, parser in _parsers(_parser()):
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction | argparse._SubParsersAction):
                continue
            assert action.help, f"{prog} {action.option_strings or action.dest}: no help"
            takes_value = action.option_strings and action.nargs != 0
            if takes_value and action.default in (None, "") and not action.required:
                # Falls back to something (settings, all, none): the text must say what.
                assert "default" in action.help, f"{prog} {action.option_strings}"
            checked += 1
        text = parser.format_help()
        for action in parser._actions:
            if action.option_strings and action.default not in (None, False, "", "==SUPPRESS=="):
                assert "default" in text
    assert checked > 40
    search = _parser().parse_args(["search", "x"])
    assert search.k is None  # the settings decide, as the help says


def test_verbose_works_after_the_subcommand_too(cli_env: dict[str, str], tmp_path: Path):
    def fresh(name: str) -> dict[str, str]:  # a new log says at INFO which migrations ran
        return {**cli_env, "ASKLOOP_HOME": str(tmp_path / name)}

    quiet = askloop(fresh("quiet"), "log")
    after = askloop(fresh("home-1"), "log", "-v")
    before = askloop(fresh("home-2"), "-v", "log")
    assert quiet.returncode == after.returncode == before.returncode == 0
    assert "INFO" not in quiet.stderr
    assert "askloop: INFO: " in after.stderr and "applied migration" in after.stderr
    assert after.stderr.replace("home-1", "home-2") == before.stderr


@pytest.mark.parametrize(
    ("args", "env", "says"),
    [
        (["rate", "x", "sideways"], {}, "argument rating: invalid choice"),
        (["log", "--limit", "0"], {}, "--limit must be 1 or more"),
        (["rate", "no-such", "up"], {}, "no answer 'no-such'"),
        (["log"], {"ASKLOOP_CONFIG": "/nonexistent/askloop.toml"}, "/nonexistent/askloop.toml"),
        (["search", "x", "--tenant", "Bad Tenant!"], {}, "tenant"),
    ],
)
def test_errors_look_the_same_everywhere(cli_env, args, env, says):
    out = askloop({**cli_env, **env}, *args)
    assert out.returncode == 2
    errors = [line for line in out.stderr.splitlines() if line.startswith("askloop: error: ")]
    assert len(errors) == 1 and says in errors[0], out.stderr
    assert "Traceback" not in out.stderr


@pytest.fixture
def fake_model(cli_env: dict[str, str], tmp_path: Path) -> Iterator[FakeOpenAI]:
    config = tmp_path / "askloop.toml"
    config.write_text("[models]\nmax_attempts = 1\ntimeout_seconds = 10\n")
    with FakeOpenAI(answer=ANSWER) as model:
        cli_env.update(
            OPENAI_BASE_URL=model.url,
            OPENAI_API_KEY="test-key",
            ASKLOOP_ANSWER_MODEL="openai:gpt-x",
            ASKLOOP_FINETUNED_MODEL="openai:gpt-x",
            ASKLOOP_CONFIG=str(config),
        )
        yield model


def test_a_failing_hosted_model_is_one_line_and_exit_1(cli_env, small_kb, fake_model):
    assert askloop(cli_env, "ingest", str(small_kb)).returncode == 0
    fake_model.fail_with(503)
    out = askloop(cli_env, "ask", "How many days of annual leave do I get?")
    assert out.returncode == 1
    assert out.stdout == ""  # the apology is not shown as an answer "from the knowledge base"
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith("askloop: error: the model openai:gpt-x did not answer")
    answer_id = lines[0].split("logged as ")[1].split()[0]

    as_json = askloop(cli_env, "ask", "How many days of annual leave do I get?", "--json")
    assert as_json.returncode == 1 and json.loads(as_json.stdout)["error"] == "model_unavailable"

    verbose = askloop(cli_env, "ask", "How many days of annual leave do I get?", "-v")
    assert verbose.returncode == 1 and "Traceback" in verbose.stderr

    logged = askloop(cli_env, "log")
    assert f"failed    {answer_id}" in logged.stdout


def test_log_shows_the_answer_and_the_correction_and_filters_by_rating(
    cli_env, small_kb, fake_model
):
    assert askloop(cli_env, "ingest", str(small_kb)).returncode == 0
    ids = []
    for question in ("How many leave days?", "When do I acknowledge a page?", "Parking?"):
        out = askloop(cli_env, "ask", question, "--json")
        assert out.returncode == 0, out.stderr
        ids.append(json.loads(out.stdout)["answer_id"])
    assert askloop(cli_env, "rate", ids[0], "up").returncode == 0
    correction = "Acknowledge within 15 minutes."
    rated = askloop(
        cli_env, "rate", ids[1], "down", "--reason", "vague", "--correction", correction
    )
    assert rated.returncode == 0

    everything = askloop(cli_env, "log").stdout
    assert everything.count("answer: Every employee gets 26 days") == 3
    assert f"correction: {correction}" in everything and "reason: vague" in everything

    def shown(*args: str) -> set[str]:
        out = askloop(cli_env, "log", "--json", *args)
        assert out.returncode == 0, out.stderr
        return {json.loads(line)["answer_id"] for line in out.stdout.splitlines()}

    assert shown("--rating", "up") == {ids[0]}
    assert shown("--rating", "down") == {ids[1]}
    assert shown("--rating", "none") == {ids[2]}
    assert shown() == set(ids)
    bad = askloop(cli_env, "log", "--rating", "meh")
    assert bad.returncode == 2 and "askloop: error:" in bad.stderr


ASK_LEAVE = ("ask", "How many days of annual leave do I get?")


@contextmanager
def _on_a_terminal(env: dict[str, str], *args: str) -> Iterator[tuple[subprocess.Popen, int, int]]:
    """``askloop ARGS`` with stdout and stderr on two pseudo-terminals (their master ends);
    killed if still running at the end, and the terminals closed."""
    out_master, out_slave = pty.openpty()
    err_master, err_slave = pty.openpty()
    proc = subprocess.Popen(
        [ASKLOOP, *args], env=env, stdin=subprocess.DEVNULL, stdout=out_slave, stderr=err_slave
    )
    os.close(out_slave)
    os.close(err_slave)
    try:
        yield proc, out_master, err_master
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(out_master)
        os.close(err_master)


def _read(fd: int, into: bytearray, until: float) -> None:
    while time.monotonic() < until:
        ready, _, _ = select.select([fd], [], [], 0.05)
        if not ready:
            return
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # the other end is closed
            return
        if not chunk:
            return
        into += chunk


def test_ask_streams_the_answer_on_a_terminal(cli_env, small_kb, fake_model):
    assert askloop(cli_env, "ingest", str(small_kb)).returncode == 0
    fake_model.hold_stream()
    out, err = bytearray(), bytearray()
    with _on_a_terminal(cli_env, *ASK_LEAVE) as (proc, out_fd, err_fd):
        deadline = time.monotonic() + 120
        while fake_model.streaming == 0 or b"Every" not in out:
            assert time.monotonic() < deadline and proc.poll() is None, (out, err)
            _read(out_fd, out, time.monotonic() + 0.2)
            _read(err_fd, err, time.monotonic() + 0.2)
        # The first word is on the screen while the model still holds back the rest.
        assert b"paid annual leave" not in out
        assert "askloop: Searching the knowledge base…".encode() in err
        fake_model.release()
        proc.wait(timeout=60)
        _read(out_fd, out, time.monotonic() + 2)
    text = out.decode()
    assert proc.returncode == 0, (text, err.decode())
    assert "paid annual leave" in text and "(from the knowledge base · openai:gpt-x" in text


@pytest.mark.slow
def test_ask_says_what_loads_on_a_terminal_with_the_embedded_model(cli_env, small_kb):
    assert askloop(cli_env, "ingest", str(small_kb)).returncode == 0
    out, err = bytearray(), bytearray()
    with _on_a_terminal(cli_env, *ASK_LEAVE) as (proc, out_fd, err_fd):
        deadline = time.monotonic() + 240
        while proc.poll() is None and time.monotonic() < deadline:
            _read(out_fd, out, time.monotonic() + 0.2)
            _read(err_fd, err, time.monotonic() + 0.2)
        _read(out_fd, out, time.monotonic() + 2)
        _read(err_fd, err, time.monotonic() + 2)
    status = err.decode()
    assert proc.returncode == 0, (out.decode(), status)
    assert "askloop: loading the chat model local:smollm2-135m-instruct…" in status
    assert "askloop: Writing the answer…" in status
    assert status.endswith("\r\x1b[K")  # the status line is cleared, not left on screen
    assert "26 days" in out.decode() and "(from the knowledge base" in out.decode()
