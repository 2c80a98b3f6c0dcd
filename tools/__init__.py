"""LangChain tools over the Assistant service: the plugin surface for other agents.

Importing this package does no work and loads nothing heavy: plugin hosts import it at
startup. ``load_tools()`` wires askloop from its settings on the first call.

    from askloop.tools import load_tools
    agent_tools = load_tools(tenant="acme")  # BaseTools for any LangChain/LangGraph agent
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from langchain_core.tools import BaseTool

    from askloop.agent.service import Assistant

__all__ = ["build_tools", "load_tools"]


def build_tools(assistant: Assistant, *, tenant: str) -> list[BaseTool]:
    """The askloop tools over ``assistant``, bound to ``tenant``."""
    from askloop.tools.knowledge import build_tools as build

    return build(assistant, tenant=tenant)


def load_tools(*, tenant: str | None = None) -> list[BaseTool]:
    """The plugin-host entry point: askloop's tools, configured from its settings.

    The first call reads the settings (environment, ``ASKLOOP_CONFIG``) and wires askloop
    once for the process (shared with the CLI and the host graph in the same process); it
    is closed at exit. Models load on their first use, not here. ``tenant`` defaults to
    the settings' ``default_tenant``.
    """
    from askloop.integrations.wiring import process_services

    services = process_services()
    return build_tools(services.assistant, tenant=tenant or services.settings.default_tenant)
