"""Socket Mode end to end: slack_sdk's client connects to the fake Slack's WebSocket."""

from __future__ import annotations

import json

import pytest

from tests.slack_fake import APP_TOKEN, FakeSlack
from tests.slack_payloads import app_mention, block_action, view_submission
from tests.slack_rig import slack_rig

QUESTION = "How many days of annual leave do employees get?"


@pytest.fixture
def fake():
    with FakeSlack(rate_per_second=20, retry_after=0) as slack:
        yield slack


def test_events_over_socket_mode_are_acked_answered_and_deduplicated(tmp_path, fake):
    with slack_rig(tmp_path, fake, app_token=APP_TOKEN, signing_secret=None) as rig:
        fake.wait_for_socket()
        assert fake.calls("apps.connections.open")[0].status == 200
        mention = app_mention(QUESTION, ts="1700000001.000100")
        first = fake.send_envelope(mention)
        again = fake.send_envelope(mention, retry_attempt=1)
        fake.wait_for(lambda: fake.acked(first) and fake.acked(again))
        rig.settle()
        [reply] = fake.messages("C0GENERAL")
        assert reply.thread_ts == "1700000001.000100"
        assert len(rig.answers()) == 1
        # HTTP is not configured (no signing secret): Socket Mode works regardless.
        assert rig.event(mention)[0] == 503


def test_interactivity_over_socket_mode_records_feedback(tmp_path, fake):
    with slack_rig(tmp_path, fake, app_token=APP_TOKEN) as rig:
        fake.wait_for_socket()
        fake.send_envelope(app_mention(QUESTION))
        fake.wait_for(lambda: len(fake.messages("C0GENERAL")) == 1)
        rig.settle()
        reply = fake.messages("C0GENERAL")[0]
        [actions] = [b for b in reply.blocks if b["type"] == "context_actions"]
        down = actions["elements"][0]["negative_button"]["value"]
        click = fake.send_envelope(
            block_action(down, channel="C0GENERAL", message_ts=reply.ts), kind="interactive"
        )
        fake.wait_for(lambda: fake.acked(click) and fake.calls("views.open"))
        metadata = fake.calls("views.open")[0].params["view"]["private_metadata"]
        form = view_submission(metadata, reason="outdated", correction="28 days")
        submitted = fake.send_envelope(form, kind="interactive")
        fake.wait_for(lambda: fake.acked(submitted))
        rig.settle()
        logged = rig.answers()[0]
        assert (logged.rating, logged.reason, logged.correction) == ("down", "outdated", "28 days")
        empty = fake.send_envelope(view_submission(metadata, reason=""), kind="interactive")
        fake.wait_for(lambda: fake.acked(empty))
        [ack] = [a for a in fake.socket_acks if a["envelope_id"] == empty]
        assert json.dumps(ack["payload"]).count("response_action") == 1
