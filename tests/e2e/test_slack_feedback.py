"""Slack feedback end to end: 👍/👎 buttons, the 👎 modal, reactions, tampering."""

from __future__ import annotations

import json

import pytest

from askloop.agent.answers import CORRECTION_MAX_CHARS
from tests.slack_fake import FakeSlack
from tests.slack_payloads import app_mention, block_action, reaction, view_submission
from tests.slack_rig import SlackRig, slack_rig

QUESTION = "How many days of annual leave do employees get?"


@pytest.fixture
def fake():
    with FakeSlack(rate_per_second=20, retry_after=0) as slack:
        yield slack


def ask(rig: SlackRig, channel: str = "C0GENERAL", ts: str = "1700000001.000100", **kw):
    """Ask through a mention; returns the posted answer message and its feedback values."""
    rig.event(app_mention(QUESTION, channel=channel, ts=ts, **kw))
    rig.settle()
    reply = rig.fake.messages(channel)[-1]
    [actions] = [b for b in reply.blocks if b["type"] == "context_actions"]
    buttons = actions["elements"][0]
    return reply, buttons["positive_button"]["value"], buttons["negative_button"]["value"]


def test_a_thumbs_up_is_acked_recorded_and_acknowledged_to_the_user(tmp_path, fake):
    with slack_rig(tmp_path, fake) as rig:
        reply, up, _ = ask(rig)
        click = block_action(
            up, channel="C0GENERAL", message_ts=reply.ts, thread_ts=reply.thread_ts
        )
        assert rig.interact(click) == (200, b"")
        rig.settle()
        logged = rig.answers()[0]
        assert (logged.rating, logged.ups, logged.downs) == ("up", 1, 0)
        [thanks] = fake.calls("chat.postEphemeral")
        assert thanks.params["user"] == "U0ALICE"
        assert thanks.params["thread_ts"] == reply.thread_ts
        assert "Thanks" in thanks.params["text"]
        assert (
            rig.metric("askloop_feedback_total", platform="slack", source="button", rating="up")
            == 1
        )


def test_repeated_clicks_by_one_user_update_their_rating(tmp_path, fake):
    with slack_rig(tmp_path, fake) as rig:
        reply, up, down = ask(rig)
        for value in (up, up, down):
            rig.interact(block_action(value, channel="C0GENERAL", message_ts=reply.ts))
            rig.settle()
        rig.interact(block_action(up, channel="C0GENERAL", message_ts=reply.ts, user="U0BOB"))
        rig.settle()
        logged = rig.answers()[0]
    assert (logged.ups, logged.downs) == (1, 1)


def test_a_thumbs_down_opens_a_modal_whose_answers_are_stored(tmp_path, fake):
    with slack_rig(tmp_path, fake) as rig:
        reply, _, down = ask(rig)
        click = block_action(
            down, channel="C0GENERAL", message_ts=reply.ts, thread_ts=reply.thread_ts
        )
        rig.interact(click)
        rig.settle()
        [opened] = fake.calls("views.open")
        assert opened.params["trigger_id"] == click["trigger_id"]
        view = opened.params["view"]
        assert view["callback_id"] == "askloop_feedback_modal"
        assert rig.answers()[0].rating == "down"  # recorded at the click already
        assert fake.calls("chat.postEphemeral") == []  # the modal is the acknowledgement

        empty = view_submission(view["private_metadata"], reason="  ")
        status, body = rig.interact(empty)
        assert status == 200
        assert json.loads(body)["response_action"] == "errors"

        too_long = view_submission(
            view["private_metadata"], reason="wrong", correction="c" * (CORRECTION_MAX_CHARS + 1)
        )
        status, body = rig.interact(too_long)
        assert status == 200
        refused = json.loads(body)
        assert refused["response_action"] == "errors"
        assert f"{CORRECTION_MAX_CHARS:,}" in refused["errors"]["correction"]
        rig.settle()
        assert rig.answers()[0].correction == ""  # refused whole, not cut and stored

        form = view_submission(
            view["private_metadata"],
            reason="It is 28 days since 2024",
            correction="Every employee gets 28 days.",
        )
        assert rig.interact(form) == (200, b"")
        rig.settle()
        logged = rig.answers()[0]
        assert (logged.rating, logged.ups, logged.downs) == ("down", 0, 1)
        assert logged.reason == "It is 28 days since 2024"
        assert logged.correction == "Every employee gets 28 days."
        [thanks] = fake.calls("chat.postEphemeral")
        assert thanks.params["channel"] == "C0GENERAL"


def test_tampered_and_foreign_feedback_is_rejected_and_logged(tmp_path, fake, caplog):
    tenants = {"slack:T0ACME": "acme", "slack:T0EVIL": "evil"}
    with slack_rig(tmp_path, fake, tenants=tenants) as rig:
        reply, up, _ = ask(rig)
        answer_id = rig.answers()[0].record.answer_id
        forged = json.dumps({"v": 1, "answer_id": "0" * 32, "rating": "up"})
        for value in ("click_me_123", forged, up.replace('"up"', '"sideways"')):
            rig.interact(block_action(value, channel="C0GENERAL", message_ts=reply.ts))
        # A real answer id, clicked from a workspace that maps to another tenant.
        rig.interact(block_action(up, channel="C0GENERAL", message_ts=reply.ts, team="T0EVIL"))
        metadata = json.dumps({"v": 1, "answer_id": answer_id, "channel": "C0GENERAL"})
        rig.interact(view_submission(metadata, reason="x", team="T0EVIL"))
        rig.interact(view_submission("not json", reason="x"))
        rig.settle()
        logged = rig.answer(answer_id)
        assert (logged.ups, logged.downs) == (0, 0)
        assert caplog.text.count("rejected a feedback click") == 2
        assert caplog.text.count("rejected button feedback") == 3
        assert "rejected a feedback form" in caplog.text
        sorry = [c.params["text"] for c in fake.calls("chat.postEphemeral")]
        assert sorry and all("could not be recorded" in text for text in sorry)


def test_thumbs_reactions_on_an_answer_count_and_removing_one_clears_it(tmp_path, fake):
    with slack_rig(tmp_path, fake) as rig:
        reply, _, _ = ask(rig)
        rig.event(reaction("+1::skin-tone-3", channel="C0GENERAL", ts=reply.ts))
        rig.event(reaction("thumbsdown", channel="C0GENERAL", ts=reply.ts, user="U0BOB"))
        rig.event(reaction("tada", channel="C0GENERAL", ts=reply.ts, user="U0CAROL"))
        rig.settle()
        logged = rig.answers()[0]
        assert (logged.ups, logged.downs) == (1, 1)
        rig.event(
            reaction("thumbsdown", channel="C0GENERAL", ts=reply.ts, user="U0BOB", added=False)
        )
        # A 👍 on the question (someone else's message) is not feedback on the answer.
        rig.event(
            reaction(
                "+1", channel="C0GENERAL", ts="1700000001.000100", user="U0DAN", item_user="U0ALICE"
            )
        )
        rig.settle()
        logged = rig.answers()[0]
        assert (logged.rating, logged.ups, logged.downs) == ("up", 1, 0)
        assert (
            rig.metric(
                "askloop_feedback_total", platform="slack", source="reaction", rating="cleared"
            )
            == 1
        )
