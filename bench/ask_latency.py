"""End-to-end ``ask`` latency on the embedded default, per route.

The default stack (MiniLM embedder, LanceStore, SmolLM2 on llama.cpp for both the answer
and the fine-tuned model), built by the composition root from settings with a temporary
``ASKLOOP_HOME``, with the sample handbook (kb/handbook) ingested. Questions come from
kb/QUESTIONS.md and a few off-topic ones; each is put in the band its probe search
predicts (the policy's thresholds: search and grade good / search, grade poor, rewrite /
no search), then answered through ``Assistant.answer``. Figures are grouped by the route
the answer actually took (a rewrite can also end by giving up, which DESIGN.md counts as
"finetuned"; those are shown apart).

    python bench/ask_latency.py [--per-route 5] [--threads 1] [--llm-threads 1]
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from askloop.agent.answers import AnswerRecord, Turn  # noqa: E402
from askloop.config.settings import load_settings  # noqa: E402
from askloop.integrations.ingest.pipeline import ingest_paths  # noqa: E402
from askloop.integrations.wiring import Services  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TENANT = "default"
OFF_TOPIC = [
    "Who wrote Pride and Prejudice?",
    "How does photosynthesis work?",
    "What is the capital of France?",
    "Write a short poem about the sea.",
    "How tall is Mount Everest?",
    "What year did the Berlin Wall fall?",
]
#: Vague questions on handbook topics: their probe search is often between the route and
#: grade thresholds, so they are searched, graded poor and rewritten.
VAGUE = [
    "Who approves my time off?",
    "What's the dress code?",
    "Is there a bike shed?",
    "Do I get paid for overtime?",
    "What are the rules for social media?",
    "Can I use my own phone for work?",
    "How do I set up two-factor authentication?",
    "Can I get a standing desk?",
]
MODEL_NODES = {"rewrite", "answer_with_context", "answer_direct", "give_up"}


def handbook_questions() -> list[str]:
    text = (ROOT / "kb" / "QUESTIONS.md").read_text(encoding="utf-8")
    return re.findall(r"^\| \d+ \| (.+?) \|", text, re.M)


def label(record: AnswerRecord) -> str:
    gave_up = any(step.node == "give_up" for step in record.trace)
    return f"{record.route} (gave up)" if gave_up else record.route


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-route", type=int, default=5, help="questions per route")
    parser.add_argument("--threads", type=int, default=1, help="threads of the embedder")
    parser.add_argument("--llm-threads", type=int, default=1, help="llama.cpp threads")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(
            home=Path(tmp),
            embedder={"provider": "local", "threads": args.threads},
            models={
                "answer": "local:default",
                "finetuned": "local:default",
                "local_threads": args.llm_threads,
            },
        )
        with Services(settings) as services:
            t0 = time.perf_counter()
            report = ingest_paths(
                [ROOT / "kb" / "handbook"],
                tenant=TENANT,
                store=services.store,
                embedder=services.embedder,
                settings=settings.ingest,
            )
            services.store.close()  # builds the indexes, as `askloop ingest` does on exit
            print(
                f"ingested {report.chunks_written} chunks of {report.documents_written} "
                f"handbook files in {time.perf_counter() - t0:.1f}s"
            )
            assistant = services.assistant
            policy = assistant.context.policy

            # Sort the questions into bands by their probe search (no model call).
            bands: dict[str, list[str]] = {"retrieve": [], "rewrite": [], "finetuned": []}
            for question in handbook_questions() + VAGUE + OFF_TOPIC:
                step = assistant.route(question, tenant=TENANT)["trace"]
                best = step["detail"]["best_cosine"]
                if step["verdict"] == "finetuned":
                    bands["finetuned"].append(question)
                elif best >= policy.grade_threshold:
                    bands["retrieve"].append(question)
                else:
                    bands["rewrite"].append(question)
            print(
                f"probe bands (route >= {policy.route_threshold}, grade >= "
                f"{policy.grade_threshold}): "
                + ", ".join(f"{k} {len(v)}" for k, v in bands.items())
            )

            t0 = time.perf_counter()
            assistant.answer(Turn(question="hello", tenant=TENANT))  # loads the chat model
            print(f"warm-up (loads the chat model): {time.perf_counter() - t0:.1f}s")

            seconds: dict[str, list[float]] = {}
            model_share: dict[str, list[float]] = {}
            rest_ms: dict[str, list[float]] = {}
            for band, questions in bands.items():
                # The rewrite band tries more questions: some give up instead.
                budget = args.per_route * (2 if band == "rewrite" else 1)
                done = 0
                for question in questions[:budget]:
                    if done == args.per_route:
                        break
                    t = time.perf_counter()
                    record = assistant.answer(Turn(question=question, tenant=TENANT))
                    total = time.perf_counter() - t
                    got = label(record)
                    done += got == band
                    seconds.setdefault(got, []).append(total)
                    model_ms = sum(s.ms for s in record.trace if s.node in MODEL_NODES)
                    model_share.setdefault(got, []).append(model_ms / 1000 / total)
                    rest_ms.setdefault(got, []).append(total * 1000 - model_ms)
                    print(
                        f"  [{band:9s} band -> {got:20s}] {total:5.1f}s  "
                        f"rewrites={record.rewrites}  {question[:60]}"
                    )

            print("end-to-end Assistant.answer latency by route taken:")
            for route, values in sorted(seconds.items()):
                print(
                    f"  {route:20s} n={len(values)}  p50 {statistics.median(values):5.1f}s  "
                    f"min {min(values):5.1f}s  max {max(values):5.1f}s  "
                    f"chat model {statistics.median(model_share[route]):.0%} of it, the rest "
                    f"{statistics.median(rest_ms[route]):.0f} ms"
                )


if __name__ == "__main__":
    main()
