"""A loopback OpenAI-compatible API (chat completions, streamed or not, and embeddings)
whose chat answers can be held back: a model that is slow on purpose, for as long as a
test wants.

``with FakeOpenAI() as model:`` then point ``OPENAI_BASE_URL`` at ``model.url``. While
``model.hold()`` is in effect every chat request waits (``model.waiting`` counts them)
until ``model.release()``; ``hold("slow")`` holds only requests whose messages contain
"slow". ``hold_stream()`` lets a streamed answer out up to its first word, then holds
the rest until ``release()``; ``fail_with(503)`` answers every chat request with that
status. Embeddings are answered at once with a hash of the words.

``answers`` maps a model name to its own answer (others get ``answer``). Fine-tuning:
``POST /v1/files`` keeps the upload (``uploads``), ``POST /v1/fine_tuning/jobs`` starts
a job that moves one status further on each ``GET`` (validating_files, queued,
running, then succeeded with ``ft:<base>:askloop:<n>``, or ``fail_jobs`` -> failed).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
import time
from typing import Any

from aiohttp import web

from tests.loopback_app import LoopbackApp

__all__ = ["FakeOpenAI"]

_DIMENSIONS = 16


class FakeOpenAI:
    def __init__(self, *, answer: str = "Every employee gets 26 days of paid leave.") -> None:
        self.answer = answer
        self.answers: dict[str, str] = {}
        self.uploads: list[tuple[str, bytes]] = []
        self.jobs: dict[str, dict[str, Any]] = {}
        self.fail_jobs = False
        self._lock = threading.Lock()
        #: Word → the gate requests mentioning it wait at ("" matches every request).
        self._gates: dict[str, asyncio.Event] = {}
        #: Chat requests waiting at the gate right now, and all chat requests so far.
        self.waiting = 0
        self.chats = 0
        #: Set by ``hold_stream``: streamed answers wait after their first word.
        self._stream_gate: asyncio.Event | None = None
        #: Streamed answers that have sent their first word and wait at the gate.
        self.streaming = 0
        self._fail_status: int | None = None
        self._server = LoopbackApp("fake-openai", self._app)

    @property
    def port(self) -> int:
        return self._server.port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    # -- what tests do ------------------------------------------------------------------

    def hold(self, word: str = "") -> None:
        """Chat requests from now on (those mentioning ``word``) wait until ``release``."""
        self._call(lambda: self._gates.setdefault(word, asyncio.Event()))

    def hold_stream(self) -> None:
        """Streamed answers from now on stop after their first word until ``release()``."""

        def close() -> None:
            self._stream_gate = asyncio.Event()

        self._call(close)

    def fail_with(self, status: int) -> None:
        """Answer every chat request from now on with an error ``status``."""
        self._fail_status = status

    def release(self, word: str | None = None) -> None:
        """Let the requests held for ``word`` through (None: every one, for good)."""

        def open_gates() -> None:
            if word is None and self._stream_gate is not None:
                self._stream_gate.set()
                self._stream_gate = None
            for held, gate in list(self._gates.items()):
                if word is None or held == word:
                    gate.set()
                    del self._gates[held]

        self._call(open_gates)

    def wait_for(self, predicate: Any, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError("FakeOpenAI: condition not met in time")
            time.sleep(0.02)

    # -- lifecycle ----------------------------------------------------------------------

    def __enter__(self) -> FakeOpenAI:
        self._server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
        self._server.stop()

    def _call(self, fn: Any) -> Any:
        return self._server.call(fn)

    def _app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/v1/embeddings", self._embeddings)
        app.router.add_post("/v1/files", self._upload)
        app.router.add_post("/v1/fine_tuning/jobs", self._create_job)
        app.router.add_get("/v1/fine_tuning/jobs/{job_id}", self._retrieve_job)
        return app

    # -- the API ------------------------------------------------------------------------

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        text = json.dumps(body.get("messages"))
        gates = [gate for word, gate in self._gates.items() if word in text]
        with self._lock:
            self.chats += 1
            self.waiting += 1
        try:
            for gate in gates:
                await gate.wait()
        finally:
            with self._lock:
                self.waiting -= 1
        if self._fail_status is not None:
            error = {"message": "the fake model is failing", "type": "server_error"}
            return web.json_response({"error": error}, status=self._fail_status)
        model = body.get("model", "gpt-x")
        answer = self.answers.get(model, self.answer)
        usage = {"prompt_tokens": 12, "completion_tokens": 8, "total_tokens": 20}
        if not body.get("stream"):
            return web.json_response(
                {
                    "id": "c1",
                    "object": "chat.completion",
                    "created": 0,
                    "model": model,
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": answer},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": usage,
                }
            )
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        try:
            await response.prepare(request)
        except ConnectionResetError:  # the server asking was killed meanwhile
            return response

        async def send(chunk: dict[str, Any]) -> None:
            base = {"id": "c1", "object": "chat.completion.chunk", "created": 0, "model": model}
            await response.write(f"data: {json.dumps(base | chunk)}\n\n".encode())

        for n, word in enumerate(answer.split(" ")):
            delta = {"content": word + " "}
            await send({"choices": [{"index": 0, "delta": delta, "finish_reason": None}]})
            gate = self._stream_gate
            if n == 0 and gate is not None:
                with self._lock:
                    self.streaming += 1
                try:
                    await gate.wait()
                finally:
                    with self._lock:
                        self.streaming -= 1
        await send({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        if (body.get("stream_options") or {}).get("include_usage"):
            await send({"choices": [], "usage": usage})
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response

    async def _upload(self, request: web.Request) -> web.Response:
        form = await request.post()
        upload = form["file"]
        content = upload.file.read()  # type: ignore[union-attr]
        with self._lock:
            file_id = f"file-{len(self.uploads) + 1}"
            self.uploads.append((str(form.get("purpose")), content))
        return web.json_response(
            {
                "id": file_id,
                "object": "file",
                "bytes": len(content),
                "created_at": 0,
                "filename": getattr(upload, "filename", "train.jsonl"),
                "purpose": form.get("purpose"),
                "status": "processed",
            }
        )

    async def _create_job(self, request: web.Request) -> web.Response:
        body = await request.json()
        with self._lock:
            job_id = f"ftjob-{len(self.jobs) + 1}"
            self.jobs[job_id] = {
                "id": job_id,
                "object": "fine_tuning.job",
                "created_at": 0,
                "model": body["model"],
                "training_file": body["training_file"],
                "validation_file": body.get("validation_file"),
                "suffix": body.get("suffix"),
                "status": "validating_files",
                "fine_tuned_model": None,
                "finished_at": None,
                "error": None,
                "hyperparameters": {"n_epochs": "auto"},
                "organization_id": "org-fake",
                "result_files": [],
                "seed": 0,
                "trained_tokens": None,
            }
            return web.json_response(self.jobs[job_id])

    async def _retrieve_job(self, request: web.Request) -> web.Response:
        job = self.jobs.get(request.match_info["job_id"])
        if job is None:
            return web.json_response({"error": {"message": "no such job"}}, status=404)
        steps = ["validating_files", "queued", "running"]
        with self._lock:
            if job["status"] in steps[:-1]:
                job["status"] = steps[steps.index(job["status"]) + 1]
            elif job["status"] == "running" and self.fail_jobs:
                job["status"] = "failed"
                job["error"] = {"code": "invalid_file", "message": "bad data", "param": None}
            elif job["status"] == "running":
                job["status"] = "succeeded"
                job["fine_tuned_model"] = f"ft:{job['model']}:askloop:{job['id']}"
                job["trained_tokens"] = 1234
                job["finished_at"] = 1
        return web.json_response(job)

    async def _embeddings(self, request: web.Request) -> web.Response:
        body = await request.json()
        texts = body.get("input") or []
        if isinstance(texts, str):
            texts = [texts]
        data = [
            {"object": "embedding", "index": i, "embedding": _vector(str(text))}
            for i, text in enumerate(texts)
        ]
        return web.json_response(
            {
                "object": "list",
                "data": data,
                "model": body.get("model", "text-embedding-3-small"),
                "usage": {"prompt_tokens": 1, "total_tokens": 1},
            }
        )


def _vector(text: str) -> list[float]:
    vector = [0.0] * _DIMENSIONS
    for word in text.lower().split():
        vector[hashlib.sha256(word.encode()).digest()[0] % _DIMENSIONS] += 1.0
    return vector if any(vector) else [1.0] + [0.0] * (_DIMENSIONS - 1)
