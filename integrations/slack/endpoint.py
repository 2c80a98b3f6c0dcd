"""``POST /slack/events``: the Events API and interactivity over HTTP.

Events API callbacks are acknowledged as soon as their signature checks out, and
Bolt routes them to the listeners right after the response has gone: under a burst
of events each acknowledgement then costs the signature check, not the routing, and
Slack's 3-second deadline is never at risk. Bolt checks the signature again when it
routes (with the same ``slack_sdk`` verifier). A signed click on the feedback buttons
is stored and then acknowledged here too, without Bolt: under a burst of clicks each
200 waits for its own commit, not for the routing of the others, and the work after a
click (the thanks, the 👎 form) waits until no request is being answered
(``background.AcksFirst``), so the 200s of a burst go out before any of it.
Everything else — reactions (a rating is stored before its 200), other interactivity
(whose response can carry modal errors), ``url_verification``, ``ssl_check``, and any
request that is not correctly signed — goes through Bolt before the response, so Bolt
answers it (401 for a bad, missing or stale signature).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from typing import Any

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest

from askloop.integrations.server.runtime import ServerRuntime
from askloop.integrations.slack.background import AcksFirst, collect
from askloop.integrations.slack.dedup import Deliveries, event_key
from askloop.integrations.slack.shape import Shape, shape
from askloop.integrations.slack.values import feedback_click

__all__ = ["EventsEndpoint", "not_configured"]

log = logging.getLogger(__name__)

_OUTCOMES = {200: "ok", 400: "malformed", 401: "bad_signature", 404: "unhandled"}
_TIMESTAMP, _SIGNATURE = "X-Slack-Request-Timestamp", "X-Slack-Signature"
_Headers = dict[str, str | Sequence[str]]
#: Slack's request timestamps are Unix seconds; a longer one is no clock's and would
#: overflow the float comparison in slack_sdk's verifier.
_MAX_TIMESTAMP_DIGITS = 12
_TOLERANCE_SECONDS = 60 * 5
#: Events whose work is one quick write that must be durable before Slack's 200.
_STORED_BEFORE_ACK = frozenset({"reaction_added", "reaction_removed"})


def _headers(request: web.Request) -> _Headers:
    return dict(request.headers)


def not_configured(missing: str) -> Any:
    """The handler when Slack credentials are missing: 503, saying what to set."""

    async def handler(request: web.Request) -> web.Response:
        detail = f"Slack events are not accepted here: set {missing}"
        return web.json_response({"error": "slack_not_configured", "detail": detail}, status=503)

    return handler


class EventsEndpoint:
    """The aiohttp handler (``handle``) in front of Bolt."""

    def __init__(
        self,
        bolt: AsyncApp,
        runtime: ServerRuntime,
        deliveries: Deliveries,
        *,
        signing_secret: str,
        clicks: Callable[[dict[str, Any]], Awaitable[Coroutine[Any, Any, None]]] | None = None,
    ) -> None:
        """``clicks`` stores a signed feedback click (``values.feedback_click``) and
        returns the work for after its acknowledgement."""
        self._bolt = bolt
        self._clicks = clicks
        self._acks = AcksFirst()
        self._in_flight = runtime.metrics.answering.labels("slack")
        self._runtime = runtime
        self._deliveries = deliveries
        self._secret = signing_secret.encode()
        self._routing = asyncio.Lock()

    def _count(self, status: int, outcome: str | None = None) -> None:
        outcome = outcome or _OUTCOMES.get(status, f"http_{status}")
        self._runtime.metrics.requests.labels("slack", outcome).inc()

    def _refuse(self, status: int, error: str) -> web.Response:
        self._count(status)
        return web.json_response({"error": error}, status=status)

    def _signed(self, raw: bytes, headers: Mapping[str, str]) -> bool:
        """Slack's v0 signature over the raw bytes (slack_sdk's verifier needs UTF-8)."""
        timestamp = headers.get(_TIMESTAMP, "")
        if not _plausible(timestamp):
            return False
        if abs(time.time() - int(timestamp)) > _TOLERANCE_SECONDS:
            return False
        base = b"v0:" + timestamp.encode() + b":" + raw
        expected = "v0=" + hmac.new(self._secret, base, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, headers.get(_SIGNATURE, ""))

    async def handle(self, request: web.Request) -> web.Response:
        with self._acks.answering(), self._in_flight.track_inprogress():
            return await self._answer(request)

    async def _answer(self, request: web.Request) -> web.Response:
        timestamp = request.headers.get(_TIMESTAMP)
        if timestamp is not None and not _plausible(timestamp):
            # slack_sdk's verifier would fail on int("") or overflow: a bad signature.
            return self._refuse(401, "invalid request")
        raw = await request.read()
        try:
            text = raw.decode()
            body = shape(text, request.content_type)
        except UnicodeDecodeError:
            body = Shape("the body is not UTF-8")
        if (wrong := body.problem) is not None:
            if not self._signed(raw, request.headers):
                return self._refuse(401, "invalid request")
            log.warning("Slack: a signed request was refused (400): %s", wrong)
            return self._refuse(400, "malformed request")
        if request.content_type == "application/json":
            early = self._events_api(raw, request)
            if early is not None:
                return early
        elif self._clicks is not None and (click := feedback_click(body.payload)) is not None:
            if self._signed(raw, request.headers):
                # Stored, then acknowledged, without Bolt's routing: under a burst of
                # clicks each 200 waits for its commit, not for the routing of others.
                after = await self._clicks(click)
                self._runtime.spawn(self._acks.after_acks(after), name="slack-feedback-click")
                self._count(200)
                return web.Response(status=200)
        try:
            bolt_request = AsyncBoltRequest(
                body=text,
                query=request.query_string,
                headers=_headers(request),
            )
        except ValueError:  # neither JSON nor a form (UnicodeDecodeError is a ValueError)
            if self._signed(raw, request.headers):
                return self._refuse(400, "malformed request")
            return self._refuse(401, "invalid request")
        response = await self._bolt.async_dispatch(bolt_request)
        self._count(response.status)
        return await to_aiohttp_response(response)

    def _events_api(self, raw: bytes, request: web.Request) -> web.Response | None:
        """Acknowledge a signed Events API callback now; None: let Bolt answer."""
        try:
            payload = json.loads(raw)
            text = raw.decode()
        except ValueError:
            return None
        kind = payload.get("type") if isinstance(payload, dict) else None
        if kind not in ("event_callback", "app_rate_limited"):
            return None
        if not self._signed(raw, request.headers):
            return None
        event = payload.get("event")
        if isinstance(event, dict) and event.get("type") in _STORED_BEFORE_ACK:
            return None  # Bolt routes it now: the rating is committed before the 200
        if kind == "app_rate_limited":
            # Not an event_callback, so no Bolt listener can take it.
            log.warning(
                "Slack is dropping events for team %s (more than 30,000 an hour since minute %s)",
                payload.get("team_id"),
                payload.get("minute_rate_limited"),
            )
            self._count(200, "app_rate_limited")
            return web.Response(status=200)
        key = event_key(str(payload.get("event_id") or ""))
        if self._deliveries.seen(key):  # a redelivery this replica has handled: done
            self._deliveries.count_duplicate(key)
            self._count(200)
            return web.Response(status=200)
        route = self._route(text, request.query_string, _headers(request))
        self._runtime.spawn(route, name="slack-event")
        self._count(200)
        return web.Response(status=200)

    async def _route(self, body: str, query: str, headers: _Headers) -> None:
        # One event at a time, after yielding to the loop: the acknowledgements of a
        # burst go out first instead of queueing behind the routing of earlier events.
        with collect() as started:
            async with self._routing:
                await asyncio.sleep(0)
                response = await self._bolt.async_dispatch(
                    AsyncBoltRequest(body=body, query=query, headers=headers)
                )
        if started:  # stay until the answer is done, so draining this task drains it
            await asyncio.wait(started)
        if response.status not in (200, 404):  # Bolt logs unhandled (404) events itself
            log.warning(
                "Slack: an acknowledged event was refused by Bolt (%s %s)",
                response.status,
                response.body,
            )


def _plausible(timestamp: str) -> bool:
    return timestamp.strip().isdigit() and len(timestamp.strip()) <= _MAX_TIMESTAMP_DIGITS
