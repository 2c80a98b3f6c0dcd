"""Fakes at the seams: a deterministic embedder, a scripted chat model, simulated time."""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Sequence

import numpy as np

from askloop.agent.ports import Vectors
from askloop.agent.text import count_tokens as estimate_tokens

_WORD = re.compile(r"\w+")


class HashingEmbedder:
    """Bag-of-words hashed into ``dimensions`` buckets, L2-normalised.

    Texts sharing words get similar vectors, so vector search behaves plausibly.
    Tokens are counted by the core's estimate; ``max_tokens`` is what it "reads".
    ``fail_on`` makes embedding raise when any text contains that marker.
    """

    def __init__(
        self, dimensions: int = 64, *, fail_on: str | None = None, max_tokens: int = 256
    ) -> None:
        self._dimensions = dimensions
        self._max_tokens = max_tokens
        self.fail_on = fail_on
        self.calls = 0
        self.texts_embedded = 0

    @property
    def model_id(self) -> str:
        return f"test:hashing-{self._dimensions}"

    @property
    def dimensions(self) -> int:
        return self._dimensions

    @property
    def max_tokens(self) -> int:
        return self._max_tokens

    def count_tokens(self, text: str) -> int:
        return estimate_tokens(text)

    def _one(self, text: str) -> np.ndarray:
        vec = np.zeros(self._dimensions, dtype=np.float32)
        for word in _WORD.findall(text.lower()):
            bucket = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=4).digest(), "big")
            vec[bucket % self._dimensions] += 1.0
        norm = np.linalg.norm(vec)
        return vec / norm if norm else vec

    def embed_documents(self, texts: Sequence[str]) -> Vectors:
        self.calls += 1
        if self.fail_on and any(self.fail_on in t for t in texts):
            raise RuntimeError("embedder exploded")
        self.texts_embedded += len(texts)
        return (
            np.stack([self._one(t) for t in texts])
            if texts
            else np.zeros((0, self._dimensions), dtype=np.float32)
        )

    def embed_query(self, text: str) -> Vectors:
        return self._one(text)


class FakeChatModel:
    """A scripted ``ChatModel``: replies come from ``reply(messages)`` or a fixed text.

    Every call's messages are kept in ``calls``; ``down=True`` makes every call fail
    the way a model does after its retries.
    """

    def __init__(self, reply="OK", *, model_id: str = "fake:answer", down: bool = False):
        self._reply = reply
        self._model_id = model_id
        self.down = down
        self.calls: list[list] = []
        self.streamed = 0  # how many of the calls were streamed

    @property
    def model_id(self) -> str:
        return self._model_id

    @property
    def context_tokens(self) -> int:
        return 8192

    def complete(self, messages, *, max_tokens=512, temperature=0.0, stop=()):
        from askloop.agent.chat import Completion
        from askloop.agent.errors import ModelUnavailableError

        self.calls.append(list(messages))
        if self.down:
            raise ModelUnavailableError("fake model is down")
        text = self._reply(messages) if callable(self._reply) else self._reply
        return Completion(text=text, model=self._model_id, input_tokens=1, output_tokens=1)

    def stream(self, messages, *, on_text, max_tokens=512, temperature=0.0, stop=()):
        """``complete``, handing the reply out word by word first."""
        self.streamed += 1
        out = self.complete(messages, max_tokens=max_tokens, temperature=temperature, stop=stop)
        for piece in re.findall(r"\S+\s*", out.text):
            on_text(piece)
        return out


class SimulatedTime:
    """A clock that only moves when someone sleeps (inject ``clock`` and ``sleep``)."""

    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += max(seconds, 0.0)
        await asyncio.sleep(0)
