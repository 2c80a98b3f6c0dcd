"""The Assistant: the one service adapters, the CLI and the tools call (answer a turn,
rate an answer, search, platform deliveries and message links).

No Slack or Teams type crosses this boundary. An answer is persisted before it is
returned, so the id an adapter puts on its message always names a logged answer.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from askloop.agent.answers import (
    CORRECTION_MAX_CHARS,
    REASON_MAX_CHARS,
    AnswerRecord,
    Citation,
    Feedback,
    FeedbackSource,
    LoggedAnswer,
    MessageRole,
    Progress,
    Rating,
    RatingFilter,
    RetrievedChunk,
    TraceStep,
    Turn,
    new_answer_id,
    thread_id,
)
from askloop.agent.context import Context, Policy
from askloop.agent.deliveries import FinishedState, PendingDelivery
from askloop.agent.errors import AnswerFailedError, AskloopError, InvalidInputError
from askloop.agent.ports import AnswerLog, Embedder, VectorStore
from askloop.agent.records import Hit, SearchMode
from askloop.agent.search import search_knowledge_base
from askloop.agent.streaming import stream_run
from askloop.agent.text import clean_text

__all__ = [
    "Assistant",
    "AssistantParts",
    "feedback_event",
    "hash_user",
    "rate_answer",
    "record_from_result",
]

log = logging.getLogger(__name__)


def hash_user(platform: str, user: str) -> str:
    """A stable pseudonym for a platform user id (never store the raw id)."""
    if not user:
        return ""
    return hashlib.sha256(f"{platform}:{user}".encode()).hexdigest()[:20]


class AssistantParts(Protocol):
    """Where an Assistant finds its dependencies, each built on first use (the
    composition root's ``Services``): rating needs only the log, searching only the
    store and the embedder, and neither loads a chat model or compiles the graph."""

    @property
    def answer_log(self) -> AnswerLog: ...

    @property
    def store(self) -> VectorStore: ...

    @property
    def embedder(self) -> Embedder: ...

    @property
    def policy(self) -> Policy: ...

    @property
    def context(self) -> Context: ...

    @property
    def graph(self) -> Any: ...


class _Given:
    """The parts of an Assistant built from objects at hand (tests, benchmarks)."""

    def __init__(self, graph: Any, context: Context, answer_log: AnswerLog) -> None:
        self.graph, self.context, self.answer_log = graph, context, answer_log
        self.store, self.embedder, self.policy = context.store, context.embedder, context.policy


class Assistant:
    """Answering, rating, search, platform deliveries and message links: every adapter,
    the CLI and the tools go through here, never to the log or the store directly."""

    def __init__(
        self,
        parts: AssistantParts | None = None,
        /,
        *,
        graph: Any = None,
        context: Context | None = None,
        answer_log: AnswerLog | None = None,
    ) -> None:
        """``Assistant(services)`` takes each part from ``services`` when first needed;
        ``Assistant(graph=, context=, answer_log=)`` takes the objects given."""
        if parts is None:
            if graph is None or context is None or answer_log is None:
                raise TypeError("Assistant needs parts, or graph, context and answer_log")
            parts = _Given(graph, context, answer_log)
        self._parts: AssistantParts = parts
        self._runs: tuple[Any, Any, dict[str, Any]] | None = None
        self._lock = threading.Lock()

    @property
    def context(self) -> Context:
        return self._parts.context

    @property
    def _log(self) -> AnswerLog:
        return self._parts.answer_log

    def _graphs(self) -> tuple[Any, Any, dict[str, Any]]:
        """(graph, graph for turns without a conversation, run options), made once."""
        with self._lock:
            if self._runs is None:
                graph = self._parts.graph
                # Thread memory needs each turn's end state only, so a threaded run writes
                # one checkpoint when it ends ("exit"), not one per step (nine on the
                # longest route). A turn without a conversation has nothing to remember:
                # it runs on a copy of the graph without the checkpointer and leaves no
                # rows behind.
                memory = getattr(graph, "checkpointer", None) is not None
                once = graph.copy({"checkpointer": None}) if memory else graph
                self._runs = (graph, once, {"durability": "exit"} if memory else {})
            return self._runs

    def prepare(self) -> None:
        """Build everything answering needs now (the graph, the models' context, the log),
        so a bad configuration fails here rather than on the first question."""
        self._graphs()
        self._parts.context  # noqa: B018 - building it is the point
        self._parts.answer_log  # noqa: B018

    def ping(self) -> None:
        """Raise unless the knowledge base and the log answer."""
        self._parts.store.ping()
        self._parts.answer_log.ping()

    def _question(self, text: str) -> str:
        question = clean_text(text)
        if not question:
            raise InvalidInputError("the question is empty")
        return question

    def answer(
        self, turn: Turn, *, on_progress: Callable[[Progress], None] | None = None
    ) -> AnswerRecord:
        """Run the graph for one turn, log the answer, return it.

        ``on_progress`` hears what the graph is doing (for a status line or a stream);
        it runs on the calling thread and must not block.
        """
        question = self._question(turn.question)
        context = self._parts.context
        policy = context.policy
        config: dict[str, Any] = {
            # The rewrite loop is bounded by its counter; leave the recursion limit room.
            "recursion_limit": 12 + 3 * policy.max_rewrites,
        }
        threaded, once, run_options = self._graphs()
        graph, options = once, {}
        if turn.conversation_id:
            config["configurable"] = {"thread_id": thread_id(turn)}
            graph, options = threaded, run_options
        try:
            inputs = {
                "question": question,
                "tenant": turn.tenant,
                # Flags are set every turn: a thread's checkpoint keeps the last turn's.
                "allow_finetuned": turn.allow_finetuned,
                "direct": turn.direct,
                "stream": on_progress is not None,
            }
            if on_progress is None:
                result = graph.invoke(inputs, config, context=context, **options)
            else:
                result = stream_run(graph, inputs, config, context, options, on_progress)
        except AskloopError:
            raise
        except Exception as exc:
            log.exception("the answer graph failed (tenant=%s)", turn.tenant)
            raise AnswerFailedError("Sorry, something went wrong while answering.") from exc
        return self._save(turn, result)

    def log_run(self, turn: Turn, result: dict[str, Any]) -> AnswerRecord:
        """Log a finished graph run (its end state) as the answer to ``turn``; return the
        record. :meth:`answer` does this itself; a host that ran the graph calls it."""
        return self._save(turn, result)

    def _save(self, turn: Turn, result: dict[str, Any]) -> AnswerRecord:
        record = record_from_result(turn, result, history_tokens=self._parts.policy.history_tokens)
        self._log.save_answer(record)
        return record

    def route(self, question: str, *, tenant: str) -> dict[str, Any]:
        """The routing decision and its trace, without generating an answer."""
        # Not at import: `askloop log` and `askloop rate` never load LangGraph.
        from langgraph.runtime import Runtime

        from askloop.agent.nodes import route

        state = {"question": self._question(question), "tenant": tenant, "trace": []}
        result = route(state, Runtime(context=self._parts.context))  # type: ignore[arg-type]
        step = result["trace"][0]
        return {
            "question": result["question"],
            "tenant": tenant,
            "route": result["decision"],
            "error": result["error"] or None,
            "trace": step,
        }

    # -- the knowledge base ----------------------------------------------------------------

    def search(self, query: str, *, tenant: str, k: int, mode: SearchMode = "hybrid") -> list[Hit]:
        """The knowledge-base search the graph runs, for a query of its own (cleaned and
        cut like a question). Raises ``InvalidInputError`` for an empty query."""
        query = clean_text(query)[: self._parts.policy.max_question_chars]
        if not query:
            raise InvalidInputError("the query is empty")
        return search_knowledge_base(
            self._parts.store, self._parts.embedder, tenant=tenant, query=query, k=k, mode=mode
        )

    def knowledge_base_size(self, *, tenant: str) -> int:
        """How many chunks ``tenant``'s knowledge base holds."""
        return self._parts.store.count(tenant=tenant)

    # -- the log ---------------------------------------------------------------------------

    def rate(self, **feedback: Any) -> LoggedAnswer:
        """Record feedback on an answer; see :func:`rate_answer`."""
        return rate_answer(self._log, **feedback)

    def record_feedback(self, items: Sequence[tuple[Feedback, str | None]]) -> list[bool]:
        """Record rating events (:func:`feedback_event`) in one transaction, each checked
        against its tenant; False where the answer is unknown there (a burst of clicks
        costs one commit, not one each)."""
        return self._log.add_feedback_many(items)

    def get_answer(self, answer_id: str, *, tenant: str | None = None) -> LoggedAnswer | None:
        return self._log.get_answer(answer_id, tenant=tenant)

    def recent(
        self, *, limit: int, tenant: str | None = None, rating: RatingFilter | None = None
    ) -> list[LoggedAnswer]:
        """The newest answers with their ratings, newest first; with ``rating``, only
        those rated up, down or not at all ("none")."""
        if rating is None:  # the port's plain form: every log implements it
            return self._log.recent(limit=limit, tenant=tenant)
        return self._log.recent(limit=limit, tenant=tenant, rating=rating)

    def claim_delivery(
        self,
        key: str,
        *,
        lease: timedelta | None = None,
        owner: str = "",
        platform: str = "",
        job: Mapping[str, Any] | None = None,
    ) -> bool:
        """True when the caller now holds a platform delivery key (across replicas):
        the first claim, or the takeover of an unfinished one whose lease expired
        (``agent.deliveries``)."""
        return self._log.claim_delivery(key, lease=lease, owner=owner, platform=platform, job=job)

    def renew_delivery(self, key: str, *, owner: str, lease: timedelta) -> bool:
        return self._log.renew_delivery(key, owner=owner, lease=lease)

    def finish_delivery(self, key: str, *, owner: str, state: FinishedState) -> bool:
        return self._log.finish_delivery(key, owner=owner, state=state)

    def take_over_deliveries(
        self, *, owner: str, lease: timedelta, platforms: Sequence[str], limit: int = 20
    ) -> list[PendingDelivery]:
        """Unfinished claims whose owner stopped renewing them, now the caller's."""
        return self._log.take_over_deliveries(
            owner=owner, lease=lease, platforms=platforms, limit=limit
        )

    def prune_deliveries(self, *, older_than: timedelta) -> int:
        """Forget delivery keys older than ``older_than``; returns how many."""
        return self._log.prune_deliveries(older_than=older_than)

    def link_message(
        self, *, answer_id: str, platform: str, message_ref: str, role: MessageRole
    ) -> None:
        self._log.link_message(
            answer_id=answer_id, platform=platform, message_ref=message_ref, role=role
        )

    def answer_for_message(self, *, platform: str, message_ref: str) -> str | None:
        return self._log.answer_for_message(platform=platform, message_ref=message_ref)

    def mark_undelivered(self, answer_id: str) -> bool:
        """Every post of the answer failed: log it as the failure it was."""
        marked = self._log.mark_undelivered(answer_id)
        if marked:
            log.warning("answer %s logged as undelivered: no post of it reached anyone", answer_id)
        return marked

    def withdraw_message(self, *, platform: str, message_ref: str) -> str | None:
        """A platform message was deleted: withdraw the answer it carried or asked.

        Returns the withdrawn answer's id, or None when the message names no answer.
        """
        answer_id = self.answer_for_message(platform=platform, message_ref=message_ref)
        if answer_id is None:
            return None
        self._log.withdraw(answer_id)
        log.info("answer %s withdrawn: its %s message was deleted", answer_id, platform)
        return answer_id


def record_from_result(turn: Turn, result: dict[str, Any], *, history_tokens: int) -> AnswerRecord:
    """The log record of one finished graph run (its end state) for ``turn``."""
    docs = {h["chunk_id"]: h for h in result.get("context_hits") or []}
    citations = tuple(
        Citation(
            n=n,
            chunk_id=cid,
            title=docs[cid]["title"],
            source=docs[cid]["source"],
            url=docs[cid]["url"],
        )
        for n, cid in result.get("cited") or []
    )
    retrieved = tuple(
        RetrievedChunk(
            chunk_id=h["chunk_id"],
            title=h["title"],
            source=h["source"],
            score=h["score"],
            text=h["text"],
            url=h["url"],
            query=h["query"],
            heading_path=tuple(h["heading_path"]),
        )
        for h in result.get("retrieved") or []
    )
    trace = tuple(
        TraceStep(node=s["node"], verdict=s["verdict"], ms=s["ms"], detail=s["detail"])
        for s in result.get("trace") or []
    )
    from askloop.agent.nodes import history_window  # loaded already: the graph ran

    earlier = (result.get("turns") or [])[:-2]
    history = tuple(
        {"role": m.role, "content": m.content} for m in history_window(earlier, history_tokens)
    )
    return AnswerRecord(
        answer_id=new_answer_id(),
        tenant=turn.tenant,
        platform=turn.platform,
        question=result["question"],
        answer=result["answer"],
        route=result["route"],
        model=result.get("model") or "none",
        rewrites=result.get("rewrites", 0),
        queries=tuple(result.get("queries") or ()),
        citations=citations,
        retrieved=retrieved,
        trace=trace,
        context=tuple(h["chunk_id"] for h in result.get("context_hits") or []),
        prompt_versions=dict(result.get("prompt_versions") or {}),
        history=history,
        conversation_id=turn.conversation_id,
        channel_id=turn.channel_id,
        team_id=turn.team_id,
        user=hash_user(turn.platform, turn.user),
        error=result.get("error") or "",
    )


def rate_answer(
    answer_log: AnswerLog,
    *,
    answer_id: str,
    rating: Rating | None,
    user: str,
    source: FeedbackSource,
    platform: str = "cli",
    reason: str = "",
    correction: str = "",
    tenant: str | None = None,
    rated_at: datetime | None = None,
) -> LoggedAnswer:
    """Record feedback durably (before returning); the user's latest rating wins.

    ``rated_at`` is when the user rated by the platform's clock (default: now, which is
    the CLI's and the tools' clock); the rating with the latest ``rated_at`` is the
    user's current one, whichever write commits last.

    Needs only the log, so rating never loads a model. Raises ``UnknownAnswerError``
    for an unknown answer or one of another tenant, and ``InvalidInputError`` for a
    correction longer than ``CORRECTION_MAX_CHARS`` (refused whole, never cut: a cut
    correction would train a model on half an answer).
    """
    feedback = feedback_event(
        answer_id=answer_id,
        rating=rating,
        user=user,
        source=source,
        platform=platform,
        reason=reason,
        correction=correction,
        rated_at=rated_at,
    )
    return answer_log.add_feedback(feedback, tenant=tenant)


def feedback_event(
    *,
    answer_id: str,
    rating: Rating | None,
    user: str,
    source: FeedbackSource,
    platform: str = "cli",
    reason: str = "",
    correction: str = "",
    rated_at: datetime | None = None,
) -> Feedback:
    """The rating event :func:`rate_answer` records (the user hashed, the reason cleaned
    and cut); ``InvalidInputError`` for a correction that is too long."""
    correction = correction.strip()
    if len(correction) > CORRECTION_MAX_CHARS:
        raise InvalidInputError(
            f"the correction is {len(correction):,} characters long; "
            f"the most askloop takes is {CORRECTION_MAX_CHARS:,}: shorten it and rate again"
        )
    return Feedback(
        answer_id=answer_id,
        user=hash_user(platform, user) or "anonymous",
        rating=rating,
        source=source,
        reason=clean_text(reason)[:REASON_MAX_CHARS],
        correction=correction,
        rated_at=rated_at or datetime.now(UTC),
    )
