"""What travels through Slack and comes back: constant ids and typed, validated values.

Slack hands button values and modal metadata back to us verbatim inside signed
payloads, but a value is still input: it is parsed strictly, and the answer id it
names is checked against the log (and the asker's tenant) before anything is recorded.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError

__all__ = [
    "FEEDBACK_ACTION",
    "FEEDBACK_MODAL",
    "CORRECTION_BLOCK",
    "CORRECTION_INPUT",
    "REASON_BLOCK",
    "REASON_INPUT",
    "FeedbackValue",
    "ModalState",
    "TamperedValueError",
    "feedback_click",
    "slack_time",
]

#: action_id of the feedback_buttons element on every answer.
FEEDBACK_ACTION = "askloop_feedback"
#: callback_id of the "what was wrong?" modal opened by a 👎.
FEEDBACK_MODAL = "askloop_feedback_modal"
REASON_BLOCK, REASON_INPUT = "reason", "reason_input"
CORRECTION_BLOCK, CORRECTION_INPUT = "correction", "correction_input"

_ANSWER_ID = r"^[A-Za-z0-9_-]{1,64}$"
_SLACK_ID = r"^[A-Z0-9]{1,32}$"
_TS = r"^\d{1,12}\.\d{1,8}$"


class TamperedValueError(ValueError):
    """A value that came back from Slack is not one askloop produced."""


class _Value(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    def encode(self) -> str:
        return self.model_dump_json()

    @classmethod
    def decode(cls, raw: object) -> Self:
        if not isinstance(raw, str) or len(raw) > 2000:
            raise TamperedValueError(f"not a {cls.__name__}")
        try:
            return cls.model_validate_json(raw)
        except ValidationError as exc:
            raise TamperedValueError(f"not a {cls.__name__}: {exc.error_count()} errors") from None


class FeedbackValue(_Value):
    """The value of a feedback button: which answer, which way."""

    v: Literal[1] = 1
    answer_id: str = Field(pattern=_ANSWER_ID)
    rating: Literal["up", "down"]


class ModalState(_Value):
    """``private_metadata`` of the feedback modal: where and when the 👎 was clicked."""

    v: Literal[1] = 1
    answer_id: str = Field(pattern=_ANSWER_ID)
    channel: str = Field(pattern=_SLACK_ID)
    thread_ts: str | None = Field(default=None, pattern=_TS)
    #: The click's ``action_ts``: the form's rating is the click's, at the click's time
    #: (None in modals opened before askloop carried it).
    clicked_ts: str | None = Field(default=None, pattern=_TS)


def feedback_click(payload: Any) -> dict[str, Any] | None:
    """The interaction payload (``shape.shape(...).payload``) if it is one click on
    askloop's feedback buttons (``block_actions`` with that one action), else None."""
    if not isinstance(payload, dict) or payload.get("type") != "block_actions":
        return None
    actions = payload.get("actions")
    if not isinstance(actions, list) or len(actions) != 1:
        return None
    action = actions[0]
    if not isinstance(action, dict) or action.get("action_id") != FEEDBACK_ACTION:
        return None
    return payload


def slack_time(ts: object) -> datetime | None:
    """The moment a Slack timestamp (``"1700000000.123456"``: ``action_ts``,
    ``event_ts``) names, exact to the microsecond; None unless it is one."""
    if not isinstance(ts, str) or not re.match(_TS, ts):
        return None
    seconds, _, fraction = ts.partition(".")
    micros = int((fraction + "000000")[:6])
    try:
        return datetime.fromtimestamp(int(seconds), UTC).replace(microsecond=micros)
    except (ValueError, OverflowError, OSError):  # past year 9999
        return None
