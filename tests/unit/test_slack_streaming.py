"""Native streaming of one answer through the Web API seam: deltas, coalescing, faults."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest

from askloop.agent.answers import AnswerRecord, Progress
from askloop.config.settings import SlackSettings
from askloop.integrations.slack.mrkdwn import to_markdown, to_mrkdwn
from askloop.integrations.slack.reply import ReplyWriter
from askloop.integrations.slack.stream import settled
from askloop.integrations.slack.webapi import SlackApi
from tests.fakes import SimulatedTime
from tests.records import answer_record
from tests.slack_fake import BOT_TOKEN, FakeSlack

ANSWER = "Every employee gets **26 days** of paid leave; see the `Leave policy` [1]."
STREAM_METHODS = ("chat.startStream", "chat.appendStream", "chat.stopStream")


def record(answer: str = ANSWER, **kw) -> AnswerRecord:
    return answer_record(answer_id="c" * 32, answer=answer, **kw)


@pytest.fixture
def time() -> SimulatedTime:
    return SimulatedTime(100.0)


@pytest.fixture
def fake(time):
    with FakeSlack(rate_per_second=40, retry_after=0, clock=time.clock) as slack:
        yield slack


async def open_api(fake: FakeSlack, time: SimulatedTime, interval: float = 0.03) -> SlackApi:
    """The API on simulated time: pacing never really waits, and the fake judges its
    rate limit on the same clock."""
    api = SlackApi(
        SlackSettings(bot_token=BOT_TOKEN, api_url=fake.url, post_interval_seconds=interval),
        clock=time.clock,
        sleep=time.sleep,
    )
    await api.start()
    return api


def native(api: SlackApi, channel: str = "C1", **kw) -> ReplyWriter:
    options = {
        "thread_ts": "1.1",
        "draft_after": 0,
        "streaming": "native",
        "recipient_user": "U1",
        "recipient_team": "T1",
        **kw,
    }
    return ReplyWriter(api, channel=channel, **options)


async def until(fake: FakeSlack, predicate) -> None:
    """Wait for something the fake records (never a fixed sleep), off the loop so the
    writer keeps running meanwhile."""
    await asyncio.to_thread(fake.wait_for, predicate)


async def write(writer: ReplyWriter, fake: FakeSlack, text: str, *, appends: int = 1) -> None:
    """Hand the text out word by word until the reply is started and appended to."""
    words = text.split(" ")
    await writer.progress(Progress("text", words[0] + " "))
    await until(fake, lambda: fake.calls("chat.startStream"))
    for n in range(1, len(words)):
        await writer.progress(Progress("text", " ".join(words[: n + 1]) + " "))
    await until(fake, lambda: len(fake.calls("chat.appendStream")) >= appends)


async def stream_then_finish(
    fake: FakeSlack, time: SimulatedTime, streamed: str = ANSWER, final: AnswerRecord | None = None
) -> list[str]:
    """Stream ``streamed`` into a native reply, then finish it as ``final``; the ts."""
    api = await open_api(fake, time)
    try:
        writer = native(api)
        await write(writer, fake, streamed)
        return await writer.finish(final or record())
    finally:
        await api.close()


def feedback_ids(blocks) -> set[str]:
    return {
        json.loads(b["elements"][0][side]["value"])["answer_id"]
        for b in blocks
        if b["type"] == "context_actions"
        for side in ("positive_button", "negative_button")
    }


# -- what is streamed ------------------------------------------------------------------


def test_only_the_settled_text_is_streamed():
    assert settled("Every employee ge") == "Every employee "
    assert settled("See [the leave pol") == "See "  # a link still being written
    assert settled("See [the leave policy](https://x.example/a) and ") == (
        "See [the leave policy](https://x.example/a) and "
    )
    assert settled("Days [1] and [2] more") == "Days [1] and [2] "
    assert settled("Run `make all ") == "Run "  # an open code span
    assert settled("one\ntwo") == "one\n"


def test_streamed_markdown_is_defanged_like_mrkdwn():
    text = "Hi <!channel> @here, Q&A &lt;b&gt; [docs](https://evil.example) https://x.example/a."
    assert to_markdown(text) == (
        "Hi &lt;!channel&gt; @\u2060here, Q&A &amp;lt;b&amp;gt; docs `https://x.example/a`."
    )
    assert to_markdown("> quoted <x>\n```\na<b\n```") == "> quoted &lt;x&gt;\n```\na&lt;b\n```"


def test_every_settled_prefix_converts_to_a_prefix_of_the_whole():
    text = (
        "## Leave\n\nEvery employee gets **26 days** [1]; see [the policy](https://x.example/p)"
        " or https://x.example/q, and `<!here>` never pings.\n- one\n- two [2]."
    )
    whole = to_markdown(text)
    for n in range(len(text) + 1):
        assert whole.startswith(to_markdown(settled(text[:n]))), text[:n]


# -- the reply -------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_slow_answer_is_streamed_as_deltas_and_stopped_with_its_blocks(fake, time):
    api = await open_api(fake, time)
    try:
        writer = native(api)
        await writer.thinking()
        await writer.progress(Progress("status", "Searching the knowledge base…"))
        await write(writer, fake, ANSWER)
        posted = await writer.finish(record())
        await writer.progress(Progress("status", "too late"))
    finally:
        await api.close()
    [start] = fake.calls("chat.startStream")
    assert (
        start.params["thread_ts"],
        start.params["recipient_user_id"],
        start.params["recipient_team_id"],
    ) == ("1.1", "U1", "T1")
    [message] = fake.messages("C1")
    assert posted == [message.ts] and not message.streaming
    # What was streamed, and the stop's rest, is the answer (the space the model wrote
    # after its last word is not taken back).
    assert "".join(message.pieces).rstrip() == to_markdown(ANSWER)
    assert all(message.pieces[1:-1])  # each append carries new text, never the whole
    assert message.shown_text().rstrip() == to_markdown(ANSWER)
    [stop] = fake.calls("chat.stopStream")
    assert [b["type"] for b in stop.params["blocks"]] == ["context", "context_actions"]
    assert feedback_ids(message.blocks) == {"c" * 32}
    assert fake.calls("chat.postMessage") == fake.calls("chat.update") == []
    statuses = [c.params["status"] for c in fake.calls("assistant.threads.setStatus")]
    assert statuses[0] == "is thinking…" and "is too late" not in statuses
    assert fake.rate_limited == 0


@pytest.mark.asyncio
async def test_texts_that_come_while_waiting_for_a_slot_are_merged_not_lost(fake, time):
    api = await open_api(fake, time, interval=0.2)
    try:
        writer = native(api)
        words = ANSWER.split(" ")
        await writer.progress(Progress("text", words[0] + " "))
        await until(fake, lambda: fake.calls("chat.startStream"))
        for n in range(2, len(words) + 1):  # all before the next slot
            await writer.progress(Progress("text", " ".join(words[:n]) + " "))
        await until(fake, lambda: fake.calls("chat.appendStream"))
        await writer.finish(record())
    finally:
        await api.close()
    [message] = fake.messages("C1")
    [append] = fake.calls("chat.appendStream")  # one call for all the texts of the slot
    assert append.params["markdown_text"] == to_markdown(ANSWER[len(words[0]) + 1 :]) + " "
    assert "".join(message.pieces).rstrip() == to_markdown(ANSWER)


@pytest.mark.asyncio
async def test_a_failed_append_ends_in_the_final_answer_edited_in(fake, time):
    fake.fail("chat.appendStream", "internal_error", times=99)
    api = await open_api(fake, time)
    try:
        writer = native(api)
        await writer.progress(Progress("text", "Every "))
        await until(fake, lambda: fake.calls("chat.startStream"))
        await writer.progress(Progress("text", "Every employee gets "))
        await until(fake, lambda: fake.calls("chat.appendStream"))
        await writer.progress(Progress("text", "Every employee gets 26 days "))
        posted = await writer.finish(record())
    finally:
        await api.close()
    [message] = fake.messages("C1")
    assert posted == [message.ts]
    assert len(fake.calls("chat.appendStream")) == 1  # no more appends after a failure
    [stop] = fake.calls("chat.stopStream")
    assert "blocks" not in stop.params  # stopped as it stood, then edited
    assert message.section_text() == to_mrkdwn(ANSWER)
    assert feedback_ids(message.blocks) == {"c" * 32}


@pytest.mark.asyncio
async def test_a_failed_stop_is_retried_plain_then_the_answer_edited_in(fake, time):
    fake.fail("chat.stopStream", "internal_error", times=1)
    await stream_then_finish(fake, time)
    [message] = fake.messages("C1")
    assert [c.error for c in fake.calls("chat.stopStream")] == ["internal_error", None]
    assert len(fake.calls("chat.update", ok=True)) == 1
    assert message.has_block("section") and not message.has_block("markdown")
    assert feedback_ids(message.blocks) == {"c" * 32}


@pytest.mark.asyncio
async def test_a_stream_that_cannot_be_stopped_or_edited_is_left_and_the_answer_posted(fake, time):
    fake.fail("chat.stopStream", "internal_error", times=2)
    posted = await stream_then_finish(fake, time)
    streamed, answer = fake.messages("C1")
    assert streamed.streaming  # Slack refused to stop it: left as it is
    assert [c.error for c in fake.calls("chat.update")] == ["streaming_state_conflict"]
    assert answer.section_text() == to_mrkdwn(ANSWER)
    assert feedback_ids(answer.blocks) == {"c" * 32}
    assert posted == [answer.ts, streamed.ts]  # both are linked to the answer


@pytest.mark.asyncio
async def test_a_final_text_that_differs_from_the_streamed_one_replaces_it(fake, time):
    await stream_then_finish(
        fake,
        time,
        "Every employee gets 26 days [7] of leave, more or less",
        record("Every employee gets 26 days of leave."),
    )
    [message] = fake.messages("C1")
    [stop] = fake.calls("chat.stopStream")
    assert "blocks" not in stop.params
    assert message.section_text() == "Every employee gets 26 days of leave."
    assert "[7]" not in message.shown_text()


@pytest.mark.asyncio
async def test_an_apology_replaces_a_started_stream(fake, time):
    api = await open_api(fake, time)
    try:
        writer = native(api)
        await write(writer, fake, ANSWER)
        await writer.say("Sorry, I couldn't answer that just now.")
    finally:
        await api.close()
    [message] = fake.messages("C1")
    assert message.section_text() == "Sorry, I couldn't answer that just now."
    assert not message.has_block("context_actions")


@pytest.mark.asyncio
async def test_a_refused_start_falls_back_to_an_edited_draft_with_one_warning(fake, time, caplog):
    caplog.set_level(logging.INFO)
    fake.fail("chat.startStream", "not_allowed")
    api = await open_api(fake, time)
    try:
        writer = native(api)
        await writer.progress(Progress("text", "Every "))
        await until(fake, lambda: fake.calls("chat.postMessage"))
        await writer.progress(Progress("text", "Every employee gets "))
        await writer.finish(record())
    finally:
        await api.close()
    [message] = fake.messages("C1")
    assert [c.error for c in fake.calls("chat.startStream")] == ["not_allowed"]
    assert fake.calls("chat.appendStream") == fake.calls("chat.stopStream") == []
    assert len(fake.calls("chat.postMessage")) == 1
    assert feedback_ids(message.blocks) == {"c" * 32}
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [r.getMessage() for r in warnings] == [
        "Slack refused a streamed reply in C1 (not_allowed): showing this answer as an "
        "edited draft instead"
    ]


@pytest.mark.parametrize(
    ("channel", "kw"),
    [
        ("D1", {"thread_ts": None}),  # a top-level direct message: no thread to stream into
        ("C1", {"recipient_user": ""}),  # a channel, but nobody to stream to
    ],
)
@pytest.mark.asyncio
async def test_without_a_thread_or_a_recipient_the_answer_is_drafted(fake, time, channel, kw):
    api = await open_api(fake, time)
    try:
        writer = native(api, channel, **kw)
        await writer.progress(Progress("text", "Every "))
        await until(fake, lambda: fake.calls("chat.postMessage"))
        await writer.finish(record())
    finally:
        await api.close()
    assert [c for c in fake.calls() if c.method in STREAM_METHODS] == []
    assert len(fake.messages(channel)) == 1


@pytest.mark.asyncio
async def test_the_fake_checks_streaming_calls_like_slack(fake, time):
    fake.rate_per_second = 0  # raw client calls, unpaced, on a clock that stands still
    api = await open_api(fake, time)
    try:
        client = api.client
        for kwargs, error in [
            ({"channel": "C1", "thread_ts": "1.1"}, "missing_recipient_user_id"),
            (
                {"channel": "C1", "thread_ts": "1.1", "recipient_user_id": "U1"},
                "missing_recipient_team_id",
            ),
            (
                {"channel": "D1", "thread_ts": "1.1", "markdown_text": "x" * 12_001},
                "msg_too_long",
            ),
        ]:
            with pytest.raises(Exception) as err:
                await client.chat_startStream(**kwargs)
            assert err.value.response["error"] == error
        opened = await client.chat_startStream(channel="D1", thread_ts="1.1", markdown_text="a")
        await client.chat_stopStream(channel="D1", ts=opened["ts"])
        for call in (client.chat_appendStream, client.chat_stopStream):
            for ts in (opened["ts"], "9.9"):
                with pytest.raises(Exception) as err:
                    await call(channel="D1", ts=ts, markdown_text="b")
                assert err.value.response["error"] == "message_not_in_streaming_state"
    finally:
        await api.close()
