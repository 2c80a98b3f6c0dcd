"""From a logged, rated answer to the exact conversation the model saw.

The prompt side is rebuilt from what was recorded at answer time: the system prompt
of the recorded version, the thread history the model saw, and for answers made from
the knowledge base the same numbered documents. Fine-tuned-route answers have no
documents. A model trained on these examples sees the shape it sees live.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import lru_cache, partial

from askloop.agent.answers import LoggedAnswer, Rating, RetrievedChunk, Vote
from askloop.agent.messages import CAVEAT
from askloop.agent.prompting import documents_block
from askloop.agent.redaction import facts_in, redact

__all__ = [
    "Example",
    "PromptTexts",
    "build_example",
    "content_key",
    "question_key",
    "scrubbed_chunk",
]

#: version -> prompt text, or None when the log does not know that version.
PromptTexts = Callable[[str], str | None]


@dataclass(frozen=True, slots=True)
class Example:
    answer_id: str
    tenant: str
    #: Conversation key: examples of one thread always land in the same split.
    thread: str
    #: Normalised question, to pair two answers to the same question.
    question_key: str
    #: system, earlier turns, then the user turn; OpenAI/TRL message dicts.
    prompt: list[dict[str, str]]
    #: The answer the model gave (caveat of a give-up removed).
    answer: str
    rating: str | None
    correction: str
    #: The chunks shown as documents [1]..[n] (RAFT needs them), and what the search
    #: returned besides (hard negatives).
    shown: tuple[RetrievedChunk, ...]
    cited: tuple[str, ...]
    retrieved: tuple[RetrievedChunk, ...]
    #: Prompt name -> version used at answer time.
    versions: dict[str, str]
    #: The question as asked (redacted like the prompt), and how it was answered.
    question: str = ""
    route: str = ""
    #: The router's decision ("retrieve" | "finetuned") and the features it decided on,
    #: when the probe router decided (not for a direct question or a dead store).
    decision: str = ""
    route_features: dict[str, float] | None = None
    #: Each user's latest vote (one anonymous vote of ``rating`` when the log keeps none).
    votes: tuple[Vote, ...] = ()


class MissingPromptError(LookupError):
    """The log has no text for a prompt version the answer used."""


def question_key(question: str) -> str:
    return " ".join(re.findall(r"\w+", question.lower()))


def content_key(*parts: str) -> str:
    """Hash of whitespace- and case-normalised content: near-identical texts collide."""
    norm = "\x1f".join(" ".join(p.lower().split()) for p in parts)
    return hashlib.sha256(norm.encode()).hexdigest()


@lru_cache(maxsize=50_000)
def scrubbed_chunk(chunk: RetrievedChunk, *, personal: bool = False) -> RetrievedChunk:
    """``chunk`` with secrets removed (and personal data, with ``personal``): documents
    keep the phone numbers and addresses they publish unless the operator says not to."""
    return replace(
        chunk,
        title=redact(chunk.title, personal=personal),
        text=redact(chunk.text, personal=personal),
        heading_path=tuple(redact(h, personal=personal) for h in chunk.heading_path),
    )


@lru_cache(maxsize=50_000)
def _facts(chunk: RetrievedChunk) -> frozenset[str]:
    return facts_in(chunk.text)


def build_example(
    item: LoggedAnswer, texts: PromptTexts, *, scrub: bool = True, redact_documents: bool = False
) -> Example:
    """The example of ``item``. With ``scrub``, users' text (question, history, correction)
    and the answer lose personal data, except facts the shown documents publish; every
    text loses secrets; ``redact_documents`` redacts the documents' personal data too."""
    r = item.record

    def prompt_text(name: str) -> str:
        version = r.prompt_versions.get(name)
        text = texts(version) if version else None
        if text is None:
            raise MissingPromptError(f"no text for prompt {name} version {version}")
        return text

    by_id = {c.chunk_id: c for c in r.retrieved}
    shown = tuple(by_id[cid] for cid in r.context if cid in by_id)
    keep: frozenset[str] = frozenset()
    if scrub and not redact_documents:
        keep = frozenset().union(*(_facts(c) for c in shown))
    clean: Callable[[str], str] = partial(redact, keep=keep) if scrub else (lambda s: s)
    question = clean(r.question)  # redacted once: the prompt and the router record share it
    if shown:
        system_name = "answer_direct" if r.route == "finetuned" else "answer_with_context"
        template = prompt_text("context_message")
        # Chunks recur across answers: redact each distinct text once.
        docs = [scrubbed_chunk(c, personal=redact_documents) if scrub else c for c in shown]
        user = template.format(documents=documents_block(docs), question=question)
    else:
        system_name, user = "answer_direct", question
    messages = [{"role": "system", "content": prompt_text(system_name)}]
    messages += [{"role": h["role"], "content": clean(h["content"])} for h in r.history]
    messages.append({"role": "user", "content": user})
    answer = r.answer.removeprefix(CAVEAT)
    step = next((s for s in r.trace if s.node == "route"), None)
    features = step.detail.get("features") if step is not None else None
    return Example(
        answer_id=r.answer_id,
        tenant=r.tenant,
        thread=f"{r.tenant}:{r.platform}:{r.conversation_id or r.answer_id}",
        question_key=question_key(r.question),
        prompt=messages,
        answer=clean(answer),
        rating=_rating(item),
        # A reviewer's gold answer outranks the user's raw correction.
        correction=clean(item.gold or item.correction),
        shown=shown,
        cited=tuple(c.chunk_id for c in r.citations),
        retrieved=r.retrieved,
        versions=dict(r.prompt_versions),
        question=question,
        route=r.route,
        decision=step.verdict if step is not None else "",
        route_features=dict(features) if isinstance(features, dict) else None,
        votes=item.votes or _anonymous_vote(item),
    )


def _rating(item: LoggedAnswer) -> Rating | None:
    """The users' rating; for an answer only a reviewer judged, the reviewer's: a gold
    answer that replaces it says 👎 (with the gold as its correction), one that keeps it
    says 👍."""
    if item.rating is not None or not item.gold.strip():
        return item.rating
    return "up" if item.gold.strip() == item.record.answer.strip() else "down"


def _anonymous_vote(item: LoggedAnswer) -> tuple[Vote, ...]:
    rating = _rating(item)
    if rating is None:
        return ()
    return (Vote(f"answer:{item.record.answer_id}", (item.record.created_at, 0), rating),)
