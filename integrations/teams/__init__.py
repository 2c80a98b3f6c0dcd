"""Teams: the Bot Framework adapter behind ``POST /api/messages``.

botbuilder (``CloudAdapter`` + ``ConfigurationBotFrameworkAuthentication``) stays inside
this package, so the SDK can be swapped without touching the rest of askloop.

| module        | what                                                                  |
|---------------|-----------------------------------------------------------------------|
| endpoint      | the HTTP handler: authenticate (every failure is a 401), run the turn |
|               | (without an app id: the emulator on loopback only, else 401)          |
| auth          | inbound JWT checks, outbound tokens fetched off the event loop        |
| bot           | the ActivityHandler: messages, installs, deletes, feedback invokes    |
| replies       | the background answer: typing, streaming, final message, links        |
| resume        | questions taken over from a server that died: answered proactively   |
| streaming     | per-conversation send pacing and the streamed answer                  |
| rendering     | answers as activities: citations, AI label, feedback loop, streaminfo |
| feedback      | the ``message/submitAction`` feedback invoke                          |
| feedback_form | askloop's own feedback form: the ``message/fetchTask`` dialog         |
| tenancy       | tenants from ``channelData.tenant.id``; message and delivery keys     |
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aiohttp import web

    from askloop.integrations.server.runtime import ServerRuntime

__all__ = ["MESSAGES_PATH", "mount"]

log = logging.getLogger(__name__)

MESSAGES_PATH = "/api/messages"


def mount(app: web.Application, runtime: ServerRuntime) -> None:
    """Register ``POST /api/messages`` on the server's aiohttp app."""
    from botbuilder.integration.aiohttp import CloudAdapter

    from askloop.integrations.teams.auth import (
        RequestAuthenticator,
        build_authentication,
        metadata_url,
    )
    from askloop.integrations.teams.bot import AskloopBot
    from askloop.integrations.teams.endpoint import MessagesEndpoint
    from askloop.integrations.teams.feedback import FeedbackRecorder
    from askloop.integrations.teams.feedback_form import FeedbackForm
    from askloop.integrations.teams.replies import Replier
    from askloop.integrations.teams.resume import Resumer

    settings = runtime.settings.teams
    enabled = bool(settings.app_id)
    if not enabled and settings.allow_unauthenticated:
        log.warning(
            "Teams: MicrosoftAppId is not set and [teams] allow_unauthenticated = true, so "
            "%s accepts UNAUTHENTICATED requests from anyone who can reach it and posts "
            "answers to whatever serviceUrl they name. Set MicrosoftAppId and "
            "MicrosoftAppPassword, or turn allow_unauthenticated off.",
            MESSAGES_PATH,
        )
    elif not enabled:
        log.warning(
            "Teams: MicrosoftAppId is not set: %s serves only the Bot Framework Emulator "
            "on this machine (loopback, no proxy, loopback serviceUrl) and answers 401 to "
            "everything else. Set MicrosoftAppId and MicrosoftAppPassword for Teams.",
            MESSAGES_PATH,
        )
    elif settings.allow_unauthenticated:
        log.warning("Teams: allow_unauthenticated is ignored: MicrosoftAppId is set")
    elif settings.app_type != "UserAssignedMSI" and settings.app_password is None:
        log.warning("Teams: MicrosoftAppPassword is not set: replies cannot be authenticated")
    authentication, close_authentication = build_authentication(settings)
    runtime.on_close.append(close_authentication)
    adapter = CloudAdapter(authentication)
    replier = Replier(runtime, settings)
    # Questions whose server died before answering are answered by this one.
    runtime.leases.resume_with("teams", Resumer(adapter, replier, app_id=settings.app_id))
    endpoint = MessagesEndpoint(
        adapter=adapter,
        bot=AskloopBot(runtime, replier, FeedbackRecorder(runtime), FeedbackForm(runtime)),
        authenticator=RequestAuthenticator(
            authentication, enabled=enabled, openid_metadata=metadata_url(settings)
        ),
        metrics=runtime.metrics,
        emulator_only=not settings.allow_unauthenticated,
    )
    app.router.add_post(MESSAGES_PATH, endpoint.handle)
