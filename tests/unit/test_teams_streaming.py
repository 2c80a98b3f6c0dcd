"""Streamed answers, on a simulated clock (no real waiting)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from askloop.integrations.teams.rendering import text_activity, wire
from askloop.integrations.teams.streaming import StreamingReply
from tests.fakes import SimulatedTime

pytestmark = pytest.mark.asyncio


class HttpError(Exception):
    def __init__(self, status: int, text: str) -> None:
        super().__init__(f"Operation returned an invalid status code {status}")
        self.response = SimpleNamespace(status_code=status, text=text)


class FakeChat:
    """The send function a StreamingReply gets: records the wire JSON, returns ids."""

    def __init__(self, time: SimulatedTime) -> None:
        self.time = time
        self.sent: list[tuple[float, dict]] = []
        self.fail: dict[int, Exception] = {}  # attempt number -> error
        self.attempts = 0

    async def send(self, activity) -> str:
        self.attempts += 1
        error = self.fail.pop(self.attempts, None)
        if error is not None:
            raise error
        self.sent.append((self.time.now, wire(activity)))
        return f"id-{self.attempts}"

    @property
    def activities(self) -> list[dict]:
        return [a for _, a in self.sent]


def stream_info(activity: dict) -> dict | None:
    return next((e for e in activity.get("entities") or [] if e["type"] == "streaminfo"), None)


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


# --- StreamingReply ----------------------------------------------------------------


async def test_progress_is_coalesced_into_the_newest_update_and_the_final_ends_the_stream():
    time = SimulatedTime()
    chat = FakeChat(time)
    reply = StreamingReply(chat.send, interval=1.0, clock=time.clock, sleep=time.sleep)

    reply.status("Searching the knowledge base…")
    reply.text("Every")
    reply.text("Every employee")
    reply.text("Every employee gets 26 days")
    await settle()
    reply.status("Writing the answer…")  # informative updates stop once text streams
    ids = await reply.finish(text_activity("Every employee gets 26 days [1]."))

    first, final = chat.activities
    assert first["type"] == "typing"
    assert first["text"] == "Every employee gets 26 days"
    assert stream_info(first) == {
        "type": "streaminfo",
        "streamType": "streaming",
        "streamSequence": 1,
    }
    assert final["type"] == "message"
    assert stream_info(final) == {"type": "streaminfo", "streamType": "final", "streamId": "id-1"}
    assert final["channelData"] == {"streamType": "final", "streamId": "id-1"}
    assert ids == ["id-1", "id-2"]
    sent_at = [t for t, _ in chat.sent]
    assert sent_at[1] - sent_at[0] >= 1.0


async def test_updates_are_spaced_by_the_interval_and_carry_the_stream_id():
    time = SimulatedTime()
    chat = FakeChat(time)
    reply = StreamingReply(chat.send, interval=1.0, clock=time.clock, sleep=time.sleep)

    reply.status("Searching the knowledge base…")
    await settle()
    reply.status("Looking further…")
    await settle()
    reply.text("Partial")
    await settle()
    await reply.finish(text_activity("Done."))

    kinds = [(stream_info(a) or {}).get("streamType") for a in chat.activities]
    assert kinds == ["informative", "informative", "streaming", "final"]
    sequences = [stream_info(a).get("streamSequence") for a in chat.activities[:3]]
    assert sequences == [1, 2, 3]
    assert "streamId" not in stream_info(chat.activities[0])
    assert {stream_info(a)["streamId"] for a in chat.activities[1:]} == {"id-1"}
    times = [t for t, _ in chat.sent]
    assert all(later - earlier >= 1.0 for earlier, later in zip(times, times[1:], strict=False))


async def test_a_failed_update_sends_the_answer_as_an_ordinary_message():
    time = SimulatedTime()
    chat = FakeChat(time)
    chat.fail[1] = HttpError(403, '{"error": {"code": "ContentStreamNotAllowed"}}')
    reply = StreamingReply(chat.send, interval=1.0, clock=time.clock, sleep=time.sleep)

    reply.status("Searching the knowledge base…")
    await settle()
    reply.text("more")  # ignored: the stream is broken
    ids = await reply.finish(text_activity("The answer."))

    (only,) = chat.activities
    assert only["type"] == "message" and only["text"] == "The answer."
    assert stream_info(only) is None and "streamType" not in (only.get("channelData") or {})
    assert ids == ["id-2"]


async def test_the_stop_button_ends_it_without_a_final_message():
    time = SimulatedTime()
    chat = FakeChat(time)
    reply = StreamingReply(chat.send, interval=1.0, clock=time.clock, sleep=time.sleep)
    reply.status("Searching the knowledge base…")
    await settle()
    chat.fail[2] = HttpError(403, "Content stream was cancelled by user.")
    reply.text("Every employee")
    await settle()

    assert await reply.finish(text_activity("The answer.")) == []
    assert reply.cancelled
    assert len(chat.activities) == 1


async def test_a_refused_final_is_sent_again_without_the_stream():
    time = SimulatedTime()
    chat = FakeChat(time)
    reply = StreamingReply(chat.send, interval=1.0, clock=time.clock, sleep=time.sleep)
    reply.status("Searching the knowledge base…")
    await settle()
    chat.fail[2] = HttpError(403, "Content stream finished due to exceeded streaming time.")

    ids = await reply.finish(text_activity("The answer."))

    informative, final = chat.activities
    assert stream_info(informative)["streamType"] == "informative"
    assert stream_info(final) is None and final["text"] == "The answer."
    assert ids == ["id-3"]


async def test_nothing_streamed_means_an_ordinary_final_message():
    time = SimulatedTime()
    chat = FakeChat(time)
    reply = StreamingReply(chat.send, interval=1.0, clock=time.clock, sleep=time.sleep)
    assert await reply.finish(text_activity("Hello.")) == ["id-1"]
    assert stream_info(chat.activities[0]) is None
