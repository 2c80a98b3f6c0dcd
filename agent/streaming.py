"""A graph run that tells a listener what it is doing: a status line before each slow
step, and the answer text as the model writes it."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from askloop.agent.answers import Progress
from askloop.agent.context import Context

__all__ = ["status_after", "stream_run"]

log = logging.getLogger(__name__)


def stream_run(
    graph: Any,
    inputs: dict[str, Any],
    config: dict[str, Any],
    context: Context,
    options: dict[str, Any],
    on_progress: Callable[[Progress], None],
) -> dict[str, Any]:
    """Run the graph, telling ``on_progress`` the status and the answer text as they come;
    returns its end state."""
    result: dict[str, Any] = {}
    text = ""

    def tell(event: Progress) -> None:
        try:
            on_progress(event)
        except Exception:
            log.warning("a progress listener failed", exc_info=True)

    for mode, chunk in graph.stream(
        inputs,
        config,
        context=context,
        stream_mode=["updates", "custom", "values"],
        **options,
    ):
        if mode == "values":
            result = chunk
        elif mode == "custom":
            if isinstance(chunk, dict) and chunk.get("text"):
                text += chunk["text"]
                tell(Progress("text", text))
        else:
            for node, update in chunk.items():
                status = status_after(node, update or {})
                if status:
                    tell(Progress("status", status))
    return result


def status_after(node: str, update: dict[str, Any]) -> str | None:
    """The status line to show once ``node`` has finished, if the next step is slow."""
    if node == "route":
        if update.get("decision") == "retrieve" and not update.get("error"):
            return "Searching the knowledge base…"
        return "Writing the answer…"
    if node == "grade":
        return "Writing the answer…" if update.get("grade") == "good" else "Looking further…"
    if node == "rewrite":
        queries = update.get("queries") or []
        return f"Searching again for “{queries[-1]}”…" if queries else "Searching again…"
    return None
