"""Slack end to end: signed events into ``askloop serve``, answers out to a fake Web API."""

from __future__ import annotations

import json
import threading
import time

import pytest

from tests.fakes import FakeChatModel
from tests.slack_fake import BOT_ID, BOT_USER, FakeSlack, post_signed, signed_headers
from tests.slack_payloads import (
    SLACK_DOC_FIXTURES,
    app_mention,
    event_body,
    message,
    message_changed,
    message_deleted,
    needs_doc_fixtures,
    thread_started,
)
from tests.slack_rig import slack_rig

QUESTION = "How many days of annual leave do employees get?"


@pytest.fixture
def fake():
    with FakeSlack(rate_per_second=20, retry_after=0) as slack:
        yield slack


def blocks_of(message, kind: str) -> list[dict]:
    return [b for b in message.blocks if b["type"] == kind]


def test_a_mention_is_answered_in_its_thread_with_sources_route_and_feedback(tmp_path, fake):
    with slack_rig(tmp_path, fake) as rig:
        status, body = rig.event(app_mention(QUESTION, channel="C0GENERAL", ts="1700000001.000100"))
        assert (status, body) == (200, b"")
        rig.settle()
        [logged] = rig.answers()
        [reply] = fake.messages("C0GENERAL")
        assert reply.thread_ts == "1700000001.000100"
        assert reply.section_text() == "Every employee gets 26 days [1]."
        [context] = blocks_of(reply, "context")
        texts = [e["text"] for e in context["elements"]]
        assert texts == ["From the knowledge base", "*Sources:* [1] Annual leave"]
        [actions] = blocks_of(reply, "context_actions")
        buttons = actions["elements"][0]
        assert buttons["type"] == "feedback_buttons"
        assert json.loads(buttons["positive_button"]["value"]) == {
            "v": 1,
            "answer_id": logged.record.answer_id,
            "rating": "up",
        }
        record = logged.record
        assert (record.platform, record.tenant, record.route) == ("slack", "acme", "retrieve")
        assert record.question == QUESTION  # the bot mention is not part of the question
        assert record.conversation_id == "C0GENERAL:1700000001.000100"
        assert rig.answer_for("C0GENERAL", reply.ts) == record.answer_id
        assert rig.answer_for("C0GENERAL", "1700000001.000100") == record.answer_id
        status_lines = [c.params["status"] for c in fake.calls("assistant.threads.setStatus")]
        assert status_lines == ["is thinking…"]  # a quick answer needs no more
        assert rig.metric("askloop_answers_total", platform="slack", route="retrieve") == 1


def test_slack_is_acknowledged_before_any_answer_work(tmp_path, fake):
    release = threading.Event()

    def slow(messages):
        release.wait(10)
        return "Every employee gets 26 days [1]."

    with slack_rig(tmp_path, fake, answer=FakeChatModel(slow)) as rig:
        # The model is blocked until after the response: had the ack waited for the
        # answer, this request would not come back.
        status, _ = rig.event(app_mention(QUESTION))
        assert status == 200
        assert fake.calls("chat.postMessage") == []  # the answer is still being written
        release.set()
        rig.settle()
        assert len(fake.calls("chat.postMessage")) == 1


def test_retries_and_duplicate_deliveries_are_answered_once(tmp_path, fake):
    with slack_rig(tmp_path, fake) as rig:
        mention = app_mention(QUESTION, channel="C0GENERAL", ts="1700000005.000100")
        assert rig.event(mention)[0] == 200
        for retry in (1, 2, 3):  # the same body again, as Slack redelivers it
            assert rig.event(mention, retry_num=retry)[0] == 200
        # The same message delivered again under another event id (a second
        # subscription), and as a plain message in a DM thread with a mention.
        again = dict(mention, event_id="EvOTHER0001")
        assert rig.event(again)[0] == 200
        dm = "D0ALICE"
        in_dm = message(
            f"<@{BOT_USER}> {QUESTION}",
            channel=dm,
            ts="1700000006.000100",
            thread_ts="1700000003.000100",
        )
        assert rig.event(in_dm)[0] == 200
        dm_mention = app_mention(
            QUESTION, channel=dm, ts="1700000006.000100", thread_ts="1700000003.000100"
        )
        assert rig.event(dm_mention)[0] == 200
        rig.settle()
        assert len(fake.messages("C0GENERAL")) == 1
        assert len(fake.messages(dm)) == 1
        assert len(rig.answers()) == 2
        assert rig.metric("askloop_duplicate_deliveries_total", platform="slack") == 5


def test_direct_messages_and_thread_follow_ups_continue_the_conversation(tmp_path, fake):
    with slack_rig(tmp_path, fake) as rig:
        rig.event(message(QUESTION, channel="D0ALICE", ts="1700000010.000100"))
        rig.settle()
        [dm_reply] = fake.messages("D0ALICE")
        assert dm_reply.thread_ts is None  # a direct message is answered in the conversation

        rig.event(app_mention(QUESTION, channel="C0GENERAL", ts="1700000011.000100"))
        rig.settle()
        follow_up = message(
            "And how many carry over?",
            channel="C0GENERAL",
            channel_type="channel",
            ts="1700000012.000100",
            thread_ts="1700000011.000100",
        )
        rig.event(follow_up)
        elsewhere = message(
            "Unrelated chatter in a thread",
            channel="C0GENERAL",
            channel_type="channel",
            ts="1700000013.000100",
            thread_ts="1700000009.000100",
        )
        rig.event(elsewhere)
        top_level = message(
            "Top-level chatter", channel="C0GENERAL", channel_type="channel", ts="1700000014.000100"
        )
        rig.event(top_level)
        rig.settle()
        replies = fake.messages("C0GENERAL")
        assert [m.thread_ts for m in replies] == ["1700000011.000100", "1700000011.000100"]
        second = rig.answers()[0].record
        assert second.question == "And how many carry over?"
        assert second.conversation_id == "C0GENERAL:1700000011.000100"
        assert [turn["content"] for turn in second.history][0] == QUESTION  # thread memory


def test_own_messages_other_bots_edits_and_joins_are_ignored(tmp_path, fake):
    with slack_rig(tmp_path, fake) as rig:
        rig.event(message("I am askloop", user=BOT_USER, bot_id=BOT_ID, ts="1700000020.000100"))
        rig.event(message("beep", user="U0OTHERBOT", bot_id="B0OTHER", ts="1700000021.000100"))
        rig.event(message_changed("D0ALICE", "1700000022.000100", QUESTION))
        joined = event_body(
            {
                "type": "message",
                "subtype": "channel_join",
                "channel": "C0GENERAL",
                "user": "U0BOB",
                "text": "<@U0BOB> has joined the channel",
                "ts": "1700000023.000100",
                "channel_type": "channel",
            }
        )
        rig.event(joined)
        rig.settle()
        assert fake.messages() == []
        assert rig.answers() == []


def test_other_bots_are_answered_when_allowed(tmp_path, fake):
    with slack_rig(tmp_path, fake, ignore_bots=False) as rig:
        rig.event(message(QUESTION, user="U0OTHERBOT", bot_id="B0OTHER", ts="1700000024.000100"))
        rig.event(message("Me again", user=BOT_USER, bot_id=BOT_ID, ts="1700000025.000100"))
        rig.settle()
        assert len(fake.messages("D0ALICE")) == 1


def test_deleting_an_answer_or_its_question_withdraws_the_answer(tmp_path, fake):
    with slack_rig(tmp_path, fake) as rig:
        rig.event(app_mention(QUESTION, channel="C0GENERAL", ts="1700000030.000100"))
        rig.event(app_mention(QUESTION, channel="C0OTHER", ts="1700000031.000100"))
        rig.settle()
        [first] = fake.messages("C0GENERAL")
        rig.event(message_deleted("C0GENERAL", first.ts))  # the answer, posted by askloop
        rig.event(message_deleted("C0OTHER", "1700000031.000100", user="U0ALICE"))  # a question
        rig.event(message_deleted("C0OTHER", "1700000099.000100", user="U0ALICE"))  # unrelated
        rig.settle()
        assert [a.withdrawn for a in rig.answers()] == [True, True]


def test_bad_missing_and_stale_signatures_are_refused_with_401(tmp_path, fake):
    with slack_rig(tmp_path, fake) as rig:
        mention = app_mention(QUESTION)
        assert rig.event(mention, secret="not-the-secret")[0] == 401
        stale = int(time.time()) - 10 * 60
        assert rig.event(mention, timestamp=stale)[0] == 401
        body = json.dumps(mention)
        unsigned = {"X-Slack-Request-Timestamp": None, "X-Slack-Signature": None}
        assert rig.event(body, headers=unsigned)[0] == 401
        empty = {"X-Slack-Request-Timestamp": "", "X-Slack-Signature": ""}
        assert rig.event(body, headers=empty)[0] == 401
        assert rig.event("this is {not json", secret="wrong")[0] == 401
        assert rig.event("this is {not json")[0] == 400  # signed, but not a Slack payload
        rig.settle()
        assert fake.calls("chat.postMessage") == []
        assert rig.answers() == []
        assert (
            rig.metric("askloop_platform_requests_total", platform="slack", outcome="bad_signature")
            == 5
        )


def test_url_verification_is_answered_with_the_challenge(tmp_path, fake):
    challenge = {"token": "x", "challenge": "3eZbrw1aBm2rZgRN", "type": "url_verification"}
    with slack_rig(tmp_path, fake) as rig:
        status, body = rig.event(challenge)
    assert status == 200
    assert json.loads(body) == {"challenge": "3eZbrw1aBm2rZgRN"}


def test_without_slack_credentials_the_endpoint_says_so_with_503(tmp_path, fake, caplog):
    with slack_rig(tmp_path, fake, bot_token=None, signing_secret=None) as rig:
        status, body = rig.event(app_mention(QUESTION))
    assert status == 503
    assert json.loads(body)["error"] == "slack_not_configured"
    assert "Slack is not configured" in caplog.text


def test_a_thread_started_with_the_assistant_gets_prompts_a_title_and_an_answer(tmp_path, fake):
    with slack_rig(tmp_path, fake) as rig:
        rig.event(thread_started("D0ALICE", "1700000040.000100"))
        rig.settle()
        [prompts] = fake.calls("assistant.threads.setSuggestedPrompts")
        assert prompts.params["thread_ts"] == "1700000040.000100"
        assert [p["message"] for p in prompts.params["prompts"]][0].endswith("?")
        for n, text in enumerate((QUESTION, "And for part-time staff?")):
            ts = f"1700000041.00010{n}"
            rig.event(message(text, channel="D0ALICE", ts=ts, thread_ts="1700000040.000100"))
            rig.settle()
        [title] = fake.calls("assistant.threads.setTitle")
        assert title.params["title"] == QUESTION
        replies = fake.messages("D0ALICE")
        assert [m.thread_ts for m in replies] == ["1700000040.000100"] * 2


def test_a_question_that_is_only_a_mention_gets_a_hint(tmp_path, fake):
    with slack_rig(tmp_path, fake) as rig:
        rig.event(app_mention("   ", channel="C0GENERAL", ts="1700000050.000100"))
        rig.settle()
        [hint] = fake.messages("C0GENERAL")
    assert "Ask me a question" in hint.section_text()
    assert rig.answers() == []


def test_signed_headers_match_what_slack_sends(tmp_path, fake):
    # The helper itself: a request signed with it passes Bolt's verification.
    with slack_rig(tmp_path, fake) as rig:
        body = json.dumps({"token": "x", "challenge": "c", "type": "url_verification"})
        headers = signed_headers(body)
        assert headers["X-Slack-Signature"].startswith("v0=")
        assert post_signed(rig.url, body)[0] == 200


FIXTURES = SLACK_DOC_FIXTURES


@needs_doc_fixtures
def test_slacks_documented_payloads_verbatim(tmp_path, fake):
    with slack_rig(tmp_path, fake, tenants={"slack:T123ABC456": "acme"}) as rig:
        for name in (
            "app_mention.json",
            "message_im.json",
            "message_changed.json",
            "message_deleted.json",
            "reaction_added.json",
            "app_rate_limited.json",
        ):
            assert rig.event((FIXTURES / name).read_text())[0] == 200, name
        status, body = rig.event((FIXTURES / "url_verification.json").read_text())
        assert json.loads(body)["challenge"].startswith("3eZbrw1aBm2rZgRN")
        # A click on some other app's button (action_id "a") is not askloop's to handle.
        form = (FIXTURES / "block_actions_button.form.txt").read_text().strip()
        assert rig.interact(form)[0] == 404
        rig.settle()
        [mention_reply] = fake.messages("C123ABC456")
        assert mention_reply.thread_ts == "1515449522.000016"
        [dm_reply] = fake.messages("D024BE91L")
        assert dm_reply.thread_ts is None
        questions = sorted(a.record.question for a in rig.answers("acme"))
        assert questions == ["Hello hello can you hear me?", "is it everything a river should be?"]


@needs_doc_fixtures
def test_the_documented_assistant_thread_started_gets_suggested_prompts(tmp_path, fake):
    with slack_rig(tmp_path, fake, tenants={"slack:T123ABC456": "acme"}) as rig:
        rig.event((FIXTURES / "assistant_thread_started.json").read_text())
        rig.settle()
        [call] = fake.calls("assistant.threads.setSuggestedPrompts")
    assert (call.params["channel_id"], call.params["thread_ts"]) == (
        "D123ABC456",
        "1729999327.187299",
    )


def asked(model: FakeChatModel, words: str) -> bool:
    return any(words in m.content for call in model.calls for m in call)


def test_the_tenant_comes_from_the_verified_team_or_org_and_channel_rules(tmp_path, fake):
    tuned = FakeChatModel("A general answer.", model_id="fake:tuned")
    tenants = {"slack:T0ACME": "acme", "slack:E0ORG": "acme"}
    channels = {
        "*": {"enabled": False},
        "C0HELP": {"mention_only": True},
        "C0KB": {"routes": ["retrieve", "rewrite"]},
        "C0HR": {"users": ["U0ALICE"], "tenant": "hr"},
    }
    with slack_rig(
        tmp_path, fake, tenants=tenants, finetuned=tuned, channels=channels, unmapped="default"
    ) as rig:
        rig.event(
            app_mention(
                QUESTION,
                channel="C0HELP",
                ts="1700000060.000100",
                team="T0OTHER",
                enterprise="E0ORG",
                org_install=True,
            )
        )
        rig.event(
            app_mention(QUESTION, channel="C0HELP", ts="1700000061.000100", team="T0STRANGER")
        )
        rig.event(app_mention(QUESTION, channel="C0RANDOM", ts="1700000062.000100"))
        rig.event(
            app_mention("What is the capital of France?", channel="C0KB", ts="1700000063.000100")
        )
        rig.event(app_mention(QUESTION, channel="C0HR", ts="1700000064.000100", user="U0BOB"))
        rig.event(app_mention(QUESTION, channel="C0HR", ts="1700000065.000100"))
        rig.settle()
        rig.event(
            message(
                "and the carry-over?",
                channel="C0HELP",
                channel_type="channel",
                ts="1700000066.000100",
                thread_ts="1700000060.000100",
            )
        )
        rig.settle()
        by_channel = {a.record.channel_id + ":" + a.record.team_id: a.record for a in rig.answers()}
        assert sorted(by_channel) == [
            "C0HELP:T0OTHER",
            "C0HELP:T0STRANGER",
            "C0HR:T0ACME",
            "C0KB:T0ACME",
        ]
        assert by_channel["C0HELP:T0OTHER"].tenant == "acme"  # org install: the org's tenant
        assert by_channel["C0HELP:T0STRANGER"].tenant == "default"  # unmapped workspace
        assert by_channel["C0HR:T0ACME"].tenant == "hr"  # the channel's own tenant
        off_topic = by_channel["C0KB:T0ACME"]
        assert off_topic.route != "finetuned" and not asked(tuned, "capital of France")
        assert fake.messages("C0RANDOM") == []  # not on the allowlist
        assert len(fake.messages("C0HELP")) == 2  # mention_only: the follow-up is ignored
        # The same off-topic question where the tuned model is allowed goes to it.
        rig.event(
            app_mention("What is the capital of France?", channel="C0HELP", ts="1700000067.000100")
        )
        rig.settle()
        assert rig.answers()[0].record.route == "finetuned" and asked(tuned, "capital of France")


class SlowModel(FakeChatModel):
    """Writes its answer a word at a time, as a real model does."""

    def stream(self, messages, *, on_text, max_tokens=512, temperature=0.0, stop=()):
        out = self.complete(messages, max_tokens=max_tokens, temperature=temperature, stop=stop)
        for word in out.text.split(" "):
            time.sleep(0.05)  # the model's own thread, not the event loop
            on_text(word + " ")
        return out


def test_a_slow_answer_shows_as_it_is_written_then_becomes_the_final_message(tmp_path):
    answer = "Every employee gets 26 days of paid annual leave per year [1]."
    with (
        FakeSlack(rate_per_second=20, retry_after=0) as fake,
        slack_rig(tmp_path, fake, answer=SlowModel(answer), post_interval_seconds=0.1) as rig,
    ):
        rig.event(app_mention(QUESTION, channel="C0GENERAL", ts="1700000070.000100"))
        rig.settle()
        [reply] = fake.messages("C0GENERAL")
        drafts = [c.params["blocks"][0]["text"]["text"] for c in fake.calls("chat.update")]
    assert len(fake.calls("chat.postMessage")) == 1 and reply.edits >= 1
    assert fake.calls("chat.postMessage")[0].params["blocks"][0]["text"]["text"].endswith("…")
    assert all(d.endswith("…") for d in drafts[:-1])  # drafts, then the answer itself
    assert reply.section_text() == answer
    assert any(b["type"] == "context_actions" for b in reply.blocks)
    assert fake.rate_limited == 0
