"""The askloop tools an agent can call: search the knowledge base, ask, ask the tuned
model, and pass on a user's 👍/👎 on an answer.

The tenant is fixed when the tools are built, never an argument, so a calling agent cannot
read another tenant's knowledge base. Every failure reaches the agent as a short message
(a ``ToolException`` the tool turns into its result); the detail goes to the log.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

from langchain_core.tools import BaseTool, StructuredTool, ToolException
from pydantic import BaseModel, Field, ValidationError

from askloop.agent.answers import CORRECTION_MAX_CHARS, REASON_MAX_CHARS, Turn
from askloop.agent.errors import AskloopError, InvalidInputError
from askloop.agent.service import Assistant
from askloop.config.settings import validate_tenant

__all__ = ["MAX_K", "build_tools"]

log = logging.getLogger(__name__)

#: The most hits one search returns: more would flood the calling agent's context.
MAX_K = 20

SEARCH_DESCRIPTION = (
    "Search the company knowledge base (internal documentation, policies, runbooks) and "
    "return the most relevant passages, best first, as a list of "
    "{n, title, source, url, score, text}. Use it to look facts up yourself or to quote "
    "sources; it does not write an answer (use `ask` for that). Write the query as "
    "keywords or a short question. If nothing matches, the result is a message saying so."
)
ASK_DESCRIPTION = (
    "Ask askloop, the company's question-answering assistant, and get a finished answer "
    "as {answer, route, citations, answer_id}. It decides by itself whether to search the "
    "knowledge base (the answer then cites passages as [n], listed in `citations`) or to "
    "answer from its fine-tuned model; `route` says which. Use it for questions about the "
    "company: policies, processes, systems, people. Pass the same `thread_id` for "
    "follow-up questions so it remembers the conversation."
)
RATE_DESCRIPTION = (
    "Pass on what the user thought of an askloop answer: `up` or `down`, with an optional "
    "reason and, for `down`, the correct answer. Use it when the user reacts to an answer "
    "you got from `ask` or `ask_finetuned_model` (by its answer_id); askloop learns from "
    "these ratings. Returns {answer_id, rating, ups, downs}."
)
FINETUNED_DESCRIPTION = (
    "Answer a question straight from askloop's fine-tuned model, without searching the "
    "knowledge base, so the answer has no sources and may be out of date. Returns "
    "{answer, model, answer_id}. Prefer `ask` for company-specific facts; use this for "
    "general questions, or to get the model's own view when the knowledge base has nothing."
)


class SearchArgs(BaseModel):
    query: str = Field(
        description="What to look for: keywords or a short question, in plain words."
    )
    k: int = Field(
        default=5, ge=1, le=MAX_K, description=f"How many passages to return (1-{MAX_K})."
    )


class AskArgs(BaseModel):
    question: str = Field(description="The question, in full sentences, as a colleague would ask.")
    thread_id: str = Field(
        default="",
        description="Optional conversation id: questions sharing it are answered with the "
        "earlier turns as context. Leave empty for a standalone question.",
    )


class FinetunedArgs(BaseModel):
    question: str = Field(description="The question, in full sentences.")


class RateArgs(BaseModel):
    answer_id: str = Field(
        description="The answer_id that `ask` or `ask_finetuned_model` returned."
    )
    rating: Literal["up", "down"] = Field(description="up: the answer helped; down: it did not.")
    reason: str = Field(
        default="",
        max_length=REASON_MAX_CHARS,
        description="Optional: what was good or wrong, in the user's words.",
    )
    correction: str = Field(
        default="",
        max_length=CORRECTION_MAX_CHARS,
        description="Optional, with down: the correct answer, if the user gave one.",
    )
    user: str = Field(
        default="",
        max_length=200,
        description="Optional: who rated (an id from your platform); a user's latest rating "
        "of an answer replaces their earlier one.",
    )


def build_tools(assistant: Assistant, *, tenant: str) -> list[BaseTool]:
    """The tools over ``assistant``, every one bound to ``tenant``."""
    validate_tenant(tenant)

    def search_knowledge_base(query: str, k: int = 5) -> list[dict[str, Any]] | str:
        with _reported("search_knowledge_base"):
            return _search(assistant, tenant, query, k)

    def ask(question: str, thread_id: str = "") -> dict[str, Any]:
        with _reported("ask"):
            turn = Turn(
                question=question, tenant=tenant, platform="tool", conversation_id=thread_id.strip()
            )
            record = assistant.answer(turn)
            citations = [
                {"n": c.n, "title": c.title, "url": c.url, "source": c.source}
                for c in record.citations
            ]
            return {
                "answer": record.answer,
                "route": record.route,
                "citations": citations,
                "answer_id": record.answer_id,
            }

    def ask_finetuned_model(question: str) -> dict[str, Any]:
        with _reported("ask_finetuned_model"):
            # Through the Assistant like any answer: logged, with an id to rate it by.
            turn = Turn(question=question, tenant=tenant, platform="tool", direct=True)
            record = assistant.answer(turn)
            if record.error:
                raise ToolException("Error: the fine-tuned model is unavailable; try again later.")
            return {"answer": record.answer, "model": record.model, "answer_id": record.answer_id}

    def rate_answer(
        answer_id: str,
        rating: Literal["up", "down"],
        reason: str = "",
        correction: str = "",
        user: str = "",
    ) -> dict[str, Any]:
        with _reported("rate_answer"):
            # Stored like every rating: durably, per user (hashed by the Assistant),
            # latest wins; another tenant's answer is as unknown as a missing one.
            logged = assistant.rate(
                answer_id=answer_id.strip(),
                rating=rating,
                reason=reason.strip(),
                correction=correction.strip() if rating == "down" else "",
                user=user.strip() or "agent",
                source="tool",
                platform="tool",
                tenant=tenant,
            )
            return {
                "answer_id": logged.record.answer_id,
                "rating": logged.rating,
                "ups": logged.ups,
                "downs": logged.downs,
            }

    return [
        _tool(search_knowledge_base, SearchArgs, SEARCH_DESCRIPTION),
        _tool(ask, AskArgs, ASK_DESCRIPTION),
        _tool(ask_finetuned_model, FinetunedArgs, FINETUNED_DESCRIPTION),
        _tool(rate_answer, RateArgs, RATE_DESCRIPTION),
    ]


def _tool(func: Any, schema: type[BaseModel], description: str) -> StructuredTool:
    return StructuredTool.from_function(
        func=func,
        name=func.__name__,
        description=description,
        args_schema=schema,
        handle_tool_error=True,
        handle_validation_error=_bad_arguments,
    )


def _search(assistant: Assistant, tenant: str, query: str, k: int) -> list[dict[str, Any]] | str:
    k = min(max(k, 1), MAX_K)  # the schema bounds it; direct calls are clamped
    hits = assistant.search(query, tenant=tenant, k=k, mode="hybrid")
    if not hits:
        # An empty list would reach a chat model as an empty tool message; say why instead.
        if assistant.knowledge_base_size(tenant=tenant) == 0:
            return "The knowledge base is empty: no documents have been added yet."
        return "No passages in the knowledge base match this query."
    return [
        {
            "n": n,
            "title": h.chunk.title,
            "source": h.chunk.source,
            "url": h.chunk.url,
            "score": round(h.score, 4),
            "text": h.chunk.text,
        }
        for n, h in enumerate(hits, 1)
    ]


@contextmanager
def _reported(tool: str) -> Iterator[None]:
    """Turn any failure into a ``ToolException`` with a short message for the agent."""
    try:
        yield
    except ToolException:
        raise
    except InvalidInputError as exc:
        raise ToolException(f"Invalid input: {_sentence(str(exc))}") from exc
    except AskloopError as exc:
        log.warning("tool %s failed: %s", tool, exc, exc_info=True)
        raise ToolException(f"Error: {_sentence(str(exc))}") from exc
    except Exception as exc:
        log.exception("tool %s failed unexpectedly", tool)
        raise ToolException(
            "askloop failed unexpectedly; the details are in its log. Try again later."
        ) from exc


def _bad_arguments(exc: Exception) -> str:
    errors = exc.errors() if isinstance(exc, ValidationError) else []
    problems = "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'arguments'}: {e['msg']}" for e in errors
    )
    return f"Invalid arguments: {problems or exc}."


def _sentence(text: str) -> str:
    text = text.strip() or "unknown error"
    return text if text.endswith((".", "!", "?")) else f"{text}."
