"""The offline MiniLM embedder: ONNX Runtime and torch give the same vectors."""

from __future__ import annotations

import logging
import sys

import numpy as np
import pytest

from askloop.integrations.models.embedders import MiniLMEmbedder

TEXTS = [
    "How many days of annual leave do employees get?",
    "vpn",
    "Über die Reisekostenabrechnung: wie lange dauert es?",
    "Chat is down during an outage " * 80,  # far past the 256-token window: truncated
    "vpn",
]


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("models")


@pytest.mark.slow
def test_onnx_and_torch_give_the_same_vectors(cache_dir):
    onnx = MiniLMEmbedder(cache_dir=cache_dir, batch_size=2)
    torch = MiniLMEmbedder(runtime="torch")
    a, b = onnx.embed_documents(TEXTS), torch.embed_documents(TEXTS)
    assert onnx.runtime == "onnx" and torch.runtime == "torch"
    assert a.shape == b.shape == (5, 384) and a.dtype == np.float32
    assert float(np.abs(a - b).max()) < 1e-5
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    assert np.array_equal(a[1], a[4])  # batching and sorting keep the input order
    assert np.allclose(onnx.embed_query(TEXTS[0]), a[0], atol=1e-6)
    assert onnx.embed_documents([]).shape == (0, 384)


@pytest.mark.slow
def test_the_export_is_made_once_and_reused(cache_dir, monkeypatch):
    MiniLMEmbedder(cache_dir=cache_dir).embed_query("warm")
    exported = sorted(cache_dir.glob("*.onnx"))
    assert len(exported) == 1 and not list(cache_dir.glob("*.tmp"))
    import torch.onnx

    def no_export(*args, **kwargs):
        raise AssertionError("exported again")

    monkeypatch.setattr(torch.onnx, "export", no_export)
    again = MiniLMEmbedder(cache_dir=cache_dir)
    assert again.embed_query("warm").shape == (384,) and again.runtime == "onnx"


@pytest.mark.slow
def test_without_onnx_runtime_it_falls_back_to_torch(tmp_path, monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import fails
    embedder = MiniLMEmbedder(cache_dir=tmp_path)
    with caplog.at_level(logging.WARNING):
        vector = embedder.embed_query("How many days of annual leave?")
    assert embedder.runtime == "torch" and vector.shape == (384,)
    assert "using torch" in caplog.text
