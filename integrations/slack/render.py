"""An askloop answer as Slack messages (Block Kit), and the feedback modal.

An answer becomes one or more messages of mrkdwn sections (split under Slack's
3,000-character section limit, a few sections per message); the last one ends with a
context block (the route, discreetly, and the cited sources linked to their URLs, or
the documents consulted when an answer from the knowledge base cites none) and
Slack's native feedback buttons carrying the answer id.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from slack_sdk.models.blocks import (
    ContextActionsBlock,
    FeedbackButtonObject,
    FeedbackButtonsElement,
)

from askloop.agent.answers import CORRECTION_MAX_CHARS, REASON_MAX_CHARS, AnswerRecord
from askloop.agent.sources import SourceList, shown_sources
from askloop.integrations.slack.mrkdwn import escape, link, split_mrkdwn, to_mrkdwn
from askloop.integrations.slack.values import (
    CORRECTION_BLOCK,
    CORRECTION_INPUT,
    FEEDBACK_ACTION,
    FEEDBACK_MODAL,
    REASON_BLOCK,
    REASON_INPUT,
    FeedbackValue,
    ModalState,
)
from askloop.integrations.slack.webapi import OutMessage

__all__ = [
    "Budget",
    "answer_messages",
    "feedback_modal",
    "notice",
    "progress_message",
    "route_label",
]

_PREVIEW_CHARS = 300
_CONTEXT_CHARS = 3000


@dataclass(frozen=True, slots=True)
class Budget:
    """How much text goes into one section and one message."""

    section_chars: int = 3000
    message_chars: int = 12000

    def smaller(self) -> Budget | None:
        """The next budget to try after Slack said ``msg_too_long`` (None: give up)."""
        if self.message_chars > self.section_chars:
            return Budget(self.section_chars, max(self.section_chars, self.message_chars // 2))
        if self.section_chars > 500:
            half = self.section_chars // 2
            return Budget(half, half)
        return None


def route_label(record: AnswerRecord) -> str:
    """ "From the knowledge base" / "From the tuned model" ("" when no model answered)."""
    if record.route in ("retrieve", "rewrite"):
        return "From the knowledge base"
    if record.model not in ("", "none"):
        return "From the tuned model"
    return ""


def _section(text: str) -> dict[str, Any]:
    # verbatim: Slack must not turn bare names or URLs into mentions or links.
    return {"type": "section", "text": {"type": "mrkdwn", "text": text, "verbatim": True}}


def _preview(markdown: str) -> str:
    """Plain notification text: no markup, no links."""
    text = re.sub(r"!?\[([^\]\n]*)\]\([^)\s]*\)", r"\1", markdown)
    text = re.sub(r"[*_`#~>]+", "", text)
    text = " ".join(text.split())
    if len(text) > _PREVIEW_CHARS:
        text = text[: _PREVIEW_CHARS - 1].rsplit(" ", 1)[0] + "…"
    return escape(text)


def _sources(sources: SourceList) -> str:
    items: list[str] = []
    for c in sources.items:
        title = (c.title or c.source or "source").strip()
        mark = f"{c.mark} " if c.mark else ""
        items.append(mark + (link(c.url, title) if c.url else escape(title)))
    head = f"*{sources.label}:* "
    text = head + "  ·  ".join(items)
    while len(text) > _CONTEXT_CHARS and len(items) > 1:
        items.pop()
        text = head + "  ·  ".join(items) + "  ·  …"
    return text[:_CONTEXT_CHARS]


def feedback_block(answer_id: str) -> dict[str, Any]:
    """Slack's native 👍/👎 (a ``context_actions`` block), each carrying the answer id."""
    buttons = FeedbackButtonsElement(
        action_id=FEEDBACK_ACTION,
        positive_button=FeedbackButtonObject(
            text="👍",
            accessibility_label="Good answer",
            value=FeedbackValue(answer_id=answer_id, rating="up").encode(),
        ),
        negative_button=FeedbackButtonObject(
            text="👎",
            accessibility_label="Bad answer",
            value=FeedbackValue(answer_id=answer_id, rating="down").encode(),
        ),
    )
    return ContextActionsBlock(block_id=f"fb-{answer_id}", elements=[buttons]).to_dict()


def answer_messages(record: AnswerRecord, budget: Budget | None = None) -> list[OutMessage]:
    """The messages that carry ``record`` (usually one)."""
    budget = budget or Budget()
    markers = {c.n: c.url for c in record.citations if c.url}
    body = to_mrkdwn(record.answer, markers=markers, allowed=set(markers.values()))
    sections = split_mrkdwn(body, budget.section_chars)
    messages: list[list[dict[str, Any]]] = [[]]
    size = 0
    for text in sections:
        if messages[-1] and size + len(text) > budget.message_chars:
            messages.append([])
            size = 0
        messages[-1].append(_section(text))
        size += len(text)
    tail: list[dict[str, Any]] = []
    if not record.error:
        notes = [t for t in (route_label(record),) if t]
        context = [{"type": "mrkdwn", "text": t, "verbatim": True} for t in notes]
        sources = shown_sources(record)
        if sources is not None:
            context.append({"type": "mrkdwn", "text": _sources(sources), "verbatim": True})
        if context:
            tail.append({"type": "context", "elements": context})
        tail.append(feedback_block(record.answer_id))
    messages[-1].extend(tail)
    preview = _preview(record.answer)
    return [OutMessage(text=preview, blocks=tuple(blocks)) for blocks in messages]


def progress_message(markdown: str, *, limit: int = 3000) -> OutMessage:
    """The answer while it is being written: defanged, no links yet, one section."""
    text = to_mrkdwn(markdown)
    if len(text) > limit - 2:
        text = split_mrkdwn(text, limit - 2)[0]
    joint = "\n" if text.endswith("```") else " "
    return OutMessage(text=_preview(markdown), blocks=(_section(f"{text}{joint}…"),))


def notice(text: str) -> OutMessage:
    """A short message of askloop's own (an apology, a hint)."""
    return OutMessage(text=escape(text), blocks=(_section(escape(text)),))


def feedback_modal(state: ModalState) -> dict[str, Any]:
    """The 👎 follow-up: what was wrong (required) and the right answer (optional)."""

    def plain(text: str) -> dict[str, Any]:
        return {"type": "plain_text", "text": text}

    return {
        "type": "modal",
        "callback_id": FEEDBACK_MODAL,
        "private_metadata": state.encode(),
        "title": plain("Improve this answer"),
        "submit": plain("Send"),
        "close": plain("Skip"),
        "blocks": [
            {
                "type": "context",
                "elements": [
                    {"type": "mrkdwn", "text": "Your 👎 is recorded. Telling us why helps fix it."}
                ],
            },
            {
                "type": "input",
                "block_id": REASON_BLOCK,
                "label": plain("What was wrong?"),
                "element": {
                    "type": "plain_text_input",
                    "action_id": REASON_INPUT,
                    "multiline": True,
                    "max_length": REASON_MAX_CHARS,
                },
            },
            {
                "type": "input",
                "block_id": CORRECTION_BLOCK,
                "optional": True,
                "label": plain("The right answer (optional)"),
                "element": {
                    "type": "plain_text_input",
                    "action_id": CORRECTION_INPUT,
                    "multiline": True,
                    "max_length": CORRECTION_MAX_CHARS,
                },
            },
        ],
    }
