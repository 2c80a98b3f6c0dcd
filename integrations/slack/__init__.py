"""Slack: ask askloop in channels (mention), in direct messages and in assistant threads.

``mount`` puts ``POST /slack/events`` (Events API + interactivity, signed requests,
Bolt) on the ``askloop serve`` app and, when ``SLACK_APP_TOKEN`` is set, runs Socket
Mode as well. The agent core never sees a Slack type: the adapter turns events into
:class:`agent.answers.Turn` and renders the :class:`agent.answers.AnswerRecord` back.

Modules: ``app`` (wiring, Bolt), ``endpoint`` (the HTTP handler, early acks),
``socket_mode``, ``inbound`` (events → questions), ``conversations`` (answering),
``reply`` (status, drafts, posting), ``stream`` (Slack's native streaming of a
reply), ``render``/``mrkdwn`` (Block Kit, defanging, splitting), ``feedback``
(buttons, modal, reactions), ``rules`` (tenancy, per-channel rules), ``dedup``
(delivery claims), ``webapi`` (Web API calls, paced per channel, and their faults),
``values`` (what travels through Slack).
"""

from __future__ import annotations

import logging

from aiohttp import web

from askloop.integrations.server.runtime import ServerRuntime

__all__ = ["mount"]

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"


def mount(app: web.Application, runtime: ServerRuntime) -> None:
    """Register the Slack routes on the server's aiohttp app (and Socket Mode, if set)."""
    from askloop.integrations.slack.app import SlackAdapter
    from askloop.integrations.slack.endpoint import not_configured

    settings = runtime.settings.slack
    missing = [
        name
        for name, value in (
            ("SLACK_BOT_TOKEN", settings.bot_token),
            ("SLACK_SIGNING_SECRET", settings.signing_secret),
        )
        if value is None
    ]
    if settings.bot_token is None or (missing and settings.app_token is None):
        log.warning(
            "Slack is not configured (%s unset): %s answers 503", " and ".join(missing), EVENTS_PATH
        )
        app.router.add_post(EVENTS_PATH, not_configured(" and ".join(missing)))
        return
    adapter = SlackAdapter(runtime, settings)
    if adapter.endpoint is None:
        log.warning("SLACK_SIGNING_SECRET is unset: Socket Mode only, %s answers 503", EVENTS_PATH)
        app.router.add_post(EVENTS_PATH, not_configured("SLACK_SIGNING_SECRET"))
    else:
        app.router.add_post(EVENTS_PATH, adapter.endpoint.handle)
    app.on_startup.append(adapter.on_startup)
    runtime.on_close.append(adapter.aclose)
