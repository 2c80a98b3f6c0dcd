"""Streamed answers in Teams.

A streamed message accepts about one update a second: :class:`StreamingReply`
coalesces progress into at most one stream update per interval (always the newest
text) and ends the stream with the final message. Every send also passes the
per-conversation pacer (about 7 messages a second, :mod:`integrations.pacing`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Literal

from botbuilder.schema import Activity

from askloop.integrations.pacing import Clock, Sleep
from askloop.integrations.teams.rendering import mark_stream_final, stream_update, strip_stream

__all__ = ["SendFn", "StreamingReply"]

log = logging.getLogger(__name__)

#: Sends one activity into the conversation; returns the id Teams gave it.
SendFn = Callable[[Activity], Awaitable[str | None]]


def _error_text(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    body = getattr(response, "text", "")
    if callable(body):
        try:
            body = body()
        except Exception:
            body = ""
    return f"{exc} {body}".lower()


def _status_of(exc: BaseException) -> int | None:
    status = getattr(getattr(exc, "response", None), "status_code", None)
    return status if isinstance(status, int) else None


def _cancelled_by_user(exc: BaseException) -> bool:
    """Teams answers 403 "Content stream was cancelled by user" after the Stop button."""
    return _status_of(exc) == 403 and "cancel" in _error_text(exc)


class StreamingReply:
    """One answer streamed into a 1:1 chat with the Teams streaming protocol.

    ``status()`` and ``text()`` only note the newest state and return at once (they are
    called from the answer's progress events); a pump sends it as an ``informative`` or
    ``streaming`` update, at most one per ``interval``. The first update's id becomes
    the stream id. ``finish()`` sends the final message with ``streamType: final``; if
    streaming failed it is sent as an ordinary message, and if the user pressed Stop it
    is not sent.
    """

    def __init__(
        self,
        send: SendFn,
        *,
        interval: float,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._send = send
        self._interval = interval
        self._clock = clock
        self._sleep = sleep
        self._pending: tuple[Literal["informative", "streaming"], str] | None = None
        self._wake = asyncio.Event()
        self._pump_task: asyncio.Task[None] | None = None
        self._last_sent = float("-inf")
        self._sequence = 0
        self._stream_id: str | None = None
        self._text_started = False
        self._closing = False
        self._broken = False
        self._cancelled = False

    @property
    def stream_id(self) -> str | None:
        return self._stream_id

    @property
    def cancelled(self) -> bool:
        """The user stopped the stream (Teams' Stop button)."""
        return self._cancelled

    def status(self, text: str) -> None:
        """What askloop is doing ("Searching the knowledge base…")."""
        # Teams refuses informative updates once answer text is streaming.
        if not self._text_started and text.strip():
            self._queue("informative", text)

    def text(self, text: str) -> None:
        """The answer so far (cumulative, as the progress events carry it)."""
        if text.strip():
            self._text_started = True
            self._queue("streaming", text)

    def _queue(self, kind: Literal["informative", "streaming"], text: str) -> None:
        if self._closing or self._broken:
            return
        self._pending = (kind, text)
        if self._pump_task is None:
            self._pump_task = asyncio.create_task(self._pump(), name="teams-stream-pump")
        self._wake.set()

    async def _pump(self) -> None:
        while not self._closing:
            await self._wake.wait()
            self._wake.clear()
            while self._pending is not None and not self._closing and not self._broken:
                wait = self._last_sent + self._interval - self._clock()
                if wait > 0:
                    await self._sleep(wait)
                    if self._pending is None or self._closing or self._broken:
                        break
                kind, text = self._pending
                self._pending = None
                await self._send_update(kind, text)

    async def _send_update(self, kind: Literal["informative", "streaming"], text: str) -> None:
        self._sequence += 1
        update = stream_update(kind, text, sequence=self._sequence, stream_id=self._stream_id)
        try:
            sent_id = await self._send(update)
        except Exception as exc:
            self._broken = True
            self._cancelled = _cancelled_by_user(exc)
            if self._cancelled:
                log.info("teams: the user stopped a streamed answer")
            else:
                log.warning("teams: a stream update failed, the answer goes out whole: %s", exc)
            return
        finally:
            self._last_sent = self._clock()
        if self._stream_id is None:
            if not sent_id:
                self._broken = True
                log.warning("teams: no stream id came back; the answer goes out whole")
                return
            self._stream_id = sent_id

    async def _stop_pump(self) -> None:
        self._closing = True
        self._wake.set()
        if self._pump_task is not None:
            # Lets an update already on the wire finish (its id may be the stream id).
            await self._pump_task

    async def close(self) -> None:
        """Stop sending updates (no final message)."""
        await self._stop_pump()

    async def finish(self, final: Activity) -> list[str]:
        """Send ``final``; returns the ids that name the answer in the chat.

        Raises what ``send`` raises when the final message cannot be delivered.
        """
        await self._stop_pump()
        if self._cancelled:
            return []
        if self._stream_id is not None and not self._broken:
            wait = self._last_sent + self._interval - self._clock()
            if wait > 0:
                await self._sleep(wait)
            try:
                sent_id = await self._send(mark_stream_final(final, self._stream_id))
            except Exception as exc:
                if _cancelled_by_user(exc):
                    self._cancelled = True
                    log.info("teams: the user stopped a streamed answer before its end")
                    return []
                # e.g. the stream outlived Teams' two-minute limit
                log.warning("teams: ending the stream failed, sending the answer whole: %s", exc)
                strip_stream(final)
            else:
                # Teams keeps the stream id as the message's id.
                return list(dict.fromkeys(i for i in (self._stream_id, sent_id) if i))
        sent_id = await self._send(final)
        return [sent_id] if sent_id else []
