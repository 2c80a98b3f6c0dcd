"""What every step shares: the trace entry, the knowledge-base search as state data, the
thread-history window, the model call and the prompt versions."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from langgraph.runtime import Runtime

from askloop.agent.chat import ChatModel, Message, StreamingChatModel
from askloop.agent.context import Context
from askloop.agent.errors import ModelUnavailableError
from askloop.agent.records import Hit, SearchMode
from askloop.agent.search import search_knowledge_base
from askloop.agent.state import HitData, State, ThreadTurn
from askloop.agent.text import count_tokens
from askloop.prompts import load_prompt

__all__ = [
    "best_cosine",
    "complete",
    "hit_data",
    "history_window",
    "recent_turns",
    "search",
    "stream_writer",
    "trace_step",
    "versions",
]

log = logging.getLogger(__name__)


def trace_step(node: str, verdict: str, started: float, **detail: Any) -> dict[str, Any]:
    """One decision-trace entry: the node, its verdict, its time and why."""
    return {
        "node": node,
        "verdict": verdict,
        "ms": round((time.perf_counter() - started) * 1000, 3),
        "detail": detail,
    }


def hit_data(hit: Hit, query: str) -> HitData:
    c = hit.chunk
    return {
        "chunk_id": c.chunk_id,
        "title": c.title,
        "source": c.source,
        "url": c.url,
        "heading_path": list(c.heading_path),
        "text": c.text,
        "score": hit.score,
        "vector_score": hit.vector_score,
        "keyword_score": hit.keyword_score,
        "query": query,
    }


def best_cosine(hits: Sequence[HitData]) -> float:
    return max((h["vector_score"] or 0.0 for h in hits), default=0.0)


def search(ctx: Context, tenant: str, query: str, mode: SearchMode = "hybrid") -> list[HitData]:
    """The knowledge-base search (agent/search.py) with the policy's ``k``, as state data."""
    found = search_knowledge_base(
        ctx.store, ctx.embedder, tenant=tenant, query=query, k=ctx.policy.k, mode=mode
    )
    return [hit_data(h, query) for h in found]


def recent_turns(turns: Sequence[ThreadTurn], budget: int) -> list[ThreadTurn]:
    """The newest turns that fit in ``budget`` tokens, oldest first."""
    kept: list[ThreadTurn] = []
    used = 0
    for turn in reversed(turns):
        cost = count_tokens(turn["content"])
        if used + cost > budget:
            break
        kept.append(turn)
        used += cost
    return list(reversed(kept))


def history_window(turns: Sequence[ThreadTurn], budget: int) -> list[Message]:
    """The newest turns that fit in ``budget`` tokens, oldest first, as messages."""
    return [Message(role=t["role"], content=t["content"]) for t in recent_turns(turns, budget)]


def complete(
    model: ChatModel,
    messages: list[Message],
    max_tokens: int,
    writer: Callable[[Any], None] | None = None,
) -> str | None:
    """The model's reply, or None when it is unavailable. With ``writer`` (the graph's
    stream writer) a streaming model's text goes out as ``{"text": piece}`` as it comes."""
    try:
        if writer is not None and isinstance(model, StreamingChatModel):
            return model.stream(
                messages, max_tokens=max_tokens, on_text=lambda piece: writer({"text": piece})
            ).text.strip()
        return model.complete(messages, max_tokens=max_tokens).text.strip()
    except ModelUnavailableError:
        log.warning("model %s unavailable", model.model_id, exc_info=True)
        return None


def stream_writer(state: State, runtime: Runtime[Context]) -> Callable[[Any], None] | None:
    """The graph's stream writer when someone listens for the answer text, else None."""
    return runtime.stream_writer if state.get("stream") else None


def versions(state: State, *names: str) -> dict[str, str]:
    """The state's prompt versions plus those of ``names``."""
    out = dict(state.get("prompt_versions") or {})
    out.update({name: load_prompt(name).version for name in names})
    return out
