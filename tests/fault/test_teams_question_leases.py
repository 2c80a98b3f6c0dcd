"""The Teams side of issue 13, item 3: a question, once acknowledged, is answered or
told it could not be — exactly once — across SIGTERM and kill -9 of a real
``askloop serve`` (the Bot Framework Emulator's way in: no app id, loopback only)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from askloop.integrations.server.leases import RESTART_APOLOGY
from askloop.integrations.teams.tenancy import delivery_key
from tests.fault.serving import TEARDOWN_ERRORS, Server, start_server
from tests.openai_fake import FakeOpenAI
from tests.slack_fake import FakeSlack
from tests.teams_fake import FakeConnector, personal_message, post

pytestmark = pytest.mark.fault

ANSWER = "Every employee gets 26 days of paid leave [1]."
CHATS = {"a:chat-one": "1485983408511", "a:chat-two": "1485983408522"}


def answers(messages: list[str]) -> bool:
    """``messages`` is one answer: the model's text (however the route decorates it)."""
    return len(messages) == 1 and "26 days of paid leave" in messages[0]


@pytest.fixture
def model() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(answer=ANSWER) as fake:
        yield fake


@pytest.fixture
def connector() -> Iterator[FakeConnector]:
    with FakeConnector() as fake:
        yield fake


@pytest.fixture
def slack() -> Iterator[FakeSlack]:  # unused by these tests, but the server wants one
    with FakeSlack() as fake:
        yield fake


def said(connector: FakeConnector, chat: str) -> list[str]:
    """The messages askloop sent in ``chat`` as replies to the question."""
    return [
        str(s.activity.get("text"))
        for s in connector.messages(chat)
        if s.reply_to == CHATS[chat] or s.activity.get("replyToId") == CHATS[chat]
    ]


def claim_state(home: Path, chat: str) -> str | None:
    with sqlite3.connect(home / "data" / "askloop.db") as db:
        row = db.execute(
            "SELECT state FROM deliveries WHERE key = ?", (delivery_key(chat, CHATS[chat]),)
        ).fetchone()
    return row[0] if row else None


def ask(server: Server, connector: FakeConnector, chat: str) -> int:
    activity = personal_message(
        "How many leave days?",
        service_url=connector.url,
        conversation_id=chat,
        activity_id=CHATS[chat],
    )
    return post(server.url, activity).status


def stopped_cleanly(server: Server) -> None:
    assert server.wait(120) == 0, server.log
    for error in TEARDOWN_ERRORS:
        assert error not in server.log, server.log


def test_sigterm_past_the_grace_apologises_once_in_each_teams_chat(
    tmp_path, slack, model, connector
):
    server = start_server(tmp_path / "home", slack, model, grace=1)
    model.hold()
    for chat in CHATS:
        assert ask(server, connector, chat) == 200
    model.wait_for(lambda: model.waiting == len(CHATS))
    server.terminate()
    connector.wait_for(lambda _: all(said(connector, chat) for chat in CHATS), timeout=60)
    model.release()
    stopped_cleanly(server)
    assert {chat: said(connector, chat) for chat in CHATS} == {
        chat: [RESTART_APOLOGY] for chat in CHATS
    }
    assert {claim_state(tmp_path / "home", chat) for chat in CHATS} == {"apologised"}


def test_a_teams_question_whose_server_was_killed_is_answered_once_after_the_restart(
    tmp_path, slack, model, connector
):
    home = tmp_path / "home"
    first = start_server(home, slack, model, lease=2)
    model.hold()
    assert ask(first, connector, "a:chat-one") == 200
    model.wait_for(lambda: model.waiting == 1)
    first.kill()  # kill -9 mid-answer
    model.release()
    assert claim_state(home, "a:chat-one") == "claimed"

    second = start_server(home, slack, model, lease=2)
    # The restarted server takes the question over once its lease has run out and
    # answers it in the chat, as a reply to the question.
    connector.wait_for(lambda _: said(connector, "a:chat-one"), timeout=60)
    model.wait_for(lambda: claim_state(home, "a:chat-one") == "answered")
    assert ask(second, connector, "a:chat-one") == 200  # delivered again: a duplicate
    model.wait_for(lambda: second.metric("askloop_duplicate_deliveries_total", platform="teams"))
    second.terminate()
    stopped_cleanly(second)
    assert answers(said(connector, "a:chat-one"))
