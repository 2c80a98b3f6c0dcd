"""The real ``askloop serve`` in a child process, killed and restarted like a crashed host.

For the fault tests and ``bench/durability.py``. The child is the installed command
with its own settings file; only the seams are fakes on loopback: Slack's Web API
(:class:`tests.slack_fake.FakeSlack`, run by the caller) and an OpenAI-compatible
embeddings endpoint (:class:`FakeEmbeddings`, the hashing embedder), so start-up loads
no model. Answers to rate are written to the log database before the server starts
(:func:`seed_answers`); clicks and reactions are sent as Slack sends them, signed, all
at once on their own connections (:func:`tests.slack_burst.burst`), and what was
stored is read from the database afterwards (:func:`stored_ratings`).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from askloop.agent.service import hash_user
from askloop.config.settings import ENV_VARS
from askloop.integrations.answer_log.sql_log import open_answer_log
from askloop.integrations.slack.values import FeedbackValue
from tests.fakes import HashingEmbedder
from tests.records import answer_record
from tests.slack_fake import BOT_TOKEN, SIGNING_SECRET
from tests.slack_payloads import block_action, reaction

__all__ = [
    "CHANNEL",
    "FakeEmbeddings",
    "ServeProcess",
    "click_body",
    "current_ratings",
    "message_ts",
    "reaction_body",
    "seed_answers",
    "serve_env",
    "slack_ts",
    "slack_user",
    "stored_ratings",
]

ASKLOOP = str(Path(sys.executable).with_name("askloop"))
TENANT, WORKSPACE, CHANNEL = "acme", "T0ACME", "C0FAULT"


class FakeEmbeddings:
    """``POST /v1/embeddings`` answered with the hashing embedder (``with`` it; ``url``
    is the ``OPENAI_BASE_URL``)."""

    def __enter__(self) -> FakeEmbeddings:
        embedder = HashingEmbedder()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server spelling
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
                vectors = embedder.embed_documents([str(t) for t in texts])
                payload = json.dumps(
                    {
                        "object": "list",
                        "data": [
                            {"object": "embedding", "index": i, "embedding": v.tolist()}
                            for i, v in enumerate(vectors)
                        ],
                        "model": body.get("model", "fake"),
                        "usage": {"prompt_tokens": 1, "total_tokens": 1},
                    }
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)


def serve_env(home: Path, config: str, *, slack_api: str, openai_url: str) -> dict[str, str]:
    """The environment of an ``askloop serve`` child whose data and settings file
    (``config``, written to ``home/askloop.toml``) live in ``home``, its Slack Web API
    and OpenAI-compatible endpoint the loopback fakes; none of this process's askloop
    variables leak in."""
    home.mkdir(parents=True, exist_ok=True)
    (home / "askloop.toml").write_text(config)
    env = {k: v for k, v in os.environ.items() if k not in ENV_VARS and k != "ASKLOOP_CONFIG"}
    env.update(
        ASKLOOP_HOME=str(home / "data"),
        ASKLOOP_CONFIG=str(home / "askloop.toml"),
        OPENAI_API_KEY="sk-test",
        OPENAI_BASE_URL=openai_url,
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=slack_api,
        NO_PROXY="127.0.0.1,localhost",
        OMP_NUM_THREADS="1",
    )
    return env


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServeProcess:
    """``askloop serve`` on a fixed loopback port, started, SIGKILLed and restarted."""

    def __init__(
        self, home: Path, *, slack_api: str, openai_url: str, database_url: str | None
    ) -> None:
        self.home = home
        self.database_url = database_url
        self.port = _free_port()
        config = (
            f'[tenants]\n"slack:{WORKSPACE}" = "{TENANT}"\n'
            '[embedder]\nprovider = "openai"\nmodel = "fake-embed"\n'
            '[models]\nanswer = "openai:fake-answer"\nfinetuned = "openai:fake-tuned"\n'
        )
        env = serve_env(home, config, slack_api=slack_api, openai_url=openai_url)
        if database_url:
            env["ASKLOOP_DATABASE_URL"] = database_url
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        #: The Slack message (see :func:`message_ts`) of each seeded answer.
        self.messages: dict[str, int] = {}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def data(self) -> Path:
        return Path(self.env["ASKLOOP_HOME"])

    def start(self, timeout: float = 120) -> None:
        """Start the server and wait until ``/healthz`` says ok."""
        self.starts += 1
        log = (self.home / f"serve-{self.starts}.log").open("wb")
        self.proc = subprocess.Popen(
            [ASKLOOP, "serve", "--port", str(self.port)],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"askloop serve exited: {self.output()[-2000:]}")
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=5) as r:
                    if r.status == 200:
                        return
            except (OSError, urllib.error.URLError):
                pass
            time.sleep(0.1)
        self.kill()
        raise RuntimeError(f"askloop serve not healthy after {timeout:.0f}s: {self.output()}")

    def output(self) -> str:
        return (self.home / f"serve-{self.starts}.log").read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL: no shutdown, no drain, nothing flushed by askloop."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.kill()


@contextmanager
def serve_process(
    home: Path, *, slack_api: str, openai_url: str, database_url: str | None
) -> Iterator[ServeProcess]:
    server = ServeProcess(
        home, slack_api=slack_api, openai_url=openai_url, database_url=database_url
    )
    try:
        yield server
    finally:
        server.kill()


def message_ts(n: int) -> str:
    """The Slack ts of the message carrying seeded answer ``n``."""
    return f"{1700000000 + n}.000100"


def seed_answers(server: ServeProcess, count: int, *, prefix: str = "fault") -> list[str]:
    """Log ``count`` answers (tenant acme), each linked to a Slack message of its own in
    :data:`CHANNEL` (``server.messages``); returns their ids. Run while the server is
    down or up."""
    answer_log = open_answer_log(server.database_url, server.data)
    ids = []
    try:
        for n in range(len(server.messages), len(server.messages) + count):
            record = answer_record(
                answer_id=f"{prefix}{n:05d}",
                tenant=TENANT,
                question=f"Question {n}?",
                answer=f"Answer {n}.",
                model="fake",
                channel_id=CHANNEL,
                team_id=WORKSPACE,
            )
            answer_log.save_answer(record)
            answer_log.link_message(
                answer_id=record.answer_id,
                platform="slack",
                message_ref=f"{CHANNEL}:{message_ts(n)}",
                role="answer",
            )
            ids.append(record.answer_id)
            server.messages[record.answer_id] = n
    finally:
        answer_log.close()
    return ids


def slack_ts(at: float) -> str:
    return f"{at:.6f}"


def click_body(
    answer_id: str,
    rating: str,
    *,
    user: str,
    message: int,
    action_ts: str,
    blocks: list[dict[str, Any]] | None = None,
) -> str:
    """A signed-to-be block_actions form body: ``user`` clicks ``rating`` on an answer
    (whose message carries ``blocks``, as Slack's payload carries the whole message)."""
    value = FeedbackValue(answer_id=answer_id, rating=rating).encode()  # type: ignore[arg-type]
    payload = block_action(value, channel=CHANNEL, message_ts=message_ts(message), user=user)
    payload["actions"][0]["action_ts"] = action_ts
    if blocks is not None:
        payload["message"]["blocks"] = blocks
    return urllib.parse.urlencode({"payload": json.dumps(payload)})


def reaction_body(
    name: str, *, user: str, message: int, event_ts: str, added: bool = True, event_id: str
) -> str:
    payload = reaction(
        name, channel=CHANNEL, ts=message_ts(message), user=user, added=added, event_id=event_id
    )
    payload["event"]["event_ts"] = event_ts
    return json.dumps(payload)


def stored_ratings(server: ServeProcess) -> list[tuple[str, str, str | None]]:
    """Every stored rating event as (answer id, hashed user, rating)."""
    answer_log = open_answer_log(server.database_url, server.data)
    try:
        with answer_log._db.transaction() as cur:
            cur.execute("SELECT answer_id, user_hash, rating FROM feedback_events")
            return [(str(a), str(u), r) for a, u, r in cur.fetchall()]
    finally:
        answer_log.close()


def current_ratings(server: ServeProcess, answer_ids: list[str]) -> dict[str, str | None]:
    """Each answer's current rating, as the log reports it."""
    answer_log = open_answer_log(server.database_url, server.data)
    try:
        return {a: answer_log.get_answer(a).rating for a in answer_ids}  # type: ignore[union-attr]
    finally:
        answer_log.close()


def slack_user(user: str) -> str:
    """How the log names a Slack user."""
    return hash_user("slack", user)
