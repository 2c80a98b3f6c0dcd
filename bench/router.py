"""Routing accuracy of the probe router: search the knowledge base, or ask the fine-tuned model?

Ingests 2,000 Wikipedia extracts (the bench/_wiki.py protocol) through askloop's own
store and embedder, then labels questions:

- "retrieve": about an ingested article: its description, "What is {title}?" and
  "Tell me about {title}" (the protocol's 200 EVAL / 300 TUNE articles);
- "finetuned": the same three about articles NOT ingested (500 others, disjoint, seeded:
  200 EVAL / 300 TUNE), plus 100 small-talk, arithmetic and writing requests (50 / 50).

Every question goes through the production ``route`` node (query embedding + probe
search), and its hits are also scored by ``agent.routing.decide``. Thresholds are chosen
on TUNE only; EVAL is reported. Then the same weights are checked on the sample
handbook: the questions of kb/QUESTIONS.md against off-topic ones.

    python bench/router.py [--threads 1]
"""

from __future__ import annotations

import argparse
import random
import re
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from langgraph.runtime import Runtime  # noqa: E402

from askloop.agent.chat import Completion, Message  # noqa: E402
from askloop.agent.context import Context, Policy  # noqa: E402
from askloop.agent.nodes import route  # noqa: E402
from askloop.agent.routing import decide  # noqa: E402
from askloop.agent.state import HitData  # noqa: E402
from askloop.config.settings import IngestSettings  # noqa: E402
from askloop.integrations.ingest.pipeline import ingest_paths  # noqa: E402
from askloop.integrations.models.embedders import MiniLMEmbedder  # noqa: E402
from askloop.integrations.stores.lance.store import LanceStore  # noqa: E402
from bench._wiki import benchmark_split, percentile, wiki_articles, wiki_chunks  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TARGET_ACCURACY, TARGET_P99_MS, ANCHOR = 0.90, 15.0, 0.545

SMALL_TALK = """\
hi there|hello|hey!|good morning|good evening everyone|thanks!|thank you so much|thx
cheers mate|ok|okay cool|sounds good|got it, thanks|bye|see you later
have a nice weekend|how are you today|how's it going?|what's up|are you a bot?
who made you?|what can you do?|can you help me?|what's your name?|lol
haha that's funny|nice one|great job|you're awesome|that didn't help at all
that's wrong|never mind|sorry, wrong channel|test|testing 123|ping|what's 17 times 3
what is 2 + 2|how much is 15% of 80|calculate 144 divided by 12
what's the square root of 81|convert 10 miles to kilometers
how many seconds are in a day|what is 7 squared|write a haiku about autumn
write a limerick about a cat|tell me a joke|tell me a fun fact
give me a motivational quote|compose a short poem about coffee
write a birthday message for my colleague|suggest a name for my new puppy
help me write a thank-you note|translate 'good morning' into Spanish
how do you say thank you in French|what rhymes with orange
give me a synonym for happy|what's the opposite of generous|spell necessary
is it going to rain tomorrow?|what's the weather like today|what time is it
what day is it today|any plans for the weekend?|I'm bored|I'm so tired today
I love pizza|what should I have for lunch|recommend a good movie
recommend a book for the holidays|what's a good podcast|summarize this for me please
can you make this sentence shorter|rephrase this more politely
fix the grammar in this sentence|write an out-of-office reply
draft an email asking for a meeting next week|how do I politely decline an invitation
give me three ideas for a team icebreaker|what's a fun team building activity
flip a coin|pick a random number between 1 and 10|roll a dice
what's the meaning of life|do you dream?|are you sentient?
tell me something interesting|let's play a game|what's your favourite colour
good night|happy friday!|congrats on the launch 🎉|welcome to the team!|morning all
can you explain that again?|what do you mean?|I don't understand|yes please
no thanks|maybe later"""

#: Questions the handbook does not cover: kb/QUESTIONS.md's own four, and more.
HANDBOOK_OFF_TOPIC = """\
Who wrote Pride and Prejudice?|How many moons does Jupiter have?|What's 23 times 4?
Write a short poem about the sea.|hello there!|thank you, that's all
How do I make a sourdough starter?|Who won the football World Cup in 2018?
What is the boiling point of water in Fahrenheit?|Recommend a good science fiction novel.
How does photosynthesis work?|Translate "good morning" into German.
What's the difference between a virus and a bacterium?|How tall is Mount Everest?
What is the plot of Hamlet?|Explain how a rainbow forms.
What's a good name for a golden retriever puppy?|Who painted the Mona Lisa?
how are you doing?|What year did the Berlin Wall fall?"""


def lines(block: str) -> list[str]:
    return [q.strip() for q in block.replace("\n", "|").split("|") if q.strip()]


@dataclass(slots=True)
class Question:
    text: str
    retrieve: bool  # the label: should this go to the knowledge base?
    kind: str
    split: str
    hits: list[HitData] | None = None
    best: float = 0.0


class NeverCalledModel:
    """A chat model that records any call: the probe router must make none."""

    def __init__(self) -> None:
        self.calls = 0

    @property
    def model_id(self) -> str:
        return "bench:never"

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
        return Completion(text="KB", model=self.model_id)


def short_title(title: str) -> str:
    return re.sub(r"\s*\([^)]*\)\s*$", "", title).strip()


def about(article: dict[str, Any], retrieve: bool, split: str) -> list[Question]:
    title = short_title(article["title"])
    return [
        Question(article["description"].strip(), retrieve, "description", split),
        Question(f"What is {title}?", retrieve, "what-is", split),
        Question(f"Tell me about {title}", retrieve, "tell-me", split),
    ]


def wiki_questions(docs: list[dict[str, Any]], eval_ids: list[int], tune_ids: list[int]):
    ingested = {d["title"] for d in docs}
    ingested_short = {short_title(d["title"]).lower() for d in docs}
    others = [
        a
        for a in wiki_articles()
        if a["title"] not in ingested
        and (a.get("description") or "").strip()
        and short_title(a["title"]).lower() not in ingested_short  # same name, other page
    ]
    absent = random.Random(2).sample(others, 500)
    chat = random.Random(3).sample(lines(SMALL_TALK), len(lines(SMALL_TALK)))
    out: list[Question] = []
    for split, ids, away, talk in (
        ("eval", eval_ids, absent[:200], chat[:50]),
        ("tune", tune_ids, absent[200:], chat[50:]),
    ):
        for i in ids:
            out += about(docs[i], True, split)
        for a in away:
            out += about(a, False, split)
        out += [Question(q, False, "small-talk", split) for q in talk]
    return out


def handbook_questions() -> list[Question]:
    text = (ROOT / "kb" / "QUESTIONS.md").read_text(encoding="utf-8")
    covered = re.findall(r"^\| \d+ \| (.+?) \|", text, re.M)
    not_covered = re.findall(r"^- (.+\?)$", text.split("does NOT cover")[1], re.M)
    return [Question(q, True, "handbook", "handbook") for q in covered] + [
        Question(q, False, "off-topic", "handbook") for q in not_covered + lines(HANDBOOK_OFF_TOPIC)
    ]


def run_route(ctx: Context, tenant: str, questions: list[Question]) -> list[float]:
    """The production route node for each question; keeps its hits; returns ms per call."""
    runtime = Runtime(context=ctx)
    ms = []
    for q in questions:
        t = time.perf_counter()
        out = route({"question": q.text, "tenant": tenant, "trace": []}, runtime)  # type: ignore[arg-type]
        ms.append((time.perf_counter() - t) * 1000)
        q.hits = out["hits"]
        q.best = max((h["vector_score"] or 0.0 for h in q.hits), default=0.0)
        # The production route node decides with agent.routing.decide.
        assert out["decision"] == decide(q.text, q.hits, ctx.policy)[0]
    return ms


Router = Callable[[Question, Policy], bool]


def cosine_router(q: Question, policy: Policy) -> bool:
    """The baseline: the best cosine alone against ``route_threshold``."""
    return bool(q.hits) and q.best >= policy.route_threshold


def decide_router(q: Question, policy: Policy) -> bool:
    return decide(q.text, q.hits or [], policy)[0] == "retrieve"


def accuracy(router: Router, questions: list[Question], policy: Policy) -> float:
    return sum(router(q, policy) == q.retrieve for q in questions) / len(questions)


def tune(router: Router, questions: list[Question], policy: Policy) -> tuple[float, float]:
    """The threshold with the best accuracy (the middle of a tied plateau)."""
    grid = [t / 200 for t in range(0, 201)]
    scores = [accuracy(router, questions, replace(policy, route_threshold=t)) for t in grid]
    top = max(scores)
    best = [t for t, s in zip(grid, scores, strict=True) if s == top]
    return best[len(best) // 2], top


def describe(name: str, router: Router, questions: list[Question], policy: Policy) -> float:
    said = [router(q, policy) for q in questions]
    tp = sum(s and q.retrieve for s, q in zip(said, questions, strict=True))
    fp = sum(s and not q.retrieve for s, q in zip(said, questions, strict=True))
    fn = sum(not s and q.retrieve for s, q in zip(said, questions, strict=True))
    tn = len(questions) - tp - fp - fn
    acc = (tp + tn) / len(questions)
    kinds = dict.fromkeys(q.kind for q in questions)
    per_kind = "  ".join(
        f"{k} {accuracy(router, [q for q in questions if q.kind == k], policy):.1%}" for k in kinds
    )
    print(
        f"  {name:22s} threshold {policy.route_threshold:.3f}  accuracy {acc:.1%}  "
        f"to retrieval {(tp + fp) / len(questions):.1%}  "
        f"[should search: {tp} searched, {fn} not | should not: {fp} searched, {tn} not]"
    )
    print(f"  {'':22s} by kind: {per_kind}")
    return acc


def threshold_range(router: Router, questions: list[Question], policy: Policy) -> str:
    good = [
        t / 200
        for t in range(0, 201)
        if accuracy(router, questions, replace(policy, route_threshold=t / 200)) >= 0.9
    ]
    return f"[{min(good):.3f}, {max(good):.3f}]" if good else "none"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--probe-mode",
        choices=["vector", "hybrid"],
        default=Policy().probe_mode,
        help="the probe's search mode (default: the Policy default)",
    )
    args = parser.parse_args()

    docs, eval_ids, tune_ids = benchmark_split()
    questions = wiki_questions(docs, eval_ids, tune_ids)
    embedder = MiniLMEmbedder(threads=args.threads)
    chunks = wiki_chunks(docs)
    t0 = time.perf_counter()
    vectors = embedder.embed_documents([c.search_text for c in chunks])
    embed_s = time.perf_counter() - t0
    model = NeverCalledModel()
    policy = Policy(router="probe", probe_mode=args.probe_mode)

    with tempfile.TemporaryDirectory() as tmp:
        store = LanceStore(
            Path(tmp) / "wiki", embedder_id=embedder.model_id, dimensions=embedder.dimensions
        )
        store.upsert(tenant="bench", chunks=chunks, vectors=vectors)
        store.close()  # builds the indexes, as `askloop ingest` does
        ctx = Context(
            store=store,
            embedder=embedder,
            answer_model=model,  # type: ignore[arg-type]
            finetuned_model=model,
            policy=policy,
        )
        tune_q = [q for q in questions if q.split == "tune"]
        eval_q = [q for q in questions if q.split == "eval"]
        print(
            f"ingested {len(chunks)} extracts (embedding {embed_s:.0f}s); questions: "
            f"TUNE {len(tune_q)} ({sum(q.retrieve for q in tune_q)} should search), "
            f"EVAL {len(eval_q)} ({sum(q.retrieve for q in eval_q)} should search)"
        )
        # Warm-up on other text: the embedder caches recent queries, and every measured
        # question must be embedded for real.
        run_route(
            ctx,
            "bench",
            [replace(q, text=f"warm-up {i}: {q.text[::-1]}") for i, q in enumerate(questions[:20])],
        )
        run_route(ctx, "bench", tune_q)
        t_cos, tune_cos = tune(cosine_router, tune_q, policy)
        t_dec, tune_dec = tune(decide_router, tune_q, policy)
        print(
            f"TUNE: best threshold cosine-only {t_cos:.3f} ({tune_cos:.1%}), "
            f"decide() {t_dec:.3f} ({tune_dec:.1%})"
        )

        # EVAL through the route node at the TUNE threshold: its own decisions and latency.
        eval_policy = replace(policy, route_threshold=t_dec)
        ms = run_route(replace(ctx, policy=eval_policy), "bench", eval_q)
        decide_ms = []
        for q in eval_q:
            t = time.perf_counter()
            decide(q.text, q.hits or [], eval_policy)
            decide_ms.append((time.perf_counter() - t) * 1000)
        print(f"EVAL ({len(eval_q)} questions; Adaptive-RAG's router: {ANCHOR:.1%}):")
        describe("cosine only", cosine_router, eval_q, replace(policy, route_threshold=t_cos))
        acc = describe("route node", decide_router, eval_q, eval_policy)
        p99 = percentile(ms, 99) + percentile(decide_ms, 99)
        us50, us99 = percentile(decide_ms, 50) * 1000, percentile(decide_ms, 99) * 1000
        print(
            f"  latency of the route node (embed + probe search): p50 {percentile(ms, 50):.1f} ms"
            f"  p99 {percentile(ms, 99):.1f} ms; decide() adds p50 {us50:.0f} us, p99 {us99:.0f} us"
        )
        embed_ms, search_ms = [], []
        for q in eval_q[:300]:  # where the route node's time goes
            t = time.perf_counter()
            vector = embedder.embed_documents([q.text])[0]  # not the query cache
            t_mid = time.perf_counter()
            store.search(
                tenant="bench", query=q.text, vector=vector, k=policy.k, mode=policy.probe_mode
            )
            embed_ms.append((t_mid - t) * 1000)
            search_ms.append((time.perf_counter() - t_mid) * 1000)
        print(
            f"    of which query embedding p50 {percentile(embed_ms, 50):.1f} ms p99 "
            f"{percentile(embed_ms, 99):.1f} ms, {policy.probe_mode} probe (k={policy.k}) p50 "
            f"{percentile(search_ms, 50):.1f} ms p99 {percentile(search_ms, 99):.1f} ms"
        )
        print(
            f"  targets: accuracy >= {TARGET_ACCURACY:.0%} "
            f"{'met' if acc >= TARGET_ACCURACY else 'MISSED'} (decide); p99 <= "
            f"{TARGET_P99_MS:g} ms {'met' if p99 <= TARGET_P99_MS else 'MISSED'}; "
            f"LLM calls {model.calls} {'(met)' if model.calls == 0 else '(MISSED)'}"
        )
        assert model.calls == 0, "the probe router called a model"

        hb = handbook_questions()
        hb_store = LanceStore(
            Path(tmp) / "handbook", embedder_id=embedder.model_id, dimensions=embedder.dimensions
        )
        report = ingest_paths(
            [ROOT / "kb" / "handbook"],
            tenant="handbook",
            store=hb_store,
            embedder=embedder,
            settings=IngestSettings(),
        )
        hb_store.close()
        run_route(replace(ctx, store=hb_store), "handbook", hb)
        print(
            f"handbook: {report.chunks_written} chunks of {report.documents_written} files; "
            f"{sum(q.retrieve for q in hb)} questions of kb/QUESTIONS.md vs "
            f"{sum(not q.retrieve for q in hb)} off-topic (same weights):"
        )
        for label, t in (("Policy default", Policy().route_threshold), ("wiki TUNE", None)):
            describe(
                f"cosine @ {label}",
                cosine_router,
                hb,
                replace(policy, route_threshold=t if t is not None else t_cos),
            )
            describe(
                f"decide() @ {label}",
                decide_router,
                hb,
                replace(policy, route_threshold=t if t is not None else t_dec),
            )
        for name, router in (("cosine", cosine_router), ("decide()", decide_router)):
            t_best, acc_best = tune(router, hb, policy)
            print(
                f"  {name:9s} best handbook threshold {t_best:.3f} ({acc_best:.1%}, in-sample); "
                f">= 90% for thresholds in {threshold_range(router, hb, policy)}"
            )
        assert model.calls == 0, "the probe router called a model"
        hb_store.close()
        store.close()


if __name__ == "__main__":
    main()
