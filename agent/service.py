"""The Assistant: the one service adapters call (answer a turn, rate an answer).

No Slack or Teams type crosses this boundary. An answer is persisted before it is
returned, so the id an adapter puts on its message always names a logged answer.
"""

from __future__ import annotations

import hashlib
import logging
import time
import uuid
from typing import Any

from langgraph.runtime import Runtime

from agent.answers import (
    AnswerRecord,
    Citation,
    Feedback,
    FeedbackSource,
    LoggedAnswer,
    Rating,
    RetrievedChunk,
    TraceStep,
    Turn,
    new_answer_id,
)
from agent.context import Context
from agent.errors import AnswerFailedError, AskloopError, InvalidInputError
from agent.nodes import history_window, route
from agent.ports import AnswerLog
from agent.text import clean_text

__all__ = ["Assistant", "hash_user", "rate_answer"]

log = logging.getLogger(__name__)


def hash_user(platform: str, user: str) -> str:
    """A stable pseudonym for a platform user id (never store the raw id)."""
    if not user:
        return ""
    return hashlib.sha256(f"{platform}:{user}".encode()).hexdigest()[:20]


class Assistant:
    def __init__(self, *, graph: Any, context: Context, answer_log: AnswerLog) -> None:
        self._graph = graph
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

    def answer(self, turn: Turn) -> AnswerRecord:
        """Run the graph for one turn, log the answer, return it."""
        question = self._question(turn.question)
        if turn.conversation_id:
            thread = f"{turn.tenant}:{turn.platform}:{turn.conversation_id}"
        else:
            thread = f"once:{uuid.uuid4().hex}"
        policy = self._context.policy
        config = {
            "configurable": {"thread_id": thread},
            # The rewrite loop is bounded by its counter; leave the recursion limit room.
            "recursion_limit": 12 + 3 * policy.max_rewrites,
        }
        started = time.perf_counter()
        try:
            result = self._graph.invoke(
                {"question": question, "tenant": turn.tenant}, config, context=self._context
            )
        except AskloopError:
            raise
        except Exception as exc:
            log.exception("the answer graph failed (tenant=%s)", turn.tenant)
            raise AnswerFailedError("Sorry, something went wrong while answering.") from exc
        record = self._record(turn, result, time.perf_counter() - started)
        self._log.save_answer(record)
        return record

    def _record(self, turn: Turn, result: dict[str, Any], seconds: float) -> AnswerRecord:
        docs = {h["chunk_id"]: h for h in result.get("context_hits") or []}
        citations = tuple(
            Citation(n=n, chunk_id=cid, title=docs[cid]["title"], source=docs[cid]["source"],
                     url=docs[cid]["url"])
            for n, cid in result.get("cited") or []
        )  # fmt: skip
        retrieved = tuple(
            RetrievedChunk(chunk_id=h["chunk_id"], title=h["title"], source=h["source"],
                           score=h["score"], text=h["text"], url=h["url"], query=h["query"],
                           heading_path=tuple(h["heading_path"]))
            for h in result.get("retrieved") or []
        )  # fmt: skip
        trace = tuple(
            TraceStep(node=s["node"], verdict=s["verdict"], ms=s["ms"], detail=s["detail"])
            for s in result.get("trace") or []
        )
        earlier = (result.get("turns") or [])[:-2]
        history = tuple(
            {"role": m.role, "content": m.content}
            for m in history_window(earlier, self._context.policy.history_tokens)
        )
        return AnswerRecord(
            answer_id=new_answer_id(), tenant=turn.tenant, platform=turn.platform,
            question=result["question"], answer=result["answer"], route=result["route"],
            model=result.get("model") or "none", rewrites=result.get("rewrites", 0),
            queries=tuple(result.get("queries") or ()), citations=citations,
            retrieved=retrieved, trace=trace,
            context=tuple(h["chunk_id"] for h in result.get("context_hits") or []),
            prompt_versions=dict(result.get("prompt_versions") or {}), history=history,
            conversation_id=turn.conversation_id, channel_id=turn.channel_id,
            team_id=turn.team_id, user=hash_user(turn.platform, turn.user),
            error=result.get("error") or "",
        )  # fmt: skip

    def route(self, question: str, *, tenant: str) -> dict[str, Any]:
        """The routing decision and its trace, without generating an answer."""
        state = {"question": self._question(question), "tenant": tenant, "trace": []}
        result = route(state, Runtime(context=self._context))  # type: ignore[arg-type]
        step = result["trace"][0]
        return {"question": result["question"], "tenant": tenant,
                "route": result["decision"], "error": result["error"] or None,
                "trace": step}  # fmt: skip

    def rate(self, **feedback: Any) -> LoggedAnswer:
        """Record feedback on an answer; see :func:`rate_answer`."""
        return rate_answer(self._log, **feedback)


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
    for an unknown answer or one of another tenant.
    """
    feedback = Feedback(
        answer_id=answer_id, user=hash_user(platform, user) or "anonymous", rating=rating,
        source=source, reason=clean_text(reason)[:2000], correction=correction.strip()[:20000],
    )  # fmt: skip
    return answer_log.add_feedback(feedback, tenant=tenant)
