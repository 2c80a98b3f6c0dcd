"""What the ``askloop`` command says on stderr, in one format for every subcommand:
``askloop: error: ...``, ``askloop: warning: ...``, ``askloop: ...`` (a note)."""

from __future__ import annotations

import sys

__all__ = ["error", "note", "warning"]


def error(message: str) -> None:
    print(f"askloop: error: {message}", file=sys.stderr, flush=True)


def warning(message: str) -> None:
    print(f"askloop: warning: {message}", file=sys.stderr, flush=True)


def note(message: str) -> None:
    """What the command is doing or did, beside its output (loading a model, a data dir made)."""
    print(f"askloop: {message}", file=sys.stderr, flush=True)
