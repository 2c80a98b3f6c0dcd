"""Orchestration cost of the compiled answer graph, on its longest route.

With instant fakes (an embedder returning a fixed vector, a store whose cosine depends on
the query, a chat model replying at once), every run takes the longest path:
route → retrieve → grade (poor) → rewrite → retrieve → grade (good) →
answer_with_context → check_citations. The wall time of a full ``graph.invoke`` is then
all orchestration: LangGraph's scheduling, state copies, the nodes' own Python.

Then the chat model sleeps ``--sleep`` seconds per call (rewrite + answer = 2 calls) and
the share of end-to-end time that is not model time is reported. That figure is higher
than the instant one suggests (~5 ms rather than ~2): after each sleep the process runs
on cold CPU caches, as it would after a real model call.

Last, the same longest route with thread memory, as the Assistant runs a turn in a
conversation: a SQLite checkpointer in a temporary ASKLOOP_HOME (or ``--memory-url``,
e.g. the PostgreSQL at postgresql://127.0.0.1/test), with the one checkpoint per turn
askloop writes (``durability="exit"``) and, for comparison, LangGraph's default of one
per step.

    python bench/graph_overhead.py [--runs 500] [--slow-runs 5] [--sleep 0.5]
                                   [--memory-runs 200] [--memory-url URL]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from askloop.agent.chat import Completion, Message  # noqa: E402
from askloop.agent.context import Context, Policy  # noqa: E402
from askloop.agent.graph import build_graph, graph  # noqa: E402
from askloop.agent.records import Chunk, Hit, SearchMode  # noqa: E402
from askloop.integrations.answer_log.checkpoints import open_checkpointer  # noqa: E402
from bench._wiki import percentile  # noqa: E402

TARGET_P50_MS, TARGET_SHARE = 2.0, 0.01
QUESTION = "How many days of annual leave do employees get?"
REWRITTEN = "annual leave days per year"
LONGEST = [
    "route",
    "retrieve",
    "grade",
    "rewrite",
    "retrieve",
    "grade",
    "answer_with_context",
    "check_citations",
]
DIMENSIONS = 384


class FixedEmbedder:
    """Returns the same unit vector for every text, instantly."""

    def __init__(self) -> None:
        self._vector = np.full(DIMENSIONS, 1 / DIMENSIONS**0.5, dtype=np.float32)

    @property
    def model_id(self) -> str:
        return "bench:fixed"

    @property
    def dimensions(self) -> int:
        return DIMENSIONS

    @property
    def max_tokens(self) -> int:
        return 256

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        return np.tile(self._vector, (len(texts), 1))

    def embed_query(self, text: str) -> np.ndarray:
        return self._vector


class QueryScoredStore:
    """Five fixed hits; the original question scores between the route and grade
    thresholds (search, but poor), any other query scores high (good)."""

    def __init__(self, poor: float, good: float) -> None:
        self._poor, self._good = poor, good
        self._chunks = [
            Chunk(
                chunk_id=f"c{i}",
                document_id=f"d{i}",
                document_hash="1",
                text=f"Employees get 26 days of paid annual leave per year. Part {i}.",
                title="Leave policy",
                source=f"/kb/people/leave-{i}.md",
                position=0,
                heading_path=("Leave", f"Part {i}"),
            )
            for i in range(5)
        ]
        self.searches = 0

    def search(
        self, *, tenant: str, query: str, vector: Any, k: int, mode: SearchMode, filters: Any = None
    ) -> list[Hit]:
        self.searches += 1
        top = self._poor if query == QUESTION else self._good
        return [
            Hit(
                chunk=c,
                score=top - 0.05 * i,
                mode=mode,
                vector_score=top - 0.05 * i,
                keyword_score=10.0 - i,
            )
            for i, c in enumerate(self._chunks[:k])
        ]

    def count(self, *, tenant: str) -> int:
        return len(self._chunks)


class ScriptedModel:
    """A chat model: the rewrite prompt gets a new query, anything else a cited answer.
    Sleeps ``delay`` seconds per call (0 = instant) and counts the time slept."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.calls = 0
        self.slept = 0.0

    @property
    def model_id(self) -> str:
        return "bench:scripted"

    @property
    def context_tokens(self) -> int:
        return 8192

    def complete(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int = 512,
        temperature: float = 0.0,
        stop: Sequence[str] = (),
    ) -> Completion:
        self.calls += 1
        if self.delay:
            t = time.perf_counter()
            time.sleep(self.delay)
            self.slept += time.perf_counter() - t
        rewrite = len(messages) == 1  # the rewrite prompt is one user message
        text = REWRITTEN if rewrite else "You get 26 days of paid annual leave [1], [7]."
        return Completion(text=text, model=self.model_id, input_tokens=1, output_tokens=1)


def make_context(model: ScriptedModel) -> tuple[Context, QueryScoredStore]:
    # The router's score adds subject evidence to the cosine, so route on a low threshold
    # and grade on a high one: the first search is routed to, then judged poor.
    policy = Policy(route_threshold=0.3, grade_threshold=0.6)
    poor = 0.45
    store = QueryScoredStore(poor=poor, good=0.9)
    ctx = Context(
        store=store,
        embedder=FixedEmbedder(),
        answer_model=model,  # type: ignore[arg-type]
        finetuned_model=model,
        policy=policy,
    )
    return ctx, store


def invoke(ctx: Context) -> dict[str, Any]:
    return graph.invoke(
        {"question": QUESTION, "tenant": "bench"}, {"recursion_limit": 50}, context=ctx
    )


def check_longest(result: dict[str, Any]) -> None:
    nodes = [s["node"] for s in result["trace"]]
    if nodes != LONGEST or result["route"] != "rewrite" or not result["cited"]:
        raise SystemExit(f"not the longest route: {nodes}, route={result.get('route')}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=500)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--slow-runs", type=int, default=5)
    parser.add_argument("--sleep", type=float, default=0.5, help="fake LLM seconds per call")
    parser.add_argument("--memory-runs", type=int, default=200)
    parser.add_argument("--memory-url", default=None, help="PostgreSQL URL for thread memory")
    args = parser.parse_args()

    model = ScriptedModel()
    ctx, store = make_context(model)
    check_longest(invoke(ctx))
    for _ in range(args.warmup):
        invoke(ctx)
    model.calls = store.searches = 0
    ms, node_ms = [], []
    for _ in range(args.runs):
        t = time.perf_counter()
        result = invoke(ctx)
        ms.append((time.perf_counter() - t) * 1000)
        node_ms.append(sum(step["ms"] for step in result["trace"]))
    # The probe is a search of its own unless it is hybrid (retrieve then reuses it).
    searches = 2 if ctx.policy.probe_mode == "hybrid" else 3
    assert model.calls == 2 * args.runs and store.searches == searches * args.runs
    p50 = percentile(ms, 50)
    print(
        f"longest route ({len(LONGEST)} node runs, {searches} searches, 2 LLM calls), "
        f"instant fakes, "
        f"{args.runs} runs after {args.warmup} warm-up:"
    )
    print(
        f"  graph.invoke  p50={p50:.3f} ms  p95={percentile(ms, 95):.3f}  "
        f"p99={percentile(ms, 99):.3f}  mean={sum(ms) / len(ms):.3f}  "
        f"target p50 <= {TARGET_P50_MS:g} ms: {'met' if p50 <= TARGET_P50_MS else 'MISSED'}"
    )
    print(
        f"  of which inside the nodes (their trace timings) p50="
        f"{percentile(node_ms, 50):.3f} ms; the rest is LangGraph's scheduling"
    )

    slow = ScriptedModel(delay=args.sleep)
    slow_ctx, _ = make_context(slow)
    shares, totals = [], []
    for _ in range(args.slow_runs):
        slow.slept = 0.0
        t = time.perf_counter()
        check_longest(invoke(slow_ctx))
        total = time.perf_counter() - t
        totals.append(total)
        shares.append((total - slow.slept) / total)
    share = max(shares)
    print(
        f"with a fake LLM sleeping {args.sleep * 1000:.0f} ms per call (2 calls), "
        f"{args.slow_runs} runs:"
    )
    print(
        f"  end-to-end p50={percentile(totals, 50) * 1000:.1f} ms; orchestration share "
        f"(total - slept) / total: median {percentile(shares, 50):.4%}, worst {share:.4%}  "
        f"target <= {TARGET_SHARE:.0%}: {'met' if share <= TARGET_SHARE else 'MISSED'}"
    )

    memory(args.memory_runs, args.warmup, args.memory_url)


def memory(runs: int, warmup: int, url: str | None) -> None:
    model = ScriptedModel()
    ctx, _ = make_context(model)
    with tempfile.TemporaryDirectory() as home:
        saver, conn = open_checkpointer(url, Path(home))
        try:
            threaded = build_graph(saver)
            print(
                f"with thread memory ({'SQLite' if url is None else url.split(':')[0]} "
                f"checkpointer), {runs} turns on 50 threads after {warmup} warm-up:"
            )
            for durability, who in [
                ("exit", "askloop, one per turn"),
                ("async", "LangGraph's default, one per step"),
            ]:
                prefix = uuid.uuid4().hex[:8]
                ms = []
                for i in range(warmup + runs):
                    config = {
                        "recursion_limit": 50,
                        "configurable": {"thread_id": f"{prefix}-{i % 50}"},
                    }
                    t = time.perf_counter()
                    inputs = {"question": QUESTION, "tenant": "bench"}
                    result = threaded.invoke(inputs, config, context=ctx, durability=durability)
                    if i >= warmup:
                        ms.append((time.perf_counter() - t) * 1000)
                    check_longest(result)
                print(
                    f"  durability={durability:5s} ({who}): p50={percentile(ms, 50):.3f} ms  "
                    f"p99={percentile(ms, 99):.3f}"
                )
                for i in range(50):  # leave nothing behind in a shared database
                    saver.delete_thread(f"{prefix}-{i}")
        finally:
            conn.close()


if __name__ == "__main__":
    main()
