"""Fakes at the Teams seams: the Bot Connector service, the Bot Framework OpenID
metadata and its signing keys, and Teams activities as Teams sends them.

Both HTTP fakes run on loopback in their own threads (botbuilder fetches the OpenID
metadata with blocking ``requests`` and posts replies from a thread pool, so neither may
run on the server's event loop). Payload shapes follow ``/work/shared/fixtures/teams``;
tests that replay those documented payloads verbatim read them through
:func:`doc_fixture` and are skipped (:data:`needs_doc_fixtures`) where they are absent.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from askloop.config.settings import Settings, TeamsSettings
from tests.server_harness import RunningServer, fake_services, running_server
from tests.shared_fixtures import doc_fixtures
from tests.shared_fixtures import needs_doc_fixtures as needs_shared

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
OTHER_TENANT = "0d9b1b5e-0000-4000-8000-00000000beef"
APP_ID = "c9e8c047-2a74-40a2-b28a-b162d5f5327c"
BOT = {"id": f"28:{APP_ID}", "name": "askloop"}
USER = {
    "id": "29:1XJKJMvc5GBtc2JwZq0oj8tHZmzrQgFmB39ATiQWA85gQtHieVkKilBZ9XHoq9j7Zaqt7CZ-NJWi7me",
    "name": "Megan Bowen",
    "aadObjectId": "7faf8ab2-3d56-4244-b585-20c8a42ed2b8",
}
PERSONAL = "a:17I0kl9EkpE1O9PH5TWrzrLNwnWWcfrU7QZjKR0WSfOpzbfcAg2IaydGElSo10tVr4C7Fc6"
GROUP = "19:7c5d1b8e4a9f4e0c8b1f2a3d4e5f6a7b@thread.v2"
CHANNEL = "19:aebd0ad4d6ab42c8b9ed19c251c2fc37@thread.skype"
TEAM = "19:693ecdb923ac4458a5c23661b505fc84@thread.skype"
BF_ISSUER = "https://api.botframework.com"


# --- the Bot Connector -----------------------------------------------------------


@dataclass
class Sent:
    """One activity the bot sent to the Connector."""

    conversation_id: str
    #: The activity replied to (POST …/activities/{id}); None for a new message.
    reply_to: str | None
    activity: dict[str, Any]
    authorization: str | None
    id: str
    at: float = field(default_factory=time.monotonic)

    @property
    def type(self) -> str:
        return str(self.activity.get("type"))

    def entity(self, kind: str) -> dict[str, Any] | None:
        return next((e for e in self.activity.get("entities") or [] if e.get("type") == kind), None)

    @property
    def stream_type(self) -> str | None:
        info = self.entity("streaminfo")
        return info.get("streamType") if info else None


Failure = Callable[[Sent], "tuple[int, dict[str, Any]] | None"]


class FakeConnector:
    """``POST /v3/conversations/{id}/activities[/{activityId}]``: records the activity
    and answers ``{"id": …}``. ``fail`` may return (status, body) to refuse one.
    ``host`` is the address it listens on (and names in ``url``)."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.sent: list[Sent] = []
        self.fail: Failure | None = None
        self._ids = itertools.count(1736416800001)
        self._changed = threading.Condition()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                parts = [unquote(p) for p in self.path.split("?")[0].strip("/").split("/")]
                if len(parts) not in (4, 5) or parts[:2] != ["v3", "conversations"]:
                    self._reply(404, {"error": "not found"})
                    return
                if parts[3] != "activities":
                    self._reply(404, {"error": "not found"})
                    return
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                sent = Sent(
                    conversation_id=parts[2],
                    reply_to=parts[4] if len(parts) == 5 else None,
                    activity=body,
                    authorization=self.headers.get("Authorization"),
                    id=str(next(fake._ids)),
                )
                refusal = fake.fail(sent) if fake.fail else None
                if refusal is not None:
                    self._reply(*refusal)
                    return
                with fake._changed:
                    fake.sent.append(sent)
                    fake._changed.notify_all()
                self._reply(200, {"id": sent.id})

            def _reply(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer((host, 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        """The ``serviceUrl`` to put in activities."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/"

    def to(self, conversation_id: str) -> list[Sent]:
        with self._changed:
            return [s for s in self.sent if s.conversation_id == conversation_id]

    def messages(self, conversation_id: str | None = None) -> list[Sent]:
        with self._changed:
            return [
                s
                for s in self.sent
                if s.type == "message" and conversation_id in (None, s.conversation_id)
            ]

    def wait_for(self, done: Callable[[list[Sent]], bool], timeout: float = 20) -> list[Sent]:
        deadline = time.monotonic() + timeout
        with self._changed:
            while not done(self.sent):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"the connector never saw it; got {self.sent}")
                self._changed.wait(left)
            return list(self.sent)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeConnector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --- Bot Framework tokens --------------------------------------------------------


class BotFrameworkKeys:
    """A signing key published in a fake OpenID metadata document, and tokens.

    ``forger`` signs with a key of its own under the same kid; ``stranger`` under a kid
    the metadata does not list.
    """

    def __init__(
        self, *, endorsements: tuple[str, ...] = ("msteams",), kid: str = "askloop-test-key"
    ) -> None:
        self.kid = kid
        self.private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.forger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        jwk = RSAAlgorithm.to_jwk(self.private_key.public_key(), as_dict=True)
        jwk.update(kid=self.kid, use="sig", alg="RS256", endorsements=list(endorsements))
        self.jwks = {"keys": [jwk]}

    def token(
        self,
        *,
        service_url: str,
        audience: str = APP_ID,
        issuer: str = BF_ISSUER,
        expires_in: float = 3600,
        kid: str | None = None,
        key: Any = None,
    ) -> str:
        now = int(time.time())
        claims = {
            "iss": issuer,
            "aud": audience,
            "serviceurl": service_url,
            "nbf": now - 60,
            "iat": now - 60,
            "exp": now + int(expires_in),
        }
        headers = {"kid": kid or self.kid}
        return jwt.encode(claims, key or self.private_key, algorithm="RS256", headers=headers)


class FakeOpenId:
    """Serves the OpenID configuration and the key set (``BOTFRAMEWORK_OPENID_METADATA``)."""

    def __init__(self, keys: BotFrameworkKeys) -> None:
        fake = self
        self.requests = 0

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                fake.requests += 1
                if self.path == "/.well-known/openid-configuration":
                    body: dict[str, Any] = {
                        "issuer": BF_ISSUER,
                        "jwks_uri": f"{fake.base}/keys",
                        "id_token_signing_alg_values_supported": ["RS256"],
                    }
                elif self.path == "/keys":
                    body = keys.jwks
                else:
                    self.send_error(404)
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    @property
    def base(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def metadata_url(self) -> str:
        return f"{self.base}/.well-known/openid-configuration"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


# --- activities as Teams sends them ----------------------------------------------


def _envelope(
    kind: str,
    *,
    service_url: str,
    conversation: dict[str, Any],
    activity_id: str,
    tenant: str | None,
    **fields: Any,
) -> dict[str, Any]:
    channel_data: dict[str, Any] = fields.pop("channel_data", {})
    if tenant is not None:
        channel_data = {**channel_data, "tenant": {"id": tenant}}
    return {
        "type": kind,
        "id": activity_id,
        "timestamp": "2025-01-09T10:00:00.000Z",
        "serviceUrl": service_url,
        "channelId": "msteams",
        "from": USER,
        "conversation": conversation,
        "recipient": BOT,
        "channelData": channel_data,
        "locale": "en-US",
        **fields,
    }


def personal_message(
    text: str,
    *,
    service_url: str,
    activity_id: str = "1485983408511",
    conversation_id: str = PERSONAL,
    tenant: str | None = TENANT,
) -> dict[str, Any]:
    conversation = {"conversationType": "personal", "id": conversation_id}
    return _envelope(
        "message",
        service_url=service_url,
        conversation=conversation,
        activity_id=activity_id,
        tenant=tenant,
        text=text,
        textFormat="plain",
    )


def group_message(
    text: str, *, service_url: str, activity_id: str = "1485983408600", mention: bool = True
) -> dict[str, Any]:
    conversation = {"conversationType": "groupChat", "isGroup": True, "id": GROUP}
    return _with_mention(
        _envelope(
            "message",
            service_url=service_url,
            conversation=conversation,
            activity_id=activity_id,
            tenant=TENANT,
            text=text,
            textFormat="plain",
        ),
        mention,
    )


def channel_message(
    text: str,
    *,
    service_url: str,
    activity_id: str = "1481567603816",
    mention: bool = True,
    tenant: str | None = TENANT,
) -> dict[str, Any]:
    """A new channel post (its thread is ``CHANNEL;messageid=<its id>``)."""
    conversation = {
        "isGroup": True,
        "conversationType": "channel",
        "tenantId": TENANT,
        "id": f"{CHANNEL};messageid={activity_id}",
    }
    return _with_mention(
        _envelope(
            "message",
            service_url=service_url,
            conversation=conversation,
            activity_id=activity_id,
            tenant=tenant,
            text=text,
            textFormat="plain",
            channel_data={"team": {"id": TEAM}, "channel": {"id": CHANNEL}},
        ),
        mention,
    )


def _with_mention(activity: dict[str, Any], mention: bool) -> dict[str, Any]:
    if mention:
        tag = f"<at>{BOT['name']}</at>"
        activity["text"] = f"{tag} {activity['text']}"
        activity["entities"] = [{"type": "mention", "mentioned": BOT, "text": tag}]
    return activity


def feedback_invoke(
    reply_to_id: str,
    *,
    service_url: str,
    reaction: str = "like",
    feedback: Any = "__text__",
    text: str = "This is my feedback.",
    activity_id: str = "f:feedback-0001",
    conversation_id: str = PERSONAL,
    tenant: str | None = TENANT,
) -> dict[str, Any]:
    """``message/submitAction`` as Teams sends it: ``feedback`` is a JSON *string*."""
    value: dict[str, Any] = {"reaction": reaction}
    if feedback == "__text__":
        value["feedback"] = json.dumps({"feedbackText": text})
    elif feedback is not None:
        value["feedback"] = feedback
    conversation = {"conversationType": "personal", "id": conversation_id}
    return _envelope(
        "invoke",
        service_url=service_url,
        conversation=conversation,
        activity_id=activity_id,
        tenant=tenant,
        name="message/submitAction",
        replyToId=reply_to_id,
        value={"actionName": "feedback", "actionValue": value},
    )


def fetch_task_invoke(
    reply_to_id: str,
    *,
    service_url: str,
    reaction: str = "like",
    activity_id: str = "f:fetchtask-0001",
    conversation_id: str = PERSONAL,
    tenant: str | None = TENANT,
) -> dict[str, Any]:
    """``message/fetchTask``: a 👍/👎 click on an answer sent with a custom feedback form."""
    conversation = {"conversationType": "personal", "id": conversation_id}
    return _envelope(
        "invoke",
        service_url=service_url,
        conversation=conversation,
        activity_id=activity_id,
        tenant=tenant,
        name="message/fetchTask",
        replyToId=reply_to_id,
        value={"actionName": "feedback", "actionValue": {"reaction": reaction}},
    )


def bot_added(
    *, service_url: str, conversation_type: str = "personal", conversation_id: str = PERSONAL
) -> dict[str, Any]:
    conversation = {"conversationType": conversation_type, "id": conversation_id}
    return _envelope(
        "conversationUpdate",
        service_url=service_url,
        conversation=conversation,
        activity_id="f:5f85c2ad",
        tenant=TENANT,
        membersAdded=[{"id": BOT["id"]}],
    )


def message_delete(
    activity_id: str, *, service_url: str, conversation_id: str = PERSONAL
) -> dict[str, Any]:
    conversation = {"conversationType": "personal", "id": conversation_id}
    return _envelope(
        "messageDelete",
        service_url=service_url,
        conversation=conversation,
        activity_id=activity_id,
        tenant=TENANT,
        channel_data={"eventType": "softDeleteMessage"},
    )


# --- Teams' documented payloads ------------------------------------------------


TEAMS_DOC_FIXTURES = doc_fixtures("teams")
#: For tests that replay Teams' documented payloads verbatim; skipped without them.
needs_doc_fixtures = needs_shared("teams", "Teams")


def doc_fixture(name: str) -> dict[str, Any]:
    """One of Teams' documented payloads (see SOURCES.md beside them)."""
    body: dict[str, Any] = json.loads((TEAMS_DOC_FIXTURES / name).read_text())
    return body


# --- talking to askloop ----------------------------------------------------------


@dataclass
class Response:
    status: int
    body: Any
    content_type: str
    seconds: float


def post(base_url: str, activity: dict[str, Any], *, token: str | None = None) -> Response:
    """POST an activity to ``/api/messages`` like the Bot Framework service does."""
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(
        f"{base_url}/api/messages", data=json.dumps(activity).encode(), headers=headers
    )
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            status, raw, kind = r.status, r.read(), r.headers.get_content_type()
    except urllib.error.HTTPError as e:
        status, raw, kind = e.code, e.read(), e.headers.get_content_type()
    seconds = time.perf_counter() - started
    body = json.loads(raw) if raw and kind == "application/json" else raw
    return Response(status, body, kind, seconds)


def teams_settings(home: Path, **teams: Any) -> Settings:
    """Settings with Teams tenant ``TENANT`` mapped to the test KB's tenant "acme"."""
    teams.setdefault("stream_interval_seconds", 0.05)
    return Settings(home=home, tenants={f"teams:{TENANT}": "acme"}, teams=TeamsSettings(**teams))


@contextmanager
def teams_server(
    tmp_path: Path, settings: Settings, *, host: str = "127.0.0.1", **models: Any
) -> Iterator[RunningServer]:
    """The real ``askloop serve`` over the test KB with scripted models."""
    with (
        fake_services(tmp_path, settings, **models) as services,
        running_server(services, host=host) as srv,
    ):
        yield srv
