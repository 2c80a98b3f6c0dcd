"""Pacing what askloop sends into Teams: a per-conversation gate and streamed answers.

Teams throttles a bot that sends more than about 7 messages a second into one
conversation, and a streamed message accepts about one update a second.
:class:`ConversationGate` keeps every send into a conversation under the first limit;
:class:`StreamingReply` coalesces progress into at most one stream update per interval
(always the newest text) and ends the stream with the final message.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from botbuilder.schema import Activity

from askloop.integrations.teams.rendering import mark_stream_final, stream_update, strip_stream

__all__ = ["Clock", "ConversationGate", "SendFn", "Sleep", "StreamingReply"]

log = logging.getLogger(__name__)

#: Sends one activity into the conversation; returns the id Teams gave it.
SendFn = Callable[[Activity], Awaitable[str | None]]
Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[Any]]

_WINDOW = 1.0
#: Forget idle conversations once this many are remembered.
_SWEEP_AT = 512


@dataclass
class _Lane:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    #: When each recent send into the conversation finished.
    finished: deque[float] = field(default_factory=deque)
    users: int = 0


class ConversationGate:
    """At most ``per_second`` sends land in one conversation in any one-second window.

    Sends into a conversation run one at a time, and one starts only while fewer than
    ``per_second`` earlier sends finished within the last second. A request arrives
    between its start and its finish, so no second ever sees more than ``per_second``
    arrivals, however long the requests take. Different conversations never wait for
    each other.
    """

    def __init__(
        self, *, per_second: int, clock: Clock = time.monotonic, sleep: Sleep = asyncio.sleep
    ) -> None:
        if per_second < 1:
            raise ValueError("per_second must be at least 1")
        self._limit = per_second
        self._clock = clock
        self._sleep = sleep
        self._lanes: dict[str, _Lane] = {}

    @contextlib.asynccontextmanager
    async def slot(self, conversation: str) -> AsyncIterator[None]:
        """Hold the conversation's turn for one send."""
        if len(self._lanes) >= _SWEEP_AT:
            self._sweep()
        lane = self._lanes.setdefault(conversation, _Lane())
        lane.users += 1
        try:
            async with lane.lock:
                while True:
                    now = self._clock()
                    while lane.finished and lane.finished[0] + _WINDOW <= now:
                        lane.finished.popleft()
                    if len(lane.finished) < self._limit:
                        break
                    await self._sleep(lane.finished[0] + _WINDOW - now)
                    # Slept until the oldest send left the window (and no other send
                    # into this conversation can have happened meanwhile).
                    lane.finished.popleft()
                try:
                    yield
                finally:
                    lane.finished.append(self._clock())
        finally:
            lane.users -= 1
            idle = not lane.finished or lane.finished[-1] <= self._clock() - _WINDOW
            if lane.users == 0 and idle:
                del self._lanes[conversation]

    def _sweep(self) -> None:
        horizon = self._clock() - _WINDOW
        for key, lane in list(self._lanes.items()):
            if lane.users == 0 and (not lane.finished or lane.finished[-1] <= horizon):
                del self._lanes[key]

    def __len__(self) -> int:
        """Conversations with recent or pending sends (the rest are forgotten)."""
        return len(self._lanes)


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
