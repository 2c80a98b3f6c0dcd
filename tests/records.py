"""Answers as the log holds them, for tests and benches: one minimal record, and the
record as the log reports it with its ratings. Tests name only the fields they assert on."""

from __future__ import annotations

from typing import Any

from askloop.agent.answers import AnswerRecord, LoggedAnswer, Rating


def answer_record(**fields: Any) -> AnswerRecord:
    """A knowledge-base answer of tenant ``acme`` on Slack; ``fields`` override any field."""
    base: dict[str, Any] = {
        "answer_id": "a1",
        "tenant": "acme",
        "platform": "slack",
        "question": "q",
        "answer": "a",
        "route": "retrieve",
        "model": "m",
    }
    return AnswerRecord(**(base | fields))


def logged_answer(
    record: AnswerRecord | None = None,
    *,
    rating: Rating | None = "up",
    correction: str = "",
    **fields: Any,
) -> LoggedAnswer:
    """``record`` (default :func:`answer_record`) as the log reports it with one user's
    ``rating``; ``fields`` set the other :class:`LoggedAnswer` fields."""
    base: dict[str, Any] = {
        "ups": int(rating == "up"),
        "downs": int(rating == "down"),
        "reason": "",
        "withdrawn": False,
    }
    return LoggedAnswer(
        record=record or answer_record(),
        rating=rating,
        correction=correction,
        **(base | fields),
    )
