"""One answer typed into a thread reply with Slack's streaming API (``streaming = "native"``).

``chat.startStream`` opens the reply with the text written so far, ``chat.appendStream``
adds only what is new since (progress events carry the whole text: the delta is worked
out here, against what Slack was sent, so texts coalesced while waiting for a slot are
merged, never lost) and ``chat.stopStream`` finishes it: the rest of the text, then the
blocks (sources, feedback buttons), which Slack shows below the streamed text.

What is sent is defanged Markdown (``mrkdwn.to_markdown``) of the *settled* text: a word,
link or code span still being written is held back until it is complete, so the text
sent never has to be taken back. Appends stop — the message is then left for the final
answer to replace — when one fails, when the text no longer extends what was sent, or
when the message would pass 12,000 characters.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Collection
from typing import Any

from askloop.integrations.slack.webapi import SlackApi, SlackCallError

__all__ = ["MAX_MARKDOWN", "NativeStream", "settled"]

#: Slack's limit on one call's ``markdown_text``; also the most a streamed reply holds.
MAX_MARKDOWN = 12_000
#: A stream that is over already (Slack ends one after a few minutes; a user may stop it).
_ENDED = ("message_not_in_streaming_state", "stopped_by_user")
# A bracket that is closed: a complete link, or a "[n]" that is not the start of one.
_CLOSED = re.compile(r"\[[^\]\n]*\](?:\([^)\s]*\)|(?!\())")


def settled(text: str) -> str:
    """The part of a growing text that will not change: up to its last whitespace, and
    before a code span or link on the last line that is still open."""
    head = text[: max(text.rfind(" "), text.rfind("\n"), text.rfind("\t")) + 1]
    start = head.rfind("\n") + 1
    line = head[start:]
    if line.count("`") % 2:
        return head[: start + line.rfind("`")]
    bracket = line.rfind("[")
    if bracket >= 0 and not _CLOSED.match(line, bracket):
        return head[: start + bracket]
    return head


class NativeStream:
    """One streamed reply: its ts once started, what it shows, whether it takes more."""

    def __init__(
        self,
        api: SlackApi,
        *,
        channel: str,
        thread_ts: str,
        recipient_user: str = "",
        recipient_team: str = "",
    ) -> None:
        self._api = api
        self._channel = channel
        self._thread_ts = thread_ts
        self._recipient_user = recipient_user
        self._recipient_team = recipient_team
        self.ts: str | None = None
        #: The Markdown the reply shows so far (the start's text and every append).
        self.sent = ""
        #: No more appends: one failed, the text went another way, or the reply is full.
        self.halted = False

    async def start(self, markdown: str) -> str:
        """Open the reply showing ``markdown``; raises SlackCallError, not logged (the
        caller says what it does instead)."""
        text = markdown[:MAX_MARKDOWN]
        ts = await self._api.start_stream(
            self._channel,
            self._thread_ts,
            text,
            recipient_user=self._recipient_user,
            recipient_team=self._recipient_team,
            quiet=True,
        )
        if not ts:
            raise SlackCallError("chat.startStream", "no_ts", channel=self._channel)
        self.ts, self.sent = ts, text
        return ts

    async def write(self, markdown: str) -> None:
        """Bring the reply up to ``markdown`` (the whole text so far): one append of what
        is new, if anything."""
        if self.ts is None or self.halted:
            return
        if not markdown.startswith(self.sent) or len(markdown) > MAX_MARKDOWN:
            self.halted = True
            return
        if len(markdown) == len(self.sent):
            return
        try:
            await self._api.append_stream(self._channel, self.ts, markdown[len(self.sent) :])
        except SlackCallError:
            self.halted = True  # logged by SlackApi; the final answer replaces the reply
            return
        self.sent = markdown

    def takes(self, markdown: str) -> bool:
        """Can the reply become ``markdown`` by appending (or already read as it)?"""
        return (
            not self.halted
            and len(markdown) <= MAX_MARKDOWN
            and (markdown.startswith(self.sent) or markdown == self.sent.rstrip())
        )

    async def finish(self, markdown: str | None, blocks: Collection[dict[str, Any]]) -> bool:
        """Stop the stream so the reply reads ``markdown`` with ``blocks`` below it. False
        when it cannot (``markdown`` None: the reply is not to be the answer as it is):
        the stream is then stopped as it stands, for the caller to edit or replace."""
        if self.ts is None:
            return False
        if markdown is not None and self.takes(markdown):
            rest = markdown[len(self.sent) :]
            try:
                await self._api.stop_stream(self._channel, self.ts, markdown=rest, blocks=blocks)
                return True
            except SlackCallError:
                pass  # logged by SlackApi; stopped plainly below, then edited
        with contextlib.suppress(SlackCallError):
            await self._api.stop_stream(self._channel, self.ts, quiet=_ENDED)
        return False
