"""Slack payloads as Slack sends them (shapes of /work/shared/fixtures/slack), for askloop's
fake Slack: Events API envelopes, reactions, feedback clicks and modal submissions."""

from __future__ import annotations

import itertools
import time
import uuid
from typing import Any

from tests.shared_fixtures import doc_fixtures
from tests.shared_fixtures import needs_doc_fixtures as needs_shared
from tests.slack_fake import BOT_ID, BOT_USER

__all__ = [
    "app_mention",
    "block_action",
    "event_body",
    "message",
    "message_changed",
    "message_deleted",
    "reaction",
    "thread_started",
    "view_submission",
]

_event_ids = itertools.count(1)


def event_body(
    event: dict[str, Any],
    *,
    team: str = "T0ACME",
    event_id: str | None = None,
    enterprise: str | None = None,
    org_install: bool = False,
) -> dict[str, Any]:
    """An Events API ``event_callback`` envelope around ``event``."""
    return {
        "token": "legacy-verification-token",
        "team_id": team,
        "enterprise_id": enterprise,
        "api_app_id": "A0ASKLOOP",
        "event": event,
        "type": "event_callback",
        "event_id": event_id or f"Ev{next(_event_ids):08d}",
        "event_time": int(time.time()),
        "authorizations": [
            {
                "enterprise_id": enterprise,
                "team_id": team,
                "user_id": BOT_USER,
                "is_bot": True,
                "is_enterprise_install": org_install,
            }
        ],
    }


def app_mention(
    text: str,
    *,
    channel: str = "C0GENERAL",
    ts: str = "1700000001.000100",
    user: str = "U0ALICE",
    thread_ts: str | None = None,
    **envelope: Any,
) -> dict[str, Any]:
    event = {
        "type": "app_mention",
        "user": user,
        "text": f"<@{BOT_USER}> {text}",
        "ts": ts,
        "channel": channel,
        "event_ts": ts,
        "team": envelope.get("team", "T0ACME"),
    }
    if thread_ts:
        event["thread_ts"] = thread_ts
    return event_body(event, **envelope)


def reaction(
    name: str,
    *,
    channel: str,
    ts: str,
    user: str = "U0ALICE",
    added: bool = True,
    item_user: str = BOT_USER,
    **envelope: Any,
) -> dict[str, Any]:
    event = {
        "type": "reaction_added" if added else "reaction_removed",
        "user": user,
        "reaction": name,
        "item_user": item_user,
        "item": {"type": "message", "channel": channel, "ts": ts},
        "event_ts": f"{time.time():.6f}",
    }
    return event_body(event, **envelope)


def block_action(
    value: str,
    *,
    channel: str,
    message_ts: str,
    user: str = "U0ALICE",
    team: str = "T0ACME",
    thread_ts: str | None = None,
    action_id: str = "askloop_feedback",
) -> dict[str, Any]:
    """A click on a feedback button (block_actions), as the interactivity endpoint gets it."""
    return {
        "type": "block_actions",
        "user": {"id": user, "username": "alice", "name": "alice", "team_id": team},
        "api_app_id": "A0ASKLOOP",
        "token": "legacy-verification-token",
        "container": {
            "type": "message",
            "message_ts": message_ts,
            "channel_id": channel,
            "is_ephemeral": False,
            "thread_ts": thread_ts,
        },
        "trigger_id": f"{uuid.uuid4().int % 10**10}.1.abc",
        "team": {"id": team, "domain": "acme"},
        "channel": {"id": channel, "name": "general"},
        "message": {
            "type": "message",
            "ts": message_ts,
            "thread_ts": thread_ts,
            "bot_id": BOT_ID,
            "user": BOT_USER,
        },
        "response_url": "https://hooks.slack.invalid/actions/T/1/x",
        "actions": [
            {
                "type": "feedback_buttons",
                "action_id": action_id,
                "block_id": "fb-x",
                "value": value,
                "text": {"type": "plain_text", "text": "👍"},
                "action_ts": f"{time.time():.6f}",
            }
        ],
    }


def view_submission(
    private_metadata: str,
    *,
    reason: str,
    correction: str = "",
    user: str = "U0ALICE",
    team: str = "T0ACME",
    callback_id: str = "askloop_feedback_modal",
) -> dict[str, Any]:
    return {
        "type": "view_submission",
        "team": {"id": team, "domain": "acme"},
        "user": {"id": user, "username": "alice", "name": "alice", "team_id": team},
        "api_app_id": "A0ASKLOOP",
        "token": "legacy-verification-token",
        "trigger_id": "123.456.abc",
        "view": {
            "id": "V0FAKE",
            "team_id": team,
            "type": "modal",
            "callback_id": callback_id,
            "private_metadata": private_metadata,
            "state": {
                "values": {
                    "reason": {"reason_input": {"type": "plain_text_input", "value": reason}},
                    "correction": {
                        "correction_input": {
                            "type": "plain_text_input",
                            "value": correction or None,
                        }
                    },
                }
            },
        },
    }


def message(
    text: str,
    *,
    channel: str = "D0ALICE",
    ts: str = "1700000002.000100",
    user: str = "U0ALICE",
    channel_type: str = "im",
    thread_ts: str | None = None,
    bot_id: str | None = None,
    **envelope: Any,
) -> dict[str, Any]:
    """A ``message`` event: a direct message by default, a thread reply with ``thread_ts``."""
    event: dict[str, Any] = {
        "type": "message",
        "channel": channel,
        "user": user,
        "text": text,
        "ts": ts,
        "event_ts": ts,
        "channel_type": channel_type,
    }
    if thread_ts:
        event["thread_ts"] = thread_ts
    if bot_id:
        event["bot_id"] = bot_id
    return event_body(event, **envelope)


def message_deleted(
    channel: str, ts: str, *, user: str = BOT_USER, **envelope: Any
) -> dict[str, Any]:
    event = {
        "type": "message",
        "subtype": "message_deleted",
        "hidden": True,
        "channel": channel,
        "deleted_ts": ts,
        "previous_message": {"type": "message", "text": "…", "user": user, "ts": ts},
        "event_ts": f"{time.time():.6f}",
        "ts": f"{time.time():.6f}",
        "channel_type": "channel",
    }
    return event_body(event, **envelope)


def message_changed(channel: str, ts: str, text: str, **envelope: Any) -> dict[str, Any]:
    event = {
        "type": "message",
        "subtype": "message_changed",
        "hidden": True,
        "channel": channel,
        "message": {"type": "message", "text": text, "user": "U0ALICE", "ts": ts, "edited": {}},
        "previous_message": {"type": "message", "text": "before", "user": "U0ALICE", "ts": ts},
        "event_ts": f"{time.time():.6f}",
        "ts": f"{time.time():.6f}",
        "channel_type": "channel",
    }
    return event_body(event, **envelope)


def thread_started(
    channel: str, thread_ts: str, *, user: str = "U0ALICE", **envelope: Any
) -> dict[str, Any]:
    event = {
        "type": "assistant_thread_started",
        "assistant_thread": {
            "user_id": user,
            "context": {"channel_id": "C0GENERAL", "team_id": "T0ACME"},
            "channel_id": channel,
            "thread_ts": thread_ts,
        },
        "event_ts": f"{time.time():.6f}",
    }
    return event_body(event, **envelope)


SLACK_DOC_FIXTURES = doc_fixtures("slack")
#: For tests that replay Slack's documented payloads verbatim; skipped without them.
needs_doc_fixtures = needs_shared("slack", "Slack")
