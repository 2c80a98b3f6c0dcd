"""The Teams bot: what askloop does with each kind of activity.

Every handler returns quickly: answers, welcomes and refusals are handed to a
background job (``ServerRuntime.spawn``) that owns the turn's context from then on.
"""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Coroutine
from typing import Any

from botbuilder.core import ActivityHandler, InvokeResponse, TurnContext
from msrest.serialization import Model

from askloop.config.settings import TeamsSettings
from askloop.integrations.server.leases import Lease
from askloop.integrations.server.runtime import ServerRuntime
from askloop.integrations.teams.feedback import FEEDBACK_INVOKE, FeedbackRecorder
from askloop.integrations.teams.feedback_form import FETCH_TASK_INVOKE, FeedbackForm
from askloop.integrations.teams.rendering import text_activity, welcome_activity
from askloop.integrations.teams.replies import APOLOGY, Question, Replier
from askloop.integrations.teams.resume import job_of
from askloop.integrations.teams.tenancy import (
    PLATFORM,
    delivery_key,
    message_ref,
    resolve_tenant,
    user_of,
)

__all__ = ["AskloopBot"]

log = logging.getLogger(__name__)

REFUSAL = (
    "askloop is not set up for your organization yet. Ask your Teams administrator to connect it."
)
FEEDBACK_NOT_SAVED = (
    "Sorry, your feedback was not saved (askloop cannot reach its log). Please try again."
)
_AT_TAG = re.compile(r"</?at>", re.IGNORECASE)
_SPACES = re.compile(r"[ \t\u00a0]+")


def _channel_data_id(channel_data: Any, key: str) -> str:
    value = channel_data.get(key) if isinstance(channel_data, dict) else None
    found = value.get("id") if isinstance(value, dict) else None
    return found if isinstance(found, str) else ""


def _without_my_mention(activity: Any) -> tuple[bool, str]:
    """Whether the message @mentions askloop, and its text without that mention.

    Other people's mentions keep their names (without the ``<at>`` tags).
    """
    text = activity.text or ""
    me = getattr(activity.recipient, "id", None)
    mentioned = False
    for entity in activity.entities or []:
        if (entity.type or "").lower() != "mention":
            continue
        extra = entity.additional_properties or {}
        who = extra.get("mentioned")
        if isinstance(who, dict) and me and who.get("id") == me:
            mentioned = True
            tag = extra.get("text")
            if isinstance(tag, str) and tag:
                text = text.replace(tag, " ")
    return mentioned, _SPACES.sub(" ", html.unescape(_AT_TAG.sub("", text))).strip()


class AskloopBot(ActivityHandler):
    """Messages are answered, conversation installs greeted, feedback invokes recorded
    (askloop's feedback form served), deleted messages withdraw their answer."""

    def __init__(
        self,
        runtime: ServerRuntime,
        replier: Replier,
        feedback: FeedbackRecorder,
        form: FeedbackForm,
    ) -> None:
        self._runtime = runtime
        self._settings: TeamsSettings = runtime.settings.teams
        self._replier = replier
        self._feedback = feedback
        self._form = form

    def _hand_off(self, ctx: TurnContext, work: Coroutine[Any, Any, None], name: str) -> None:
        """Run ``work`` after the HTTP response. CloudAdapter disposes of nothing when
        the turn returns, so ``work`` may keep using ``ctx`` (its connector is shared)."""
        self._runtime.spawn(work, name=name)

    def _count(self, outcome: str) -> None:
        self._runtime.metrics.requests.labels(PLATFORM, outcome).inc()

    async def _first_delivery(self, activity: Any) -> bool:
        """Claim the activity; False (and counted) when it was delivered before."""
        if not activity.id or not activity.conversation:
            return True
        key = delivery_key(activity.conversation.id, activity.id)
        if await self._runtime.assistant.claim_delivery(key):
            return True
        log.info("teams: activity %s delivered again, skipped", activity.id)
        self._runtime.metrics.duplicates.labels(PLATFORM).inc()
        self._count("duplicate")
        return False

    async def on_message_activity(self, turn_context: TurnContext) -> None:
        activity = turn_context.activity
        conversation = activity.conversation
        kind = getattr(conversation, "conversation_type", None) or "personal"
        mentioned, text = _without_my_mention(activity)
        if kind == "channel" and self._settings.mention_required_in_channels and not mentioned:
            self._count("ignored")
            return
        # Before the delivery claim: nothing of a refused tenant is written to the log.
        decision = resolve_tenant(activity.channel_data, self._runtime.settings)
        if decision.tenant is None:
            log.warning("teams: message from unmapped tenant %r refused", decision.platform_tenant)
            self._count("refused")
            refusal = self._replier.say(turn_context, text_activity(REFUSAL))
            self._hand_off(turn_context, refusal, "teams-refuse")
            return
        question = Question(
            text=text,
            tenant=decision.tenant,
            conversation_id=conversation.id,
            activity_id=activity.id or "",
            user=user_of(activity),
            channel_id=_channel_data_id(activity.channel_data, "channel"),
            team_id=_channel_data_id(activity.channel_data, "team"),
            stream=kind == "personal" and self._settings.streaming,
        )
        lease: Lease | None = None
        try:
            if not text or not activity.id:
                taken = await self._first_delivery(activity)
            else:  # a question: claimed with a lease (server.leases)
                lease = await self._claim(turn_context, question)
                taken = lease is not None
        except Exception as exc:
            # The log database is down: no answer could be logged or rated; say so.
            log.error("teams: cannot take activity %s: %s; apologising", activity.id, exc)
            self._count("unavailable")
            self._runtime.metrics.answer_failures.labels(PLATFORM, "log_unavailable").inc()
            apology = self._replier.say(turn_context, text_activity(APOLOGY))
            self._hand_off(turn_context, apology, "teams-apology")
            return
        if not taken:
            return
        if not text:
            self._count("ignored")
            hint = welcome_activity(
                self._settings.suggested_prompts,
                personal=kind == "personal",
                mention=kind != "personal",
            )
            self._hand_off(turn_context, self._replier.say(turn_context, hint), "teams-hint")
            return
        self._count("accepted")
        self._hand_off(
            turn_context,
            self._replier.answer_leased(turn_context, question, lease),
            f"teams-answer-{activity.id}",
        )

    async def _claim(self, turn_context: TurnContext, question: Question) -> Lease | None:
        """Claim the question with a lease (``server.leases``); None (and counted) when it
        was delivered before. Raises what the log raises."""
        key = delivery_key(question.conversation_id, question.activity_id)
        lease = await self._runtime.leases.claim(
            key, platform=PLATFORM, job=job_of(question, turn_context.activity)
        )
        if lease is None:
            log.info("teams: activity %s delivered again, skipped", question.activity_id)
            self._runtime.metrics.duplicates.labels(PLATFORM).inc()
            self._count("duplicate")
        return lease

    async def on_conversation_update_activity(self, turn_context: TurnContext) -> None:
        activity = turn_context.activity
        added = activity.members_added or []
        kind = getattr(activity.conversation, "conversation_type", None) or "personal"
        bot_added = any(m.id == activity.recipient.id for m in added)
        # Greet once when askloop is installed, not every person who joins a team.
        if not added or not (bot_added or kind == "personal"):
            return
        if resolve_tenant(activity.channel_data, self._runtime.settings).tenant is None:
            self._count("refused")
            return
        try:
            first = await self._first_delivery(activity)
        except Exception as exc:
            # A welcome is not logged: twice (should Teams send it again) beats never.
            log.warning(
                "teams: cannot check activity %s for a duplicate (%s); "
                "welcoming without the duplicate check",
                activity.id,
                exc,
            )
            first = True
        if not first:
            return
        self._count("welcome")
        welcome = welcome_activity(
            self._settings.suggested_prompts,
            personal=kind == "personal",
            mention=kind != "personal",
        )
        self._hand_off(turn_context, self._replier.say(turn_context, welcome), "teams-welcome")

    async def on_message_delete_activity(self, turn_context: TurnContext) -> None:
        activity = turn_context.activity
        if not activity.id or not activity.conversation:
            return
        decision = resolve_tenant(activity.channel_data, self._runtime.settings)
        if decision.tenant is None:
            log.warning("teams: delete from unmapped tenant %r ignored", decision.platform_tenant)
            self._count("refused")
            return
        answer_id = await self._runtime.assistant.withdraw_message(
            platform=PLATFORM, message_ref=message_ref(activity.conversation.id, activity.id)
        )
        if answer_id:
            log.info("teams: message %s deleted, answer %s withdrawn", activity.id, answer_id)
        self._count("deleted")

    async def on_invoke_activity(self, turn_context: TurnContext) -> InvokeResponse:
        activity = turn_context.activity
        if activity.name == FEEDBACK_INVOKE:
            if await self._feedback.record(activity) == "feedback_unsaved":
                sorry = self._replier.say(turn_context, text_activity(FEEDBACK_NOT_SAVED))
                self._hand_off(turn_context, sorry, "teams-feedback-not-saved")
            # Teams wants exactly {}; an empty msrest Model serialises to that.
            return InvokeResponse(status=200, body=Model())
        if activity.name == FETCH_TASK_INVOKE:
            # Served whatever feedback_form says now: answers sent before a switch to
            # "default" still open askloop's form.
            return InvokeResponse(status=200, body=await self._form.fetch(activity))
        return await super().on_invoke_activity(turn_context)
