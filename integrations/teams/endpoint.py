"""``POST /api/messages``: authenticate, run the bot's turn, answer the HTTP request.

Authentication happens before anything else touches the activity, and every way it
fails is a 401 with nothing processed. Without an app id there is no token to check:
then only the Bot Framework Emulator on this machine gets in (a loopback peer with no
forwarding header, and a loopback ``serviceUrl`` for the replies), unless
``[teams] allow_unauthenticated`` opens the door; everything else is a 401, and no
reply is ever posted to a ``serviceUrl`` it names. The bot's turn only acknowledges (answers run in
the background), so the response goes out in milliseconds; an invoke gets the bot's
invoke response as its body.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web
from botbuilder.core import ActivityHandler, serializer_helper
from botbuilder.integration.aiohttp import CloudAdapter
from botbuilder.schema import Activity

from askloop.agent.errors import LogUnavailableError
from askloop.integrations.server.loopback import is_loopback_url, why_not_local
from askloop.integrations.server.runtime import Metrics
from askloop.integrations.teams.auth import NotAuthenticatedError, RequestAuthenticator
from askloop.integrations.teams.tenancy import PLATFORM

__all__ = ["MessagesEndpoint"]

log = logging.getLogger(__name__)


class MessagesEndpoint:
    def __init__(
        self,
        *,
        adapter: CloudAdapter,
        bot: ActivityHandler,
        authenticator: RequestAuthenticator,
        metrics: Metrics,
        emulator_only: bool,
    ) -> None:
        self._adapter = adapter
        self._bot = bot
        self._authenticator = authenticator
        self._metrics = metrics
        #: Auth is off and the door is not opened: only the emulator on loopback.
        self._emulator_only = emulator_only and not authenticator.enabled

    def _refuse(self, status: int, outcome: str, why: str) -> web.Response:
        self._metrics.requests.labels(PLATFORM, outcome).inc()
        return web.json_response({"error": why}, status=status)

    async def handle(self, request: web.Request) -> web.Response:
        authorization = request.headers.get("Authorization")
        if self._authenticator.enabled and not authorization:
            log.warning("teams: request without a token refused (401)")
            return self._refuse(401, "unauthorized", "unauthorized")
        if self._emulator_only and (why := why_not_local(request)) is not None:
            log.warning("teams: unauthenticated request refused (401): %s", why)
            return self._refuse(401, "unauthorized", "unauthorized")
        try:
            body: Any = await request.json() if request.content_type == "application/json" else None
        except web.HTTPRequestEntityTooLarge:
            log.warning("teams: request over %d bytes refused (413)", request.client_max_size)
            return self._refuse(413, "too_large", "request body too large")
        except ValueError:  # not JSON, or not UTF-8
            body = None
        activity, wrong = _read(body)
        if wrong is not None and self._authenticator.enabled:
            # The token is judged before the body: a bad token is a 401 whatever it sent.
            stand_in = _stand_in(body)
            try:
                await self._authenticator.authenticate(stand_in, authorization)
            except NotAuthenticatedError as exc:
                log.warning("teams: request refused (401): %s", exc)
                return self._refuse(401, "unauthorized", "unauthorized")
        if request.content_type != "application/json":
            return self._refuse(415, "bad_request", "expected application/json")
        if activity is None:
            log.warning("teams: request refused (400): %s", wrong)
            return self._refuse(400, "bad_request", "expected a Bot Framework activity")
        if self._emulator_only and not is_loopback_url(activity.service_url):
            # Replies go to serviceUrl: unauthenticated, only to this machine.
            log.warning(
                "teams: unauthenticated request refused (401): serviceUrl %r is not loopback",
                activity.service_url[:200],
            )
            return self._refuse(401, "unauthorized", "unauthorized")
        try:
            identity = await self._authenticator.authenticate(activity, authorization)
        except NotAuthenticatedError as exc:
            log.warning("teams: request refused (401): %s", exc)
            return self._refuse(401, "unauthorized", "unauthorized")
        try:
            invoke_response = await self._adapter.process_activity(
                identity, activity, self._bot.on_turn
            )
        except LogUnavailableError as exc:
            # Not done (a delete not withdrawn): 503, so that a retry can do it later.
            log.error("teams: a %s activity was not handled (503): %s", activity.type, exc)
            return self._refuse(503, "unavailable", "the answer log is unavailable; retry")
        except Exception:
            log.exception("teams: a %s activity failed", activity.type)
            return self._refuse(500, "error", "internal error")
        if invoke_response is not None:
            return web.json_response(
                serializer_helper(invoke_response.body), status=int(invoke_response.status)
            )
        return web.Response(status=200)


def _read(body: Any) -> tuple[Activity | None, str | None]:
    """The activity in a JSON body, or None and what is wrong with it.

    botbuilder reads ``conversation.id``, ``from.id``, ``recipient.id`` and
    ``serviceUrl`` of every activity it routes and answers, and fails with a 500 (or
    posts to a default URL) when one is missing; the Bot Framework always sends them.
    """
    if not isinstance(body, dict):
        return None, "the body is not a JSON object"
    if not isinstance(body.get("text"), str | None):
        return None, "the activity's text is not a string"
    try:
        activity = Activity().deserialize(body)
    except Exception:
        return None, "the body is not a Bot Framework activity"
    if not isinstance(activity.type, str) or not activity.type:
        return None, "the activity has no type"
    for part in ("conversation", "from_property", "recipient"):
        if not isinstance(getattr(getattr(activity, part, None), "id", None), str):
            return None, f"the activity has no {part.removesuffix('_property')}.id"
    url = activity.service_url
    if not isinstance(url, str) or not url.startswith(("https://", "http://")):
        return None, "the activity has no http(s) serviceUrl"
    return activity, None


def _stand_in(body: Any) -> Activity:
    """An activity carrying what a bad body says of its channel, to judge the token by."""
    said = body if isinstance(body, dict) else {}
    service_url, channel = said.get("serviceUrl"), said.get("channelId")
    return Activity(
        type="message",
        service_url=service_url if isinstance(service_url, str) else "",
        channel_id=channel if isinstance(channel, str) else "",
    )
