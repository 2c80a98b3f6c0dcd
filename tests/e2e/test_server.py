"""``askloop serve`` itself: health, metrics, limits, start-up and shutdown."""

from __future__ import annotations

import json
import socket
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from askloop.agent.answers import Turn
from tests.e2e.conftest import ASKLOOP
from tests.server_harness import fake_services, running_server


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def test_healthz_is_ok_when_the_store_log_and_memory_answer(tmp_path):
    with fake_services(tmp_path) as services, running_server(services) as srv:
        status, body = get(srv.url + "/healthz")
    assert status == 200
    checks = {"store": "ok", "log": "ok", "memory": "ok"}
    assert json.loads(body) == {"status": "ok", "checks": checks}


def test_healthz_is_503_when_the_store_is_down(tmp_path, caplog):
    with fake_services(tmp_path) as services, running_server(services) as srv:
        store = services.store

        def down() -> None:
            raise ConnectionError("weaviate is gone")

        store.ping = down  # type: ignore[method-assign]
        status, body = get(srv.url + "/healthz")
    assert status == 503
    # The failing check is named; its reason goes to the log, never to the client.
    checks = {"store": "failed", "log": "ok", "memory": "ok"}
    assert json.loads(body) == {"status": "unavailable", "checks": checks}
    assert "weaviate is gone" in caplog.text


def test_metrics_count_answers_and_progress_arrives_in_order(tmp_path):
    with fake_services(tmp_path) as services, running_server(services) as srv:
        seen: list[str] = []

        async def listen(event) -> None:
            seen.append(f"{event.kind}: {event.text}")

        turn = Turn("How many days of annual leave?", "acme", "slack", "C1:1")
        record = srv.call(srv.runtime.assistant.answer(turn, on_progress=listen))
        status, body = get(srv.url + "/metrics")
    assert record.route == "retrieve"
    assert seen == [
        "status: Searching the knowledge base…",
        "status: Writing the answer…",
        "text: Every ",
        "text: Every employee ",
        "text: Every employee gets ",
        "text: Every employee gets 26 ",
        "text: Every employee gets 26 days ",
        "text: Every employee gets 26 days [1].",
    ]
    assert status == 200
    text = body.decode()
    assert 'askloop_answer_seconds_count{platform="slack"} 1.0' in text
    assert "askloop_answers_in_flight 0.0" in text


def test_shutdown_waits_for_work_that_background_work_spawns(tmp_path):
    import asyncio

    done: list[str] = []
    with fake_services(tmp_path) as services, running_server(services) as srv:
        runtime = srv.runtime

        async def child() -> None:
            await asyncio.sleep(0.2)
            done.append("child")

        async def parent() -> None:
            await asyncio.sleep(0.05)
            runtime.spawn(child(), name="child")
            done.append("parent")

        async def start_and_drain() -> int:
            runtime.spawn(parent(), name="parent")
            return await runtime.drain(5)

        assert srv.call(start_and_drain()) == 0
    assert done == ["parent", "child"]


def test_housekeeping_forgets_old_delivery_claims_and_idle_conversations(tmp_path):
    import asyncio
    from datetime import UTC, datetime, timedelta

    from askloop.integrations.answer_log.checkpoints import checkpoint_id_at
    from askloop.integrations.server.app import _housekeeping

    with fake_services(tmp_path) as services, running_server(services) as srv:
        log = services.answer_log
        assert srv.runtime.housekeeping is not None  # started with the server
        assert log.claim_delivery("slack:event:old") is True
        assert log.claim_delivery("slack:event:new") is True
        with log._db.transaction() as cur:  # the first claim is four days old
            cur.execute(
                "UPDATE deliveries SET claimed_at = ? WHERE key = ?",
                (log._db.ts(datetime.now(UTC) - timedelta(days=4)), "slack:event:old"),
            )
        for thread in ["idle", "active"]:
            services.assistant.answer(
                Turn(question="paid annual leave days", tenant="acme", conversation_id=thread)
            )
        saver, conn = services.thread_memory
        with saver.lock:  # the "idle" conversation's last turn was 31 days ago
            old = checkpoint_id_at(datetime.now(UTC) - timedelta(days=31))
            conn.execute(
                "UPDATE checkpoints SET checkpoint_id = ? WHERE thread_id LIKE ?", (old, "%:idle")
            )
            conn.commit()

        async def one_round() -> None:
            task = asyncio.create_task(_housekeeping(srv.runtime, every_seconds=60))
            await asyncio.sleep(0.3)
            task.cancel()

        srv.call(one_round())
        assert log.claim_delivery("slack:event:old") is True  # forgotten: claimable again
        assert log.claim_delivery("slack:event:new") is False
        threads = {c.config["configurable"]["thread_id"] for c in saver.list(None)}
        assert threads == {"acme:cli:active"}  # the default keeps 30 days


def test_thread_memory_is_closed_only_when_nothing_is_using_it(tmp_path):
    # The hourly clean-up runs on a worker thread; closing SQLite under it crashed the
    # process (a segfault, not an exception). Closing now waits for the saver's lock.
    import sqlite3
    import threading

    services = fake_services(tmp_path)
    saver, conn = services.thread_memory
    closer = threading.Thread(target=services.close)
    with saver.lock:  # a query in progress
        closer.start()
        closer.join(timeout=0.2)
        assert closer.is_alive()  # waiting, connection still usable
        conn.execute("SELECT 1")
    closer.join(timeout=5)
    assert not closer.is_alive()
    with pytest.raises(sqlite3.ProgrammingError):
        conn.execute("SELECT 1")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_askloop_serve_starts_answers_health_and_stops_on_sigterm(cli_env):
    port = _free_port()
    proc = subprocess.Popen(
        [ASKLOOP, "serve", "--port", str(port)],
        env=cli_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 240
        status = 0
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                status, _ = get(f"http://127.0.0.1:{port}/healthz")
                break
            except (ConnectionError, urllib.error.URLError):
                time.sleep(0.5)
        assert status == 200
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert f"listening on http://127.0.0.1:{port}" in out
    assert "shutting down" in out


def test_askloop_serve_says_clearly_when_the_port_is_taken(cli_env):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        cli_env["ASKLOOP_ANSWER_MODEL"] = cli_env["ASKLOOP_FINETUNED_MODEL"] = "openai:gpt-x"
        cli_env["OPENAI_API_KEY"] = "sk-test"
        cli_env["OPENAI_BASE_URL"] = "http://127.0.0.1:9/v1"
        proc = subprocess.run(
            [ASKLOOP, "serve", "--port", str(port)],
            env=cli_env,
            capture_output=True,
            text=True,
            timeout=240,
        )
    assert proc.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_healthz_checks_weaviate_with_the_async_client(tmp_path, httpserver):
    from askloop.config.settings import Settings, WeaviateSettings
    from askloop.integrations.wiring import Services
    from tests.fakes import HashingEmbedder
    from tests.weaviate_fake import FakeWeaviate

    fake = FakeWeaviate(httpserver).start()
    settings = Settings(
        home=tmp_path / "home",
        weaviate=WeaviateSettings(url=fake.url, grpc_port=fake.grpc_port),
    )
    try:
        with Services(settings, embedder=HashingEmbedder()) as services:
            with running_server(services) as srv:
                status, body = get(srv.url + "/healthz")
                assert (status, json.loads(body)["checks"]["store"]) == (200, "ok")
                assert ("GET", "/v1/.well-known/ready") in fake.rest
                assert services.store._collection.has_async_client
                httpserver.clear()  # REST now answers 500 to everything
                status, body = get(srv.url + "/healthz")
            assert status == 503 and json.loads(body)["status"] == "unavailable"
            assert not services.store._collection.has_async_client  # closed with the server
    finally:
        fake.stop()
