"""Teams questions taken over from a server that died before answering them.

A question is claimed with what answering it later needs (``job_of``): the question and
the conversation reference of its activity. A server sweeping expired claims
(``server.leases``) continues that conversation proactively, the way botbuilder sends
outside a turn, and answers in it as a reply to the question; after too many attempts
it apologises instead.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from typing import Any

from botbuilder.core import TurnContext
from botbuilder.integration.aiohttp import CloudAdapter
from botbuilder.schema import Activity, ConversationReference

from askloop.agent.deliveries import PendingDelivery
from askloop.integrations.server.leases import Lease
from askloop.integrations.teams.rendering import text_activity
from askloop.integrations.teams.replies import APOLOGY, Question, Replier

__all__ = ["Resumer", "job_of"]

log = logging.getLogger(__name__)

#: Version of the job (it outlives the process that wrote it).
_JOB_VERSION = 1


def job_of(question: Question, activity: Activity) -> dict[str, Any]:
    """What a server taking ``question`` over needs to answer it (JSON)."""
    reference = TurnContext.get_conversation_reference(activity)
    return {"v": _JOB_VERSION, "question": asdict(question), "reference": reference.serialize()}


def _read(job: Any) -> tuple[Question, ConversationReference]:
    if job.get("v") != _JOB_VERSION:
        raise ValueError(f"not a Teams question job (version {job.get('v')!r})")
    try:
        question = Question(**job["question"])
        reference = ConversationReference().deserialize(job["reference"])
    except (KeyError, TypeError) as exc:
        raise ValueError(f"not a Teams question job ({exc})") from None
    if not reference.service_url or not reference.conversation:
        raise ValueError("the job's conversation reference names no conversation")
    return question, reference


class Resumer:
    """``Leases.resume_with("teams", Resumer(...))``."""

    def __init__(self, adapter: CloudAdapter, replier: Replier, *, app_id: str) -> None:
        self._adapter = adapter
        self._replier = replier
        self._app_id = app_id

    async def __call__(self, pending: PendingDelivery, lease: Lease, *, give_up: bool) -> None:
        try:
            question, reference = _read(pending.job)
        except ValueError as exc:
            log.error("teams: cannot take %s over: %s", pending.key, exc)
            await lease.finish("apologised")  # nothing anyone can do with it
            return

        async def logic(ctx: TurnContext) -> None:
            # Replies go to the turn's activity: make it the question, not botbuilder's
            # continuation event, so the answer is a reply to what was asked.
            ctx.activity.id = question.activity_id
            if give_up:
                await ctx.send_activity(text_activity(APOLOGY))
                await lease.finish("apologised")
            else:
                await self._replier.answer(ctx, question, lease)

        try:
            await self._adapter.continue_conversation(reference, logic, self._app_id)
        except Exception:
            log.exception("teams: answering taken-over question %s failed", pending.key)
