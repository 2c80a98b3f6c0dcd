"""Neutral answers rendered as Teams activities.

An answer is Markdown with ``[n]`` markers plus, in one ``https://schema.org/Message``
entity, the citations (``Claim`` with a ``DigitalDocument`` appearance) and the
AI-generated label; ``channelData`` turns on Teams' native 👍/👎 feedback loop (with
Teams' form or askloop's, :mod:`integrations.teams.feedback_form`). Stream
updates are typing activities with a ``streaminfo`` entity.

botbuilder's ``Entity`` serialises only the fields in its attribute map and drops the
rest, so the two entities below extend the map.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from botbuilder.schema import (
    ActionTypes,
    Activity,
    ActivityTypes,
    CardAction,
    Entity,
    SuggestedActions,
)

from askloop.agent.answers import AnswerRecord, Route
from askloop.agent.sources import SourceList, first_marks, shown_sources

__all__ = [
    "ABSTRACT_MAX",
    "FeedbackLoopType",
    "KEYWORDS_MAX",
    "NAME_MAX",
    "StreamType",
    "answer_activity",
    "citations_of",
    "consulted_line",
    "one_mark_per_document",
    "is_streamed",
    "mark_stream_final",
    "stream_update",
    "strip_stream",
    "text_activity",
    "typing_activity",
    "welcome_activity",
    "wire",
]

StreamType = Literal["informative", "streaming", "final"]
#: Which form 👍/👎 opens: Teams' comment box, or askloop's (a ``message/fetchTask``).
FeedbackLoopType = Literal["default", "custom"]

#: Teams' limits on a citation's appearance.
NAME_MAX = 80
ABSTRACT_MAX = 160
KEYWORDS_MAX = 3
KEYWORD_MAX = 28
#: An informative stream update may carry at most this many characters.
INFORMATIVE_MAX = 1000
WELCOME_PROMPTS_MAX = 3

_SPACE = re.compile(r"\s+")
#: Characters that would make a title Markdown (emphasis, a link, a table cell).
_MARKUP = re.compile(r"[*_`\[\]<>|]")
_WEB = ("https://", "http://")
_MARKER = re.compile(r"\[(\d+)\]")
_REPEATED_MARKER = re.compile(r"(\[\d+\])(?:\s*\1)+")
_ROUTE_NOTES: dict[Route, str] = {
    "retrieve": "Answered from the knowledge base.",
    "rewrite": "Answered from the knowledge base after refining the search.",
    "finetuned": "Answered by the tuned model, not from a knowledge-base document.",
}


class MessageEntity(Entity):
    """The ``https://schema.org/Message`` entity: AI label and citations."""

    _attribute_map = {
        "type": {"key": "type", "type": "str"},
        "schema_type": {"key": "@type", "type": "str"},
        "schema_context": {"key": "@context", "type": "str"},
        "schema_id": {"key": "@id", "type": "str"},
        "additional_type": {"key": "additionalType", "type": "[str]"},
        "citation": {"key": "citation", "type": "[object]"},
    }

    def __init__(self, *, citation: list[dict[str, Any]], ai_generated: bool = True) -> None:
        super().__init__(type="https://schema.org/Message")
        self.schema_type = "Message"
        self.schema_context = "https://schema.org"
        self.schema_id = ""
        self.additional_type = ["AIGeneratedContent"] if ai_generated else []
        self.citation = citation


class StreamInfoEntity(Entity):
    """The ``streaminfo`` entity of the Teams streaming protocol."""

    _attribute_map = {
        "type": {"key": "type", "type": "str"},
        "stream_id": {"key": "streamId", "type": "str"},
        "stream_type": {"key": "streamType", "type": "str"},
        "stream_sequence": {"key": "streamSequence", "type": "int"},
    }

    def __init__(
        self, *, stream_type: StreamType, stream_id: str | None, stream_sequence: int | None
    ) -> None:
        super().__init__(type="streaminfo")
        self.stream_type = stream_type
        self.stream_id = stream_id
        self.stream_sequence = stream_sequence


def _clip(text: str, limit: int) -> str:
    text = _SPACE.sub(" ", text).strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def citations_of(record: AnswerRecord) -> list[dict[str, Any]]:
    """``citation[]`` of the Message entity: one ``Claim`` per document the answer cites,
    at the first ``[n]`` citing it (:func:`one_mark_per_document` rewrites the others)."""
    chunks = {c.chunk_id: c for c in record.retrieved}
    first = first_marks(record)
    claims = []
    for cited in record.citations:
        if first.get(cited.n, cited.n) != cited.n:
            continue
        chunk = chunks.get(cited.chunk_id)
        appearance: dict[str, Any] = {
            "@type": "DigitalDocument",
            "name": _clip(cited.title or cited.source or f"Source {cited.n}", NAME_MAX),
            "abstract": _clip(chunk.text if chunk else cited.source, ABSTRACT_MAX),
        }
        if cited.url.startswith(("https://", "http://")):
            appearance["url"] = cited.url
        keywords = []
        for heading in chunk.heading_path if chunk else ():
            word = _clip(heading, KEYWORD_MAX)
            if word and word not in keywords:
                keywords.append(word)
        if keywords:
            appearance["keywords"] = keywords[:KEYWORDS_MAX]
        claims.append({"@type": "Claim", "position": cited.n, "appearance": appearance})
    return claims


def one_mark_per_document(record: AnswerRecord) -> str:
    """``record``'s answer with each ``[n]`` naming its document's first marker, so Teams
    lists a page once when the answer cites two of its chunks ("[1][2]" becomes "[1]")."""
    first = first_marks(record)
    text = record.answer.strip()
    if all(n == m for n, m in first.items()):
        return text

    def first_of(match: re.Match[str]) -> str:
        return f"[{first.get(int(match.group(1)), int(match.group(1)))}]"

    return _REPEATED_MARKER.sub(r"\1", _MARKER.sub(first_of, text))


def consulted_line(sources: SourceList) -> str:
    """The documents an uncited answer from the knowledge base was drawn from, as a
    Markdown line (cited ones travel as ``citation[]`` claims instead)."""
    items = []
    for doc in sources.items:
        title = _clip(_MARKUP.sub("", doc.title or doc.source or "document"), NAME_MAX)
        url = doc.url.replace("(", "%28").replace(")", "%29")
        items.append(f"[{title}]({url})" if url.startswith(_WEB) else title)
    return f"{sources.label}: " + " · ".join(items)


def answer_activity(record: AnswerRecord, *, feedback: FeedbackLoopType = "default") -> Activity:
    """The message that carries an answer: text, citations, AI label, feedback loop.

    The route is a discreet last line; an answer from the knowledge base that cites
    nothing names the documents it consulted above it. An apology (``record.error``) is plain text:
    nothing was generated, so there is nothing to label, cite or rate.
    """
    if record.error:
        return text_activity(record.answer.strip())
    lines = [one_mark_per_document(record)]
    sources = shown_sources(record)
    if sources is not None and sources.kind == "consulted":
        lines.append(consulted_line(sources))
    lines.append(f"_{_ROUTE_NOTES[record.route]}_")
    return Activity(
        type=ActivityTypes.message,
        text="\n\n".join(lines),
        text_format="markdown",
        entities=[MessageEntity(citation=citations_of(record))],
        # feedbackLoop is the current switch; older clients read feedbackLoopEnabled.
        channel_data={"feedbackLoop": {"type": feedback}, "feedbackLoopEnabled": True},
    )


def text_activity(text: str) -> Activity:
    """A plain reply (apology, refusal, hint): no label, no feedback buttons."""
    return Activity(type=ActivityTypes.message, text=text, text_format="markdown")


def typing_activity() -> Activity:
    return Activity(type=ActivityTypes.typing)


def welcome_activity(prompts: tuple[str, ...], *, personal: bool, mention: bool) -> Activity:
    """The greeting when askloop joins a conversation, with a few questions to try."""
    shown = [p.strip() for p in prompts[:WELCOME_PROMPTS_MAX]]
    how = "Mention me with your question" if mention else "Ask me a question"
    lines = [
        "Hi! I answer questions from your knowledge base and cite my sources. "
        f"{how}, and rate my answers with 👍 or 👎 to make me better."
    ]
    if shown:
        lines += ["", "Try:", *[f"- {p}" for p in shown]]
    activity = text_activity("\n".join(lines))
    if personal and shown:
        activity.suggested_actions = SuggestedActions(
            actions=[CardAction(type=ActionTypes.im_back, title=p, value=p) for p in shown]
        )
    return activity


def stream_update(
    stream_type: Literal["informative", "streaming"],
    text: str,
    *,
    sequence: int,
    stream_id: str | None,
) -> Activity:
    """One update of a streamed answer (a typing activity; ``text`` is cumulative)."""
    if stream_type == "informative":
        text = _clip(text, INFORMATIVE_MAX)
    channel_data: dict[str, Any] = {"streamType": stream_type, "streamSequence": sequence}
    if stream_id:
        channel_data["streamId"] = stream_id
    return Activity(
        type=ActivityTypes.typing,
        text=text,
        entities=[
            StreamInfoEntity(stream_type=stream_type, stream_id=stream_id, stream_sequence=sequence)
        ],
        channel_data=channel_data,
    )


def mark_stream_final(activity: Activity, stream_id: str) -> Activity:
    """Make ``activity`` the final message of the stream ``stream_id``."""
    activity.entities = [
        *(activity.entities or []),
        StreamInfoEntity(stream_type="final", stream_id=stream_id, stream_sequence=None),
    ]
    activity.channel_data = {
        **(activity.channel_data or {}),
        "streamType": "final",
        "streamId": stream_id,
    }
    return activity


def strip_stream(activity: Activity) -> Activity:
    """Undo :func:`mark_stream_final` (to send the answer as an ordinary message)."""
    activity.entities = [e for e in activity.entities or [] if not is_streamed(e)]
    activity.channel_data = {
        k: v
        for k, v in (activity.channel_data or {}).items()
        if k not in ("streamType", "streamId", "streamSequence")
    }
    return activity


def is_streamed(entity: Any) -> bool:
    return getattr(entity, "type", None) == "streaminfo"


def wire(activity: Activity) -> dict[str, Any]:
    """The JSON an activity becomes on the way to the Connector (tests, debugging)."""
    from botframework.connector import models
    from msrest.serialization import Serializer

    dependencies = {k: v for k, v in vars(models).items() if isinstance(v, type)}
    body: dict[str, Any] = Serializer(dependencies).body(activity, "Activity")
    return body
