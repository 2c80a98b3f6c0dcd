"""Socket Mode: the same Bolt app fed over Slack's WebSocket (when SLACK_APP_TOKEN is set).

Useful behind a firewall or on a laptop: no public URL, no request signing (the
WebSocket is authenticated by the app-level token). The connection is opened in the
background at server start so a slow or failing Slack never delays serving HTTP;
slack_sdk reconnects on its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

__all__ = ["SocketMode"]

log = logging.getLogger(__name__)


class SocketMode:
    def __init__(
        self,
        bolt: AsyncApp,
        *,
        app_token: str,
        web_client: AsyncWebClient,
        ping_interval: float = 10.0,
    ) -> None:
        self._bolt = bolt
        self._app_token = app_token
        self._web_client = web_client
        self._ping_interval = ping_interval
        self._handler: AsyncSocketModeHandler | None = None
        self._connecting: asyncio.Task[None] | None = None

    @property
    def handler(self) -> AsyncSocketModeHandler | None:
        return self._handler

    async def start(self) -> None:
        """Begin connecting (returns at once; the client needs a running loop)."""
        self._handler = AsyncSocketModeHandler(
            self._bolt,
            self._app_token,
            web_client=self._web_client,
            logger=logging.getLogger("askloop.integrations.slack.socket"),
            ping_interval=self._ping_interval,
        )
        self._connecting = asyncio.create_task(self._connect(), name="slack-socket-mode")

    async def _connect(self) -> None:
        assert self._handler is not None
        await self._handler.connect_async()
        log.info("Slack Socket Mode connected")

    async def close(self) -> None:
        if self._connecting is not None and not self._connecting.done():
            self._connecting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._connecting
        if self._handler is not None:
            try:
                await self._handler.close_async()
            except Exception as exc:
                log.warning("closing Slack Socket Mode failed: %s", exc)
