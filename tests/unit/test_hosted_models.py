"""Anthropic and OpenAI adapters: the real SDK clients against a loopback fake API."""

from __future__ import annotations

import json
import time

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from askloop.agent.chat import Message
from askloop.agent.errors import ModelUnavailableError
from askloop.integrations.models.hosted import AnthropicChatModel, OpenAIChatModel, RetryPolicy

OPENAI_OK = {
    "id": "c1",
    "object": "chat.completion",
    "created": 0,
    "model": "gpt-x",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "26 days [1]."},
            "finish_reason": "stop",
        }
    ],
    "usage": {"prompt_tokens": 12, "completion_tokens": 4, "total_tokens": 16},
}
ANTHROPIC_OK = {
    "id": "msg_1",
    "type": "message",
    "role": "assistant",
    "model": "claude-x",
    "content": [{"type": "text", "text": "26 days [1]."}],
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {"input_tokens": 12, "output_tokens": 4},
}
MESSAGES = [Message("system", "Be brief."), Message("user", "How many days?")]


class Script:
    """Answers each request with the next scripted (status, body, headers, delay)."""

    def __init__(self, *steps):
        self.steps = list(steps)
        self.bodies: list[dict] = []

    def __call__(self, request: Request) -> Response:
        self.bodies.append(json.loads(request.data))
        status, body, headers, delay = self.steps.pop(0)
        if delay:
            time.sleep(delay)
        return Response(
            json.dumps(body), status=status, headers=headers, content_type="application/json"
        )


def error(status, headers=None, delay=0.0):
    return (
        status,
        {"error": {"type": "error", "message": f"status {status}"}},
        headers or {},
        delay,
    )


@pytest.fixture
def sleeps():
    return []


def policy(sleeps, attempts=4):
    return RetryPolicy(attempts=attempts, initial=0.01, maximum=5.0, sleep=sleeps.append)


def openai_model(server, sleeps, **kw):
    return OpenAIChatModel(
        model="gpt-x",
        api_key="sk-test",
        base_url=server.url_for("/v1"),
        retry=policy(sleeps, kw.pop("attempts", 4)),
        **kw,
    )


def anthropic_model(server, sleeps, **kw):
    return AnthropicChatModel(
        model="claude-x",
        api_key="sk-ant-test",
        base_url=server.url_for(""),
        retry=policy(sleeps, kw.pop("attempts", 4)),
        **kw,
    )


def test_openai_success_maps_the_response_and_sends_the_request(httpserver: HTTPServer, sleeps):
    script = Script((200, OPENAI_OK, {}, 0))
    httpserver.expect_request("/v1/chat/completions").respond_with_handler(script)
    out = openai_model(httpserver, sleeps).complete(MESSAGES, max_tokens=50, stop=["\n\n"])
    assert (out.text, out.input_tokens, out.output_tokens) == ("26 days [1].", 12, 4)
    assert out.model == "openai:gpt-x" and out.finish_reason == "stop"
    body = script.bodies[0]
    assert body["messages"][0] == {"role": "system", "content": "Be brief."}
    assert body["max_tokens"] == 50 and body["stop"] == ["\n\n"] and body["temperature"] == 0


def test_a_429_waits_for_retry_after_then_succeeds(httpserver: HTTPServer, sleeps):
    script = Script(error(429, {"retry-after": "2"}), (200, OPENAI_OK, {}, 0))
    httpserver.expect_request("/v1/chat/completions").respond_with_handler(script)
    assert openai_model(httpserver, sleeps).complete(MESSAGES).text == "26 days [1]."
    assert sleeps == [2.0]


def test_retry_after_is_capped(httpserver: HTTPServer, sleeps):
    script = Script(error(429, {"retry-after": "3600"}), (200, OPENAI_OK, {}, 0))
    httpserver.expect_request("/v1/chat/completions").respond_with_handler(script)
    openai_model(httpserver, sleeps).complete(MESSAGES)
    assert sleeps == [5.0]


def test_persistent_5xx_gives_up_after_bounded_attempts(httpserver: HTTPServer, sleeps):
    script = Script(*[error(500)] * 3, error(503))
    httpserver.expect_request("/v1/chat/completions").respond_with_handler(script)
    with pytest.raises(ModelUnavailableError, match="HTTP 503"):
        openai_model(httpserver, sleeps).complete(MESSAGES)
    assert len(script.bodies) == 4 and len(sleeps) == 3
    assert all(0 <= s <= 5.0 for s in sleeps)


@pytest.mark.parametrize("status", [400, 401, 403, 404])
def test_client_errors_fail_at_once(httpserver: HTTPServer, sleeps, status):
    script = Script(error(status), (200, OPENAI_OK, {}, 0))
    httpserver.expect_request("/v1/chat/completions").respond_with_handler(script)
    with pytest.raises(ModelUnavailableError, match=f"HTTP {status}"):
        openai_model(httpserver, sleeps).complete(MESSAGES)
    assert len(script.bodies) == 1 and sleeps == []


def test_a_slow_server_times_out_and_is_retried(sleeps):
    server = HTTPServer(threaded=True)  # the slow request must not block the retry
    server.start()
    try:
        script = Script((200, OPENAI_OK, {}, 1.0), (200, OPENAI_OK, {}, 0))
        server.expect_request("/v1/chat/completions").respond_with_handler(script)
        model = openai_model(server, sleeps, timeout=0.3)
        assert model.complete(MESSAGES).text == "26 days [1]."
        assert len(sleeps) == 1 and len(script.bodies) == 2
    finally:
        server.clear()
        server.stop()


def test_a_dead_server_is_a_clear_error(sleeps):
    model = OpenAIChatModel(
        model="gpt-x",
        api_key="k",
        base_url="http://127.0.0.1:1/v1",
        retry=policy(sleeps, attempts=2),
    )
    with pytest.raises(ModelUnavailableError, match="openai:gpt-x is unavailable"):
        model.complete(MESSAGES)
    assert len(sleeps) == 1


def test_anthropic_success_puts_system_apart(httpserver: HTTPServer, sleeps):
    script = Script((200, ANTHROPIC_OK, {}, 0))
    httpserver.expect_request("/v1/messages").respond_with_handler(script)
    out = anthropic_model(httpserver, sleeps).complete(MESSAGES, max_tokens=50)
    assert (out.text, out.model, out.finish_reason) == (
        "26 days [1].",
        "anthropic:claude-x",
        "end_turn",
    )
    body = script.bodies[0]
    assert body["system"] == "Be brief." and body["max_tokens"] == 50
    assert "temperature" not in body  # current Claude models fix their own sampling
    assert body["messages"] == [{"role": "user", "content": "How many days?"}]


def test_anthropic_overloaded_honours_retry_after_ms(httpserver: HTTPServer, sleeps):
    script = Script(error(529, {"retry-after-ms": "250"}), (200, ANTHROPIC_OK, {}, 0))
    httpserver.expect_request("/v1/messages").respond_with_handler(script)
    assert anthropic_model(httpserver, sleeps).complete(MESSAGES).text == "26 days [1]."
    assert sleeps == [0.25]


# -- streaming ------------------------------------------------------------------------------


def sse(events: list[tuple[str | None, object]]) -> Response:
    lines = []
    for name, data in events:
        if name:
            lines.append(f"event: {name}")
        lines.append(f"data: {data if isinstance(data, str) else json.dumps(data)}\n")
    return Response("\n".join(lines) + "\n", content_type="text/event-stream")


def openai_chunk(content=None, finish=None):
    delta = {"content": content} if content is not None else {}
    return {
        "id": "c1",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "gpt-x",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def test_openai_streams_text_in_order_after_retrying_a_429(httpserver: HTTPServer, sleeps):
    calls = []

    def handler(request: Request) -> Response:
        calls.append(json.loads(request.data))
        if len(calls) == 1:
            return Response("{}", status=429, headers={"Retry-After": "1"})
        return sse(
            [
                (None, openai_chunk("26 ")),
                (None, openai_chunk("days [1].")),
                (None, openai_chunk(finish="stop")),
                (None, "[DONE]"),
            ]
        )

    httpserver.expect_request("/v1/chat/completions").respond_with_handler(handler)
    pieces: list[str] = []
    out = openai_model(httpserver, sleeps).stream(MESSAGES, on_text=pieces.append)
    assert pieces == ["26 ", "days [1]."]
    assert (out.text, out.finish_reason, out.model) == ("26 days [1].", "stop", "openai:gpt-x")
    assert calls[-1]["stream"] is True and sleeps == [1.0]


def test_openai_failing_mid_stream_is_not_retried(httpserver: HTTPServer, sleeps):
    calls = []

    def handler(request: Request) -> Response:
        calls.append(1)
        return sse([(None, openai_chunk("26 ")), (None, {"error": {"message": "overloaded"}})])

    httpserver.expect_request("/v1/chat/completions").respond_with_handler(handler)
    pieces: list[str] = []
    with pytest.raises(ModelUnavailableError, match="mid-answer"):
        openai_model(httpserver, sleeps).stream(MESSAGES, on_text=pieces.append)
    assert pieces == ["26 "] and len(calls) == 1


ANTHROPIC_STREAM = [
    (
        "message_start",
        {
            "type": "message_start",
            "message": {
                "id": "msg_1",
                "type": "message",
                "role": "assistant",
                "model": "claude-x",
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {"input_tokens": 12, "output_tokens": 1},
            },
        },
    ),
    (
        "content_block_start",
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    ),
    (
        "content_block_delta",
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "text_delta", "text": "26 days"},
        },
    ),
    (
        "content_block_delta",
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "text_delta", "text": " [1]."},
        },
    ),
    ("content_block_stop", {"type": "content_block_stop", "index": 0}),
    (
        "message_delta",
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn", "stop_sequence": None},
            "usage": {"output_tokens": 4},
        },
    ),
    ("message_stop", {"type": "message_stop"}),
]


def test_anthropic_streams_text_with_usage(httpserver: HTTPServer, sleeps):
    bodies = []

    def handler(request: Request) -> Response:
        bodies.append(json.loads(request.data))
        return sse(ANTHROPIC_STREAM)

    httpserver.expect_request("/v1/messages").respond_with_handler(handler)
    pieces: list[str] = []
    out = anthropic_model(httpserver, sleeps).stream(MESSAGES, on_text=pieces.append)
    assert pieces == ["26 days", " [1]."]
    assert (out.text, out.input_tokens, out.output_tokens) == ("26 days [1].", 12, 4)
    assert out.finish_reason == "end_turn" and bodies[0]["stream"] is True
    assert bodies[0]["system"] == "Be brief."


def test_anthropic_overloaded_before_any_text_is_retried(httpserver: HTTPServer, sleeps):
    steps = [
        Response(
            json.dumps({"type": "error", "error": {"type": "overloaded_error", "message": "busy"}}),
            status=529,
            content_type="application/json",
        )
    ]

    def handler(request: Request) -> Response:
        return steps.pop(0) if steps else sse(ANTHROPIC_STREAM)

    httpserver.expect_request("/v1/messages").respond_with_handler(handler)
    out = anthropic_model(httpserver, sleeps).stream(MESSAGES, on_text=lambda _: None)
    assert out.text == "26 days [1]." and len(sleeps) == 1
