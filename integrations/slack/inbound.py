"""Slack events → neutral facts askloop acts on, parsed on the ack path (no I/O).

A :class:`Question` is a message that may deserve an answer: an ``app_mention``, a
direct message, or a reply in a channel thread. Everything else a ``message`` event
can be — edits, joins, deletions, topic changes — is not a question.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

from askloop.integrations.slack.rules import platform_tenant

__all__ = [
    "Envelope",
    "Question",
    "envelope_of",
    "is_direct",
    "question_from",
    "thread_marker",
]

#: Version of ``Question.job`` (a lease's job outlives the process that wrote it).
_JOB_VERSION = 1

#: Message subtypes that carry something a person (or, if allowed, a bot) asked.
_ASKING_SUBTYPES = frozenset({None, "file_share", "thread_broadcast", "bot_message"})


def is_direct(channel: str) -> bool:
    """A one-to-one conversation with askloop (direct-message channel ids start with D)."""
    return channel.startswith("D")


def thread_marker(channel: str, thread_ts: str) -> str:
    """The message ref linked to an answer to remember that askloop is in a thread."""
    return f"thread:{channel}:{thread_ts}"


@dataclass(frozen=True, slots=True)
class Envelope:
    """What the verified request says about where it comes from."""

    platform_tenant: str | None
    team_id: str
    #: The app's bot user in that workspace, as the event's authorizations name it.
    bot_user_id: str | None = None
    retry_num: int = 0


def envelope_of(
    context: Mapping[str, Any],
    headers: Mapping[str, Any] | None = None,
    body: Mapping[str, Any] | None = None,
) -> Envelope:
    """From Bolt's context (filled from the verified body), the headers and the body."""
    bot_user_id = None
    for auth in (body or {}).get("authorizations") or []:
        if isinstance(auth, Mapping) and auth.get("is_bot") and auth.get("user_id"):
            bot_user_id = str(auth["user_id"])
            break
    retry = 0
    if headers:
        raw = headers.get("x-slack-retry-num") or ["0"]
        value = raw[0] if isinstance(raw, list | tuple) else raw
        retry = int(value) if str(value).isdigit() else 0
    return Envelope(
        platform_tenant=platform_tenant(
            team_id=context.get("team_id"),
            enterprise_id=context.get("enterprise_id"),
            enterprise_install=context.get("is_enterprise_install"),
        ),
        team_id=str(context.get("team_id") or ""),
        bot_user_id=bot_user_id,
        retry_num=retry,
    )


@dataclass(frozen=True, slots=True)
class Question:
    via: Literal["mention", "message"]
    event_id: str
    channel: str
    ts: str
    #: The thread the message was posted in; None for a top-level message.
    thread_ts: str | None
    user: str
    text: str
    #: A one-to-one conversation with askloop (``channel_type: im``).
    direct: bool
    envelope: Envelope
    #: Set when a bot or an app posted the message.
    bot_id: str | None = None

    @property
    def ref(self) -> str:
        return f"{self.channel}:{self.ts}"

    def job(self) -> dict[str, Any]:
        """What a server taking the question over needs to answer it (JSON)."""
        return {"v": _JOB_VERSION, **asdict(self)}

    @classmethod
    def from_job(cls, job: Mapping[str, Any]) -> Question:
        """The question ``job`` stored; ValueError when it is not one."""
        if job.get("v") != _JOB_VERSION:
            raise ValueError(f"not a Slack question job (version {job.get('v')!r})")
        fields = {k: v for k, v in job.items() if k != "v"}
        try:
            return cls(**{**fields, "envelope": Envelope(**fields["envelope"])})
        except (KeyError, TypeError) as exc:
            raise ValueError(f"not a Slack question job ({exc})") from None

    @property
    def reply_thread(self) -> str | None:
        """Where the answer goes: the thread, or a new thread under a channel message
        (a top-level direct message is answered in the conversation itself)."""
        return self.thread_ts or (None if self.direct else self.ts)

    @property
    def conversation_id(self) -> str:
        """Turns sharing it share memory: one per thread, one per direct conversation."""
        thread = self.reply_thread
        return f"{self.channel}:{thread}" if thread else self.channel

    @property
    def follow_up(self) -> bool:
        """A reply in a channel thread without a mention: askloop answers only in threads
        it is part of."""
        return self.via == "message" and not self.direct and self.thread_ts is not None


def question_from(
    via: Literal["mention", "message"], body: Mapping[str, Any], envelope: Envelope
) -> Question | None:
    """The question an ``app_mention``/``message`` event carries, or None if it is not one."""
    event = body.get("event") or {}
    subtype = event.get("subtype")
    if subtype not in _ASKING_SUBTYPES or event.get("hidden"):
        return None
    channel, ts = event.get("channel"), event.get("ts")
    if not isinstance(channel, str) or not isinstance(ts, str) or not channel or not ts:
        return None
    thread_ts = event.get("thread_ts")
    if not isinstance(thread_ts, str) or thread_ts == ts:
        thread_ts = None
    # app_mention events carry no channel_type.
    direct = event.get("channel_type") == "im" or is_direct(channel)
    if via == "message" and not direct and thread_ts is None:
        return None  # a top-level channel message is only a question when it mentions us
    return Question(
        via=via,
        event_id=str(body.get("event_id") or f"{channel}:{ts}:{via}"),
        channel=channel,
        ts=ts,
        thread_ts=thread_ts,
        user=str(event.get("user") or ""),
        text=str(event.get("text") or ""),
        direct=direct,
        envelope=envelope,
        bot_id=event.get("bot_id") or ("app" if subtype == "bot_message" else None),
    )
