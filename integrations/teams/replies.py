"""Answering after the acknowledgement: typing, streaming, the final message, links.

Runs in ``ServerRuntime.spawn`` with the turn's ``TurnContext``, which CloudAdapter
does not dispose of when the turn returns: through it every reply goes out as a reply to
the question (``replyToId``), on the Connector client shared by all turns.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass

from botbuilder.core import TurnContext
from botbuilder.schema import Activity

from askloop.agent.answers import AnswerRecord, MessageRole, Progress, Turn
from askloop.agent.errors import AskloopError, InvalidInputError
from askloop.config.settings import TeamsSettings
from askloop.integrations.pacing import Clock, KeyedPacer, Sleep
from askloop.integrations.server.leases import RESTART_APOLOGY, Lease
from askloop.integrations.server.runtime import ServerRuntime
from askloop.integrations.teams.rendering import answer_activity, text_activity, typing_activity
from askloop.integrations.teams.streaming import SendFn, StreamingReply
from askloop.integrations.teams.tenancy import PLATFORM, base_conversation_id, message_ref

__all__ = ["APOLOGY", "Question", "Replier"]

log = logging.getLogger(__name__)

#: Teams shows a typing indicator for a few seconds; renew it this often.
TYPING_EVERY_SECONDS = 3.0
APOLOGY = "Sorry, I couldn't answer that just now. Please try again in a moment."


@dataclass(frozen=True, slots=True)
class Question:
    """A Teams message askloop will answer, already stripped of its @mention."""

    text: str
    tenant: str
    #: The conversation as Teams names it (a channel thread keeps its ;messageid=).
    conversation_id: str
    #: The question message's id (the replies' replyToId).
    activity_id: str
    user: str
    channel_id: str = ""
    team_id: str = ""
    #: Stream the answer (1:1 chat, streaming on).
    stream: bool = False

    def turn(self) -> Turn:
        return Turn(
            question=self.text,
            tenant=self.tenant,
            platform=PLATFORM,
            conversation_id=self.conversation_id,
            user=self.user,
            channel_id=self.channel_id,
            team_id=self.team_id,
        )


class Replier:
    """Sends what askloop says into Teams conversations, paced per conversation."""

    def __init__(
        self,
        runtime: ServerRuntime,
        settings: TeamsSettings,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._runtime = runtime
        self._settings = settings
        self._clock = clock
        self._sleep = sleep
        self._pacer = KeyedPacer(
            limit=settings.max_sends_per_second, window=1.0, clock=clock, sleep=sleep
        )
        #: 1:1 chats with a stream open: Teams allows one at a time per chat.
        self._streaming: set[str] = set()

    def _sender(self, ctx: TurnContext) -> SendFn:
        conversation = base_conversation_id(ctx.activity.conversation.id)

        async def send(activity: Activity) -> str | None:
            async with self._pacer.slot(conversation):
                response = await ctx.send_activity(activity)
            return getattr(response, "id", None) or None

        return send

    async def say(self, ctx: TurnContext, activity: Activity) -> None:
        """Send one message (welcome, refusal, hint); failures are logged."""
        try:
            await self._sender(ctx)(activity)
        except Exception:
            log.exception("teams: sending a message failed")

    async def answer_leased(
        self, ctx: TurnContext, question: Question, lease: Lease | None
    ) -> None:
        """``answer`` inside its lease (``server.leases``), if it has one."""
        if lease is None:
            await self.answer(ctx, question)
            return
        async with lease:
            await self.answer(ctx, question, lease)

    async def answer(
        self, ctx: TurnContext, question: Question, lease: Lease | None = None
    ) -> None:
        """Show typing, answer (streaming in 1:1 chats), send the answer, link it; then
        the question's lease is finished."""
        send = self._sender(ctx)
        if lease is not None:
            lease.apology = lambda: send(text_activity(RESTART_APOLOGY))
        conversation = base_conversation_id(question.conversation_id)
        stream: StreamingReply | None = None
        if question.stream and conversation not in self._streaming:
            self._streaming.add(conversation)
            stream = StreamingReply(
                send,
                interval=self._settings.stream_interval_seconds,
                clock=self._clock,
                sleep=self._sleep,
            )
        typing: asyncio.Task[None] | None = None
        try:
            await self._send_typing(send)
            if stream is None:
                typing = asyncio.create_task(self._keep_typing(send), name="teams-typing")
            record, final = await self._generate(question, stream)
            if typing is not None:
                typing.cancel()
            await self._deliver(send, question, record, final, stream, lease)
        finally:
            if typing is not None:
                typing.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await typing
            if stream is not None:
                await stream.close()
                self._streaming.discard(conversation)

    async def _generate(
        self, question: Question, stream: StreamingReply | None
    ) -> tuple[AnswerRecord | None, Activity]:
        async def on_progress(event: Progress) -> None:
            if stream is None:
                return
            if event.kind == "status":
                stream.status(event.text)
            elif event.kind == "text":
                stream.text(event.text)

        metrics = self._runtime.metrics
        try:
            record = await self._runtime.assistant.answer(
                question.turn(), on_progress=on_progress if stream else None
            )
        except AskloopError as exc:
            log.warning("teams: no answer (%s): %s", type(exc).__name__, exc)
            metrics.answer_failures.labels(PLATFORM, type(exc).__name__).inc()
            # Bad input is the user's to fix; anything else is the operator's (its
            # message names settings the user cannot change): the user gets an apology.
            text = str(exc) if isinstance(exc, InvalidInputError) else APOLOGY
            return None, text_activity(text or APOLOGY)
        if record.error:
            metrics.answer_failures.labels(PLATFORM, record.error).inc()
        # Linked before sending: deleting the question mid-answer still withdraws it.
        await self._link(
            record.answer_id, question.conversation_id, question.activity_id, "question"
        )
        return record, answer_activity(record, feedback=self._settings.feedback_form)

    async def _deliver(
        self,
        send: SendFn,
        question: Question,
        record: AnswerRecord | None,
        final: Activity,
        stream: StreamingReply | None,
        lease: Lease | None,
    ) -> None:
        metrics = self._runtime.metrics
        if lease is not None and not await lease.held():
            return  # another server took the question over: its answer to send
        try:
            if stream is not None:
                sent = await stream.finish(final)
            else:
                sent_id = await send(final)
                sent = [sent_id] if sent_id else []
        except Exception:
            log.exception("teams: the answer to %s could not be sent", question.activity_id)
            metrics.answer_failures.labels(PLATFORM, "send_failed").inc()
            if record is not None:  # nobody saw it: logged as the failure it was
                await self._runtime.assistant.mark_undelivered(record.answer_id)
            return  # the question stays claimed: tried again once its lease runs out
        if lease is not None:  # at once: a takeover from here on would answer twice
            await lease.finish("answered" if record is not None else "apologised")
        if record is None:
            return
        for sent_id in sent:
            await self._link(record.answer_id, question.conversation_id, sent_id, "answer")
        if sent:
            metrics.answers.labels(PLATFORM, record.route).inc()

    async def _link(
        self, answer_id: str, conversation: str, activity_id: str, role: MessageRole
    ) -> None:
        try:
            await self._runtime.assistant.link_message(
                answer_id=answer_id,
                platform=PLATFORM,
                message_ref=message_ref(conversation, activity_id),
                role=role,
            )
        except Exception:
            log.exception("teams: linking message %s to answer %s failed", activity_id, answer_id)

    async def _send_typing(self, send: SendFn) -> None:
        try:
            await send(typing_activity())
        except Exception as exc:
            log.debug("teams: a typing indicator failed: %s", exc)

    async def _keep_typing(self, send: SendFn) -> None:
        while True:
            await self._sleep(TYPING_EVERY_SECONDS)
            await self._send_typing(send)
