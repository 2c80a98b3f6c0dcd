"""Delivering one answer: status line, the answer as it is written, the final message.

While the graph runs, status events become the thread's native "is thinking…" line
(``assistant.threads.setStatus``, at most once a second, newest first). Text events
(the answer so far) are shown once writing takes longer than ``draft_after`` seconds (a
quick answer is simply posted, complete; time spent waiting for a free worker does not
count), at most one call per pacing slot:

- ``streaming = "update"``: a draft is posted once and then edited — intermediate texts
  are skipped, not queued. The final answer replaces the draft and may add messages
  when it is long; a ``msg_too_long`` from Slack splits it further and edits what was
  already posted, so nothing is posted twice.
- ``streaming = "native"`` (thread replies only): the text is typed into one reply with
  Slack's streaming API (``stream``). When the answer is one message that continues
  what was streamed, the stream is stopped with the rest of the text and the answer's
  sources and feedback buttons. Otherwise — a long answer, a final text that differs
  from the streamed one (a dropped citation, an outage notice), a failed append or
  stop — the stream is stopped as it stands and the reply is then treated exactly like
  an update-mode draft: edited into the first message of the answer, the rest posted.
  If Slack refuses that edit too, the reply is left as it is and the answer is posted
  anew. A refused ``chat.startStream`` (streaming not enabled for the app, a missing
  scope) logs one warning and this reply falls back to ``update``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Literal

from askloop.agent.answers import AnswerRecord, Progress
from askloop.integrations.pacing import Clock, Sleep
from askloop.integrations.slack.inbound import is_direct
from askloop.integrations.slack.mrkdwn import to_markdown
from askloop.integrations.slack.render import Budget, answer_messages, notice, progress_message
from askloop.integrations.slack.stream import NativeStream, settled
from askloop.integrations.slack.webapi import OutMessage, SlackApi, SlackCallError

__all__ = ["Latest", "ReplyWriter", "Streaming", "status_line"]

#: How a growing answer is shown (``[slack] streaming``).
Streaming = Literal["update", "native"]

log = logging.getLogger(__name__)

THINKING = "is thinking…"
STATUS_EVERY_SECONDS = 1.0


def status_line(text: str) -> str:
    """ "Searching the knowledge base…" → "is searching the knowledge base…"."""
    text = text.strip()
    return f"is {text[:1].lower()}{text[1:]}" if text else THINKING


class Latest:
    """Sends only the newest value put, never before ``not_before`` (on ``clock``).

    Values put while one is being sent are coalesced: only the last goes next. ``close``
    drops what has not been sent and waits for a send in flight unless
    ``interruptible()`` says it may be cut short (a draft's first post never is: the
    message's ts must be known).
    """

    def __init__(
        self,
        send: Callable[[str], Awaitable[None]],
        *,
        name: str,
        interruptible: Callable[[], bool] = lambda: False,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._send = send
        self._clock = clock
        self._sleep = sleep
        self._name = name
        self._interruptible = interruptible
        self._value: str | None = None
        self._task: asyncio.Task[None] | None = None
        self._sending = False
        self.not_before = 0.0

    def put(self, value: str) -> None:
        self._value = value
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name=self._name)

    async def _run(self) -> None:
        while self._value is not None:
            if (delay := self.not_before - self._clock()) > 0:
                await self._sleep(delay)
            value, self._value = self._value, None
            if value is None:
                return
            self._sending = True
            try:
                await self._send(value)
            finally:
                self._sending = False

    async def close(self) -> None:
        self._value = None
        task, self._task = self._task, None
        if task is None:
            return
        if not self._sending or self._interruptible():
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


class ReplyWriter:
    """Writes one answer into a channel, thread or direct conversation."""

    def __init__(
        self,
        api: SlackApi,
        *,
        channel: str,
        thread_ts: str | None,
        draft_after: float = 1.0,
        streaming: Streaming = "update",
        recipient_user: str = "",
        recipient_team: str = "",
    ) -> None:
        self._api = api
        self.channel = channel
        self.thread_ts = thread_ts
        #: ts of every message of this answer posted so far, in order.
        self.posted: list[str] = []
        self._draft_after = draft_after
        # A streamed reply is a thread reply, and outside a direct message Slack wants to
        # know whom it is written for.
        self._stream: NativeStream | None = None
        if (
            streaming == "native"
            and thread_ts
            and (is_direct(channel) or (recipient_user and recipient_team))
        ):
            self._stream = NativeStream(
                api,
                channel=channel,
                thread_ts=thread_ts,
                recipient_user=recipient_user,
                recipient_team=recipient_team,
            )
        #: The streamed reply, once started (it stays an answer message if abandoned).
        self._streamed_ts: str | None = None
        self._abandoned: list[str] = []
        # Once the draft is posted, an edit still waiting for its slot is not worth
        # waiting for: the final answer replaces it anyway. A stream call is never cut
        # short: whether an append arrived decides what the next one carries.
        self._drafts = Latest(
            self._send_text,
            name="slack-draft",
            interruptible=lambda: bool(self.posted) and self._stream is None,
            clock=api.clock,
            sleep=api.sleep,
        )
        self._drafting = False
        self._drafts_failed = False
        self._status = Latest(
            self._send_status, name="slack-status", clock=api.clock, sleep=api.sleep
        )

    async def thinking(self) -> None:
        """Show "is thinking…" under the thread (threads only: Slack has no status line
        for a top-level direct message)."""
        if self.thread_ts:
            await self._send_status(THINKING)

    async def progress(self, event: Progress) -> None:
        """An ``on_progress`` listener for ``AsyncAssistant.answer``."""
        if event.kind == "status":
            if self.thread_ts and not self.posted:
                self._status.put(status_line(event.text))
            return
        if self._drafts_failed or not event.text.strip():
            return
        if not self._drafting:  # generation has started: the draft clock runs from now
            self._drafting = True
            self._drafts.not_before = self._api.clock() + self._draft_after
        self._drafts.put(event.text)

    async def _send_status(self, line: str) -> None:
        if self.thread_ts and not self.posted:
            await self._api.set_status(self.channel, self.thread_ts, line, loading=[line])
        # A status line stays up until the answer is posted: changing it once a second
        # is plenty (a quick answer costs one call).
        self._status.not_before = self._api.clock() + STATUS_EVERY_SECONDS

    async def _send_text(self, text: str) -> None:
        stream = self._stream
        if stream is None:
            await self._send_draft(text)
            return
        markdown = to_markdown(settled(text))
        if stream.ts is not None:
            await stream.write(markdown)
            return
        if not markdown.strip():
            return  # nothing complete yet: the next text starts the reply
        try:
            self._streamed_ts = await stream.start(markdown)
        except SlackCallError as err:
            log.warning(
                "Slack refused a streamed reply in %s (%s): showing this answer as an "
                "edited draft instead",
                self.channel,
                err.error,
            )
            self._stream = None
            await self._send_draft(text)
            return
        self.posted.append(self._streamed_ts)

    async def _send_draft(self, text: str) -> None:
        try:
            await self._put(0, progress_message(text))
        except SlackCallError:
            self._drafts_failed = True  # logged by SlackApi; the final post tries again

    async def _settle(self) -> NativeStream | None:
        """Stop showing progress; returns the stream if one was started."""
        await self._drafts.close()
        await self._status.close()
        stream, self._stream = self._stream, None
        return stream if stream is not None and stream.ts is not None else None

    async def _put(self, index: int, message: OutMessage) -> None:
        """Edit the index-th message of this answer, or post it."""
        quiet = ("msg_too_long",)
        if index < len(self.posted):
            await self._api.update(self.channel, self.posted[index], message, quiet=quiet)
        else:
            ts = await self._api.post(self.channel, message, thread_ts=self.thread_ts, quiet=quiet)
            self.posted.append(ts)

    def _abandon_stream(self, err: SlackCallError) -> bool:
        """The streamed reply refused to be edited (still streaming, gone): leave it and
        post the answer anew. False if ``err`` is about anything else."""
        if err.method != "chat.update" or self.posted[:1] != [self._streamed_ts]:
            return False
        self._abandoned.append(self.posted.pop(0))
        return True

    def _delivered(self) -> list[str]:
        return [*self.posted, *self._abandoned]

    async def finish(self, record: AnswerRecord) -> list[str]:
        """Post the final answer; returns the ts of its messages (raises SlackCallError)."""
        stream = await self._settle()
        if stream is not None:
            first, *more = answer_messages(record)
            tail = [b for b in first.blocks if b.get("type") != "section"]
            markdown = None if more else to_markdown(record.answer)
            if await stream.finish(markdown, tail):
                return self._delivered()
        budget: Budget | None = Budget()
        while budget is not None:
            messages = answer_messages(record, budget)
            try:
                for i, message in enumerate(messages):
                    await self._put(i, message)
            except SlackCallError as err:
                if err.error == "msg_too_long":
                    budget = budget.smaller()
                elif not self._abandon_stream(err):
                    raise
                continue
            return self._delivered()
        log.warning("Slack refused answer %s as too long even split small", record.answer_id)
        raise SlackCallError("chat.postMessage", "msg_too_long", channel=self.channel)

    async def say(self, text: str) -> list[str]:
        """A short message of askloop's own (apology, hint) in place of an answer."""
        stream = await self._settle()
        if stream is not None:
            await stream.finish(None, ())
        try:
            await self._put(0, notice(text))
        except SlackCallError as err:
            if not self._abandon_stream(err):
                raise
            await self._put(0, notice(text))
        return self.posted[:1]
