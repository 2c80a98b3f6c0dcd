"""Posting one answer through the Web API seam: pacing, drafts, splitting, faults.

The writer and the API run on simulated time (no real waiting); the fake Slack judges
its rate limit on the same clock, and ``until`` waits for what it records."""

from __future__ import annotations

import asyncio
import itertools
import logging

import pytest

from askloop.agent.answers import AnswerRecord, Progress
from askloop.config.settings import SlackSettings
from askloop.integrations.slack import reply
from askloop.integrations.slack.render import notice
from askloop.integrations.slack.reply import ReplyWriter, status_line
from askloop.integrations.slack.webapi import Identity, SlackApi, SlackCallError
from tests.fakes import SimulatedTime
from tests.records import answer_record
from tests.slack_fake import BOT_ID, BOT_TOKEN, BOT_USER, FakeSlack


def test_status_lines_read_as_slack_shows_them():
    assert status_line("Searching the knowledge base…") == "is searching the knowledge base…"
    assert status_line("") == "is thinking…"


def record(answer: str, **kw) -> AnswerRecord:
    return answer_record(answer_id="b" * 32, answer=answer, **kw)


@pytest.fixture
def time() -> SimulatedTime:
    return SimulatedTime(100.0)


@pytest.fixture
def fake(time):
    with FakeSlack(
        rate_per_second=40, retry_after=0, max_message_chars=5000, clock=time.clock
    ) as slack:
        yield slack


async def open_api(fake: FakeSlack, time: SimulatedTime) -> SlackApi:
    settings = SlackSettings(bot_token=BOT_TOKEN, api_url=fake.url, post_interval_seconds=0.03)
    api = SlackApi(settings, clock=time.clock, sleep=time.sleep)
    await api.start()
    return api


async def until(fake: FakeSlack, predicate) -> None:
    """Wait for something the fake records, off the loop so the writer keeps running."""
    await asyncio.to_thread(fake.wait_for, predicate)


def gaps(calls) -> list[float]:
    return [b.at - a.at for a, b in itertools.pairwise(calls)]


@pytest.mark.asyncio
async def test_a_slow_answer_is_drafted_then_edited_in_place(fake, time):
    api = await open_api(fake, time)
    try:
        writer = ReplyWriter(api, channel="C1", thread_ts="1.1", draft_after=0)
        await writer.progress(Progress("status", "Writing the answer…"))
        text = "Every "
        await writer.progress(Progress("text", text))
        await until(fake, lambda: fake.calls("chat.postMessage"))
        for word in ("employee ", "gets ", "26 ", "days ", "<!channel> ", "[1]."):
            text += word
            await writer.progress(Progress("text", text))
            await time.sleep(0.01)
        posted = await writer.finish(record("Every employee gets 26 days [1]."))
    finally:
        await api.close()
    [message] = fake.messages("C1")
    assert posted == [message.ts]
    assert message.edits >= 1  # the draft became the answer, in place
    assert message.section_text() == "Every employee gets 26 days [1]."
    assert len(fake.calls("chat.postMessage")) == 1
    drafts = [c.params["blocks"][0]["text"]["text"] for c in fake.calls("chat.update")]
    assert all("<!channel>" not in d for d in drafts)
    assert fake.rate_limited == 0  # paced on the fake's own (simulated) clock


@pytest.mark.asyncio
async def test_status_lines_follow_the_graph_at_most_once_per_interval(fake, time):
    def statuses():
        return fake.calls("assistant.threads.setStatus")

    api = await open_api(fake, time)
    try:
        writer = ReplyWriter(api, channel="C1", thread_ts="1.1", draft_after=5)
        await writer.thinking()
        for text in ("Searching the knowledge base…", "Looking further…", "Searching again…"):
            await writer.progress(Progress("status", text))  # quick succession: coalesced
        await until(fake, lambda: len(statuses()) == 2)
        await writer.progress(Progress("status", "Writing the answer…"))
        await until(fake, lambda: len(statuses()) == 3)
        await writer.finish(record("Done."))
        await writer.progress(Progress("status", "too late"))  # after the answer: ignored
    finally:
        await api.close()
    lines = [c.params["status"] for c in statuses()]
    assert lines == ["is thinking…", "is searching again…", "is writing the answer…"]
    assert gaps(statuses()) == pytest.approx([reply.STATUS_EVERY_SECONDS] * 2)


@pytest.mark.asyncio
async def test_a_quick_answer_is_posted_once_without_drafts(fake, time):
    api = await open_api(fake, time)
    try:
        writer = ReplyWriter(api, channel="C1", thread_ts=None, draft_after=5)
        for text in ("Every ", "Every employee gets 26 days."):
            await writer.progress(Progress("text", text))
        await writer.finish(record("Every employee gets 26 days."))
    finally:
        await api.close()
    assert [c.method for c in fake.calls() if c.method.startswith("chat.")] == ["chat.postMessage"]
    assert fake.calls("assistant.threads.setStatus") == []  # no thread, no status line


@pytest.mark.asyncio
async def test_msg_too_long_splits_further_and_edits_what_was_posted(fake, time):
    long_answer = "\n\n".join(f"Section {n}. " + "text " * 500 for n in range(6))
    api = await open_api(fake, time)
    try:
        writer = ReplyWriter(api, channel="C1", thread_ts="1.1", draft_after=0)
        posted = await writer.finish(record(long_answer))
    finally:
        await api.close()
    messages = fake.messages("C1")
    assert [m.ts for m in messages] == posted
    assert len(posted) >= 6
    assert all("Section" in m.section_text() for m in messages)
    assert any(c.error == "msg_too_long" for c in fake.calls())


@pytest.mark.asyncio
async def test_identity_is_asked_once_and_a_failure_is_retried_later(fake, time):
    fake.fail("auth.test", "fatal_error", times=1)
    api = await open_api(fake, time)
    try:
        assert await api.identity() == Identity()  # failed: unknown for now
        assert await api.identity() == Identity()  # not asked again at once
        await time.sleep(60)  # the pause before asking again
        assert await api.identity() == Identity(user_id=BOT_USER, bot_id=BOT_ID)
        await api.identity()
    finally:
        await api.close()
    assert len(fake.calls("auth.test")) == 2


@pytest.mark.asyncio
async def test_web_api_errors_become_typed_errors_and_one_log_line(fake, time, caplog):
    caplog.set_level(logging.INFO)
    fake.fail("chat.postEphemeral", "channel_not_found")
    fake.fail("chat.postMessage", "upstream", status=504, times=3)
    fake.fail("views.open", "token_revoked")
    api = await open_api(fake, time)
    try:
        with pytest.raises(SlackCallError) as err:
            await api.ephemeral("C9", "U1", "hi")
        assert err.value.error == "channel_not_found"
        with pytest.raises(SlackCallError) as err:
            await api.post("C9", notice("x"))
        assert err.value.error == "http_504"
        with pytest.raises(SlackCallError):
            await api.open_view("1.2.3", {"type": "modal"})
        assert api.disabled == "token_revoked"
        with pytest.raises(SlackCallError) as err:
            await api.ephemeral("C9", "U1", "hi")
        assert err.value.error == "disabled"
    finally:
        await api.close()
    assert "Slack channel C9 not found" in caplog.text
    assert "Slack Web API unavailable for chat.postMessage in C9 (http_504)" in caplog.text
    assert "Slack rejected the bot token (token_revoked)" in caplog.text
    assert not any(r.exc_info for r in caplog.records)


@pytest.mark.asyncio
async def test_a_rate_limited_status_line_is_skipped_not_waited_for(fake, time):
    fake.fail("assistant.threads.setStatus", "ratelimited", status=429, retry_after=30)
    api = await open_api(fake, time)
    try:
        writer = ReplyWriter(api, channel="C1", thread_ts="1.1")
        await asyncio.wait_for(writer.thinking(), timeout=5)  # not after Retry-After: 30
        await writer.finish(record("Done."))
    finally:
        await api.close()
    assert len(fake.calls("assistant.threads.setStatus")) == 1
    assert len(fake.messages("C1")) == 1
