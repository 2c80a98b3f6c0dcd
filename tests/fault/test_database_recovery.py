"""Every database connection recovers: the real server over loopback HTTP, its answer log
and thread memory on a PostgreSQL database of the test's own, whose connections the test
drops as a restart or failover would (only Slack and the models are fakes)."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from askloop.config.settings import Settings, SlackSettings
from tests.pg_database import OwnDatabase, own_database
from tests.server_harness import fake_services, running_server
from tests.slack_fake import BOT_TOKEN, SIGNING_SECRET, FakeSlack
from tests.slack_payloads import app_mention, block_action
from tests.slack_rig import SlackRig
from tests.teams_fake import (
    PERSONAL,
    FakeConnector,
    personal_message,
    post,
    teams_server,
    teams_settings,
)

QUESTION = "How many days of annual leave do employees get?"
FOLLOW_UP = "And how many of those days carry over?"
CHANNEL, THREAD = "C0GENERAL", "1700000001.000100"


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack(rate_per_second=20, retry_after=0) as slack:
        yield slack


@pytest.fixture
def db() -> Iterator[OwnDatabase]:
    with own_database() as database:
        yield database


@contextmanager
def slack_server(tmp_path: Path, fake: FakeSlack, database_url: str | None) -> Iterator[SlackRig]:
    """``askloop serve`` with Slack on ``fake``; log and memory on ``database_url``
    (None: SQLite in its home)."""
    settings = Settings(
        home=tmp_path / "home",
        database_url=database_url,
        tenants={"slack:T0ACME": "acme"},
        slack=SlackSettings(
            bot_token=BOT_TOKEN,
            signing_secret=SIGNING_SECRET,
            api_url=fake.url,
            post_interval_seconds=0.06,
            draft_after_seconds=0.0,
        ),
    )
    with fake_services(tmp_path, settings) as services, running_server(services) as srv:
        rig = SlackRig(srv=srv, fake=fake, services=services)
        rig.settle()
        yield rig


def healthz(rig: SlackRig) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(rig.srv.url + "/healthz", timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def ask(rig: SlackRig, text: str, ts: str) -> None:
    """A mention in the test's thread (the first one starts it)."""
    thread = None if ts == THREAD else THREAD
    rig.event(app_mention(text, channel=CHANNEL, ts=ts, thread_ts=thread))
    rig.settle()


def thumbs_up(rig: SlackRig) -> str:
    """Click 👍 on the thread's first answer; returns what the clicker was told."""
    first = rig.fake.messages(CHANNEL)[0]
    [actions] = [b for b in first.blocks if b["type"] == "context_actions"]
    up = actions["elements"][0]["positive_button"]["value"]
    told = len(rig.fake.calls("chat.postEphemeral"))
    rig.interact(block_action(up, channel=CHANNEL, message_ts=first.ts, thread_ts=THREAD))
    rig.settle()
    [said] = rig.fake.calls("chat.postEphemeral")[told:]
    return str(said.params["text"])


def test_after_postgres_drops_every_connection_threads_clicks_and_health_recover(
    tmp_path, fake, db
):
    with slack_server(tmp_path, fake, db.url) as rig:
        ask(rig, QUESTION, THREAD)
        assert db.drop_connections() >= 2  # the log's and the thread memory's

        assert healthz(rig) == (
            200,
            {"status": "ok", "checks": dict.fromkeys(["store", "log", "memory"], "ok")},
        )
        ask(rig, FOLLOW_UP, "1700000002.000100")
        first, second = rig.fake.messages(CHANNEL)
        assert second.thread_ts == THREAD
        assert second.section_text() == first.section_text()  # an answer, not an apology
        follow_up = rig.answers()[0].record
        assert follow_up.question == FOLLOW_UP
        assert [turn["content"] for turn in follow_up.history][0] == QUESTION  # memory

        db.drop_connections()
        assert "Thanks" in thumbs_up(rig)
        assert rig.answer(rig.answers()[-1].record.answer_id).rating == "up"


@pytest.mark.parametrize("deleted", ["log", "memory"])
def test_a_deleted_sqlite_file_fails_health_and_nothing_is_thanked_or_written(
    tmp_path, fake, deleted
):
    name = {"log": "askloop.db", "memory": "checkpoints.db"}[deleted]
    with slack_server(tmp_path, fake, None) as rig:
        ask(rig, QUESTION, THREAD)
        for path in (tmp_path / "home").glob(f"{name}*"):  # with its -wal and -shm
            path.unlink()

        checks = {"store": "ok", "log": "ok", "memory": "ok", deleted: "failed"}
        assert healthz(rig) == (503, {"status": "unavailable", "checks": checks})
        if deleted == "log":
            told = thumbs_up(rig)
            assert "Thanks" not in told and "not" in told  # the click was not saved
        else:
            ask(rig, FOLLOW_UP, "1700000002.000100")
            _, second = rig.fake.messages(CHANNEL)
            assert second.thread_ts == THREAD
            assert second.section_text().startswith("Sorry")  # not an answer that forgot
        assert healthz(rig)[0] == 503  # and it stays so: nothing recreated the file
    assert not (tmp_path / "home" / name).exists()


def test_while_postgres_is_down_questions_get_an_apology_and_clicks_hear_not_saved(
    tmp_path, fake, db
):
    with slack_server(tmp_path, fake, db.url) as rig:
        ask(rig, QUESTION, THREAD)
        db.go_down()

        down = {"store": "ok", "log": "failed", "memory": "failed"}
        status, body = healthz(rig)
        assert (status, body) == (503, {"status": "unavailable", "checks": down})
        assert db.name not in json.dumps(body)  # names the checks, never the driver's text
        ask(rig, FOLLOW_UP, "1700000002.000100")
        _, apology = rig.fake.messages(CHANNEL)
        assert apology.thread_ts == THREAD
        assert apology.section_text().startswith("Sorry, I couldn't answer that just now")
        told = thumbs_up(rig)
        assert "Thanks" not in told and "not" in told

        db.come_back()
        deadline = time.monotonic() + 60  # the pools reconnect in the background
        while healthz(rig)[0] != 200 and time.monotonic() < deadline:
            time.sleep(0.5)
        assert healthz(rig)[1]["checks"] == dict.fromkeys(["store", "log", "memory"], "ok")
        ask(rig, "And what about public holidays?", "1700000003.000100")
        latest = rig.answers()[0].record
        assert latest.question == "And what about public holidays?"
        assert [turn["content"] for turn in latest.history][0] == QUESTION


def test_while_postgres_is_down_a_teams_question_gets_an_apology(tmp_path, db):
    settings = teams_settings(tmp_path / "home").model_copy(update={"database_url": db.url})
    with FakeConnector() as connector, teams_server(tmp_path, settings) as srv:
        db.go_down()
        response = post(srv.url, personal_message(QUESTION, service_url=connector.url))
        srv.settle()
        [said] = [s for s in connector.to(PERSONAL) if s.type == "message"]
    assert response.status == 200
    assert said.activity["text"].startswith("Sorry, I couldn't answer that just now")
    assert said.reply_to == "1485983408511"  # in the question's thread
