"""The review console at ``/console/`` of ``askloop serve``: the people who own the
knowledge base see, judge and fix what the bot answered (``app`` has the routes)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aiohttp import web

    from askloop.integrations.server.runtime import ServerRuntime

__all__ = ["mount"]


def mount(app: web.Application, runtime: ServerRuntime) -> None:
    """Serve the console at ``/console/`` of the server's app."""
    from askloop.integrations.console.app import mount as mount_console

    mount_console(app, runtime)
