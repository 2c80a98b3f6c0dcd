"""Typed errors raised inside askloop; adapters turn them into short human messages."""

from __future__ import annotations

__all__ = [
    "AnswerFailedError",
    "AskloopError",
    "EmbedderError",
    "IncompatibleStoreError",
    "InvalidInputError",
    "LogUnavailableError",
    "ModelUnavailableError",
    "StoreUnavailableError",
    "UnknownAnswerError",
]


class AskloopError(Exception):
    """Base class. ``str(exc)`` is safe to show to a user; details go to the log."""


class InvalidInputError(AskloopError):
    """The caller's input cannot be used (empty query, bad k, unknown mode, bad filter)."""


class StoreUnavailableError(AskloopError):
    """The knowledge base cannot be reached or read right now."""


class IncompatibleStoreError(AskloopError):
    """The knowledge base was built differently (other embedder, other schema)."""


class EmbedderError(AskloopError):
    """The embedding model could not be loaded or failed to embed."""


class ModelUnavailableError(AskloopError):
    """A chat model failed after its retries (rate limit, outage, timeout, bad key)."""


class UnknownAnswerError(AskloopError):
    """Feedback names an answer the log does not hold (or not in this tenant)."""


class LogUnavailableError(AskloopError):
    """The answer/feedback log database cannot be reached or written."""


class AnswerFailedError(AskloopError):
    """Answering failed unexpectedly; the detail is in the log."""
