"""Slack's native streaming end to end: ``[slack] streaming = "native"`` against the fake
Web API — start, appends, stop with the feedback buttons, and every fallback."""

from __future__ import annotations

import json
import logging
import re
import time

import pytest

from tests.fakes import FakeChatModel
from tests.slack_fake import FakeSlack
from tests.slack_payloads import app_mention, block_action, reaction
from tests.slack_rig import slack_rig

QUESTION = "How many days of annual leave do employees get?"
ANSWER = (
    "Every employee gets 26 days of paid annual leave per year, and up to five of "
    "them can be carried over into the next year [1]."
)
CHANNEL, ASKED = "C0GENERAL", "1700000080.000100"
STREAM_METHODS = ("chat.startStream", "chat.appendStream", "chat.stopStream")


class SlowModel(FakeChatModel):
    """Writes its answer a piece at a time (words by default), as a real model does."""

    def __init__(self, reply: str, *, pieces: str = r"\S+\s*", **kw) -> None:
        super().__init__(reply, **kw)
        self._pieces = pieces

    def stream(self, messages, *, on_text, max_tokens=512, temperature=0.0, stop=()):
        out = self.complete(messages, max_tokens=max_tokens, temperature=temperature, stop=stop)
        for piece in re.findall(self._pieces, out.text, flags=re.S):
            time.sleep(0.04)  # the model's own thread, not the event loop
            on_text(piece)
        return out


@pytest.fixture
def fake():
    with FakeSlack(rate_per_second=20, retry_after=0) as slack:
        yield slack


_LABELS = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen"
).split()


def native_rig(tmp_path, fake, answer=None, **slack):
    options = {"streaming": "native", "post_interval_seconds": 0.1, **slack}
    return slack_rig(tmp_path, fake, answer=answer or SlowModel(ANSWER), **options)


def feedback_values(blocks) -> list[dict]:
    return [
        json.loads(b["elements"][0][side]["value"])
        for b in blocks
        if b["type"] == "context_actions"
        for side in ("positive_button", "negative_button")
    ]


def streamed(fake: FakeSlack) -> list:
    return [c for c in fake.calls() if c.method in STREAM_METHODS]


def test_native_mode_types_the_answer_into_one_reply_that_ends_with_feedback(tmp_path, fake):
    with native_rig(tmp_path, fake) as rig:
        rig.event(app_mention(QUESTION, channel=CHANNEL, ts=ASKED))
        rig.settle()
        answer_id = rig.answers()[0].record.answer_id
        [reply] = fake.messages(CHANNEL)
        [start] = fake.calls("chat.startStream", ok=True)
        appends = fake.calls("chat.appendStream", ok=True)
        [stop] = fake.calls("chat.stopStream", ok=True)
        assert (
            start.params["thread_ts"],
            start.params["recipient_user_id"],
            start.params["recipient_team_id"],
        ) == (ASKED, "U0ALICE", "T0ACME")
        assert len(appends) >= 1 and all(a.params["ts"] == reply.ts for a in appends)
        pieces = [start, *appends, stop]
        assert "".join(c.params.get("markdown_text", "") for c in pieces).rstrip() == ANSWER
        assert reply.shown_text().rstrip() == ANSWER and not reply.streaming
        assert [b["type"] for b in stop.params["blocks"]] == ["context", "context_actions"]
        assert {v["answer_id"] for v in feedback_values(reply.blocks)} == {answer_id}
        assert fake.calls("chat.postMessage") == fake.calls("chat.update") == []
        assert rig.answer_for(CHANNEL, reply.ts) == answer_id
        assert [c.params["status"] for c in fake.calls("assistant.threads.setStatus")][0] == (
            "is thinking…"
        )

        # The streamed reply is the answer for feedback: its button and a 👍 on it count.
        up = next(v for v in feedback_values(reply.blocks) if v["rating"] == "up")
        rig.interact(
            block_action(json.dumps(up), channel=CHANNEL, message_ts=reply.ts, thread_ts=ASKED)
        )
        rig.event(reaction("+1", channel=CHANNEL, ts=reply.ts, user="U0BOB"))
        rig.settle()
        logged = rig.answer(answer_id)
        assert (logged.ups, logged.downs) == (2, 0)
        assert rig.metric("askloop_answers_total", platform="slack", route="retrieve") == 1
        assert fake.rate_limited == 0


def test_a_refused_stream_falls_back_to_a_draft_and_answers_once(tmp_path, fake, caplog):
    caplog.set_level(logging.WARNING)
    with native_rig(tmp_path, fake) as rig:
        fake.fail("chat.startStream", "not_allowed")
        rig.event(app_mention(QUESTION, channel=CHANNEL, ts=ASKED))
        rig.settle()
        answer_id = rig.answers()[0].record.answer_id
        [reply] = fake.messages(CHANNEL)
        assert [c.error for c in streamed(fake)] == ["not_allowed"]
        assert len(fake.calls("chat.postMessage")) == 1
        assert reply.section_text() == ANSWER
        assert {v["answer_id"] for v in feedback_values(reply.blocks)} == {answer_id}
        assert rig.answer_for(CHANNEL, reply.ts) == answer_id
    assert caplog.text.count("Slack refused a streamed reply in C0GENERAL (not_allowed)") == 1


def test_a_quick_answer_is_posted_whole_without_a_stream(tmp_path, fake):
    with native_rig(tmp_path, fake, answer=FakeChatModel(ANSWER), draft_after_seconds=5) as rig:
        rig.event(app_mention(QUESTION, channel=CHANNEL, ts=ASKED))
        rig.settle()
        [reply] = fake.messages(CHANNEL)
        assert streamed(fake) == []
        assert [c.method for c in fake.calls() if c.method.startswith("chat.")] == [
            "chat.postMessage"
        ]
        assert reply.section_text() == ANSWER
        assert rig.answer_for(CHANNEL, reply.ts) == rig.answers()[0].record.answer_id


def test_a_long_answer_stops_the_stream_as_its_first_part_and_posts_the_rest(tmp_path, fake):
    # Labelled in words: a digit no document holds would be cut as an invented fact.
    labels = _LABELS[:16]
    paragraphs = [f"Part {w}: " + "leave policy details " * 45 for w in labels]
    long_answer = "\n\n".join(p.strip() for p in paragraphs) + " [1]"
    model = SlowModel(long_answer, pieces=r".+?(?:\n\n|$)")  # a paragraph at a time
    with native_rig(tmp_path, fake, answer=model, post_interval_seconds=0.06) as rig:
        rig.event(app_mention(QUESTION, channel=CHANNEL, ts=ASKED))
        rig.settle()
        answer_id = rig.answers()[0].record.answer_id
        first, *rest = fake.messages(CHANNEL)
        assert rest, "the answer takes more than one message"
        [stop] = fake.calls("chat.stopStream", ok=True)
        assert stop.params["ts"] == first.ts and "blocks" not in stop.params
        assert [c.params["ts"] for c in fake.calls("chat.update", ok=True)] == [first.ts]
        assert len(fake.calls("chat.postMessage")) == len(rest)
        assert first.section_text().startswith("Part zero:") and not first.has_block("markdown")
        text = "\n".join(m.section_text() for m in (first, *rest))
        assert all(text.count(f"Part {w}:") == 1 for w in labels)
        assert [m.has_block("context_actions") for m in (first, *rest)][-1:] == [True]
        assert sum(m.has_block("context_actions") for m in (first, *rest)) == 1
        assert {rig.answer_for(CHANNEL, m.ts) for m in (first, *rest)} == {answer_id}
        assert all(len(c.params.get("markdown_text", "")) <= 12_000 for c in streamed(fake))


def test_a_stream_that_breaks_midway_still_ends_as_the_whole_answer_once(tmp_path, fake):
    with native_rig(tmp_path, fake) as rig:
        fake.fail("chat.appendStream", "message_not_in_streaming_state", times=99)
        rig.event(app_mention(QUESTION, channel=CHANNEL, ts=ASKED))
        rig.settle()
        answer_id = rig.answers()[0].record.answer_id
        [reply] = fake.messages(CHANNEL)
        assert len(fake.calls("chat.appendStream")) == 1  # the first failure ends appending
        assert reply.section_text() == ANSWER
        assert {v["answer_id"] for v in feedback_values(reply.blocks)} == {answer_id}
        assert fake.calls("chat.postMessage") == []
        assert rig.answer_for(CHANNEL, reply.ts) == answer_id


def test_the_default_update_mode_never_streams(tmp_path, fake):
    with slack_rig(tmp_path, fake, answer=SlowModel(ANSWER), post_interval_seconds=0.1) as rig:
        rig.event(app_mention(QUESTION, channel=CHANNEL, ts=ASKED))
        rig.settle()
        [reply] = fake.messages(CHANNEL)
        assert streamed(fake) == []
        assert reply.edits >= 1 and reply.section_text() == ANSWER
