"""Hosted chat models behind the ``ChatModel`` port: Anthropic and OpenAI (or compatible).

The SDKs' own retries are off; tenacity owns them so every provider behaves the same:
429, 408, 409, 5xx, timeouts and connection errors are retried a bounded number of
times with exponential backoff and jitter, honouring ``Retry-After``; anything else
(bad key, bad request) fails at once. After the last attempt the caller gets a
``ModelUnavailableError`` with a short message; the detail is in the log.
"""

from __future__ import annotations

import email.utils
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)

from askloop.agent.chat import Completion, Message
from askloop.agent.errors import ModelUnavailableError

__all__ = ["AnthropicChatModel", "OpenAIChatModel", "RetryPolicy", "is_retryable"]

log = logging.getLogger(__name__)

T = TypeVar("T")
_RETRY_STATUS = frozenset({408, 409, 429})


def _status(exc: BaseException) -> int | None:
    status = getattr(exc, "status_code", None)
    return status if isinstance(status, int) else None


def is_retryable(exc: BaseException) -> bool:
    """Rate limits, server errors, timeouts and dropped connections are worth a retry."""
    name = type(exc).__name__
    if name in {"APIConnectionError", "APITimeoutError"}:
        return True
    status = _status(exc)
    return status is not None and (status in _RETRY_STATUS or status >= 500)


def retry_after_seconds(exc: BaseException) -> float | None:
    """The server's requested wait, from ``retry-after-ms`` or ``retry-after``."""
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if not headers:
        return None
    if ms := headers.get("retry-after-ms"):
        try:
            return float(ms) / 1000
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value)
        return max(0.0, parsed.timestamp() - time.time()) if parsed else None


class RetryPolicy:
    """Bounded attempts, exponential backoff with jitter, ``Retry-After`` honoured."""

    def __init__(
        self,
        *,
        attempts: int = 4,
        initial: float = 0.5,
        maximum: float = 20.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.attempts = attempts
        self._backoff = wait_random_exponential(multiplier=initial, max=maximum)
        self._maximum = maximum
        self._sleep = sleep

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        asked = retry_after_seconds(exc) if exc else None
        if asked is not None:
            return min(asked, self._maximum)
        return float(self._backoff(state))

    def call(self, fn: Callable[[], T], *, what: str) -> T:
        retrying = Retrying(
            stop=stop_after_attempt(self.attempts),
            wait=self._wait,
            retry=retry_if_exception(is_retryable),
            sleep=self._sleep,
            reraise=True,
            before_sleep=lambda s: log.warning(
                "%s failed (%s); retry %d of %d",
                what,
                s.outcome.exception() if s.outcome else "?",
                s.attempt_number,
                self.attempts - 1,
            ),
        )
        try:
            return retrying(fn)
        except Exception as exc:
            status = _status(exc)
            log.warning("%s failed for good: %r", what, exc)
            detail = f"HTTP {status}" if status else type(exc).__name__
            raise ModelUnavailableError(
                f"{what} is unavailable ({detail}); {_hint(what, status)}"
            ) from exc


def _hint(what: str, status: int | None) -> str:
    """What to do about a failed call, by its HTTP status (the provider's text is logged)."""
    if status in (401, 403):
        key = "ANTHROPIC_API_KEY" if what.startswith("anthropic:") else "OPENAI_API_KEY"
        return f"check {key}"
    if status in (400, 404, 422):
        return "check the model name in the settings"
    if status == 429:
        return "the provider is rate-limiting askloop; try again later"
    return "try again later"


def _split_system(messages: Sequence[Message]) -> tuple[str, list[dict[str, str]]]:
    system = "\n\n".join(m.content for m in messages if m.role == "system")
    rest = [{"role": m.role, "content": m.content} for m in messages if m.role != "system"]
    return system, rest


class AnthropicChatModel:
    def __init__(
        self,
        *,
        model: str,
        api_key: str,
        base_url: str | None = None,
        timeout: float = 60.0,
        retry: RetryPolicy | None = None,
        context_tokens: int = 200_000,
    ) -> None:
        from anthropic import Anthropic

        self._client = Anthropic(api_key=api_key, base_url=base_url, max_retries=0, timeout=timeout)
        self._model = model
        self._retry = retry or RetryPolicy()
        self._context_tokens = context_tokens

    @property
    def model_id(self) -> str:
        return f"anthropic:{self._model}"

    @property
    def context_tokens(self) -> int:
        return self._context_tokens

    def _request(
        self, messages: Sequence[Message], max_tokens: int, stop: Sequence[str]
    ) -> dict[str, Any]:
        system, rest = _split_system(messages)
        # The current Messages API sets sampling per model; ``temperature`` is not sent.
        kwargs: dict[str, Any] = {"model": self._model, "max_tokens": max_tokens, "messages": rest}
        if system:
            kwargs["system"] = system
        if stop:
            kwargs["stop_sequences"] = list(stop)
        return kwargs

    def complete(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int = 512,
        temperature: float = 0.0,
        stop: Sequence[str] = (),
    ) -> Completion:
        kwargs = self._request(messages, max_tokens, stop)
        resp = self._retry.call(lambda: self._client.messages.create(**kwargs), what=self.model_id)
        text = "".join(getattr(block, "text", "") for block in resp.content)
        return Completion(
            text=text,
            model=self.model_id,
            input_tokens=resp.usage.input_tokens,
            output_tokens=resp.usage.output_tokens,
            finish_reason=resp.stop_reason,
        )

    def stream(
        self,
        messages: Sequence[Message],
        *,
        on_text: Callable[[str], None],
        max_tokens: int = 512,
        temperature: float = 0.0,
        stop: Sequence[str] = (),
    ) -> Completion:
        kwargs = self._request(messages, max_tokens, stop) | {"stream": True}
        # An HTTP error (429, 5xx) surfaces here, before any text: that part is retried.
        events = self._retry.call(
            lambda: self._client.messages.create(**kwargs), what=self.model_id
        )
        pieces: list[str] = []
        usage: dict[str, int | None] = {"input": None, "output": None}
        finish: str | None = None
        with _mid_stream(self.model_id, events):
            for event in events:
                if event.type == "message_start":
                    usage["input"] = event.message.usage.input_tokens
                elif event.type == "content_block_delta" and event.delta.type == "text_delta":
                    pieces.append(event.delta.text)
                    on_text(event.delta.text)
                elif event.type == "message_delta":
                    finish = event.delta.stop_reason or finish
                    usage["output"] = event.usage.output_tokens
        return Completion(
            text="".join(pieces),
            model=self.model_id,
            input_tokens=usage["input"],
            output_tokens=usage["output"],
            finish_reason=finish,
        )


class OpenAIChatModel:
    """OpenAI chat completions; with ``base_url``, any OpenAI-compatible server."""

    def __init__(
        self,
        *,
        model: str,
        api_key: str,
        base_url: str | None = None,
        timeout: float = 60.0,
        retry: RetryPolicy | None = None,
        context_tokens: int = 128_000,
    ) -> None:
        from openai import OpenAI

        self._client = OpenAI(api_key=api_key, base_url=base_url, max_retries=0, timeout=timeout)
        self._model = model
        self._retry = retry or RetryPolicy()
        self._context_tokens = context_tokens
        # The official API wants max_completion_tokens; compatible servers know max_tokens.
        self._max_tokens_key = "max_tokens" if base_url else "max_completion_tokens"

    @property
    def model_id(self) -> str:
        return f"openai:{self._model}"

    @property
    def context_tokens(self) -> int:
        return self._context_tokens

    def _request(
        self,
        messages: Sequence[Message],
        max_tokens: int,
        temperature: float,
        stop: Sequence[str],
    ) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "model": self._model,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "temperature": temperature,
            self._max_tokens_key: max_tokens,
        }
        if stop:
            kwargs["stop"] = list(stop)
        return kwargs

    def complete(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int = 512,
        temperature: float = 0.0,
        stop: Sequence[str] = (),
    ) -> Completion:
        kwargs = self._request(messages, max_tokens, temperature, stop)
        resp = self._retry.call(
            lambda: self._client.chat.completions.create(**kwargs), what=self.model_id
        )
        choice = resp.choices[0]
        usage = resp.usage
        return Completion(
            text=choice.message.content or "",
            model=self.model_id,
            input_tokens=usage.prompt_tokens if usage else None,
            output_tokens=usage.completion_tokens if usage else None,
            finish_reason=choice.finish_reason,
        )

    def stream(
        self,
        messages: Sequence[Message],
        *,
        on_text: Callable[[str], None],
        max_tokens: int = 512,
        temperature: float = 0.0,
        stop: Sequence[str] = (),
    ) -> Completion:
        kwargs = self._request(messages, max_tokens, temperature, stop)
        kwargs["stream"] = True
        if self._max_tokens_key == "max_completion_tokens":  # the official API only
            kwargs["stream_options"] = {"include_usage": True}
        # An HTTP error (429, 5xx) surfaces here, before any text: that part is retried.
        chunks = self._retry.call(
            lambda: self._client.chat.completions.create(**kwargs), what=self.model_id
        )
        pieces: list[str] = []
        finish: str | None = None
        usage: Any = None
        with _mid_stream(self.model_id, chunks):
            for chunk in chunks:
                usage = chunk.usage or usage
                for choice in chunk.choices:
                    piece = choice.delta.content if choice.delta else None
                    if piece:
                        pieces.append(piece)
                        on_text(piece)
                    finish = choice.finish_reason or finish
        return Completion(
            text="".join(pieces),
            model=self.model_id,
            input_tokens=usage.prompt_tokens if usage else None,
            output_tokens=usage.completion_tokens if usage else None,
            finish_reason=finish,
        )


@contextmanager
def _mid_stream(what: str, stream: Any) -> Iterator[None]:
    """A stream that breaks after text was sent is not retried (the reader has seen
    part of it): it becomes ``ModelUnavailableError``, and the connection is closed."""
    try:
        yield
    except Exception as exc:
        log.warning("%s stopped mid-answer: %r", what, exc)
        raise ModelUnavailableError(f"{what} stopped mid-answer") from exc
    finally:
        close = getattr(stream, "close", None)
        if close is not None:
            close()
