"""Slack: Bolt behind ``POST /slack/events`` and Socket Mode (work in progress)."""

from __future__ import annotations

from typing import Any

__all__ = ["mount"]


def mount(app: Any, runtime: Any) -> None:
    """Register the Slack routes on the server's aiohttp app."""
