"""A question, once acknowledged, is answered or told it could not be — exactly once —
across SIGTERM and kill -9 of a real ``askloop serve`` (issue 13, item 3).

The model is a loopback OpenAI-compatible API that holds its answers back for as long
as a test wants, so a question is reliably "in flight" when the server is stopped.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from askloop.integrations.server.leases import RESTART_APOLOGY
from tests.fault.serving import TEARDOWN_ERRORS, Server, start_server
from tests.openai_fake import FakeOpenAI
from tests.slack_fake import FakeSlack
from tests.slack_payloads import app_mention

pytestmark = pytest.mark.fault

ANSWER = "Every employee gets 26 days of paid leave [1]."
TS = "1700000001.000100"


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack(rate_per_second=20, retry_after=0) as fake:
        yield fake


def answers(messages: list[str]) -> bool:
    """``messages`` is one answer: the model's text (however the route decorates it)."""
    return len(messages) == 1 and "26 days of paid leave" in messages[0]


@pytest.fixture
def model() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(answer=ANSWER) as fake:
        yield fake


def replies(slack: FakeSlack, channel: str, ts: str = TS) -> list[str]:
    """What askloop said in the question's thread (statuses are not messages)."""
    return [m.text for m in slack.messages(channel) if m.thread_ts == ts]


def claim_state(home: Path, channel: str, ts: str = TS) -> str | None:
    with sqlite3.connect(home / "data" / "askloop.db") as db:
        row = db.execute(
            "SELECT state FROM deliveries WHERE key = ?", (f"slack:message:{channel}:{ts}",)
        ).fetchone()
    return row[0] if row else None


def stopped_cleanly(server: Server) -> None:
    assert server.wait(120) == 0, server.log
    for error in TEARDOWN_ERRORS:
        assert error not in server.log, server.log


def test_sigterm_past_the_grace_gets_each_question_its_answer_or_one_apology(
    tmp_path, slack, model
):
    server = start_server(tmp_path / "home", slack, model, grace=3)
    model.hold()  # the model is slow: every question is still being answered …
    model.hold("slow")  # … and two of them for good
    questions = {"C0": "fast", "C1": "fast", "C2": "slow", "C3": "slow"}
    for channel, speed in questions.items():
        mention = app_mention(f"How many leave days? ({speed})", channel=channel, ts=TS)
        assert server.event(mention)[0] == 200
    model.wait_for(lambda: model.waiting == 4)
    server.terminate()
    model.release("")  # the fast two can finish within the grace
    slack.wait_for(lambda: all(replies(slack, c) for c in questions), timeout=60)
    model.release()  # the abandoned model calls return after the apologies
    stopped_cleanly(server)
    said = {channel: replies(slack, channel) for channel in questions}
    for channel, speed in questions.items():
        assert len(said[channel]) == 1, said  # never silence, never twice
        if speed == "slow":
            assert said[channel] == [RESTART_APOLOGY]
        else:
            assert said[channel][0] == RESTART_APOLOGY or answers(said[channel])
    assert {claim_state(tmp_path / "home", c) for c in questions} <= {"answered", "apologised"}


def test_a_question_whose_server_was_killed_is_answered_once_after_the_restart(
    tmp_path, slack, model
):
    home = tmp_path / "home"
    first = start_server(home, slack, model, lease=2)
    mention = app_mention("How many leave days?", channel="C0", ts=TS)
    model.hold()
    assert first.event(mention)[0] == 200
    model.wait_for(lambda: model.waiting == 1)
    first.kill()  # kill -9 mid-answer: acknowledged, claimed, never answered
    model.release()
    assert claim_state(home, "C0") == "claimed"

    second = start_server(home, slack, model, lease=2)
    # Slack retries what it saw go unanswered; the first retry to reach askloop after
    # the lease has run out takes the question over (or the restarted server already
    # has, sweeping what the dead one left): either way one answer.
    assert second.event(mention, retry_num=1)[0] == 200
    slack.wait_for(lambda: replies(slack, "C0"), timeout=60)
    model.wait_for(lambda: claim_state(home, "C0") == "answered")
    assert second.event(mention, retry_num=2)[0] == 200  # after the answer: a duplicate
    model.wait_for(
        lambda: second.metric("askloop_duplicate_deliveries_total", platform="slack") >= 1
    )
    second.terminate()
    stopped_cleanly(second)
    assert answers(replies(slack, "C0"))


def test_a_retry_while_the_question_is_answered_elsewhere_is_no_duplicate(tmp_path, slack, model):
    home = tmp_path / "home"
    with ThreadPoolExecutor(2) as starting:  # two replicas on one database
        answering, other = starting.map(
            lambda _: start_server(home, slack, model, lease=2), range(2)
        )
    mention = app_mention("How many leave days?", channel="C0", ts=TS)
    model.hold()
    assert answering.event(mention)[0] == 200
    model.wait_for(lambda: model.waiting == 1)
    # The lease is live (renewed while the answer is written): the retry is a duplicate.
    assert other.event(mention, retry_num=1)[0] == 200
    model.wait_for(
        lambda: other.metric("askloop_duplicate_deliveries_total", platform="slack") == 1
    )
    assert model.chats == 1
    # The replica answering dies; the other takes the question over once the lease ends.
    answering.kill()
    model.release()
    slack.wait_for(lambda: replies(slack, "C0"), timeout=60)
    model.wait_for(lambda: claim_state(home, "C0") == "answered")
    other.terminate()
    stopped_cleanly(other)
    assert answers(replies(slack, "C0"))
