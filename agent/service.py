"""The Assistant: the one service adapters call (answer a turn, rate an answer).

No Slack or Teams type crosses this boundary. An answer is persisted before it is
returned, so the id an adapter puts on its message always names a logged answer.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from typing import Any

from langgraph.runtime import Runtime

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
    RetrievedChunk,
    TraceStep,
    Turn,
    new_answer_id,
    thread_id,
)
from askloop.agent.context import Context
from askloop.agent.errors import AnswerFailedError, AskloopError, InvalidInputError
from askloop.agent.nodes import history_window, route
from askloop.agent.ports import AnswerLog
from askloop.agent.text import clean_text

__all__ = ["Assistant", "hash_user", "rate_answer", "record_from_result"]

log = logging.getLogger(__name__)


def hash_user(platform: str, user: str) -> str:
    """A stable pseudonym for a platform user id (never store the raw id)."""
    if not user:
        return ""
    return hashlib.sha256(f"{platform}:{user}".encode()).hexdigest()[:20]


class Assistant:
    def __init__(self, *, graph: Any, context: Context, answer_log: AnswerLog) -> None:
        # Thread memory needs each turn's end state only, so a threaded run writes one
        # checkpoint when it ends ("exit"), not one per step (nine on the longest route).
        # A turn without a conversation has nothing to remember: it runs on a copy of
        # the graph without the checkpointer and leaves no rows behind.
        memory = getattr(graph, "checkpointer", None) is not None
        self._graph = graph
        self._once = graph.copy({"checkpointer": None}) if memory else graph
        self._run_options: dict[str, Any] = {"durability": "exit"} if memory else {}
        self._context = context
        self._log = answer_log

    @property
    def context(self) -> Context:
        return self._context

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
        policy = self._context.policy
        config: dict[str, Any] = {
            # The rewrite loop is bounded by its counter; leave the recursion limit room.
            "recursion_limit": 12 + 3 * policy.max_rewrites,
        }
        graph, options = self._once, {}
        if turn.conversation_id:
            config["configurable"] = {"thread_id": thread_id(turn)}
            graph, options = self._graph, self._run_options
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
                result = graph.invoke(inputs, config, context=self._context, **options)
            else:
                result = self._stream(graph, inputs, config, options, on_progress)
        except AskloopError:
            raise
        except Exception as exc:
            log.exception("the answer graph failed (tenant=%s)", turn.tenant)
            raise AnswerFailedError("Sorry, something went wrong while answering.") from exc
        record = record_from_result(turn, result, history_tokens=policy.history_tokens)
        self._log.save_answer(record)
        return record

    def _stream(
        self,
        graph: Any,
        inputs: dict[str, Any],
        config: dict[str, Any],
        options: dict[str, Any],
        on_progress: Callable[[Progress], None],
    ) -> dict[str, Any]:
        result: dict[str, Any] = {}
        text = ""

        def tell(event: Progress) -> None:
            try:
                on_progress(event)
            except Exception:
                log.warning("a progress listener failed", exc_info=True)

        for mode, chunk in graph.stream(
            inputs,
            config,
            context=self._context,
            stream_mode=["updates", "custom", "values"],
            **options,
        ):
            if mode == "values":
                result = chunk
            elif mode == "custom":
                if isinstance(chunk, dict) and chunk.get("text"):
                    text += chunk["text"]
                    tell(Progress("text", text))
            else:
                for node, update in chunk.items():
                    status = _status_after(node, update or {})
                    if status:
                        tell(Progress("status", status))
        return result

    def route(self, question: str, *, tenant: str) -> dict[str, Any]:
        """The routing decision and its trace, without generating an answer."""
        state = {"question": self._question(question), "tenant": tenant, "trace": []}
        result = route(state, Runtime(context=self._context))  # type: ignore[arg-type]
        step = result["trace"][0]
        return {
            "question": result["question"],
            "tenant": tenant,
            "route": result["decision"],
            "error": result["error"] or None,
            "trace": step,
        }

    def rate(self, **feedback: Any) -> LoggedAnswer:
        """Record feedback on an answer; see :func:`rate_answer`."""
        return rate_answer(self._log, **feedback)

    def get_answer(self, answer_id: str, *, tenant: str | None = None) -> LoggedAnswer | None:
        return self._log.get_answer(answer_id, tenant=tenant)

    def claim_delivery(self, key: str) -> bool:
        """True the first time a platform delivery key is seen (across replicas)."""
        return self._log.claim_delivery(key)

    def link_message(
        self, *, answer_id: str, platform: str, message_ref: str, role: MessageRole
    ) -> None:
        self._log.link_message(
            answer_id=answer_id, platform=platform, message_ref=message_ref, role=role
        )

    def answer_for_message(self, *, platform: str, message_ref: str) -> str | None:
        return self._log.answer_for_message(platform=platform, message_ref=message_ref)

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


def _status_after(node: str, update: dict[str, Any]) -> str | None:
    """The status line to show once ``node`` has finished, if the next step is slow."""
    if node == "route":
        if update.get("decision") == "retrieve" and not update.get("error"):
            return "Searching the knowledge base…"
        return "Writing the answer…"
    if node == "grade":
        return "Writing the answer…" if update.get("grade") == "good" else "Looking further…"
    if node == "rewrite":
        queries = update.get("queries") or []
        return f"Searching again for “{queries[-1]}”…" if queries else "Searching again…"
    return None


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
) -> LoggedAnswer:
    """Record feedback durably (before returning); the user's latest rating wins.

    Needs only the log, so rating never loads a model. Raises ``UnknownAnswerError``
    for an unknown answer or one of another tenant, and ``InvalidInputError`` for a
    correction longer than ``CORRECTION_MAX_CHARS`` (refused whole, never cut: a cut
    correction would train a model on half an answer).
    """
    correction = correction.strip()
    if len(correction) > CORRECTION_MAX_CHARS:
        raise InvalidInputError(
            f"the correction is {len(correction):,} characters long; "
            f"the most askloop takes is {CORRECTION_MAX_CHARS:,}: shorten it and rate again"
        )
    feedback = Feedback(
        answer_id=answer_id,
        user=hash_user(platform, user) or "anonymous",
        rating=rating,
        source=source,
        reason=clean_text(reason)[:REASON_MAX_CHARS],
        correction=correction,
    )
    return answer_log.add_feedback(feedback, tenant=tenant)
