"""The OpenAI embedder, with the real SDK talking to a loopback fake of the API."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from askloop.agent.errors import EmbedderError
from askloop.agent.text import count_tokens as estimate
from askloop.integrations.models.embedders import OpenAIEmbedder


def _embeddings(request: Request) -> Response:
    body = json.loads(request.data)
    data = [
        {"object": "embedding", "index": i, "embedding": [float(len(text)), 0.0, 2.0]}
        for i, text in enumerate(body["input"])
    ]
    data.reverse()  # the API does not promise order; the client must sort by index
    payload = {
        "object": "list",
        "data": data,
        "model": body["model"],
        "usage": {"prompt_tokens": 1, "total_tokens": 1},
    }
    return Response(json.dumps(payload), content_type="application/json")


def make(httpserver: HTTPServer, **kw) -> OpenAIEmbedder:
    return OpenAIEmbedder(
        model="text-embedding-3-small", api_key="sk-test", base_url=httpserver.url_for("/v1"), **kw
    )


def test_embeds_in_batches_in_order_and_normalised(httpserver: HTTPServer):
    httpserver.expect_request("/v1/embeddings", method="POST").respond_with_handler(_embeddings)
    vectors = make(httpserver, batch_size=2).embed_documents(["a", "bbb", "cc"])
    assert vectors.shape == (3, 3) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0)
    first = [v[0] / v[2] for v in vectors]  # len(text) / 2 survives normalisation
    assert np.allclose(first, [0.5, 1.5, 1.0])
    assert len(httpserver.log) == 2
    assert httpserver.log[0][0].headers["Authorization"] == "Bearer sk-test"


def test_dimensions_come_from_the_api(httpserver: HTTPServer):
    httpserver.expect_request("/v1/embeddings").respond_with_handler(_embeddings)
    embedder = make(httpserver)
    assert embedder.dimensions == 3
    assert embedder.model_id == "openai:text-embedding-3-small"


def test_api_errors_become_a_typed_error(httpserver: HTTPServer):
    httpserver.expect_request("/v1/embeddings").respond_with_json(
        {"error": {"message": "bad key", "type": "invalid_request_error"}}, status=401
    )
    with pytest.raises(EmbedderError, match="OpenAI"):
        make(httpserver).embed_documents(["x"])


def test_a_repeated_query_is_embedded_once(httpserver: HTTPServer):
    httpserver.expect_request("/v1/embeddings", method="POST").respond_with_handler(_embeddings)
    embedder = make(httpserver)
    first = embedder.embed_query("how many leave days?")
    again = embedder.embed_query("how many leave days?")
    other = embedder.embed_query("who is on call?")
    assert len(httpserver.log) == 2 and np.array_equal(first, again)
    assert not np.array_equal(first, other)
    with pytest.raises(ValueError):
        first[0] = 1.0  # shared between callers: read-only


def test_the_query_cache_forgets_the_oldest_beyond_its_size():
    from askloop.integrations.models.embedders import QueryCache

    cache, calls = QueryCache(size=2), []

    def compute(text):
        return lambda: calls.append(text) or np.ones(3)

    for text in ["a", "b", "a", "c", "b", "a"]:
        cache.get(text, compute(text))
    # "a" is a hit the second time; "c" evicts "b" (least recently used), then "b"
    # evicts "a", so both are computed again.
    assert calls == ["a", "b", "c", "b", "a"]


def test_without_tiktoken_tokens_are_overestimated_not_under(httpserver, monkeypatch):
    monkeypatch.setitem(sys.modules, "tiktoken", None)  # import fails
    embedder = make(httpserver)
    digest = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
    assert embedder.max_tokens == 8191
    # A hex digest is one word to the estimate but dozens of BPE tokens.
    assert embedder.count_tokens(digest) >= len(digest) // 3 > estimate(digest)
    assert embedder.count_tokens("How many days of leave?") >= estimate("How many days of leave?")
    assert not httpserver.log  # counting never calls the API
