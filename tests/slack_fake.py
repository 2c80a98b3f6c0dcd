"""A loopback Slack for tests and the bench: the Web API, Socket Mode, and signing.

:class:`FakeSlack` is an aiohttp server on its own thread that answers the Web API
methods askloop calls, records every call, keeps the messages it was sent (with
their edits), enforces Slack's per-channel message rate limit (429 + ``Retry-After``)
and can be told to fail: ``not_in_channel``, ``invalid_auth``, 5xx, ``msg_too_long``…
Streamed messages (``chat.startStream``/``appendStream``/``stopStream``) are checked the
way Slack checks them and kept like any other message: the text as streamed, then, once
stopped, a ``markdown`` block of it followed by the blocks the stop added.
It also serves ``apps.connections.open`` and the WebSocket behind it, so the real
slack_sdk Socket Mode client can connect and be sent envelopes.

The helpers at the bottom sign Events API and interactivity payloads the way Slack
does (``v0`` HMAC-SHA256 of ``v0:{timestamp}:{body}``) and post them; the payloads
themselves are built in ``tests.slack_payloads``.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web
from slack_sdk.signature import SignatureVerifier

from tests.loopback_app import LoopbackApp

__all__ = [
    "BOT_ID",
    "BOT_TOKEN",
    "BOT_USER",
    "APP_TOKEN",
    "SIGNING_SECRET",
    "Call",
    "FakeSlack",
    "post_signed",
    "signed_headers",
]

BOT_TOKEN = "xoxb-test-token"
APP_TOKEN = "xapp-test-token"
SIGNING_SECRET = "test-signing-secret"
BOT_USER = "UASKLOOP"
BOT_ID = "BASKLOOP"

#: Methods that post or edit a channel message: Slack allows ~1 per second per channel.
MESSAGE_METHODS = frozenset(
    {"chat.postMessage", "chat.update", "chat.startStream", "chat.appendStream", "chat.stopStream"}
)
#: Slack's limit on one streaming call's ``markdown_text``.
MAX_MARKDOWN_CHARS = 12_000


@dataclass(frozen=True)
class Call:
    method: str
    params: dict[str, Any]
    at: float
    status: int = 200
    error: str | None = None

    @property
    def channel(self) -> str | None:
        return self.params.get("channel") or self.params.get("channel_id")


@dataclass
class _Fault:
    method: str
    error: str
    status: int
    times: int
    channel: str | None = None
    retry_after: int | None = None


@dataclass
class Message:
    channel: str
    ts: str
    thread_ts: str | None
    text: str
    blocks: list[dict[str, Any]] = field(default_factory=list)
    edits: int = 0
    #: Started with chat.startStream and not stopped yet.
    streaming: bool = False
    #: The ``markdown_text`` of each streaming call that was accepted, in order.
    pieces: list[str] = field(default_factory=list)

    def section_text(self) -> str:
        return "\n".join(b["text"]["text"] for b in self.blocks if b.get("type") == "section")

    def shown_text(self) -> str:
        """The answer text a user reads: streamed Markdown, or the sections."""
        kinds = {"markdown": lambda b: b["text"], "section": lambda b: b["text"]["text"]}
        return "\n".join(kinds[b["type"]](b) for b in self.blocks if b.get("type") in kinds)

    def has_block(self, kind: str) -> bool:
        return any(b.get("type") == kind for b in self.blocks)


def _parse_params(raw: bytes, content_type: str, query: dict[str, str]) -> dict[str, Any]:
    params: dict[str, Any] = dict(query)
    if not raw:
        return params
    if content_type.startswith("application/json"):
        params.update(json.loads(raw))
    else:
        for key, value in urllib.parse.parse_qsl(raw.decode(), keep_blank_values=True):
            params[key] = value
    for key in ("blocks", "view", "prompts", "loading_messages"):
        if isinstance(params.get(key), str) and params[key][:1] in "[{":
            params[key] = json.loads(params[key])
    return params


class FakeSlack:
    """``with FakeSlack() as slack: ... slack.url`` (use as ``SLACK_API_URL``)."""

    def __init__(
        self,
        *,
        rate_per_second: float = 1.0,
        burst: int = 2,
        retry_after: int = 1,
        max_message_chars: int = 40_000,
        bot_token: str = BOT_TOKEN,
        app_token: str = APP_TOKEN,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        #: Slack's per-channel limit on posting: ``rate_per_second`` with short bursts
        #: (a token bucket of ``burst``); 0 turns the limit off.
        self.rate_per_second = rate_per_second
        self.burst = burst
        #: The time calls are stamped and rate-limited by: the client's own, when a test
        #: runs it on simulated time.
        self.clock = clock
        self.retry_after = retry_after
        self.max_message_chars = max_message_chars
        self.bot_token = bot_token
        self.app_token = app_token
        self._lock = threading.Lock()
        self._calls: list[Call] = []
        self._faults: list[_Fault] = []
        self._buckets: dict[str, tuple[float, float]] = {}
        self._messages: dict[tuple[str, str], Message] = {}
        self._ts = itertools.count(1)
        self.rate_limited = 0
        self._sockets: list[web.WebSocketResponse] = []
        self.socket_acks: list[dict[str, Any]] = []
        self._socket_opened = threading.Event()
        #: Called with each Web API method as its call arrives (before it is answered).
        self.observer: Callable[[str], None] | None = None
        self._server = LoopbackApp("fake-slack", self._app)

    # -- lifecycle --------------------------------------------------------------------

    @property
    def port(self) -> int:
        return self._server.port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/"

    def __enter__(self) -> FakeSlack:
        self._server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stop(before=self._close_sockets)

    def _app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/api/{method}", self._api)
        app.router.add_get("/api/{method}", self._api)
        app.router.add_get("/socket", self._socket)
        return app

    async def _close_sockets(self) -> None:
        for ws in list(self._sockets):
            await ws.close()

    # -- what tests look at -----------------------------------------------------------

    def calls(self, method: str | None = None, *, ok: bool | None = None) -> list[Call]:
        with self._lock:
            calls = list(self._calls)
        return [
            c
            for c in calls
            if (method is None or c.method == method) and (ok is None or (c.error is None) == ok)
        ]

    def messages(self, channel: str | None = None) -> list[Message]:
        """Messages as they stand now (edits applied), oldest first."""
        with self._lock:
            found = list(self._messages.values())
        return [m for m in found if channel is None or m.channel == channel]

    def fail(
        self,
        method: str,
        error: str,
        *,
        times: int = 1,
        status: int = 200,
        channel: str | None = None,
        retry_after: int | None = None,
    ) -> None:
        """Make the next ``times`` calls of ``method`` fail (``status`` 5xx: an HTTP error)."""
        with self._lock:
            self._faults.append(_Fault(method, error, status, times, channel, retry_after))

    def wait_for(self, predicate: Any, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError("FakeSlack: condition not met in time")
            time.sleep(0.01)

    # -- the Web API ------------------------------------------------------------------

    def _take_fault(self, method: str, channel: str | None) -> _Fault | None:
        for fault in self._faults:
            if fault.method == method and fault.channel in (None, channel) and fault.times > 0:
                fault.times -= 1
                return fault
        return None

    def _limited(self, method: str, channel: str | None, now: float) -> bool:
        if method not in MESSAGE_METHODS or not channel or self.rate_per_second <= 0:
            return False
        tokens, then = self._buckets.get(channel, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - then) * self.rate_per_second)
        if tokens < 1.0:
            self._buckets[channel] = (tokens, now)
            return True
        self._buckets[channel] = (tokens - 1.0, now)
        return False

    async def _api(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        if self.observer is not None:
            self.observer(method)
        raw = await request.read()
        params = _parse_params(raw, request.content_type, dict(request.query))
        token = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        token = token or params.get("token", "")
        now = self.clock()
        with self._lock:
            result = self._respond(method, params, token, now)
            status, body, headers = result
            self._calls.append(
                Call(
                    method, params, now, status, None if body.get("ok") else str(body.get("error"))
                )
            )
        if status >= 500 and body.get("html"):
            return web.Response(
                status=status, text="<html>upstream error</html>", content_type="text/html"
            )
        return web.json_response(body, status=status, headers=headers)

    def _respond(
        self, method: str, params: dict[str, Any], token: str, now: float
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        channel = params.get("channel") or params.get("channel_id")
        if (fault := self._take_fault(method, channel)) is not None:
            if fault.status == 429:
                self.rate_limited += 1
                after = self.retry_after if fault.retry_after is None else fault.retry_after
                return 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(after)}
            body: dict[str, Any] = {"ok": False, "error": fault.error}
            if fault.status >= 500:
                body["html"] = True
            return fault.status, body, {}
        expected = self.app_token if method == "apps.connections.open" else self.bot_token
        if token != expected:
            return 200, {"ok": False, "error": "invalid_auth"}, {}
        if self._limited(method, channel, now):
            self.rate_limited += 1
            return (
                429,
                {"ok": False, "error": "ratelimited"},
                {"Retry-After": str(self.retry_after)},
            )
        if method.startswith("assistant.threads."):  # setStatus, setTitle, setSuggestedPrompts
            return 200, {"ok": True}, {}
        handler = getattr(self, "_m_" + method.replace(".", "_"), None)
        if handler is None:
            return 200, {"ok": False, "error": "unknown_method"}, {}
        return 200, handler(params), {}

    def _size(self, params: dict[str, Any]) -> int:
        text = str(params.get("text") or "")
        blocks = json.dumps(params.get("blocks") or [])
        return len(text) + len(blocks)

    def _next_ts(self) -> str:
        n = next(self._ts)
        return f"{1800000000 + n}.{n:06d}"

    def _m_auth_test(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "user_id": BOT_USER,
            "bot_id": BOT_ID,
            "team_id": "T0ACME",
            "user": "askloop",
            "team": "Acme",
        }

    def _m_chat_postMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        if self._size(params) > self.max_message_chars:
            return {"ok": False, "error": "msg_too_long"}
        channel = params["channel"]
        ts = self._next_ts()
        blocks = params.get("blocks") or []
        self._messages[(channel, ts)] = Message(
            channel, ts, params.get("thread_ts"), params.get("text") or "", blocks
        )
        return {
            "ok": True,
            "channel": channel,
            "ts": ts,
            "message": {"text": params.get("text"), "bot_id": BOT_ID, "user": BOT_USER},
        }

    def _m_chat_update(self, params: dict[str, Any]) -> dict[str, Any]:
        if self._size(params) > self.max_message_chars:
            return {"ok": False, "error": "msg_too_long"}
        message = self._messages.get((params["channel"], params["ts"]))
        if message is None:
            return {"ok": False, "error": "message_not_found"}
        if message.streaming:  # Slack's answer to an edit of a message still streaming
            return {"ok": False, "error": "streaming_state_conflict"}
        message.text = params.get("text") or ""
        message.blocks = params.get("blocks") or []
        message.edits += 1
        return {"ok": True, "channel": message.channel, "ts": message.ts}

    def _m_chat_startStream(self, params: dict[str, Any]) -> dict[str, Any]:
        channel, thread_ts = params.get("channel"), params.get("thread_ts")
        if not channel or not thread_ts:
            return {"ok": False, "error": "invalid_arguments"}
        if not channel.startswith("D"):  # outside a DM Slack wants the recipient
            for arg in ("recipient_user_id", "recipient_team_id"):
                if not params.get(arg):
                    return {"ok": False, "error": f"missing_{arg}"}
        markdown = str(params.get("markdown_text") or "")
        if len(markdown) > MAX_MARKDOWN_CHARS:
            return {"ok": False, "error": "msg_too_long"}
        ts = self._next_ts()
        self._messages[(channel, ts)] = Message(
            channel, ts, thread_ts, markdown, streaming=True, pieces=[markdown]
        )
        return {"ok": True, "channel": channel, "ts": ts}

    def _streaming(self, params: dict[str, Any]) -> Message | dict[str, Any]:
        """The open stream ``params`` name, or the error Slack answers with."""
        if not params.get("channel") or not params.get("ts"):
            return {"ok": False, "error": "invalid_arguments"}
        if len(str(params.get("markdown_text") or "")) > MAX_MARKDOWN_CHARS:
            return {"ok": False, "error": "msg_too_long"}
        message = self._messages.get((params["channel"], params["ts"]))
        if message is None or not message.streaming:
            return {"ok": False, "error": "message_not_in_streaming_state"}
        return message

    def _m_chat_appendStream(self, params: dict[str, Any]) -> dict[str, Any]:
        if not params.get("markdown_text"):
            return {"ok": False, "error": "invalid_arguments"}
        message = self._streaming(params)
        if not isinstance(message, Message):
            return message
        message.text += params["markdown_text"]
        message.pieces.append(params["markdown_text"])
        return {"ok": True, "channel": message.channel, "ts": message.ts}

    def _m_chat_stopStream(self, params: dict[str, Any]) -> dict[str, Any]:
        message = self._streaming(params)
        if not isinstance(message, Message):
            return message
        markdown = str(params.get("markdown_text") or "")
        blocks = params.get("blocks") or []
        if len(message.text) + len(markdown) + len(json.dumps(blocks)) > self.max_message_chars:
            return {"ok": False, "error": "msg_too_long"}
        message.text += markdown
        message.pieces.append(markdown)
        message.blocks = [{"type": "markdown", "text": message.text}, *blocks]
        message.streaming = False
        return {"ok": True, "channel": message.channel, "ts": message.ts}

    def _m_chat_postEphemeral(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "message_ts": self._next_ts()}

    def _m_views_open(self, params: dict[str, Any]) -> dict[str, Any]:
        if not params.get("trigger_id"):
            return {"ok": False, "error": "invalid_trigger_id"}
        return {"ok": True, "view": {"id": "V0FAKE", **(params.get("view") or {})}}

    def _m_apps_connections_open(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "url": f"ws://127.0.0.1:{self.port}/socket"}

    # -- Socket Mode ------------------------------------------------------------------

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self._sockets.append(ws)
        await ws.send_json({"type": "hello", "num_connections": 1})
        self._socket_opened.set()
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                with self._lock:
                    self.socket_acks.append(json.loads(msg.data))
        return ws

    def wait_for_socket(self, timeout: float = 10.0) -> None:
        if not self._socket_opened.wait(timeout):
            raise AssertionError("no Socket Mode client connected")

    def send_envelope(
        self, payload: dict[str, Any], *, kind: str = "events_api", retry_attempt: int = 0
    ) -> str:
        """Push one envelope to the connected client; returns its envelope_id."""
        envelope_id = uuid.uuid4().hex
        envelope = {
            "envelope_id": envelope_id,
            "type": kind,
            "payload": payload,
            "accepts_response_payload": kind != "events_api",
            "retry_attempt": retry_attempt,
            "retry_reason": "timeout" if retry_attempt else "",
        }

        async def send() -> None:
            await self._sockets[-1].send_json(envelope)

        self._server.call(send)
        return envelope_id

    def acked(self, envelope_id: str) -> bool:
        with self._lock:
            return any(a.get("envelope_id") == envelope_id for a in self.socket_acks)


# -- signed payloads -----------------------------------------------------------------


def signed_headers(
    body: str | bytes,
    *,
    secret: str = SIGNING_SECRET,
    timestamp: int | None = None,
    retry_num: int | None = None,
    content_type: str = "application/json",
) -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    text = body.decode() if isinstance(body, bytes) else body
    headers = {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": SignatureVerifier(secret).generate_signature(timestamp=ts, body=text),
    }
    if retry_num:
        headers["X-Slack-Retry-Num"] = str(retry_num)
        headers["X-Slack-Retry-Reason"] = "http_timeout"
    return headers


def post_signed(
    url: str,
    payload: dict[str, Any] | str,
    *,
    form: bool = False,
    secret: str = SIGNING_SECRET,
    retry_num: int | None = None,
    headers: dict[str, str | None] | None = None,
    timestamp: int | None = None,
) -> tuple[int, bytes]:
    """POST a payload as Slack does: events as JSON, interactivity as ``payload=`` form."""
    if isinstance(payload, str):
        body = payload
    elif form:
        body = urllib.parse.urlencode({"payload": json.dumps(payload)})
    else:
        body = json.dumps(payload)
    content_type = "application/x-www-form-urlencoded" if form else "application/json"
    sent = signed_headers(
        body, secret=secret, retry_num=retry_num, timestamp=timestamp, content_type=content_type
    )
    for name, value in (headers or {}).items():  # None removes a header
        if value is None:
            sent.pop(name, None)
        else:
            sent[name] = value
    request = urllib.request.Request(url, data=body.encode(), headers=sent, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()
