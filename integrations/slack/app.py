"""The Slack adapter's wiring: a Bolt ``AsyncApp`` behind ``POST /slack/events`` (and
Socket Mode), its listeners, and the events about the app itself.

Bolt verifies request signatures (401 on a bad, missing or stale one), answers
``url_verification`` and ``ssl_check``, and routes events, clicks and modal submissions
to the listeners. Every listener acknowledges at once and hands its work to
``runtime.spawn`` — except feedback, whose one write is committed first (``feedback``);
with ``process_before_response`` the response (over HTTP or Socket Mode) leaves when
the listener returns, and the work is already registered for shutdown to wait on.
Events over HTTP other than reactions are acknowledged even earlier (``endpoint``).
"""

from __future__ import annotations

import logging

from aiohttp import web
from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.kwargs_injection.async_args import AsyncArgs
from slack_bolt.logger.messages import warning_token_skipped

from askloop.config.settings import SlackSettings
from askloop.integrations.server.runtime import ServerRuntime
from askloop.integrations.slack.conversations import Conversations
from askloop.integrations.slack.dedup import Deliveries
from askloop.integrations.slack.endpoint import EventsEndpoint
from askloop.integrations.slack.feedback import FeedbackHandlers
from askloop.integrations.slack.inbound import envelope_of
from askloop.integrations.slack.rules import Rules
from askloop.integrations.slack.socket_mode import SocketMode
from askloop.integrations.slack.values import FEEDBACK_ACTION, FEEDBACK_MODAL
from askloop.integrations.slack.webapi import SlackApi

__all__ = ["EVENTS", "SlackAdapter"]

log = logging.getLogger(__name__)

#: The Events API event types askloop listens to (config/slack_manifest.yaml subscribes
#: to exactly these; "message" as message.channels, message.groups and message.im).
EVENTS = (
    "message",
    "app_mention",
    "assistant_thread_started",
    "reaction_added",
    "reaction_removed",
    "tokens_revoked",
    "app_uninstalled",
)


class _HideTokenSkipped(logging.Filter):
    """Bolt reads SLACK_BOT_TOKEN itself and warns that ``authorize`` wins over it; the
    token it means is the one askloop's ``authorize`` hands out, so the line misleads."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != warning_token_skipped()


class SlackAdapter:
    """Everything Slack inside ``askloop serve``."""

    def __init__(self, runtime: ServerRuntime, settings: SlackSettings) -> None:
        self._runtime = runtime
        self._settings = settings
        self.api = SlackApi(settings)
        rules = self._rules = Rules(settings, tenant_for=runtime.tenant_for)
        deliveries = Deliveries(runtime)
        self.conversations = Conversations(runtime, self.api, rules, settings, deliveries)
        self.feedback = FeedbackHandlers(runtime, self.api, rules)
        # Questions whose server died before answering are answered by this one.
        runtime.leases.resume_with("slack", self.conversations.resume)
        secret = settings.signing_secret.get_secret_value() if settings.signing_secret else ""
        self.bolt = self._build_bolt(secret)
        #: HTTP mode; None without a signing secret (Socket Mode only).
        self.endpoint = (
            EventsEndpoint(
                self.bolt,
                runtime,
                deliveries,
                signing_secret=secret,
                clicks=self.feedback.click,
            )
            if secret
            else None
        )
        self.socket_mode: SocketMode | None = None
        if settings.app_token:
            self.socket_mode = SocketMode(
                self.bolt,
                app_token=settings.app_token.get_secret_value(),
                web_client=self.api.client,
            )

    def _build_bolt(self, secret: str) -> AsyncApp:
        bolt_log = logging.getLogger("askloop.integrations.slack.bolt")
        if not any(isinstance(f, _HideTokenSkipped) for f in bolt_log.filters):
            bolt_log.addFilter(_HideTokenSkipped())
        adapter = self

        # Bolt passes what a function's parameters name, and (unlike for listeners) does
        # not skip a bound method's self here: a plain function, then.
        async def authorize(
            enterprise_id: str | None, team_id: str | None, user_id: str | None
        ) -> AuthorizeResult:
            return adapter._authorize(enterprise_id, team_id, user_id)

        bolt = AsyncApp(
            name="askloop",
            logger=bolt_log,
            signing_secret=secret,
            authorize=authorize,
            process_before_response=True,
            # Our own filter: Bolt's drops the deletion of askloop's own answers too.
            ignoring_self_events_enabled=False,
            attaching_conversation_kwargs_enabled=False,
        )
        listeners = {
            "message": self.conversations.on_message,
            "app_mention": self.conversations.on_mention,
            "assistant_thread_started": self.conversations.on_thread_started,
            "reaction_added": self.feedback.on_reaction,
            "reaction_removed": self.feedback.on_reaction,
            "tokens_revoked": self._access_lost,
            "app_uninstalled": self._access_lost,
        }
        for event_type in EVENTS:  # Bolt tries them in order: the most frequent first
            bolt.event(event_type)(listeners[event_type])
        bolt.action(FEEDBACK_ACTION)(self.feedback.on_click)
        bolt.view(FEEDBACK_MODAL)(self.feedback.on_submit)
        return bolt

    def _authorize(
        self, enterprise_id: str | None, team_id: str | None, user_id: str | None
    ) -> AuthorizeResult:
        # No Web API call on the ack path: the identity is fetched at start-up.
        token = self._settings.bot_token
        me = self.api.known_identity
        return AuthorizeResult(
            enterprise_id=enterprise_id,
            team_id=team_id,
            user_id=user_id,
            bot_token=token.get_secret_value() if token else None,
            bot_user_id=me.user_id,
            bot_id=me.bot_id,
        )

    async def _access_lost(self, args: AsyncArgs) -> None:
        await args.ack()
        body, event = args.body, args.event or {}
        kind = str(event.get("type"))
        if kind == "tokens_revoked" and not (event.get("tokens") or {}).get("bot"):
            return  # only user tokens; askloop holds none
        workspace = envelope_of(args.context).platform_tenant
        if self._rules.tenant(workspace) is None:
            # A workspace askloop does not serve lost access: not askloop's token.
            log.warning("Slack: ignored %s from workspace %s: not in [tenants]", kind, workspace)
            return
        self.api.disable(kind)
        log.warning(
            "Slack: %s for team %s: askloop stops posting to Slack until restarted "
            "with a new SLACK_BOT_TOKEN",
            kind,
            body.get("team_id"),
        )

    async def on_startup(self, app: web.Application) -> None:
        await self.api.start()
        self._runtime.spawn(self._greet(), name="slack-identity")
        if self.socket_mode is not None:
            await self.socket_mode.start()

    async def _greet(self) -> None:
        me = await self.api.identity()
        if me.user_id:
            log.info("Slack: signed in as bot user %s", me.user_id)

    async def aclose(self) -> None:
        if self.socket_mode is not None:
            await self.socket_mode.close()
        await self.api.close()
