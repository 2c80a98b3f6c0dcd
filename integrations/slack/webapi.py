"""The Slack Web API as askloop uses it: one client, retries, throttling, clear faults.

slack_sdk retries 429s after ``Retry-After`` (``AsyncRateLimitErrorRetryHandler``),
500/503 and dropped connections; what still fails becomes a :class:`SlackCallError`
with Slack's error code, logged here in one line that says what to do — never a stack
trace. A revoked or rejected token switches posting off until the next start.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from typing import Any, Literal

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from askloop.config.settings import SlackSettings
from askloop.integrations.pacing import Clock, KeyedPacer, Sleep

__all__ = ["AUTH_ERRORS", "Identity", "OutMessage", "SlackApi", "SlackCallError"]

log = logging.getLogger(__name__)

#: Errors that mean the token no longer works: nothing can be posted until a restart.
AUTH_ERRORS = frozenset(
    {"invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive"}
)
_TIMEOUT_SECONDS = 15
_IDENTITY_RETRY_SECONDS = 10.0


class SlackCallError(Exception):
    """A Web API call failed for good; ``error`` is Slack's code (or ``http_<status>``)."""

    def __init__(self, method: str, error: str, *, channel: str | None = None) -> None:
        super().__init__(f"{method}: {error}")
        self.method = method
        self.error = error
        self.channel = channel


@dataclass(frozen=True, slots=True)
class Identity:
    """Who the bot is (``auth.test``); empty while unknown."""

    user_id: str | None = None
    bot_id: str | None = None


@dataclass(frozen=True, slots=True)
class OutMessage:
    """A message to post: Block Kit blocks plus the notification text."""

    text: str
    blocks: tuple[dict[str, Any], ...] = ()


def _describe(err: SlackCallError) -> tuple[int, str]:
    """Log level and an actionable line for a failed call."""
    where = f" in {err.channel}" if err.channel else ""
    e = err.error
    if e in AUTH_ERRORS:
        return logging.ERROR, (
            f"Slack rejected the bot token ({e}) on {err.method}: askloop stops posting to "
            "Slack until restarted with a working SLACK_BOT_TOKEN (reinstall the app if it "
            "was removed)"
        )
    if e == "not_in_channel":
        return logging.WARNING, (
            f"askloop is not a member of channel {err.channel}: invite it there "
            "(/invite @askloop) so it can answer"
        )
    if e == "channel_not_found":
        return logging.WARNING, f"Slack channel {err.channel} not found or not visible to the bot"
    if e in ("ratelimited", "http_429"):
        return logging.WARNING, f"Slack still rate-limits {err.method}{where} after retrying"
    if e.startswith("http_5") or e == "connection_error":
        return (
            logging.WARNING,
            f"Slack Web API unavailable for {err.method}{where} ({e}) after retrying",
        )
    if e == "msg_too_long":
        return logging.INFO, f"Slack refused a message as too long{where}; splitting it further"
    return logging.WARNING, f"Slack Web API {err.method} failed{where}: {e}"


class SlackApi:
    """One ``AsyncWebClient`` (one HTTP session) for everything askloop posts."""

    def __init__(
        self,
        settings: SlackSettings,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        token = settings.bot_token.get_secret_value() if settings.bot_token else None
        self.client = AsyncWebClient(
            token=token,
            base_url=settings.api_url,
            timeout=_TIMEOUT_SECONDS,
            logger=logging.getLogger("askloop.integrations.slack.sdk"),
            retry_handlers=[
                AsyncConnectionErrorRetryHandler(max_retry_count=2),
                AsyncRateLimitErrorRetryHandler(max_retry_count=3),
                AsyncServerErrorRetryHandler(max_retry_count=2),
            ],
        )
        # Status lines, titles and prompts are not worth waiting for: never retried.
        self._quick = AsyncWebClient(
            token=token,
            base_url=settings.api_url,
            timeout=_TIMEOUT_SECONDS,
            logger=logging.getLogger("askloop.integrations.slack.sdk"),
            retry_handlers=[],
        )
        # Slack accepts about one message per second per channel: askloop's own posts and
        # edits are spaced (in the order they asked) rather than refused with 429s.
        # Per process; a 429 that still happens is retried by slack_sdk.
        #: Time as the API and the reply writers see it (tests inject simulated time).
        self.clock, self.sleep = clock, sleep
        self.pacer = KeyedPacer(
            limit=1, window=settings.post_interval_seconds, clock=clock, sleep=sleep
        )
        #: Why posting is switched off (a revoked/rejected token, an uninstall), or None.
        self.disabled: str | None = None
        self._identity: Identity | None = None
        self._identity_lock = asyncio.Lock()
        self._identity_failed_at = -_IDENTITY_RETRY_SECONDS

    async def start(self) -> None:
        """Open the HTTP session (inside the running loop)."""
        if self.client.session is None or self.client.session.closed:
            self.client.session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=_TIMEOUT_SECONDS)
            )
        self._quick.session = self.client.session

    async def close(self) -> None:
        session = self.client.session
        if session is not None and not session.closed:
            await session.close()

    def disable(self, reason: str) -> None:
        if self.disabled is None:
            self.disabled = reason

    async def _call(
        self,
        method: str,
        send: Callable[[], Awaitable[Any]],
        *,
        channel: str | None = None,
        quiet: Collection[str] | Literal[True] = (),
    ) -> dict[str, Any]:
        if self.disabled:
            raise SlackCallError(method, "disabled", channel=channel)
        try:
            response = await send()
        except SlackApiError as exc:
            data = exc.response.data if isinstance(exc.response.data, dict) else {}
            error = str(data.get("error") or f"http_{exc.response.status_code}")
            err = SlackCallError(method, error, channel=channel)
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.debug("Slack %s: %s", method, exc)
            err = SlackCallError(method, "connection_error", channel=channel)
        else:
            return dict(response.data) if isinstance(response.data, dict) else {}
        if err.error in AUTH_ERRORS:
            self.disable(err.error)
        if err.error in AUTH_ERRORS or (quiet is not True and err.error not in quiet):
            level, line = _describe(err)
            log.log(level, "%s", line)
        raise err

    # -- who we are -------------------------------------------------------------------

    @property
    def known_identity(self) -> Identity:
        """The identity if ``auth.test`` has answered already (no I/O)."""
        return self._identity or Identity()

    async def identity(self) -> Identity:
        """The bot's user and bot ids (``auth.test``, once); empty if it cannot be known
        right now (asked again after a pause)."""
        if self._identity is not None:
            return self._identity
        async with self._identity_lock:
            if self._identity is not None:
                return self._identity
            if self.clock() - self._identity_failed_at < _IDENTITY_RETRY_SECONDS:
                return Identity()
            try:
                data = await self._call("auth.test", self.client.auth_test)
            except SlackCallError:
                self._identity_failed_at = self.clock()
                return Identity()
            self._identity = Identity(user_id=data.get("user_id"), bot_id=data.get("bot_id"))
            return self._identity

    # -- messages -------------------------------------------------------------------

    async def post(
        self,
        channel: str,
        message: OutMessage,
        *,
        thread_ts: str | None = None,
        quiet: Collection[str] = (),
    ) -> str:
        """Post a message (in a thread when ``thread_ts``); returns its ts."""
        async with self.pacer.slot(channel):
            data = await self._call(
                "chat.postMessage",
                lambda: self.client.chat_postMessage(
                    channel=channel,
                    thread_ts=thread_ts,
                    text=message.text,
                    blocks=list(message.blocks) or None,
                    unfurl_links=False,
                    unfurl_media=False,
                ),
                channel=channel,
                quiet=quiet,
            )
        return str(data.get("ts") or "")

    async def update(
        self, channel: str, ts: str, message: OutMessage, *, quiet: Collection[str] = ()
    ) -> None:
        async with self.pacer.slot(channel):
            await self._call(
                "chat.update",
                lambda: self.client.chat_update(
                    channel=channel, ts=ts, text=message.text, blocks=list(message.blocks) or []
                ),
                channel=channel,
                quiet=quiet,
            )

    # -- a message typed in as it is written (chat.startStream/appendStream/stopStream) -

    async def start_stream(
        self,
        channel: str,
        thread_ts: str,
        markdown: str,
        *,
        recipient_user: str | None = None,
        recipient_team: str | None = None,
        quiet: Collection[str] | Literal[True] = (),
    ) -> str:
        """Start a streamed thread reply showing ``markdown``; returns its ts. Outside a
        direct message Slack wants the user and team it is written for."""
        async with self.pacer.slot(channel):
            data = await self._call(
                "chat.startStream",
                lambda: self.client.chat_startStream(
                    channel=channel,
                    thread_ts=thread_ts,
                    markdown_text=markdown or None,
                    recipient_user_id=recipient_user or None,
                    recipient_team_id=recipient_team or None,
                ),
                channel=channel,
                quiet=quiet,
            )
        return str(data.get("ts") or "")

    async def append_stream(self, channel: str, ts: str, markdown: str) -> None:
        """Add ``markdown`` (only the new text) to a streamed message."""
        async with self.pacer.slot(channel):
            await self._call(
                "chat.appendStream",
                lambda: self.client.chat_appendStream(
                    channel=channel, ts=ts, markdown_text=markdown
                ),
                channel=channel,
            )

    async def stop_stream(
        self,
        channel: str,
        ts: str,
        *,
        markdown: str = "",
        blocks: Collection[dict[str, Any]] = (),
        quiet: Collection[str] = (),
    ) -> None:
        """Finish a streamed message: ``markdown`` is appended first, ``blocks`` are shown
        below the text."""
        async with self.pacer.slot(channel):
            await self._call(
                "chat.stopStream",
                lambda: self.client.chat_stopStream(
                    channel=channel,
                    ts=ts,
                    markdown_text=markdown or None,
                    blocks=list(blocks) or None,
                ),
                channel=channel,
                quiet=quiet,
            )

    async def ephemeral(
        self, channel: str, user: str, text: str, *, thread_ts: str | None = None
    ) -> None:
        await self._call(
            "chat.postEphemeral",
            lambda: self.client.chat_postEphemeral(
                channel=channel, user=user, text=text, thread_ts=thread_ts
            ),
            channel=channel,
        )

    async def open_view(self, trigger_id: str, view: dict[str, Any]) -> None:
        await self._call(
            "views.open", lambda: self.client.views_open(trigger_id=trigger_id, view=view)
        )

    # -- assistant threads (the AI-app surface) ---------------------------------------

    async def _cosmetic(
        self, method: str, send: Callable[[], Awaitable[Any]], channel: str
    ) -> None:
        """Status lines, titles, prompts: nice to have, so they are not retried and a
        failure is a debug line (a thread that is not an assistant thread refuses them);
        auth errors still count."""
        try:
            await self._call(method, send, channel=channel, quiet=True)
        except SlackCallError as err:
            log.debug("Slack %s in %s: %s", method, channel, err.error)

    async def set_status(
        self, channel: str, thread_ts: str, status: str, *, loading: Collection[str] = ()
    ) -> None:
        """The "is thinking…" line under a thread (cleared by the next reply)."""
        await self._cosmetic(
            "assistant.threads.setStatus",
            lambda: self._quick.assistant_threads_setStatus(
                channel_id=channel,
                thread_ts=thread_ts,
                status=status,
                loading_messages=list(loading) or None,
            ),
            channel,
        )

    async def set_title(self, channel: str, thread_ts: str, title: str) -> None:
        await self._cosmetic(
            "assistant.threads.setTitle",
            lambda: self._quick.assistant_threads_setTitle(
                channel_id=channel, thread_ts=thread_ts, title=title
            ),
            channel,
        )

    async def set_suggested_prompts(
        self, channel: str, thread_ts: str, prompts: Collection[str], *, title: str
    ) -> None:
        await self._cosmetic(
            "assistant.threads.setSuggestedPrompts",
            lambda: self._quick.assistant_threads_setSuggestedPrompts(
                channel_id=channel,
                thread_ts=thread_ts,
                title=title,
                prompts=[{"title": p[:75], "message": p} for p in prompts],
            ),
            channel,
        )
