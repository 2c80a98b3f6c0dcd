"""Bot Connector clients shared across turns.

botbuilder builds a new ``ConnectorClient`` (and a new HTTP session, so a new TCP and
TLS connection) for every inbound activity, which costs ~4 ms of event-loop time before
anything is sent. askloop keeps one client per ``serviceUrl`` and audience instead, and
closes them all at shutdown.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from typing import Any

from botframework.connector.auth import ConnectorFactory

__all__ = ["SharedConnectors"]

log = logging.getLogger(__name__)

#: serviceUrls are a handful of Teams regions; with authentication off anyone can name
#: one, so the cache is bounded (clients beyond it are not shared).
_MAX_CLIENTS = 64


class SharedConnectors:
    def __init__(self) -> None:
        self._clients: OrderedDict[tuple[str, str | None], Any] = OrderedDict()
        self._closed = False

    def wrap(self, factory: ConnectorFactory) -> ConnectorFactory:
        return _SharedConnectorFactory(factory, self)

    async def get(self, factory: ConnectorFactory, service_url: str, audience: str | None) -> Any:
        key = (service_url, audience)
        client = self._clients.get(key)
        if client is None:
            client = await factory.create(service_url, audience)
            if len(self._clients) < _MAX_CLIENTS and not self._closed:
                client = self._clients.setdefault(key, client)
        # Credentials fetch a fresh token off the event loop when theirs is getting old.
        refresh = getattr(client.config.credentials, "refresh", None)
        if refresh is not None:
            await refresh()
        return client

    async def aclose(self) -> None:
        self._closed = True
        clients, self._clients = list(self._clients.values()), OrderedDict()
        for client in clients:
            try:
                await client.__aexit__(None, None, None)
            except Exception:
                log.debug("teams: closing a connector client failed", exc_info=True)


class _SharedConnectorFactory(ConnectorFactory):
    def __init__(self, inner: ConnectorFactory, shared: SharedConnectors) -> None:
        self._inner = inner
        self._shared = shared

    async def create(self, service_url: str, audience: str | None = None) -> Any:
        return await self._shared.get(self._inner, service_url, audience)
