"""Teams' feedback loop: 👍/👎 on an answer, with what the user wrote in the form.

Teams sends an ``invoke`` named ``message/submitAction`` whose value is
``{"actionName": "feedback", "actionValue": {"reaction": "like"|"dislike",
"feedback": "<a JSON string of the form's values>"}}``; ``replyToId`` is the rated bot
message. The form is Teams' own (``{"feedbackText": …}``) or, with ``[teams]
feedback_form = "custom"``, askloop's (:mod:`integrations.teams.feedback_form`: the
inputs :data:`REASON_INPUT` and :data:`CORRECTION_INPUT`). The invoke must be answered
200 with ``{}`` whatever happens, so nothing here raises: what cannot be recorded is
logged and dropped.

The rating is committed before the invoke is answered, carrying the activity's own
``timestamp`` (the user's latest rating is the one Teams timed last). A redelivered
invoke is simply written again: same user, same time, same rating, so it changes
nothing (a delivery claim written first would drop the redelivery of a rating that
was never saved). When the log cannot be written the outcome says so
(``feedback_unsaved``) and the bot tells the user.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from askloop.agent.answers import CORRECTION_MAX_CHARS, REASON_MAX_CHARS, Rating
from askloop.agent.errors import LogUnavailableError, UnknownAnswerError
from askloop.integrations.server.runtime import ServerRuntime
from askloop.integrations.teams.tenancy import (
    PLATFORM,
    message_ref,
    resolve_tenant,
    user_of,
)

__all__ = [
    "CORRECTION_INPUT",
    "CORRECTION_MAX",
    "FEEDBACK_ACTION",
    "FEEDBACK_INVOKE",
    "REASON_INPUT",
    "REASON_MAX",
    "BadFeedbackError",
    "FeedbackAction",
    "FeedbackRecorder",
    "parse_feedback",
    "parse_rating",
    "rated_at",
]

log = logging.getLogger(__name__)

FEEDBACK_INVOKE = "message/submitAction"
FEEDBACK_ACTION = "feedback"
_RATINGS: dict[str, Rating] = {"like": "up", "dislike": "down"}

#: The one field of Teams' own form.
DEFAULT_TEXT = "feedbackText"
#: The input ids of askloop's form: what was wrong / good, and the correct answer.
REASON_INPUT = "reason"
CORRECTION_INPUT = "correction"
#: A longer reason is cut to what the log keeps. A correction trains askloop, so a
#: longer one is refused rather than cut (askloop's form never sends one: its input has
#: this maxLength).
REASON_MAX, CORRECTION_MAX = REASON_MAX_CHARS, CORRECTION_MAX_CHARS


class BadFeedbackError(ValueError):
    """A feedback invoke value that is not a feedback askloop can record."""


@dataclass(frozen=True, slots=True)
class FeedbackAction:
    rating: Rating
    #: What was wrong, or good ("" when nothing): Teams' comment box or askloop's form.
    reason: str
    #: The correct answer, from askloop's form on a 👎 ("" when none).
    correction: str = ""


def parse_rating(value: Any) -> Rating:
    """The rating a feedback invoke value carries (``message/fetchTask`` carries only
    that); ``BadFeedbackError`` else."""
    if not isinstance(value, Mapping) or value.get("actionName") != FEEDBACK_ACTION:
        raise BadFeedbackError("not a feedback action")
    action = value.get("actionValue")
    if not isinstance(action, Mapping):
        raise BadFeedbackError("feedback without an actionValue")
    reaction = action.get("reaction")
    rating = _RATINGS.get(reaction) if isinstance(reaction, str) else None
    if rating is None:
        raise BadFeedbackError(f"unknown reaction {reaction!r}")
    return rating


def _field(form: Mapping[str, Any], key: str) -> str:
    text = form.get(key, "")
    if not isinstance(text, str):
        raise BadFeedbackError(f"the feedback's {key} is not a string")
    return text.strip()


def parse_feedback(value: Any) -> FeedbackAction:
    """The typed feedback in a ``message/submitAction`` value; ``BadFeedbackError`` else.

    Teams' form gives the reason (``feedbackText``); askloop's gives the reason and, on
    a 👎, the correction. A form carrying fields of both is refused.
    """
    rating = parse_rating(value)
    raw = value["actionValue"].get("feedback")
    if raw is None or raw == "":
        return FeedbackAction(rating, "")
    form = raw
    if isinstance(raw, str):
        try:
            form = json.loads(raw)
        except (ValueError, RecursionError):
            raise BadFeedbackError("the feedback is not JSON") from None
    if not isinstance(form, Mapping):
        raise BadFeedbackError("the feedback is not a JSON object")
    if DEFAULT_TEXT in form:
        if REASON_INPUT in form or CORRECTION_INPUT in form:
            raise BadFeedbackError("the feedback mixes Teams' form and askloop's")
        return FeedbackAction(rating, _field(form, DEFAULT_TEXT)[:REASON_MAX])
    reason = _field(form, REASON_INPUT)[:REASON_MAX]
    correction = _field(form, CORRECTION_INPUT)
    if len(correction) > CORRECTION_MAX:
        raise BadFeedbackError(f"the correction is longer than {CORRECTION_MAX} characters")
    # askloop's form asks for a correction only on a 👎 (and the export reads it only there).
    return FeedbackAction(rating, reason, correction if rating == "down" else "")


class FeedbackRecorder:
    """Records a feedback invoke through ``Assistant.rate``; never raises."""

    def __init__(self, runtime: ServerRuntime) -> None:
        self._runtime = runtime

    async def record(self, activity: Any) -> str:
        """Record the invoke's rating; returns the outcome (a metrics label)."""
        try:
            outcome = await self._record(activity)
        except Exception:
            outcome = "feedback_failed"
            log.exception("teams: recording a feedback invoke failed")
        self._runtime.metrics.requests.labels(PLATFORM, outcome).inc()
        return outcome

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
        try:
            answer_id = await assistant.answer_for_message(
                platform=PLATFORM, message_ref=message_ref(conversation, activity.reply_to_id)
            )
        except LogUnavailableError as exc:
            log.error("teams: feedback not saved: %s", exc)
            return "feedback_unsaved"
        if answer_id is None:
            log.warning(
                "teams: feedback on message %s, which carries no answer", activity.reply_to_id
            )
            return "feedback_unknown"
        try:
            await assistant.rate(
                answer_id=answer_id,
                rating=action.rating,
                user=user_of(activity),
                source="invoke",
                platform=PLATFORM,
                reason=action.reason,
                correction=action.correction,
                tenant=decision.tenant,
                rated_at=rated_at(activity),
            )
        except UnknownAnswerError as exc:
            log.warning("teams: feedback not recorded: %s", exc)
            return "feedback_unknown"
        except LogUnavailableError as exc:
            log.error("teams: feedback not saved: %s", exc)
            return "feedback_unsaved"
        return "feedback"


def rated_at(activity: Any) -> datetime | None:
    """When the user rated: the activity's ``timestamp`` (UTC), set by Teams."""
    stamp = getattr(activity, "timestamp", None)
    if not isinstance(stamp, datetime):
        return None
    return stamp if stamp.tzinfo is not None else stamp.replace(tzinfo=UTC)
