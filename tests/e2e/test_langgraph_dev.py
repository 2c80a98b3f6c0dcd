"""The real ``langgraph dev`` server runs the graph langgraph.json names, over its HTTP API.

langgraph-cli's server pins conflict with askloop's, so it lives in its own virtualenv
(``make langgraph-venv``: build/langgraph-venv, askloop installed there too). The models
and the embedder are a fake OpenAI-compatible API on loopback; everything else (settings,
the embedded store, the answer log) is real.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from tests.e2e.conftest import askloop
from tests.fakes import HashingEmbedder

ROOT = Path(__file__).resolve().parents[2]
LANGGRAPH = ROOT / "build" / "langgraph-venv" / "bin" / "langgraph"

pytestmark = pytest.mark.skipif(
    not LANGGRAPH.exists(),
    reason="no build/langgraph-venv: `make langgraph-venv` installs langgraph-cli[inmem]",
)

ONCALL = "How fast must the on-call engineer acknowledge a page?"
ANSWER = "Within 15 minutes [1]."


def _embeddings(request: Request) -> Response:
    body = json.loads(request.data)
    vectors = HashingEmbedder().embed_documents(list(body["input"]))
    payload = {
        "object": "list",
        "data": [
            {"object": "embedding", "index": i, "embedding": v.tolist()}
            for i, v in enumerate(vectors)
        ],
        "model": body["model"],
        "usage": {"prompt_tokens": 1, "total_tokens": 1},
    }
    return Response(json.dumps(payload), content_type="application/json")


def _chat(request: Request) -> Response:
    body = json.loads(request.data)
    text = ANSWER if body["model"] == "fake-answer" else "General answer."
    payload = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 0,
        "model": body["model"],
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }
    return Response(json.dumps(payload), content_type="application/json")


@pytest.fixture
def env(cli_env, tmp_path, httpserver: HTTPServer) -> dict[str, str]:
    httpserver.expect_request("/v1/embeddings", method="POST").respond_with_handler(_embeddings)
    httpserver.expect_request("/v1/chat/completions", method="POST").respond_with_handler(_chat)
    config = tmp_path / "askloop.toml"
    config.write_text(
        'default_tenant = "acme"\n'
        '[embedder]\nprovider = "openai"\nmodel = "fake-embed"\n'
        '[models]\nanswer = "openai:fake-answer"\nfinetuned = "openai:fake-tuned"\n'
        "[graph]\nroute_threshold = 0.3\ngrade_threshold = 0.3\n"
    )
    return cli_env | {
        "ASKLOOP_CONFIG": str(config),
        "OPENAI_API_KEY": "sk-test",
        "OPENAI_BASE_URL": httpserver.url_for("/v1"),
        "NO_PROXY": "127.0.0.1,localhost",
        # The dev server reports nothing anywhere.
        "LANGGRAPH_CLI_NO_ANALYTICS": "1",
        "LANGSMITH_TRACING": "false",
        "LANGCHAIN_TRACING_V2": "false",
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def langgraph_dev(env, tmp_path):
    """``langgraph dev`` on a free loopback port; yields its base URL."""
    port = _free_port()
    log = (tmp_path / "langgraph-dev.log").open("w")
    server = subprocess.Popen(
        [
            str(LANGGRAPH),
            "dev",
            "--no-browser",
            "--no-reload",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--config",
            str(ROOT / "langgraph.json"),
        ],
        # As a user runs it: from the repository (graph paths are relative to the working
        # directory; the server keeps its state in .langgraph_api/ there, git-ignored).
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(server, url, tmp_path / "langgraph-dev.log")
        yield url
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log.close()


def _wait_until_up(server: subprocess.Popen, url: str, log: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"langgraph dev exited ({server.returncode}):\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/ok", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    pytest.fail(f"langgraph dev did not start:\n{log.read_text()[-3000:]}")


def test_a_run_through_the_langgraph_dev_api_is_answered_and_logged(env, langgraph_dev, small_kb):
    assert askloop(env, "ingest", str(small_kb)).returncode == 0
    with httpx.Client(base_url=langgraph_dev, timeout=120) as http:
        found = http.post("/assistants/search", json={"graph_id": "askloop"}).json()
        schemas = http.get(f"/assistants/{found[0]['assistant_id']}/schemas")
        assert schemas.status_code == 200, schemas.text
        assert schemas.json()["input_schema"]["required"] == ["question"]
        thread = http.post("/threads", json={}).json()["thread_id"]
        run = http.post(
            f"/threads/{thread}/runs/wait",
            json={"assistant_id": "askloop", "input": {"question": ONCALL}},
        )
    assert run.status_code == 200, run.text
    out = run.json()
    assert out["answer"] == ANSWER and out["tenant"] == "acme" and out["route"] == "retrieve"
    assert out["citations"][0]["title"] == "On-call rotation"

    done = askloop(env, "log", "--json", "--tenant", "acme")
    logged = {r["answer_id"]: r for r in map(json.loads, done.stdout.splitlines())}
    assert logged[out["answer_id"]]["platform"] == "langgraph"
    assert logged[out["answer_id"]]["answer"] == ANSWER
