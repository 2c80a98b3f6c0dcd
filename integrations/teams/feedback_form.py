"""askloop's own 👍/👎 form (``[teams] feedback_form = "custom"``).

An answer sent with ``channelData.feedbackLoop.type = "custom"`` makes Teams send an
``invoke`` named ``message/fetchTask`` when the user clicks 👍 or 👎 (value
``{"actionName": "feedback", "actionValue": {"reaction": "like"|"dislike"}}``,
``replyToId`` = the rated message). askloop answers with a dialog (a task module)
holding an Adaptive Card: what was good or wrong and, on a 👎, the correct answer. Teams
then delivers the filled-in card as an ordinary ``message/submitAction`` feedback
(:mod:`integrations.teams.feedback`).

Response shape: Teams' "Bot Messages with AI-generated Content" page (msteams-docs,
bots/how-to/bot-messages-ai-generated-content.md, "Add feedback buttons") says to answer
``message/fetchTask`` as one answers ``task/fetch``; "Use dialogs with bots"
(task-modules-and-cards/task-modules/task-modules-bots.md) gives that answer:
``{"task": {"type": "continue", "value": <TaskInfo: title, card = an Adaptive Card
attachment>}}`` with HTTP 200. A message askloop cannot rate gets the same kind of
dialog with a short explanation and nothing to submit, so Teams always gets a dialog it
can show; nothing here raises.
"""

from __future__ import annotations

import logging
from typing import Any

from botbuilder.schema import Attachment
from botbuilder.schema.teams import (
    TaskModuleContinueResponse,
    TaskModuleResponse,
    TaskModuleTaskInfo,
)

from askloop.agent.answers import Rating
from askloop.integrations.server.runtime import ServerRuntime
from askloop.integrations.teams.feedback import (
    CORRECTION_INPUT,
    CORRECTION_MAX,
    REASON_INPUT,
    REASON_MAX,
    BadFeedbackError,
    parse_rating,
)
from askloop.integrations.teams.tenancy import PLATFORM, message_ref, resolve_tenant

__all__ = ["FETCH_TASK_INVOKE", "FeedbackForm", "feedback_dialog", "notice_dialog"]

log = logging.getLogger(__name__)

FETCH_TASK_INVOKE = "message/fetchTask"
ADAPTIVE_CARD = "application/vnd.microsoft.card.adaptive"
#: Input.Text labels need 1.3; Teams renders up to 1.5 on desktop and mobile.
CARD_VERSION = "1.4"

_TITLES: dict[Rating, str] = {"up": "👍 Glad it helped", "down": "👎 Improve this answer"}
_NOTICE_TITLE = "Feedback"
CANNOT_RATE = (
    "askloop can't take feedback on this message: it isn't one of askloop's answers, "
    "or the answer is no longer available."
)
NOT_SET_UP = "askloop is not set up for your organization yet, so it can't take feedback."
SORRY = "Sorry, askloop can't take feedback right now. Please try again in a moment."


def _text_block(text: str) -> dict[str, Any]:
    return {"type": "TextBlock", "text": text, "wrap": True}


def _long_input(input_id: str, label: str, placeholder: str, max_length: int) -> dict[str, Any]:
    return {
        "type": "Input.Text",
        "id": input_id,
        "label": label,
        "placeholder": placeholder,
        "isMultiline": True,
        "maxLength": max_length,
    }


def _dialog(title: str, card: dict[str, Any]) -> TaskModuleResponse:
    card = {
        "type": "AdaptiveCard",
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "version": CARD_VERSION,
        **card,
    }
    info = TaskModuleTaskInfo(
        title=title, card=Attachment(content_type=ADAPTIVE_CARD, content=card)
    )
    return TaskModuleResponse(task=TaskModuleContinueResponse(value=info))


def feedback_dialog(rating: Rating) -> TaskModuleResponse:
    """The form for a 👍 (what was good) or a 👎 (what was wrong, the correct answer)."""
    if rating == "up":
        body = [
            _text_block("Thanks! Tell us what helped, if you like."),
            _long_input(REASON_INPUT, "What was good?", "Optional", REASON_MAX),
        ]
    else:
        body = [
            _text_block("Tell us what was wrong. If you know the correct answer, add it."),
            _long_input(REASON_INPUT, "What was wrong?", "Optional", REASON_MAX),
            _long_input(
                CORRECTION_INPUT,
                "The correct answer (used to train askloop)",
                "Optional",
                CORRECTION_MAX,
            ),
        ]
    actions = [{"type": "Action.Submit", "title": "Send"}]
    return _dialog(_TITLES[rating], {"body": body, "actions": actions})


def notice_dialog(text: str) -> TaskModuleResponse:
    """A dialog that only explains (nothing to submit)."""
    return _dialog(_NOTICE_TITLE, {"body": [_text_block(text)]})


class FeedbackForm:
    """Answers ``message/fetchTask`` with askloop's form; never raises."""

    def __init__(self, runtime: ServerRuntime) -> None:
        self._runtime = runtime

    async def fetch(self, activity: Any) -> TaskModuleResponse:
        try:
            outcome, dialog = await self._fetch(activity)
        except Exception:
            log.exception("teams: answering a feedback fetchTask failed")
            outcome, dialog = "feedback_failed", notice_dialog(SORRY)
        self._runtime.metrics.requests.labels(PLATFORM, outcome).inc()
        return dialog

    async def _fetch(self, activity: Any) -> tuple[str, TaskModuleResponse]:
        try:
            rating = parse_rating(activity.value)
        except BadFeedbackError as exc:
            log.warning("teams: feedback fetchTask refused: %s", exc)
            return "feedback_invalid", notice_dialog(CANNOT_RATE)
        decision = resolve_tenant(activity.channel_data, self._runtime.settings)
        if decision.tenant is None:
            log.warning("teams: feedback from unmapped tenant %r refused", decision.platform_tenant)
            return "refused", notice_dialog(NOT_SET_UP)
        conversation = getattr(activity.conversation, "id", None) or ""
        if not conversation or not activity.reply_to_id:
            log.warning("teams: feedback fetchTask without a conversation or replyToId")
            return "feedback_invalid", notice_dialog(CANNOT_RATE)
        assistant = self._runtime.assistant
        answer_id = await assistant.answer_for_message(
            platform=PLATFORM, message_ref=message_ref(conversation, activity.reply_to_id)
        )
        # Another tenant's answer is as unknown here as it is to ``rate``.
        if (
            answer_id is None
            or await assistant.get_answer(answer_id, tenant=decision.tenant) is None
        ):
            log.warning(
                "teams: feedback form for message %s, which carries no answer",
                activity.reply_to_id,
            )
            return "feedback_unknown", notice_dialog(CANNOT_RATE)
        return "feedback_form", feedback_dialog(rating)
