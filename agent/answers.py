"""What is kept per answer and per rating (DESIGN.md §4): the log's records."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, NamedTuple

__all__ = [
    "CORRECTION_MAX_CHARS",
    "REASON_MAX_CHARS",
    "TENANT_NAME",
    "THREAD_ID",
    "UNDELIVERED",
    "AnswerRecord",
    "Citation",
    "Feedback",
    "FeedbackSource",
    "LoggedAnswer",
    "MessageRole",
    "Progress",
    "Rating",
    "RatingFilter",
    "RetrievedChunk",
    "Review",
    "ReviewAction",
    "Route",
    "TraceStep",
    "Turn",
    "Vote",
    "new_answer_id",
    "thread_id",
]

#: The error of an answer that was made but never reached anyone (AnswerLog.mark_undelivered).
UNDELIVERED = "undelivered"
#: What a tenant name may look like (settings validate names against it).
TENANT_NAME = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}"
#: The shape of askloop's thread ids (see ``thread_id``): what retention may delete, so
#: that another application's threads in the same checkpoint tables are never touched.
THREAD_ID = re.compile(rf"{TENANT_NAME}:[a-z][a-z0-9_-]*:.+", re.DOTALL)

#: The most of a rating's reason the log keeps; a longer reason is cut.
REASON_MAX_CHARS = 2000
#: The longest correction askloop takes anywhere (Slack's input limit); a longer one is
#: refused with a message, never cut.
CORRECTION_MAX_CHARS = 3000

Route = Literal["retrieve", "rewrite", "finetuned"]
Rating = Literal["up", "down"]
#: A filter on the current rating: rated up, rated down, or not rated ("none").
RatingFilter = Literal["up", "down", "none"]
FeedbackSource = Literal["button", "reaction", "invoke", "cli", "tool", "console"]
#: A reviewer's verdict in the console: the 👎's correction accepted as the gold answer,
#: a gold answer written (edited), a knowledge-base gap, or nothing to do.
ReviewAction = Literal["accept", "edit", "kb_gap", "dismiss"]
#: "thread": a marker that askloop takes part in a thread (not a real message).
MessageRole = Literal["answer", "question", "thread"]


def new_answer_id() -> str:
    return uuid.uuid4().hex


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Turn:
    """A question as an adapter hands it to the Assistant: no platform types."""

    question: str
    tenant: str
    #: "slack", "teams", "cli", ...
    platform: str = "cli"
    #: Thread/conversation id within the platform; turns sharing it share memory.
    conversation_id: str = ""
    #: Platform user id of the asker (hashed before it is stored).
    user: str = ""
    channel_id: str = ""
    team_id: str = ""
    #: False where a rule allows knowledge-base answers only (never the tuned model).
    allow_finetuned: bool = True
    #: True when the caller asked for the fine-tuned model's own answer (the
    #: ``ask_finetuned_model`` tool): no search, logged like any other answer.
    direct: bool = False


def thread_id(turn: Turn) -> str:
    """The checkpointer thread of a turn in a conversation (its tenant's own)."""
    return f"{turn.tenant}:{turn.platform}:{turn.conversation_id}"


@dataclass(frozen=True, slots=True)
class Citation:
    n: int
    chunk_id: str
    title: str
    source: str
    url: str = ""


@dataclass(frozen=True, slots=True)
class RetrievedChunk:
    chunk_id: str
    title: str
    source: str
    score: float
    text: str
    url: str = ""
    #: The query (original or rewritten) that returned it.
    query: str = ""
    heading_path: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class TraceStep:
    """One node's verdict and why: training data for the router."""

    node: str
    verdict: str
    ms: float
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AnswerRecord:
    answer_id: str
    tenant: str
    platform: str
    question: str
    answer: str
    route: Route
    model: str
    rewrites: int = 0
    queries: tuple[str, ...] = ()
    citations: tuple[Citation, ...] = ()
    retrieved: tuple[RetrievedChunk, ...] = ()
    #: Chunk ids shown to the answering model as documents [1]..[n], in order.
    context: tuple[str, ...] = ()
    trace: tuple[TraceStep, ...] = ()
    prompt_versions: dict[str, str] = field(default_factory=dict)
    #: Earlier turns of the thread that the model saw: [{"role", "content"}, ...].
    history: tuple[dict[str, str], ...] = ()
    conversation_id: str = ""
    channel_id: str = ""
    team_id: str = ""
    #: Hashed platform user id of the asker.
    user: str = ""
    #: Why the answer is not a real answer ("store_unavailable", "model_unavailable",
    #: "undelivered": made but never shown), or "". Such answers are logged but never
    #: exported as training data.
    error: str = ""
    created_at: datetime = field(default_factory=_now)


@dataclass(frozen=True, slots=True)
class Feedback:
    """One rating event. ``rating=None`` clears the user's rating (a removed reaction).

    ``rated_at`` is when the user rated by the platform's own clock (Slack's
    ``action_ts``/``event_ts``, the Teams activity's ``timestamp``; the CLI's and the
    tools' own); a user's latest rating is the one with the latest ``rated_at``, not
    the one written last. ``created_at`` is when askloop stored it.
    """

    answer_id: str
    user: str
    rating: Rating | None
    source: FeedbackSource
    reason: str = ""
    correction: str = ""
    created_at: datetime = field(default_factory=_now)
    rated_at: datetime = field(default_factory=_now)


class Vote(NamedTuple):
    """A user's latest rating of one answer; ``at`` orders ratings across answers."""

    user: str
    #: (the platform's time of rating, the event's row id): later sorts later.
    at: tuple[datetime, int]
    rating: Rating


@dataclass(frozen=True, slots=True)
class LoggedAnswer:
    """An answer as the log reports it, with its current ratings."""

    record: AnswerRecord
    #: Majority of each user's latest rating (by the platform's time of rating); a tie
    #: goes to the most recent rating.
    rating: Rating | None
    ups: int
    downs: int
    #: Reason and correction of the most recent rating that gave one.
    reason: str
    correction: str
    withdrawn: bool
    #: Each user's latest rating, for exports that merge the votes of identical answers.
    votes: tuple[Vote, ...] = ()
    #: The gold answer of the latest review that set one (exports prefer it over
    #: ``correction``), and the latest review's action ("" when never reviewed).
    gold: str = ""
    review: str = ""


@dataclass(frozen=True, slots=True)
class Review:
    """One reviewer's action on an answer (stored as an event; the latest wins)."""

    answer_id: str
    action: ReviewAction
    #: Who reviewed: the console token's name ("local" on this machine without one).
    reviewer: str
    #: The gold answer (accept, edit); "" otherwise.
    gold: str = ""
    source: Literal["console"] = "console"
    created_at: datetime = field(default_factory=_now)


@dataclass(frozen=True, slots=True)
class Progress:
    """What the graph is doing, for an adapter to show while the user waits.

    ``status`` events name a step ("Searching the knowledge base…"); ``text`` events
    carry the answer as generated so far (the final answer may differ: citation
    markers that point at nothing are dropped after generation).
    """

    kind: Literal["status", "text"]
    text: str
