"""Mapping log rows to records, and rating arithmetic (latest per user, majority)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

import orjson

from askloop.agent.answers import (
    AnswerRecord,
    Citation,
    LoggedAnswer,
    Rating,
    RetrievedChunk,
    TraceStep,
    Vote,
)

__all__ = ["JSON_COLUMNS", "FeedbackEvent", "answer_record", "logged_answer", "prompt_texts"]

JSON_COLUMNS = frozenset(
    {"queries", "citations", "retrieved", "trace", "prompt_versions", "history", "context"}
)


class FeedbackEvent(NamedTuple):
    """One row of ``feedback_events`` as the ratings arithmetic reads it."""

    id: int
    #: When the user rated, by the platform's clock (a datetime, or SQLite's ISO text).
    rated_at: Any
    user: str
    rating: str | None
    reason: str
    correction: str

    def order(self) -> tuple[datetime, int]:
        """Later ratings sort later: by the platform's time, then by row id (ties)."""
        return _from_ts(self.rated_at), self.id


def logged_answer(
    row: dict[str, Any], events: list[FeedbackEvent], review: tuple[str, str] | None = None
) -> LoggedAnswer:
    """The answer in ``row`` with its ratings: each user's latest event (by
    :meth:`FeedbackEvent.order`) counts, whatever order the events were written in;
    ``review`` is its latest gold answer and review action."""
    latest: dict[str, tuple[int, str | None]] = {}
    votes: dict[str, Vote] = {}
    reason = correction = ""
    for order, event in enumerate(sorted(events, key=FeedbackEvent.order)):
        latest[event.user] = (order, event.rating)
        votes.pop(event.user, None)
        if event.rating in ("up", "down"):
            rated: Rating = "up" if event.rating == "up" else "down"
            votes[event.user] = Vote(event.user, event.order(), rated)
        if event.rating is not None and (event.reason or event.correction):
            reason, correction = event.reason, event.correction
    current = [(order, r) for order, r in latest.values() if r is not None]
    ups = sum(1 for _, r in current if r == "up")
    downs = len(current) - ups
    # Majority of the users' latest ratings; a tie goes to the most recent of them.
    rating: Rating | None = None
    if ups != downs:
        rating = "up" if ups > downs else "down"
    elif current:
        rating = "up" if max(current)[1] == "up" else "down"
    return LoggedAnswer(
        record=answer_record(row),
        rating=rating,
        ups=ups,
        downs=downs,
        reason=reason,
        correction=correction,
        withdrawn=row["withdrawn_at"] is not None,
        votes=tuple(votes.values()),
        gold=review[0] if review else "",
        review=review[1] if review else "",
    )


def answer_record(row: dict[str, Any]) -> AnswerRecord:
    data = {k: (_from_json(v) if k in JSON_COLUMNS else v) for k, v in row.items()}
    return AnswerRecord(
        answer_id=data["answer_id"],
        tenant=data["tenant"],
        platform=data["platform"],
        question=data["question"],
        answer=data["answer"],
        route=data["route"],
        model=data["model"],
        rewrites=int(data["rewrites"]),
        queries=tuple(data["queries"]),
        citations=tuple(Citation(**c) for c in data["citations"]),
        retrieved=tuple(
            RetrievedChunk(**{**c, "heading_path": tuple(c.get("heading_path") or ())})
            for c in data["retrieved"]
        ),
        trace=tuple(TraceStep(**t) for t in data["trace"]),
        prompt_versions=dict(data["prompt_versions"]),
        history=tuple(data["history"]),
        conversation_id=data["conversation_id"],
        channel_id=data["channel_id"],
        team_id=data["team_id"],
        user=data["user_hash"],
        error=data["error"],
        created_at=_from_ts(data["created_at"]),
        context=tuple(data["context"] or ()),
    )


def prompt_texts(versions: dict[str, str]) -> dict[str, tuple[str, str]]:
    """version -> (name, text) for the prompts whose current file has that version."""
    from askloop.prompts import load_prompt

    out: dict[str, tuple[str, str]] = {}
    for name, version in versions.items():
        try:
            prompt = load_prompt(name)
        except KeyError:
            continue
        if prompt.version == version:
            out[version] = (name, prompt.text)
    return out


_EMPTY: dict[str, Any] = {"[]": [], "{}": {}}


def _from_json(value: Any) -> Any:
    if not isinstance(value, str):
        return value  # PostgreSQL's JSONB arrives decoded
    if value in _EMPTY:
        return type(_EMPTY[value])()  # most rows have several empty lists: skip the parser
    return orjson.loads(value)


def _from_ts(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)
