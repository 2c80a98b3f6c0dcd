"""The steps that write the answer: from the retrieved documents, from the fine-tuned
model, or, when nothing good was found, a "not found" or an answer with a caveat."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from langgraph.runtime import Runtime

from askloop.agent.chat import Message
from askloop.agent.context import Context
from askloop.agent.grounding import resolve_style
from askloop.agent.messages import (
    CAVEAT,
    EMPTY_KNOWLEDGE_BASE,
    MODEL_DOWN,
    NOT_FOUND,
    STORE_DOWN,
)
from askloop.agent.nodes.common import (
    complete,
    history_window,
    stream_writer,
    trace_step,
    versions,
)
from askloop.agent.nodes.grounded import write_generative, write_grounded
from askloop.agent.prompting import documents_block
from askloop.agent.state import HitData, State
from askloop.prompts import load_prompt

__all__ = ["answer_direct", "answer_with_context", "give_up"]


def answer_with_context(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    started = time.perf_counter()
    ctx = runtime.context
    hits = (state.get("hits") or [])[: ctx.policy.k]
    style = resolve_style(ctx.policy.answer_style, ctx.answer_model.model_id)
    write = write_grounded if style == "grounded" else write_generative
    written = write(state, ctx, hits, stream_writer(state, runtime))
    text = written.answer
    if written.give_up_reason:
        # None of the hits' sentences answers the question: as if they had graded poor.
        step = trace_step(
            "answer_with_context", "gave_up", started, documents=0, style=style, **written.detail
        )
        reason = written.give_up_reason
        return give_up(
            {**state, "give_up_reason": reason, "trace": [*state["trace"], step]}, runtime
        )
    step = trace_step(
        "answer_with_context",
        "answered" if text else "model_unavailable",
        started,
        documents=len(written.shown),
        model=ctx.answer_model.model_id,
        style=style,
        **written.detail,
    )
    return {
        "answer": text or MODEL_DOWN,
        "error": "" if text else "model_unavailable",
        "context_hits": written.shown if text else [],
        "model": ctx.answer_model.model_id,
        "prompt_versions": versions(state, "answer_with_context", "context_message"),
        "trace": [*state["trace"], step],
    }


def _direct(
    state: State, ctx: Context, writer: Callable[[Any], None] | None = None
) -> tuple[str | None, list[HitData], list[str], str]:
    """(text, hits shown, prompts used, model id) from the tenant's fine-tuned model."""
    model = ctx.finetuned_for(state["tenant"])
    history = history_window(state.get("turns") or [], ctx.policy.history_tokens)
    prompts = ["answer_direct"]
    hits: list[HitData] = []
    user = state["question"]
    if ctx.policy.finetuned_uses_context and state.get("hits"):
        hits = (state.get("hits") or [])[: ctx.policy.k]
        user = load_prompt("context_message").render(documents=documents_block(hits), question=user)
        prompts.append("context_message")
    messages = [
        Message("system", load_prompt("answer_direct").text),
        *history,
        Message("user", user),
    ]
    text = complete(model, messages, ctx.policy.max_answer_tokens, writer)
    return text, hits, prompts, model.model_id


def answer_direct(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    started = time.perf_counter()
    ctx = runtime.context
    text, hits, prompts, model_id = _direct(state, ctx, stream_writer(state, runtime))
    step = trace_step(
        "answer_direct",
        "answered" if text else "model_unavailable",
        started,
        model=model_id,
        with_context=bool(hits),
    )
    return {
        "answer": text or MODEL_DOWN,
        "error": "" if text else "model_unavailable",
        "context_hits": hits if text else [],
        "model": model_id,
        "prompt_versions": versions(state, *prompts),
        "trace": [*state["trace"], step],
    }


def give_up(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Nothing good was found (or the store is down, or holds nothing for the tenant):
    say so, or answer with a caveat."""
    started = time.perf_counter()
    ctx = runtime.context
    reason = state.get("error") or state.get("give_up_reason") or "rewrites_exhausted"
    out: dict[str, Any] = {"give_up_reason": reason, "context_hits": [], "model": ""}
    if reason == "store_unavailable":
        out["answer"] = STORE_DOWN
    elif reason == "empty_knowledge_base":
        out["answer"] = EMPTY_KNOWLEDGE_BASE.format(tenant=state["tenant"])
    elif ctx.policy.give_up == "not_found" or not state.get("allow_finetuned", True):
        out["answer"] = NOT_FOUND
    else:
        writer = stream_writer(state, runtime)
        after_caveat: Callable[[Any], None] | None = None
        if writer is not None:
            caveat_sent: list[bool] = []

            def after_caveat(piece: Any) -> None:
                # The streamed text starts like the final answer: with the caveat.
                if not caveat_sent:
                    caveat_sent.append(True)
                    writer({"text": CAVEAT})
                writer(piece)

        text, hits, prompts, model_id = _direct(state, ctx, after_caveat)
        out.update(
            answer=CAVEAT + text if text else NOT_FOUND,
            context_hits=hits if text else [],
            model=model_id if text else "",
            prompt_versions=versions(state, *prompts),
        )
    step = trace_step(
        "give_up", ctx.policy.give_up, started, reason=reason, queries=state.get("queries", [])
    )
    return {**out, "trace": [*state["trace"], step]}
