"""``askloop serve [--host H] [--port P]``: the HTTP server for Slack and Teams."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable
from typing import Any

from askloop.integrations.cli import say

__all__ = ["add_parser", "run"]


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port must be 0-65535, got {value}")
    return value


def add_parser(sub: Any) -> None:
    p = sub.add_parser("serve", help="HTTP server: Slack, Teams, /healthz, /metrics")
    p.add_argument("--host", help="interface to listen on (default: settings, 127.0.0.1)")
    p.add_argument("--port", type=_port, help="port (default: settings, 3000; 0 = any free)")


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's event loop when it is installed (a dependency on Linux and macOS): it
    accepts, reads and answers a burst of requests in about half the CPU of asyncio's
    own loop; without it (Windows), asyncio's."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def run(args: argparse.Namespace, services: Any) -> int:
    from askloop.integrations.server.app import serve
    from askloop.integrations.server.runtime import ServerRuntime

    settings = services.settings
    host = args.host or settings.server.host
    port = settings.server.port if args.port is None else args.port
    try:
        with asyncio.Runner(loop_factory=_loop_factory()) as runner:
            runner.run(serve(ServerRuntime(services), host=host, port=port))
    except OSError as exc:
        say.error(f"cannot listen on {host}:{port}: {exc.strerror or exc}")
        return 2
    return 0
