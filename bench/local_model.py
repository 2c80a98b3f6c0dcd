"""Speed of the embedded chat model: SmolLM2-135M-Instruct (Q4_1) on llama.cpp, CPU only.

For each thread count: load time, prompt-processing and decode speed, and the p50/p95
latency of a ~150-token answer to a ~600-token RAG-style prompt (handbook pages from
``kb/handbook`` as context). All through the public ``complete()``, wall clock:
prompt tok/s = prompt tokens / latency of a 1-token answer; decode tok/s = the extra
tokens of the long answer / its extra time. Prompt caching is off in the model, so every
run processes the whole prompt.

    python bench/local_model.py [--runs 5] [--threads 1 2]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from askloop.agent.chat import Message  # noqa: E402
from askloop.integrations.models.local import LocalChatModel  # noqa: E402
from bench._wiki import percentile  # noqa: E402

PROMPT_TOKENS, ANSWER_TOKENS = 600, 150
SYSTEM = "Answer the question using only the context. Be thorough."
QUESTION = "Summarise every rule and deadline the context mentions, one by one."


def handbook_text() -> str:
    pages = sorted((ROOT / "kb" / "handbook").rglob("*.md"))
    return "\n\n".join(p.read_text(encoding="utf-8") for p in pages)


def prompt(context: str) -> list[Message]:
    return [Message("system", SYSTEM), Message("user", f"Context:\n{context}\n\n{QUESTION}")]


def timed(
    model: LocalChatModel, messages: list[Message], max_tokens: int
) -> tuple[float, int, int]:
    start = time.perf_counter()
    out = model.complete(messages, max_tokens=max_tokens)
    return time.perf_counter() - start, out.input_tokens or 0, out.output_tokens or 0


def rss_mib() -> float | None:
    statm = Path("/proc/self/statm")
    return int(statm.read_text().split()[1]) * 4096 / 2**20 if statm.exists() else None


def bench(threads: int, runs: int, text: str) -> None:
    model = LocalChatModel(threads=threads)
    rss_before, start = rss_mib(), time.perf_counter()
    model.load()
    load_s = time.perf_counter() - start
    rss_after = rss_mib()
    # Size the context to ~PROMPT_TOKENS with one probe (the tokenizer is the model's own).
    _, probe_tokens, _ = timed(model, prompt(text[:2400]), 1)
    messages = prompt(text[: int(2400 * PROMPT_TOKENS / probe_tokens)])

    short = [timed(model, messages, 1) for _ in range(runs)]
    long = [timed(model, messages, ANSWER_TOKENS) for _ in range(runs)]
    model.close()

    prompt_tokens = short[0][1]
    short_s = statistics.median(s for s, _, _ in short)
    long_s = [s for s, _, _ in long]
    answer_tokens = statistics.mean(n for _, _, n in long)
    decode_tps = (answer_tokens - 1) / max(statistics.median(long_s) - short_s, 1e-9)
    print(f"threads={threads}")
    print(f"  load                     {load_s * 1000:8.0f} ms")
    print(f"  prompt processing        {prompt_tokens / short_s:8.0f} tok/s  ({prompt_tokens} tok)")
    print(f"  decode                   {decode_tps:8.0f} tok/s")
    print(
        f"  ~{ANSWER_TOKENS}-tok answer to {prompt_tokens}-tok prompt: "
        f"p50 {percentile(long_s, 50):.2f} s, p95 {percentile(long_s, 95):.2f} s "
        f"({answer_tokens:.0f} tok, {runs} runs)"
    )
    if rss_before is not None and rss_after is not None:
        print(f"  memory (RSS) of the load {rss_after - rss_before:8.0f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    text = handbook_text()
    for threads in args.threads:
        bench(threads, args.runs, text)


if __name__ == "__main__":
    main()
