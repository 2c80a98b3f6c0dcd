"""LangChain tools over the Assistant service: the plugin surface for other agents.

Importing this package does no work and loads nothing heavy: plugin hosts import it at
startup. ``load_tools()`` builds askloop from its settings on the first call.

    from tools import load_tools
    agent_tools = load_tools(tenant="acme")  # BaseTools for any LangChain/LangGraph agent
"""

from __future__ import annotations

import atexit
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from langchain_core.tools import BaseTool

    from agent.service import Assistant
    from integrations.wiring import Services

__all__ = ["build_tools", "load_tools"]

_lock = threading.Lock()
_services: Services | None = None


def build_tools(assistant: Assistant, *, tenant: str) -> list[BaseTool]:
    """The askloop tools over ``assistant``, bound to ``tenant`` (see ``tools.knowledge``)."""
    from tools.knowledge import build_tools as build

    return build(assistant, tenant=tenant)


def load_tools(*, tenant: str | None = None) -> list[BaseTool]:
    """The plugin-host entry point: askloop's tools, configured from its settings.

    The first call reads the settings (environment, ``ASKLOOP_CONFIG``) and wires askloop
    once for the process; it is closed at exit. Models load on their first use, not here.
    ``tenant`` defaults to the settings' ``default_tenant``.
    """
    global _services
    with _lock:  # Services builds lazily and is not safe to build from two threads
        if _services is None:
            _services = _wire()
        services = _services
        assistant = services.assistant
    return build_tools(assistant, tenant=tenant or services.settings.default_tenant)


def _wire() -> Services:
    from config.settings import load_settings
    from integrations.wiring import Services

    services = Services(load_settings())
    try:
        services.assistant  # noqa: B018 - wire it now, so a bad configuration fails here
    except BaseException:
        services.close()
        raise
    atexit.register(services.close)
    return services
