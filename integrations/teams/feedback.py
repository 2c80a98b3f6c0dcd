"""Teams' native feedback loop: 👍/👎 (and the optional text) on an answer.

Teams sends an ``invoke`` named ``message/submitAction`` whose value is
``{"actionName": "feedback", "actionValue": {"reaction": "like"|"dislike",
"feedback": "<a JSON string: {\\"feedbackText\\": …}>"}}``; ``replyToId`` is the rated
bot message. The invoke must be answered 200 with ``{}`` whatever happens, so nothing
here raises: what cannot be recorded is logged and dropped.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from agent.answers import Rating
from agent.errors import UnknownAnswerError
from integrations.serving import ServerRuntime
from integrations.teams.tenancy import (
    PLATFORM,
    delivery_key,
    message_ref,
    resolve_tenant,
    user_of,
)

__all__ = [
    "FEEDBACK_ACTION",
    "FEEDBACK_INVOKE",
    "BadFeedbackError",
    "FeedbackAction",
    "FeedbackRecorder",
    "parse_feedback",
]

log = logging.getLogger(__name__)

FEEDBACK_INVOKE = "message/submitAction"
FEEDBACK_ACTION = "feedback"
_RATINGS: dict[str, Rating] = {"like": "up", "dislike": "down"}


class BadFeedbackError(ValueError):
    """A submitAction value that is not a feedback askloop can record."""


@dataclass(frozen=True, slots=True)
class FeedbackAction:
    rating: Rating
    #: What the user typed in Teams' feedback form ("" when nothing).
    text: str


def parse_feedback(value: Any) -> FeedbackAction:
    """The typed feedback in a ``message/submitAction`` value; ``BadFeedbackError`` else."""
    if not isinstance(value, Mapping) or value.get("actionName") != FEEDBACK_ACTION:
        raise BadFeedbackError("not a feedback action")
    action = value.get("actionValue")
    if not isinstance(action, Mapping):
        raise BadFeedbackError("feedback without an actionValue")
    reaction = action.get("reaction")
    rating = _RATINGS.get(reaction) if isinstance(reaction, str) else None
    if rating is None:
        raise BadFeedbackError(f"unknown reaction {reaction!r}")
    raw = action.get("feedback")
    if raw is None or raw == "":
        return FeedbackAction(rating, "")
    form = raw
    if isinstance(raw, str):
        try:
            form = json.loads(raw)
        except ValueError:
            raise BadFeedbackError("the feedback is not JSON") from None
    text = form.get("feedbackText", "") if isinstance(form, Mapping) else None
    if not isinstance(text, str):
        raise BadFeedbackError("the feedback has no feedbackText string")
    return FeedbackAction(rating, text.strip())


class FeedbackRecorder:
    """Records a feedback invoke through ``Assistant.rate``; never raises."""

    def __init__(self, runtime: ServerRuntime) -> None:
        self._runtime = runtime

    async def record(self, activity: Any) -> None:
        try:
            outcome = await self._record(activity)
        except Exception:
            outcome = "feedback_failed"
            log.exception("teams: recording a feedback invoke failed")
        self._runtime.metrics.requests.labels(PLATFORM, outcome).inc()

    async def _record(self, activity: Any) -> str:
        try:
            action = parse_feedback(activity.value)
        except BadFeedbackError as exc:
            log.warning("teams: feedback invoke ignored: %s", exc)
            return "feedback_invalid"
        decision = resolve_tenant(activity.channel_data, self._runtime.settings)
        if decision.tenant is None:
            log.warning("teams: feedback from unmapped tenant %r ignored", decision.platform_tenant)
            return "refused"
        conversation = getattr(activity.conversation, "id", None) or ""
        if not conversation or not activity.reply_to_id:
            log.warning("teams: feedback invoke without a conversation or replyToId ignored")
            return "feedback_invalid"
        assistant = self._runtime.assistant
        if activity.id and not await assistant.claim_delivery(
            delivery_key(conversation, activity.id)
        ):
            self._runtime.metrics.duplicates.labels(PLATFORM).inc()
            return "duplicate"
        answer_id = await assistant.answer_for_message(
            platform=PLATFORM, message_ref=message_ref(conversation, activity.reply_to_id)
        )
        if answer_id is None:
            log.warning(
                "teams: feedback on message %s, which carries no answer", activity.reply_to_id
            )
            return "feedback_unknown"
        try:
            await assistant.rate(
                answer_id=answer_id, rating=action.rating, user=user_of(activity),
                source="invoke", platform=PLATFORM, reason=action.text, tenant=decision.tenant,
            )  # fmt: skip
        except UnknownAnswerError as exc:
            log.warning("teams: feedback not recorded: %s", exc)
            return "feedback_unknown"
        return "feedback"
