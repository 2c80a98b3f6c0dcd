"""👍/👎: the feedback buttons on every answer, the 👎 modal, and reactions.

A click is acknowledged at once; the rating is then recorded through the Assistant
service (tenant-checked: an unknown answer id, or another tenant's, is rejected and
logged) and confirmed to the clicker with an ephemeral message. A 👎 also opens a
modal asking what was wrong and, optionally, the right answer. ``:+1:``/``:-1:``
reactions on an answer count the same way; removing one clears that user's rating.
Each user's latest rating wins, so repeated clicks update rather than add up. A
workspace that [tenants] refuses records nothing: its clicks and forms are told the
workspace is not set up, its reactions are ignored.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from slack_bolt.kwargs_injection.async_args import AsyncArgs

from askloop.agent.answers import CORRECTION_MAX_CHARS, Rating
from askloop.agent.errors import UnknownAnswerError
from askloop.integrations.server.runtime import ServerRuntime
from askloop.integrations.slack.background import start
from askloop.integrations.slack.dedup import Deliveries, event_key
from askloop.integrations.slack.inbound import envelope_of, is_direct
from askloop.integrations.slack.render import feedback_modal
from askloop.integrations.slack.rules import Rules
from askloop.integrations.slack.values import (
    CORRECTION_BLOCK,
    CORRECTION_INPUT,
    REASON_BLOCK,
    REASON_INPUT,
    FeedbackValue,
    ModalState,
    TamperedValueError,
)
from askloop.integrations.slack.webapi import SlackApi, SlackCallError

__all__ = ["FeedbackHandlers"]

log = logging.getLogger(__name__)

THANKS = "Thanks for the feedback!"
THANKS_DETAIL = "Thanks — that helps us improve the answers."
NOT_RECORDED = "Sorry, that feedback could not be recorded."
TOO_LONG = f"Please shorten the correct answer to {CORRECTION_MAX_CHARS:,} characters or fewer."
NOT_SET_UP = "askloop is not set up for this workspace, so feedback is not recorded here."
_UP = frozenset({"+1", "thumbsup"})
_DOWN = frozenset({"-1", "thumbsdown"})


def reaction_rating(name: str) -> Rating | None:
    """``+1``/``thumbsup`` (any skin tone) → "up", ``-1``/``thumbsdown`` → "down"."""
    base = name.split("::", 1)[0]
    return "up" if base in _UP else "down" if base in _DOWN else None


@dataclass(frozen=True, slots=True)
class _Where:
    user: str
    channel: str | None
    thread_ts: str | None
    #: None: the workspace is refused ([tenants]).
    tenant: str | None
    workspace: str | None


class FeedbackHandlers:
    """The listeners for clicks, the 👎 form and reactions, and the work after them."""

    def __init__(
        self, runtime: ServerRuntime, api: SlackApi, rules: Rules, deliveries: Deliveries
    ) -> None:
        self._runtime = runtime
        self._deliveries = deliveries
        self._assistant = runtime.assistant
        self._api = api
        self._rules = rules

    def _where(
        self, user: object, context: Any, channel: str | None, thread_ts: str | None
    ) -> _Where:
        """Who gave feedback where, and the tenant their verified workspace maps to."""
        channel = channel or ""
        workspace = envelope_of(context).platform_tenant
        tenant = self._rules.tenant(workspace, channel=channel, direct=is_direct(channel))
        return _Where(str(user or ""), channel or None, thread_ts, tenant, workspace)

    def _refused(self, where: _Where, what: str) -> bool:
        """Is ``where``'s workspace refused? (One log line if so.)"""
        if where.tenant is not None:
            return False
        log.warning(
            "Slack: ignored %s from %s: workspace %s is not in [tenants]",
            what,
            where.user,
            where.workspace,
        )
        return True

    async def _rate(
        self,
        answer_id: str,
        rating: Rating | None,
        where: _Where,
        *,
        source: Literal["button", "reaction"],
        reason: str = "",
        correction: str = "",
    ) -> bool:
        if where.tenant is None:  # callers refuse first; never rate without a tenant
            return False
        try:
            await self._assistant.rate(
                answer_id=answer_id,
                rating=rating,
                user=where.user,
                source=source,
                platform="slack",
                reason=reason,
                correction=correction,
                tenant=where.tenant,
            )
        except UnknownAnswerError:
            log.warning(
                "Slack: rejected %s feedback from %s on answer %r: unknown in tenant %s",
                source,
                where.user,
                answer_id,
                where.tenant,
            )
            return False
        except Exception as exc:
            log.error("Slack: could not record %s feedback on %s (%s)", source, answer_id, exc)
            return False
        return True

    async def _tell(self, where: _Where, text: str) -> None:
        if not where.channel or not where.user:
            return
        try:
            await self._api.ephemeral(where.channel, where.user, text, thread_ts=where.thread_ts)
        except SlackCallError:
            pass  # logged by SlackApi

    # -- buttons ----------------------------------------------------------------------

    async def on_click(self, args: AsyncArgs) -> None:
        await args.ack()
        body, action = args.body, args.action or {}
        container = body.get("container") or {}
        message = body.get("message") or {}
        channel = (body.get("channel") or {}).get("id") or container.get("channel_id")
        thread_ts = message.get("thread_ts") or container.get("thread_ts")
        user = (body.get("user") or {}).get("id")
        where = self._where(user, args.context, channel, thread_ts)
        start(
            self._runtime,
            self._click(action.get("value"), body.get("trigger_id"), where),
            name="slack-feedback-click",
        )

    async def _click(self, raw: object, trigger_id: str | None, where: _Where) -> None:
        if self._refused(where, "a feedback click"):
            await self._tell(where, NOT_SET_UP)
            return
        try:
            value = FeedbackValue.decode(raw)
        except TamperedValueError as exc:
            log.warning("Slack: rejected a feedback click from %s: %s", where.user, exc)
            await self._tell(where, NOT_RECORDED)
            return
        if not await self._rate(value.answer_id, value.rating, where, source="button"):
            await self._tell(where, NOT_RECORDED)
            return
        if value.rating == "down" and trigger_id and where.channel:
            state = ModalState(
                answer_id=value.answer_id, channel=where.channel, thread_ts=where.thread_ts
            )
            try:
                await self._api.open_view(trigger_id, feedback_modal(state))
                return  # the modal is the acknowledgement; thanks come on submit
            except SlackCallError:
                pass
        await self._tell(where, THANKS)

    # -- the 👎 modal ------------------------------------------------------------------

    async def on_submit(self, args: AsyncArgs) -> None:
        body, view = args.body, args.view or {}
        values = (view.get("state") or {}).get("values") or {}
        reason = str((values.get(REASON_BLOCK) or {}).get(REASON_INPUT, {}).get("value") or "")
        correction = str(
            (values.get(CORRECTION_BLOCK) or {}).get(CORRECTION_INPUT, {}).get("value") or ""
        )
        if not reason.strip():
            await args.ack(
                response_action="errors", errors={REASON_BLOCK: "Please say what was wrong."}
            )
            return
        if len(correction.strip()) > CORRECTION_MAX_CHARS:
            # Slack's own max_length should stop this first; refused, never cut.
            await args.ack(response_action="errors", errors={CORRECTION_BLOCK: TOO_LONG})
            return
        await args.ack()
        user = (body.get("user") or {}).get("id")
        submitted = self._submitted(
            view.get("private_metadata"), reason, correction, user, args.context
        )
        start(self._runtime, submitted, name="slack-feedback-modal")

    async def _submitted(
        self, raw: object, reason: str, correction: str, user: object, context: Any
    ) -> None:
        try:
            state = ModalState.decode(raw)
        except TamperedValueError as exc:
            log.warning("Slack: rejected a feedback form from %s: %s", user, exc)
            return
        where = self._where(user, context, state.channel, state.thread_ts)
        if self._refused(where, "a feedback form"):
            await self._tell(where, NOT_SET_UP)
            return
        recorded = await self._rate(
            state.answer_id, "down", where, source="button", reason=reason, correction=correction
        )
        await self._tell(where, THANKS_DETAIL if recorded else NOT_RECORDED)

    # -- reactions --------------------------------------------------------------------

    async def on_reaction(self, args: AsyncArgs) -> None:
        await args.ack()
        body, event, context = args.body, args.event or {}, args.context
        rating = reaction_rating(str(event.get("reaction") or ""))
        item = event.get("item") or {}
        if rating is None or item.get("type") != "message":
            return
        added = event.get("type") == "reaction_added"
        start(
            self._runtime,
            self._reacted(body, event, rating if added else None, context),
            name="slack-feedback-reaction",
        )

    async def _reacted(
        self, body: Mapping[str, Any], event: Mapping[str, Any], rating: Rating | None, context: Any
    ) -> None:
        item = event.get("item") or {}
        where = self._where(event.get("user"), context, item.get("channel"), None)
        if self._refused(where, "a reaction"):
            return
        event_id = body.get("event_id")
        if event_id and not await self._deliveries.first(event_key(event_id)):
            return
        me = await self._api.identity()
        bot_user = me.user_id or envelope_of(context, None, body).bot_user_id
        author = event.get("item_user")
        if bot_user and author and author != bot_user:
            return  # a reaction on someone else's message, not on an answer
        ref = f"{item.get('channel')}:{item.get('ts')}"
        try:
            answer_id = await self._assistant.answer_for_message(platform="slack", message_ref=ref)
        except Exception as exc:
            log.warning("Slack: cannot look up the answer of %s (%s)", ref, exc)
            return
        if answer_id is not None:
            await self._rate(answer_id, rating, where, source="reaction")
