"""answer_with_context's two ways of writing a knowledge-base answer (agent/grounding.py):
grounded (the documents' sentences quoted, the model's wording where supported) and
generative (the model's answer, its unsupported sentences removed). Each returns the
answer, the documents shown as [1]..[n], and what happened for the decision trace."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from askloop.agent.chat import ChatModel, Message
from askloop.agent.context import Context
from askloop.agent.grounding import (
    GROUNDED_DOCS,
    GROUNDED_MAX_TOKENS,
    MIN_QUOTE_SCORE,
    check_generative,
    compose_grounded,
    quote_block,
)
from askloop.agent.messages import NOT_FOUND
from askloop.agent.nodes.common import complete, history_window
from askloop.agent.prompting import documents_block
from askloop.agent.quotes import Quote, choose_quotes, refers_elsewhere
from askloop.agent.state import HitData, State
from askloop.prompts import load_prompt

__all__ = ["Written", "write_generative", "write_grounded"]


@dataclass(slots=True)
class Written:
    #: None when the model is unavailable and nothing else can answer.
    answer: str | None
    #: The documents [1]..[n] the answer's markers refer to.
    shown: list[HitData]
    detail: dict[str, Any] = field(default_factory=dict)
    #: Why nothing was written from the documents though the model is up ("" else):
    #: the answer step gives up instead.
    give_up_reason: str = ""


def _messages(state: State, ctx: Context, docs: list[HitData]) -> list[Message]:
    user = load_prompt("context_message").render(
        documents=documents_block(docs), question=state["question"]
    )
    return [
        Message("system", load_prompt("answer_with_context").text),
        *history_window(state.get("turns") or [], ctx.policy.history_tokens),
        Message("user", user),
    ]


def _quoted(quotes: list[Quote], hits: list[HitData]) -> tuple[list[HitData], dict[int, int]]:
    """The documents to show (quoted ones first, up to GROUNDED_DOCS unless more are
    quoted) and each quoted hit's number among them."""
    order = list(dict.fromkeys(q.doc for q in quotes))
    order += [i for i in range(len(hits)) if i not in order][: max(0, GROUNDED_DOCS - len(order))]
    return [hits[i] for i in order], {i: n for n, i in enumerate(order, 1)}


def write_grounded(
    state: State, ctx: Context, hits: list[HitData], writer: Callable[[Any], None] | None
) -> Written:
    question = state["question"]
    quotes = choose_quotes(question, hits, ctx.embedder)
    if not quotes:
        written = write_generative(state, ctx, hits, writer)
        written.detail["grounding_note"] = "nothing_to_quote"
        return written
    best = max(quotes, key=lambda q: q.score)
    if best.score < MIN_QUOTE_SCORE:
        scores = {"grounding": "no_answering_sentence", "quote_scores": [round(best.score, 3)]}
        return Written(None, [], scores, give_up_reason="no_answering_sentence")
    words = ctx.words_of(state["tenant"])
    elsewhere = refers_elsewhere(question, best.text, words.everyday if words else frozenset())
    if elsewhere:
        # The best sentence sends the reader to what was asked: its page is not here.
        gave_up = {"grounding": "refers_elsewhere", "refers_to": elsewhere, "quote": best.text}
        return Written(None, [], gave_up, give_up_reason="refers_elsewhere")
    shown, numbers = _quoted(quotes, hits)
    quote = quote_block(quotes, numbers)
    if writer is not None:
        writer({"text": quote})  # the answer starts with the quote, whatever follows
    model: ChatModel = ctx.answer_model
    max_tokens = min(ctx.policy.max_answer_tokens, GROUNDED_MAX_TOKENS)
    text = complete(model, _messages(state, ctx, shown), max_tokens)
    quoted_docs = [hits[q.doc] for q in quotes]
    grounded = compose_grounded(question, quote, quoted_docs, text or "", shown)
    if writer is not None and grounded.outcome == "quote+model":
        writer({"text": grounded.answer[len(quote) :]})
    detail = {
        "grounding": grounded.outcome,
        "quoted": sorted({numbers[q.doc] for q in quotes}),
        "quote_scores": [round(q.score, 3) for q in quotes],
        "unsupported": list(grounded.unsupported),
        "dropped": grounded.dropped,
        "reasons": ["model_unavailable"] if text is None else list(grounded.reasons),
    }
    return Written(grounded.answer, shown, detail)


def write_generative(
    state: State, ctx: Context, hits: list[HitData], writer: Callable[[Any], None] | None
) -> Written:
    text = complete(
        ctx.answer_model, _messages(state, ctx, hits), ctx.policy.max_answer_tokens, writer
    )
    if text is None:
        return Written(None, hits, {"grounding": "model_unavailable"})
    checked = check_generative(state["question"], text, hits)
    detail: dict[str, Any] = {
        "grounding": checked.outcome,
        "unsupported": list(checked.unsupported),
        "dropped": checked.dropped,
    }
    if checked.outcome != "unsupported":
        return Written(checked.answer, hits, detail)
    quotes = choose_quotes(state["question"], hits, ctx.embedder)
    if not quotes:
        return Written(NOT_FOUND, hits, detail)
    detail["grounding"] = "quote_fallback"
    numbers = {i: i + 1 for i in range(len(hits))}
    detail["quoted"] = sorted({numbers[q.doc] for q in quotes})
    return Written(quote_block(quotes, numbers), hits, detail)
