"""The chat-model port: what the graph needs from any LLM (local, Anthropic, OpenAI)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

__all__ = ["ChatModel", "Completion", "Message", "Role", "StreamingChatModel"]

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True, slots=True)
class Message:
    role: Role
    content: str


@dataclass(frozen=True, slots=True)
class Completion:
    text: str
    #: "provider:model" of the model that produced it (recorded with the answer).
    model: str
    input_tokens: int | None = None
    output_tokens: int | None = None
    #: "stop", "length", ... as the provider reports it.
    finish_reason: str | None = None


@runtime_checkable
class ChatModel(Protocol):
    """Generates one assistant turn. Raises ``ModelUnavailableError`` after its retries."""

    @property
    def model_id(self) -> str: ...

    @property
    def context_tokens(self) -> int:
        """How many tokens of prompt + output the model accepts."""
        ...

    def complete(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int = 512,
        temperature: float = 0.0,
        stop: Sequence[str] = (),
    ) -> Completion: ...


@runtime_checkable
class StreamingChatModel(ChatModel, Protocol):
    """A chat model that can also hand out its text while it is being generated."""

    def stream(
        self,
        messages: Sequence[Message],
        *,
        on_text: Callable[[str], None],
        max_tokens: int = 512,
        temperature: float = 0.0,
        stop: Sequence[str] = (),
    ) -> Completion:
        """Like ``complete``, calling ``on_text`` with each new piece of text (in order).

        Retries happen only before the first piece; a failure after it raises
        ``ModelUnavailableError`` like ``complete`` does.
        """
        ...
