"""Teams: the Bot Framework adapter behind ``POST /api/messages`` (work in progress)."""

from __future__ import annotations

from typing import Any

__all__ = ["mount"]


def mount(app: Any, runtime: Any) -> None:
    """Register the Teams routes on the server's aiohttp app."""
