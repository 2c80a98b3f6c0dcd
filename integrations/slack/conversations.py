"""Questions → answers: mentions, direct messages, thread follow-ups, deletions.

Listeners run on the ack path: they parse the event, hand the work to
``runtime.spawn`` and return, so Slack is acknowledged before any retrieval or model
work. The spawned work claims the delivery (``event_id``, then ``channel:ts``) in the
log database, so a retry, a second replica, or the same message arriving both as
``app_mention`` and as ``message`` is answered once.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Literal

from slack_bolt.kwargs_injection.async_args import AsyncArgs

from askloop.agent.answers import MessageRole, Turn
from askloop.agent.deliveries import PendingDelivery
from askloop.agent.errors import AskloopError, InvalidInputError
from askloop.config.settings import SlackSettings
from askloop.integrations.server.leases import RESTART_APOLOGY, Apology, Lease
from askloop.integrations.server.runtime import ServerRuntime
from askloop.integrations.slack.background import start
from askloop.integrations.slack.dedup import Deliveries, event_key
from askloop.integrations.slack.inbound import (
    Question,
    envelope_of,
    question_from,
    thread_marker,
)
from askloop.integrations.slack.mrkdwn import question_text
from askloop.integrations.slack.render import notice
from askloop.integrations.slack.reply import ReplyWriter
from askloop.integrations.slack.rules import Decision, Refusal, Rules
from askloop.integrations.slack.webapi import Identity, SlackApi, SlackCallError

__all__ = ["APOLOGY", "EMPTY_QUESTION", "Conversations"]

log = logging.getLogger(__name__)

APOLOGY = "Sorry, I couldn't answer that just now. Please try again in a moment."
EMPTY_QUESTION = "Ask me a question after the mention, e.g. “how many days of leave do I get?”"
_TITLE_CHARS = 80


class Conversations:
    """The listeners for questions and the work that answers them."""

    def __init__(
        self,
        runtime: ServerRuntime,
        api: SlackApi,
        rules: Rules,
        settings: SlackSettings,
        deliveries: Deliveries,
    ) -> None:
        self._runtime = runtime
        self._deliveries = deliveries
        self._assistant = runtime.assistant
        self._metrics = runtime.metrics
        self._api = api
        self._rules = rules
        self._settings = settings

    # -- listeners (ack path) ---------------------------------------------------------

    async def on_mention(self, args: AsyncArgs) -> None:
        await args.ack()
        self._hand_off("mention", args)

    async def on_message(self, args: AsyncArgs) -> None:
        await args.ack()
        event = args.body.get("event") or {}
        if event.get("subtype") == "message_deleted":
            if self._refused(args.context, "a deletion"):
                return
            start(self._runtime, self._deleted(event), name="slack-message-deleted")
        else:
            self._hand_off("message", args)

    async def on_thread_started(self, args: AsyncArgs) -> None:
        await args.ack()
        if self._refused(args.context, "an assistant thread"):
            return
        start(self._runtime, self._thread_started(args.body), name="slack-thread-started")

    def _refused(self, context: Mapping[str, Any], what: str) -> bool:
        """Is the event's workspace refused by [tenants]? (One log line if so.)"""
        workspace = envelope_of(context).platform_tenant
        if self._rules.tenant(workspace) is not None:
            return False
        log.warning("Slack: ignored %s from workspace %s: not in [tenants]", what, workspace)
        return True

    def _hand_off(self, via: Literal["mention", "message"], args: AsyncArgs) -> None:
        envelope = envelope_of(args.context, args.request.headers, args.body)
        question = question_from(via, args.body, envelope)
        if question is not None:
            start(self._runtime, self.handle(question), name=f"slack-{via}-{question.ref}")

    # -- after the ack ----------------------------------------------------------------

    def _from_a_bot(self, q: Question, me: Identity) -> bool:
        if (q.user and q.user == me.user_id) or (q.bot_id and q.bot_id == me.bot_id):
            return True  # our own message
        if q.bot_id:
            # Another app's message; unknown identity: it may be ours, so never answer it.
            return self._settings.ignore_bots or me.bot_id is None
        return False

    async def handle(self, q: Question) -> None:
        """Answer ``q`` unless it was handled already or is not for askloop."""
        try:
            found = await self._decide(q)
            if found is None:
                return
            # Only now, for a question askloop would answer, the claim (a database write).
            # The message, not the event: a retry and the same message arriving both as
            # app_mention and as message share it.
            try:
                lease = await self._deliveries.lease(
                    f"slack:message:{q.ref}", job=q.job(), apology=self._apology(q)
                )
            except Exception as exc:
                await self._unavailable(q, exc)
                return
            if lease is None:
                return
            if q.envelope.retry_num:
                # Slack retries only what it thinks went unanswered: worth knowing.
                log.info(
                    "Slack: retry %d of %s is the first to reach askloop",
                    q.envelope.retry_num,
                    q.event_id,
                )
            async with lease:
                await self._respond(q, *found, lease)
        except Exception:
            log.exception("Slack: handling message %s failed", q.ref)

    async def resume(self, pending: PendingDelivery, lease: Lease, *, give_up: bool) -> None:
        """Answer a question whose server died before it could (``server.leases``)."""
        try:
            q = Question.from_job(pending.job)
        except ValueError as exc:
            log.error("Slack: cannot take %s over: %s", pending.key, exc)
            await lease.finish("apologised")  # nothing anyone can do with it
            return
        lease.apology = self._apology(q)
        try:
            if give_up:
                await self._apology(q, APOLOGY)()
                await lease.finish("apologised")
                return
            found = await self._decide(q)
            if found is None:  # no longer askloop's to answer
                await lease.finish()
                return
            await self._respond(q, *found, lease)
        except Exception:
            log.exception("Slack: answering taken-over message %s failed", q.ref)

    async def _unavailable(self, q: Question, exc: Exception) -> None:
        """The question cannot be claimed (the log database is down), so it cannot be
        answered either (its answer could not be logged, nor rated): the user hears so."""
        log.error("Slack: cannot take message %s: %s; apologising in its thread", q.ref, exc)
        self._metrics.answer_failures.labels("slack", "log_unavailable").inc()
        try:
            await self._apology(q, APOLOGY)()
        except SlackCallError:
            pass  # logged by SlackApi

    def _apology(self, q: Question, text: str = RESTART_APOLOGY) -> Apology:
        """Says ``text`` in the question's thread (before a reply writer exists)."""

        async def apologise() -> None:
            await self._api.post(q.channel, notice(text), thread_ts=q.reply_thread)

        return apologise

    async def _decide(self, q: Question) -> tuple[Identity, Decision] | None:
        """Who askloop is and how to answer ``q``; None when askloop does not answer it."""
        me = await self._api.identity()
        if me.user_id is None and q.envelope.bot_user_id:
            me = Identity(user_id=q.envelope.bot_user_id, bot_id=me.bot_id)
        if self._from_a_bot(q, me):
            return None
        mentioned = q.via == "mention" or bool(me.user_id and f"<@{me.user_id}" in q.text)
        if q.follow_up and mentioned:
            return None  # the app_mention event of the same message answers it
        decision = self._rules.decide(
            channel=q.channel,
            direct=q.direct,
            user=q.user,
            mentioned=mentioned,
            platform_tenant=q.envelope.platform_tenant,
        )
        if isinstance(decision, Refusal):
            if decision.reason == "tenant_unmapped" and not q.follow_up:
                log.warning(
                    "Slack: refused a question from workspace %s: not in [tenants]",
                    q.envelope.platform_tenant,
                )
            elif not q.follow_up:
                log.info("Slack: not answering %s in %s (%s)", q.user, q.channel, decision.reason)
            return None
        if q.follow_up and not await self._in_thread(q.channel, q.thread_ts or ""):
            return None
        if self._api.disabled:
            log.warning(
                "Slack: ignoring a question in %s: posting is off (%s)",
                q.channel,
                self._api.disabled,
            )
            return None
        return me, decision

    async def _respond(self, q: Question, me: Identity, decision: Decision, lease: Lease) -> None:
        text = question_text(q.text, bot_user_ids={me.user_id, q.envelope.bot_user_id})
        turn = Turn(
            question=text,
            tenant=decision.tenant,
            platform="slack",
            conversation_id=q.conversation_id,
            user=q.user,
            channel_id=q.channel,
            team_id=q.envelope.team_id,
            allow_finetuned=decision.allow_finetuned,
        )
        await self._answer(q, turn, lease)

    async def _in_thread(self, channel: str, thread_ts: str) -> bool:
        """Has askloop answered in this thread (on any replica)?"""
        try:
            ref = thread_marker(channel, thread_ts)
            return (
                await self._assistant.answer_for_message(platform="slack", message_ref=ref)
                is not None
            )
        except Exception as exc:
            log.warning(
                "Slack: cannot tell whether askloop is in thread %s:%s (%s)",
                channel,
                thread_ts,
                exc,
            )
            return False

    async def _answer(self, q: Question, turn: Turn, lease: Lease) -> None:
        writer = ReplyWriter(
            self._api,
            channel=q.channel,
            thread_ts=q.reply_thread,
            draft_after=self._settings.draft_after_seconds,
            streaming=self._settings.streaming,
            recipient_user=q.user,
            recipient_team=q.envelope.team_id,
        )
        # At shutdown the apology replaces a draft or a stream this writer started.
        lease.apology = lambda: writer.say(RESTART_APOLOGY)
        if not turn.question:
            await self._say(writer, EMPTY_QUESTION, reason="empty_question", lease=lease)
            return
        if q.direct and q.thread_ts:
            await self._title(q.channel, q.thread_ts, turn.question)
        await writer.thinking()
        if self._api.disabled:  # the token just failed: an answer could not be posted
            return
        try:
            record = await self._assistant.answer(turn, on_progress=writer.progress)
        except InvalidInputError:
            await self._say(writer, EMPTY_QUESTION, reason="empty_question", lease=lease)
            return
        except AskloopError as exc:
            log.warning("Slack: answering %s failed: %s", q.ref, exc)
            await self._say(writer, APOLOGY, reason="answer_failed", lease=lease)
            return
        except Exception:
            log.exception("Slack: answering %s failed unexpectedly", q.ref)
            await self._say(writer, APOLOGY, reason="answer_failed", lease=lease)
            return
        if not await lease.held():  # another server took the question over: its answer
            return
        try:
            posted = await writer.finish(record)
        except SlackCallError as err:
            self._metrics.answer_failures.labels("slack", f"slack_{err.error}").inc()
            posted = list(writer.posted)
        else:
            if record.error:
                self._metrics.answer_failures.labels("slack", record.error).inc()
            else:
                self._metrics.answers.labels("slack", record.route).inc()
        if not posted:
            # Nobody saw it: the question's retry (once the lease runs out) answers it,
            # and this one is logged as the failure it was, never as training data.
            await self._assistant.mark_undelivered(record.answer_id)
            return
        await lease.finish()  # at once: a takeover from here on would answer twice
        await self._link(record.answer_id, q, posted)

    async def _say(self, writer: ReplyWriter, text: str, *, reason: str, lease: Lease) -> None:
        """askloop's own reply instead of an answer; the question is then done."""
        self._metrics.answer_failures.labels("slack", reason).inc()
        if not await lease.held():
            return
        try:
            await writer.say(text)
        except SlackCallError:
            return  # logged by SlackApi; tried again once the lease runs out
        await lease.finish("apologised" if text == APOLOGY else "answered")

    async def _title(self, channel: str, thread_ts: str, question: str) -> None:
        """Name an assistant thread after its first question (once, on any replica)."""
        if not await self._deliveries.claim(f"slack:title:{channel}:{thread_ts}"):
            return
        title = question if len(question) <= _TITLE_CHARS else question[: _TITLE_CHARS - 1] + "…"
        await self._api.set_title(channel, thread_ts, title)

    async def _link(self, answer_id: str, q: Question, posted: list[str]) -> None:
        """Remember which messages carry and asked the answer (reactions, deletions,
        thread follow-ups find it through them)."""
        links: list[tuple[str, MessageRole]] = [
            (f"{q.channel}:{ts}", "answer") for ts in posted if ts
        ]
        links.append((q.ref, "question"))
        if posted and not q.direct and q.reply_thread:
            links.append((thread_marker(q.channel, q.reply_thread), "thread"))
        for ref, role in links:
            try:
                await self._assistant.link_message(
                    answer_id=answer_id, platform="slack", message_ref=ref, role=role
                )
            except Exception as exc:
                log.warning("Slack: could not link %s to answer %s (%s)", ref, answer_id, exc)

    async def _deleted(self, event: Mapping[str, Any]) -> None:
        """A deleted answer (or its question) withdraws the answer."""
        previous = event.get("previous_message") or {}
        ts = event.get("deleted_ts") or previous.get("ts")
        channel = event.get("channel")
        if not channel or not ts:
            return
        try:
            answer_id = await self._assistant.withdraw_message(
                platform="slack", message_ref=f"{channel}:{ts}"
            )
        except Exception as exc:
            log.warning("Slack: could not withdraw the answer of %s:%s (%s)", channel, ts, exc)
            return
        if answer_id:
            log.info(
                "Slack: answer %s withdrawn, message %s:%s was deleted", answer_id, channel, ts
            )

    async def _thread_started(self, body: Mapping[str, Any]) -> None:
        """A user opened an assistant thread: offer the suggested prompts."""
        thread = (body.get("event") or {}).get("assistant_thread") or {}
        channel, thread_ts = thread.get("channel_id"), thread.get("thread_ts")
        prompts = self._settings.suggested_prompts
        if not channel or not thread_ts or not prompts:
            return
        event_id = body.get("event_id") or f"{channel}:{thread_ts}"
        if not await self._deliveries.first(event_key(event_id)):
            return
        if not self._settings.rule_for(channel, direct=True).enabled:
            return
        await self._api.set_suggested_prompts(channel, thread_ts, prompts, title="Try asking")
