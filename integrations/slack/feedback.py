"""👍/👎: the feedback buttons on every answer, the 👎 modal, and reactions.

A rating is committed before Slack gets its 200 (DESIGN.md §4): the click, the form
or the reaction is recorded through the Assistant service (tenant-checked: an unknown
answer id, or another tenant's, is rejected and logged), then acknowledged; only the
rest — the ephemeral thanks, opening the 👎 modal — comes after the acknowledgement.
A rating that could not be saved is never thanked: the clicker is told, the form stays
open with the error, and a reaction's delivery gets a 503 so Slack delivers it again.

``:+1:``/``:-1:`` reactions on an answer count the same way; removing one clears that
user's rating. Each user's latest rating wins by Slack's own time of it (a click's
``action_ts``, a reaction's ``event_ts``), whatever order the writes commit in; the
👎 form's reason and correction are the click's rating, at the click's time (so a 👍
clicked while the form was open stays the user's rating). A redelivered reaction is
simply written again: it carries the same time, so it changes nothing. A workspace
that [tenants] refuses records nothing: its clicks and forms are told the workspace is
not set up, its reactions are ignored.
"""

from __future__ import annotations

import logging
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from slack_bolt.kwargs_injection.async_args import AsyncArgs
from slack_bolt.request.internals import (
    extract_enterprise_id,
    extract_is_enterprise_install,
    extract_team_id,
)
from slack_bolt.response import BoltResponse

from askloop.agent.answers import CORRECTION_MAX_CHARS, Rating
from askloop.agent.errors import UnknownAnswerError
from askloop.integrations.server.runtime import ServerRuntime
from askloop.integrations.slack.background import start
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
    slack_time,
)
from askloop.integrations.slack.webapi import SlackApi, SlackCallError

__all__ = ["FeedbackHandlers"]

log = logging.getLogger(__name__)

THANKS = "Thanks for the feedback!"
THANKS_DETAIL = "Thanks — that helps us improve the answers."
NOT_RECORDED = "Sorry, that feedback could not be recorded."
NOT_SAVED = "Sorry, your feedback was not saved (askloop cannot reach its log). Please try again."
TOO_LONG = f"Please shorten the correct answer to {CORRECTION_MAX_CHARS:,} characters or fewer."
NOT_SET_UP = "askloop is not set up for this workspace, so feedback is not recorded here."
#: What became of a rating: stored, or why not ("unsaved": the log failed, try again).
_Outcome = Literal["recorded", "refused", "rejected", "unsaved"]
_SORRY: dict[str, str] = {"refused": NOT_SET_UP, "rejected": NOT_RECORDED, "unsaved": NOT_SAVED}
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

    def __init__(self, runtime: ServerRuntime, api: SlackApi, rules: Rules) -> None:
        self._runtime = runtime
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
        rated_at: datetime | None,
        reason: str = "",
        correction: str = "",
    ) -> _Outcome:
        """Record one rating (committed when this returns "recorded")."""
        if where.tenant is None:  # callers refuse first; never rate without a tenant
            return "rejected"
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
                rated_at=rated_at,
            )
        except UnknownAnswerError:
            log.warning(
                "Slack: rejected %s feedback from %s on answer %r: unknown in tenant %s",
                source,
                where.user,
                answer_id,
                where.tenant,
            )
            return "rejected"
        except Exception as exc:
            log.error("Slack: could not record %s feedback on %s (%s)", source, answer_id, exc)
            return "unsaved"
        return "recorded"

    async def _tell(self, where: _Where, text: str) -> None:
        if not where.channel or not where.user:
            return
        try:
            await self._api.ephemeral(where.channel, where.user, text, thread_ts=where.thread_ts)
        except SlackCallError:
            pass  # logged by SlackApi

    # -- buttons ----------------------------------------------------------------------

    async def on_click(self, args: AsyncArgs) -> None:
        """A click routed by Bolt (Socket Mode; over HTTP, ``endpoint`` calls
        :meth:`click` itself)."""
        after = await self._record_click(args.body, args.action or {}, args.context)
        await args.ack()  # after the write: this 200 means the rating is stored
        start(self._runtime, after, name="slack-feedback-click")

    async def click(self, body: dict[str, Any]) -> Coroutine[Any, Any, None]:
        """A signed click on the feedback buttons (``values.feedback_click``), stored
        when this returns; returns the work for after the acknowledgement (the thanks,
        the 👎 form, or why the rating was not stored), for the caller to run."""
        # The verified workspace, as Bolt would put it in the context.
        context = {
            "team_id": extract_team_id(body),
            "enterprise_id": extract_enterprise_id(body),
            "is_enterprise_install": extract_is_enterprise_install(body),
        }
        return await self._record_click(body, body["actions"][0], context)

    async def _record_click(
        self, body: Mapping[str, Any], action: Mapping[str, Any], context: Any
    ) -> Coroutine[Any, Any, None]:
        """Store the click's rating; returns the work for after the acknowledgement."""
        container = body.get("container") or {}
        message = body.get("message") or {}
        channel = (body.get("channel") or {}).get("id") or container.get("channel_id")
        thread_ts = message.get("thread_ts") or container.get("thread_ts")
        user = (body.get("user") or {}).get("id")
        where = self._where(user, context, channel, thread_ts)
        stamp = action.get("action_ts")
        clicked_ts = stamp if isinstance(stamp, str) and slack_time(stamp) else None
        value, outcome = await self._click(action.get("value"), where, clicked_ts)
        return self._after_click(value, outcome, body.get("trigger_id"), where, clicked_ts)

    async def _click(
        self, raw: object, where: _Where, clicked_ts: str | None
    ) -> tuple[FeedbackValue | None, _Outcome]:
        """The one write before a click's acknowledgement."""
        if self._refused(where, "a feedback click"):
            return None, "refused"
        try:
            value = FeedbackValue.decode(raw)
        except TamperedValueError as exc:
            log.warning("Slack: rejected a feedback click from %s: %s", where.user, exc)
            return None, "rejected"
        outcome = await self._rate(
            value.answer_id, value.rating, where, source="button", rated_at=slack_time(clicked_ts)
        )
        return value, outcome

    async def _after_click(
        self,
        value: FeedbackValue | None,
        outcome: _Outcome,
        trigger_id: str | None,
        where: _Where,
        clicked_ts: str | None,
    ) -> None:
        if value is None or outcome != "recorded":
            await self._tell(where, _SORRY.get(outcome, NOT_RECORDED))
            return
        if value.rating == "down" and trigger_id and where.channel:
            state = ModalState(
                answer_id=value.answer_id,
                channel=where.channel,
                thread_ts=where.thread_ts,
                clicked_ts=clicked_ts,
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
        user = (body.get("user") or {}).get("id")
        where, outcome = await self._submitted(
            view.get("private_metadata"), reason, correction, user, args.context
        )
        if outcome == "unsaved":  # the form stays open: submitting again may work
            await args.ack(response_action="errors", errors={REASON_BLOCK: NOT_SAVED})
            return
        await args.ack()  # after the write: this 200 means the form is stored
        if where is not None:
            text = THANKS_DETAIL if outcome == "recorded" else _SORRY.get(outcome, NOT_RECORDED)
            start(self._runtime, self._tell(where, text), name="slack-feedback-modal")

    async def _submitted(
        self, raw: object, reason: str, correction: str, user: object, context: Any
    ) -> tuple[_Where | None, _Outcome]:
        try:
            state = ModalState.decode(raw)
        except TamperedValueError as exc:
            log.warning("Slack: rejected a feedback form from %s: %s", user, exc)
            return None, "rejected"
        where = self._where(user, context, state.channel, state.thread_ts)
        if self._refused(where, "a feedback form"):
            return where, "refused"
        # The form explains the 👎 click that opened it: its rating, at the click's time
        # (a modal from before askloop carried that time: when the form arrives).
        outcome = await self._rate(
            state.answer_id,
            "down",
            where,
            source="button",
            rated_at=slack_time(state.clicked_ts),
            reason=reason,
            correction=correction,
        )
        return where, outcome

    # -- reactions --------------------------------------------------------------------

    async def on_reaction(self, args: AsyncArgs) -> BoltResponse | None:
        event = args.event or {}
        rating = reaction_rating(str(event.get("reaction") or ""))
        item = event.get("item") or {}
        if rating is not None and item.get("type") == "message":
            added = event.get("type") == "reaction_added"
            outcome = await self._reacted(event, rating if added else None, args.context, args.body)
            if outcome == "unsaved":
                # Not acknowledged: Slack delivers the reaction again (up to three times).
                return BoltResponse(status=503, body="")
        await args.ack()
        return None

    async def _reacted(
        self, event: Mapping[str, Any], rating: Rating | None, context: Any, body: Any
    ) -> _Outcome:
        item = event.get("item") or {}
        where = self._where(event.get("user"), context, item.get("channel"), None)
        if self._refused(where, "a reaction"):
            return "refused"
        # No Web API call before the acknowledgement: the identity known since start-up.
        bot_user = self._api.known_identity.user_id or envelope_of(context, None, body).bot_user_id
        author = event.get("item_user")
        if bot_user and author and author != bot_user:
            return "rejected"  # a reaction on someone else's message, not on an answer
        ref = f"{item.get('channel')}:{item.get('ts')}"
        try:
            answer_id = await self._assistant.answer_for_message(platform="slack", message_ref=ref)
        except Exception as exc:
            log.warning("Slack: cannot look up the answer of %s (%s)", ref, exc)
            return "unsaved"
        if answer_id is None:
            return "rejected"
        rated_at = slack_time(event.get("event_ts"))
        return await self._rate(answer_id, rating, where, source="reaction", rated_at=rated_at)
