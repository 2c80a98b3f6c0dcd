"""Slack questions a dead server left claimed: the server's sweep answers them in their
thread, once, or apologises after too many attempts (``server.leases``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from askloop.integrations.server.leases import MAX_ATTEMPTS
from askloop.integrations.slack.conversations import APOLOGY
from askloop.integrations.slack.inbound import envelope_of, question_from
from tests.slack_fake import FakeSlack
from tests.slack_payloads import app_mention
from tests.slack_rig import SlackRig, slack_rig

QUESTION = "How many days of annual leave do employees get?"
TS = "1700000001.000100"
KEY = f"slack:message:C0GENERAL:{TS}"


@pytest.fixture
def fake():
    with FakeSlack(rate_per_second=20, retry_after=0) as slack:
        yield slack


def left_by_a_dead_server(rig: SlackRig, *, attempts: int = 1) -> None:
    """The question was acknowledged and claimed by a server that died; its lease ran out."""
    body = app_mention(QUESTION, channel="C0GENERAL", ts=TS)
    question = question_from("mention", body, envelope_of({"team_id": "T0ACME"}, body=body))
    assert question is not None
    log = rig.services.answer_log
    assert log.claim_delivery(
        KEY, lease=timedelta(minutes=2), owner="dead", platform="slack", job=question.job()
    )
    with log._db.transaction() as cur:
        cur.execute(
            "UPDATE deliveries SET lease_until = ?, attempts = ? WHERE key = ?",
            (log._db.ts(datetime.now(UTC) - timedelta(seconds=1)), attempts, KEY),
        )


def state(rig: SlackRig) -> str:
    with rig.services.answer_log._db.transaction() as cur:
        cur.execute("SELECT state FROM deliveries WHERE key = ?", (KEY,))
        return str(cur.fetchone()[0])


def replies(fake: FakeSlack) -> list[str]:
    return [m.text for m in fake.messages("C0GENERAL") if m.thread_ts == TS]


def test_the_sweep_answers_a_dead_servers_question_once_in_its_thread(tmp_path, fake):
    with slack_rig(tmp_path, fake) as rig:
        left_by_a_dead_server(rig)
        assert rig.srv.call(rig.srv.runtime.leases.sweep()) == 1
        rig.settle()
        assert rig.srv.call(rig.srv.runtime.leases.sweep()) == 0
        # A retry of the event after the answer is a duplicate.
        assert rig.event(app_mention(QUESTION, channel="C0GENERAL", ts=TS), retry_num=1)[0] == 200
        rig.settle()
        assert state(rig) == "answered"
        [answer] = replies(fake)
        assert "26 days" in answer
        [logged] = rig.answers()
        assert rig.answer_for("C0GENERAL", TS) == logged.record.answer_id
        assert rig.metric("askloop_duplicate_deliveries_total", platform="slack") == 1


def test_a_question_tried_too_often_gets_an_apology_instead(tmp_path, fake):
    with slack_rig(tmp_path, fake) as rig:
        left_by_a_dead_server(rig, attempts=MAX_ATTEMPTS)
        assert rig.srv.call(rig.srv.runtime.leases.sweep()) == 1
        rig.settle()
        assert replies(fake) == [APOLOGY]
        assert state(rig) == "apologised"
        assert rig.answers() == []


def test_a_retry_after_the_lease_ran_out_takes_the_question_over(tmp_path, fake):
    with slack_rig(tmp_path, fake) as rig:
        left_by_a_dead_server(rig)
        assert rig.event(app_mention(QUESTION, channel="C0GENERAL", ts=TS), retry_num=1)[0] == 200
        rig.settle()
        assert state(rig) == "answered"
        assert len(replies(fake)) == 1
