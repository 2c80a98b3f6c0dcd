"""Errors safe to show: a failing database, Weaviate or hosted API, seen from every side.

Each test drives a real path (the CLI's ``main``, the HTTP app, a LangChain tool, a
Slack or Teams conversation) into a real driver failure: a PostgreSQL URL nobody
answers, the loopback Weaviate answering errors, the loopback OpenAI API refusing the
key. What the user, client or calling agent sees names what failed and what to do;
the driver's text, host and database names are in the log records only.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from askloop.config.settings import Settings, WeaviateSettings
from askloop.integrations.answer_log.sql_log import SqlAnswerLog
from askloop.integrations.cli.main import main
from askloop.integrations.models.embedders import OpenAIEmbedder
from askloop.integrations.server.app import build_app
from askloop.integrations.server.runtime import ServerRuntime
from askloop.integrations.wiring import Services
from askloop.tools import build_tools
from tests.fakes import HashingEmbedder
from tests.server_harness import fake_services
from tests.slack_fake import FakeSlack
from tests.slack_payloads import app_mention
from tests.slack_rig import slack_rig
from tests.teams_fake import PERSONAL, personal_message, post, teams_server, teams_settings
from tests.weaviate_fake import FakeWeaviate

SECRET_HOST = "secret-db-host.corp.example"
SECRET_DB = "secret_tenant_db"
PASSWORD = "hunter2-pw"
# hostaddr: libpq dials 127.0.0.1:1 (refused at once) and never resolves the name.
DATABASE_URL = (
    f"postgresql://askloop:{PASSWORD}@{SECRET_HOST}:1/{SECRET_DB}"
    "?hostaddr=127.0.0.1&connect_timeout=2"
)
DRIVER_TEXT = "Connection refused"  # libpq's words
API_SECRET = "sk-live-4f9a-SECRET"  # what the provider's error echoes back
QUESTION = "How many days of annual leave do employees get?"


def assert_safe(shown: str) -> None:
    for leak in (SECRET_HOST, SECRET_DB, PASSWORD, DRIVER_TEXT, API_SECRET, "Traceback"):
        assert leak not in shown, f"{leak!r} reached the user: {shown!r}"


def refusing_openai(httpserver: HTTPServer) -> OpenAIEmbedder:
    """The real OpenAI SDK against a loopback API that refuses the key."""
    httpserver.expect_request("/v1/embeddings").respond_with_json(
        {
            "error": {
                "message": f"Incorrect API key provided: {API_SECRET}",
                "type": "invalid_request_error",
                "code": "invalid_api_key",
            }
        },
        status=401,
    )
    return OpenAIEmbedder(
        model="text-embedding-3-small", api_key=API_SECRET, base_url=httpserver.url_for("/v1")
    )


# -- CLI --------------------------------------------------------------------------------


def test_the_cli_names_the_unreachable_log_database_and_logs_the_driver_text(
    capsys, caplog, monkeypatch
):
    monkeypatch.setenv("ASKLOOP_DATABASE_URL", DATABASE_URL)
    assert main(["log"]) == 1
    err = capsys.readouterr().err
    assert_safe(err)
    assert "the answer log database (PostgreSQL) is unavailable" in err
    assert "check ASKLOOP_DATABASE_URL" in err
    assert SECRET_HOST in caplog.text and DRIVER_TEXT in caplog.text
    assert PASSWORD not in caplog.text


def test_ask_names_the_unreachable_conversation_memory(capsys, caplog, monkeypatch):
    monkeypatch.setenv("ASKLOOP_DATABASE_URL", DATABASE_URL)
    assert main(["ask", QUESTION]) == 1
    err = capsys.readouterr().err
    assert_safe(err)
    assert "(PostgreSQL) is unavailable; check ASKLOOP_DATABASE_URL" in err
    assert DRIVER_TEXT in caplog.text and PASSWORD not in caplog.text


def test_an_unexpected_failure_shows_its_type_only(capsys, caplog, monkeypatch):
    from askloop.integrations.stores.lance.store import LanceStore

    def broken(self, **kwargs):
        raise RuntimeError(f"lance: cannot reach {SECRET_HOST}")

    monkeypatch.setattr(LanceStore, "search", broken)
    caplog.set_level(logging.DEBUG)
    assert main(["search", "leave", "--mode", "keyword"]) == 1
    err = capsys.readouterr().err
    assert_safe(err)
    assert "unexpected error (RuntimeError); run with -vv for details" in err
    assert SECRET_HOST in caplog.text


def test_weaviates_reasons_for_refusing_chunks_stay_in_the_log(
    httpserver, tmp_path, capsys, caplog, monkeypatch
):
    def embeddings(request):
        from werkzeug import Response

        texts = json.loads(request.data)["input"]
        data = [
            {"object": "embedding", "index": i, "embedding": [1.0, float(len(t)), 0.5]}
            for i, t in enumerate(texts)
        ]
        body = {"object": "list", "data": data, "model": "m", "usage": {}}
        return Response(json.dumps(body), content_type="application/json")

    httpserver.expect_request("/v1/embeddings").respond_with_handler(embeddings)
    fake = FakeWeaviate(httpserver).start()
    secret_reason = f"shard on node {SECRET_HOST} is read-only: disk full"
    fake.batch_errors = {0: secret_reason}
    config = tmp_path / "askloop.toml"
    config.write_text(
        f'[embedder]\nprovider = "openai"\n\n[weaviate]\ngrpc_port = {fake.grpc_port}\n'
    )
    monkeypatch.setenv("ASKLOOP_CONFIG", str(config))
    monkeypatch.setenv("WEAVIATE_URL", fake.url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("OPENAI_BASE_URL", httpserver.url_for("/v1"))
    (tmp_path / "kb").mkdir()
    (tmp_path / "kb" / "leave.md").write_text("# Leave\n\nEveryone gets 26 days a year.\n")
    try:
        assert main(["ingest", str(tmp_path / "kb")]) == 1
    finally:
        fake.stop()
    err = capsys.readouterr().err
    assert_safe(err)
    assert "can't write to the knowledge base right now: Weaviate refused 1 of 1" in err
    assert secret_reason in caplog.text


# -- HTTP -------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_healthz_names_the_failing_checks_and_nothing_else(httpserver, tmp_path, caplog):
    from aiohttp.test_utils import TestClient, TestServer

    fake = FakeWeaviate(httpserver).start()
    settings = Settings(
        home=tmp_path / "home",
        database_url=DATABASE_URL,
        weaviate=WeaviateSettings(url=fake.url, grpc_port=fake.grpc_port),
    )
    httpserver.clear()  # Weaviate's REST side now fails every request
    httpserver.expect_request(re.compile(r"^/v1/.*")).respond_with_json(
        {"error": [{"message": f"raft: no leader on {SECRET_HOST}"}]}, status=503
    )
    log = SqlAnswerLog.postgres(DATABASE_URL)
    services = Services(settings, embedder=HashingEmbedder(), answer_log=log)
    runtime = ServerRuntime(services)
    # The app without its start-up warm-up (which refuses to start on a dead database):
    # the databases fail while the server runs.
    client = TestClient(TestServer(build_app(runtime)))
    await client.start_server()
    try:
        response = await client.get("/healthz")
        body = await response.text()
    finally:
        await client.close()
        await runtime.aclose()
        services.close()
        fake.stop()
    assert response.status == 503
    assert json.loads(body) == {
        "status": "unavailable",
        "checks": {"store": "failed", "log": "failed", "memory": "failed"},
    }
    assert_safe(body)
    assert "no leader" not in body and "503" not in body
    assert SECRET_HOST in caplog.text and DRIVER_TEXT in caplog.text
    assert PASSWORD not in caplog.text


# -- tools ------------------------------------------------------------------------------


def test_tools_give_calling_agents_the_safe_message(httpserver, tmp_path, caplog):
    log = SqlAnswerLog.postgres(DATABASE_URL)
    embedder = refusing_openai(httpserver)
    with fake_services(tmp_path, embedder=embedder, answer_log=log) as services:
        tools = {t.name: t for t in build_tools(services.assistant, tenant="acme")}
        searched = tools["search_knowledge_base"].invoke({"query": "annual leave"})
        rated = tools["rate_answer"].invoke({"answer_id": "a1", "rating": "up"})
    log.close()
    for out in (searched, rated):
        assert isinstance(out, str) and out.startswith("Error:")
        assert_safe(out)
    assert "OpenAI embeddings API refused askloop (HTTP 401)" in searched
    assert "check OPENAI_API_KEY" in searched
    assert "answer log database (PostgreSQL) is unavailable" in rated
    assert API_SECRET in caplog.text and SECRET_HOST in caplog.text


# -- Slack and Teams --------------------------------------------------------------------


def test_slack_apologises_without_the_providers_text(httpserver, tmp_path, caplog):
    with FakeSlack(rate_per_second=20, retry_after=0) as slack:
        with slack_rig(tmp_path, slack, embedder=refusing_openai(httpserver)) as rig:
            rig.event(app_mention(QUESTION))
            rig.settle()
            (reply,) = slack.messages("C0GENERAL")
    shown = json.dumps([reply.text, reply.blocks, reply.pieces])
    assert_safe(shown)
    assert "try again" in shown
    assert API_SECRET in caplog.text


def test_teams_apologises_without_the_providers_text(httpserver, tmp_path, caplog, connector):
    settings = teams_settings(tmp_path / "home")
    with teams_server(tmp_path, settings, embedder=refusing_openai(httpserver)) as srv:
        assert post(srv.url, personal_message(QUESTION, service_url=connector.url)).status == 200
        srv.settle()
    final = [s for s in connector.to(PERSONAL) if s.type == "message"][-1]
    shown = json.dumps(final.activity)
    assert_safe(shown)
    assert "OpenAI" not in shown and "try again" in shown
    assert API_SECRET in caplog.text


def test_a_missing_local_path_still_names_the_users_own_input(tmp_path: Path, capsys):
    # Messages about the user's own input quote it: that is what they must fix.
    assert main(["ingest", str(tmp_path / "nope")]) == 2
    assert "nope" in capsys.readouterr().err
