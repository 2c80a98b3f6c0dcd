"""The learning loop, end to end: simulated users ask, rate, correct; a model is tuned on
their log and judged on questions it never saw.

Corpus: the sample handbook (kb/handbook, the tuning corpus of every constant here) plus
facts the knowledge base does NOT hold (``FACTS`` below, invented). Each fact is asked
in three threads, each in its own words; the handbook questions of kb/QUESTIONS.md are
asked once each. The rater gives 👍 when the expected fact is in the answer and 👎 with
the correct answer otherwise. Threads are named so that the held-out split of
``askloop tune model``/``eval`` (integrations/tuning/samples.py) holds out the third
wording of every fact and a third of the handbook questions: the tuned model is judged
on questions asked in words it was not trained on.

Printed: held-out fact accuracy of the tuned-model route before/after (the base model
vs the candidate, asked as the fine-tuned route asks), knowledge-base accuracy of the
held-out handbook questions through the whole graph before/after promotion, tuning
time and peak RSS (this process: it loads the model into transformers and trains).
Targets (issue 17): tuned route +30 points, no knowledge-base regression, tuning
<= 15 min and <= 4 GB.

    python bench/learning_loop.py [--facts 10] [--kb 12] [--epochs N]
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import re
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from askloop.agent.answers import Turn  # noqa: E402
from askloop.agent.datasets.raft import is_validation  # noqa: E402
from askloop.config.settings import load_settings  # noqa: E402
from askloop.integrations.tuning.gate import judge  # noqa: E402
from askloop.integrations.tuning.samples import HELD_OUT_FRACTION, SPLIT_SEED  # noqa: E402

TENANT = "bench"
PLATFORM = "cli"

#: (three wordings, the answer). None of this is in kb/handbook.
FACTS: list[tuple[tuple[str, str, str], str]] = [
    (
        (
            "What is our internal hackathon called?",
            "What's the name of the company hackathon?",
            "Remind me, the yearly hack event has which name?",
        ),
        "The internal hackathon is called Forge Week.",
    ),
    (
        (
            "Who leads the design team?",
            "Who is the head of design?",
            "Which person runs our designers?",
        ),
        "The design team is led by Ingrid Vasquez.",
    ),
    (
        (
            "What is the code name of the billing rewrite?",
            "What do we call the billing rewrite project internally?",
            "The new billing system project goes by which code name?",
        ),
        "The billing rewrite is code-named Heron.",
    ),
    (
        (
            "Which room is the Friday all-hands in?",
            "Where is the all-hands meeting on Fridays held?",
            "In what meeting room do we gather for the weekly all-hands?",
        ),
        "The Friday all-hands is held in the Atlas room.",
    ),
    (
        (
            "What is the phone extension of the mailroom?",
            "Which extension do I dial for the mailroom?",
            "How do I call the post room, what number?",
        ),
        "The mailroom is on extension 4417.",
    ),
    (
        (
            "Which charity does the company match donations to this year?",
            "What charity gets matched donations this year?",
            "This year our donation matching goes to which organisation?",
        ),
        "This year we match donations to Ocean Aid.",
    ),
    (
        (
            "What time does the basement gym open?",
            "When can I start using the gym downstairs in the morning?",
            "From what hour is the fitness room in the basement open?",
        ),
        "The basement gym opens at 06:30.",
    ),
    (
        (
            "Which vendor supplies our office chairs?",
            "Who makes the chairs we have in the office?",
            "Our desk chairs come from what supplier?",
        ),
        "Our office chairs come from Ergonova.",
    ),
    (
        (
            "What is the host name of the staging database?",
            "Which host runs the staging DB?",
            "Where does the staging database live, what's the server called?",
        ),
        "The staging database host is pg-stage-07.",
    ),
    (
        (
            "Who runs the Tuesday book club?",
            "Who organises the book club on Tuesdays?",
            "The weekly reading group on Tuesday is hosted by whom?",
        ),
        "The Tuesday book club is run by Tomas Lindqvist.",
    ),
    (
        (
            "What is the name of the company podcast?",
            "What's our podcast called?",
            "The show we publish as a podcast has which title?",
        ),
        "The company podcast is called Gears and Gossip.",
    ),
    (
        (
            "Which floor is the quiet room on?",
            "Where is the quiet room, which floor?",
            "On what level of the building can I find the silent room?",
        ),
        "The quiet room is on floor 7.",
    ),
]


def kb_questions(limit: int) -> list[tuple[str, str]]:
    """kb/QUESTIONS.md's (question, first clause of the expected answer)."""
    text = (ROOT / "kb" / "QUESTIONS.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| \d+ \| (.+?) \| (.+?) \|", text, re.M)
    return [(q, re.split(r"[;(]", a)[0].strip()) for q, a in rows[:limit]]


def thread_for(name: str, held_out: bool) -> str:
    """A conversation id whose thread lands on the wanted side of the tuning split."""
    for salt in range(10_000):
        conversation = f"{name}-{salt}"
        key = f"{TENANT}:{PLATFORM}:{conversation}"
        if is_validation(key, HELD_OUT_FRACTION, SPLIT_SEED) == held_out:
            return conversation
    raise RuntimeError("no thread id found")


def ask(services, question: str, conversation: str) -> tuple[str, str, str]:
    record = services.assistant.answer(
        Turn(question=question, tenant=TENANT, platform=PLATFORM, conversation_id=conversation)
    )
    return record.answer_id, record.answer, record.route


def rate(services, answer_id: str, answer: str, reference: str) -> bool:
    good = judge(answer, reference).correct
    services.assistant.rate(
        answer_id=answer_id,
        rating="up" if good else "down",
        user="bench-rater",
        source="cli",
        correction="" if good else reference,
        tenant=TENANT,
    )
    return good


def _simulate(services, settings, facts, kb) -> tuple[int, list[tuple[str, str]], list[bool]]:
    """Users ask every wording and handbook question once; the rater rates each answer."""
    from askloop.integrations.ingest.pipeline import ingest_paths

    ingest_paths(
        [ROOT / "kb" / "handbook"],
        tenant=TENANT,
        store=services.store,
        embedder=services.embedder,
        settings=settings.ingest,
    )
    started = time.perf_counter()
    good_before = 0
    for n, (wordings, answer) in enumerate(facts):
        for i, question in enumerate(wordings):
            conversation = thread_for(f"fact{n}-w{i}", held_out=i == 2)
            answer_id, text, _ = ask(services, question, conversation)
            good_before += rate(services, answer_id, text, answer)
    kb_held: list[tuple[str, str]] = []
    kb_before = []
    for n, (question, expected) in enumerate(kb):
        held = n % 3 == 2
        answer_id, text, _ = ask(services, question, thread_for(f"kb{n}", held_out=held))
        good = rate(services, answer_id, text, expected)
        if held:
            kb_held.append((question, expected))
            kb_before.append(good)
    asked = time.perf_counter() - started
    print(
        f"users asked {3 * len(facts) + len(kb)} questions in {asked:.0f}s; "
        f"{good_before} of {3 * len(facts)} fact answers were right before tuning"
    )
    return good_before, kb_held, kb_before


def _from_log(services, facts, kb) -> tuple[int, list[tuple[str, str]], list[bool]]:
    """The same figures from a home a previous run filled (--reuse: no asking again)."""
    logged = {item.record.question: item for item in services.answer_log.iter_rated(tenant=TENANT)}
    wordings = [q for qs, _ in facts for q in qs]
    good_before = sum(logged[q].rating == "up" for q in wordings if q in logged)
    kb_held = [pair for n, pair in enumerate(kb) if n % 3 == 2]
    kb_before = [judge(logged[q].record.answer, e).correct for q, e in kb_held if q in logged]
    return good_before, kb_held, kb_before


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--facts", type=int, default=len(FACTS))
    parser.add_argument("--kb", type=int, default=12)
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--home", type=Path, default=None, help="keep the run's data here")
    parser.add_argument(
        "--reuse", action="store_true", help="--home holds a previous run: tune and judge again"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("askloop.integrations.tuning").setLevel(logging.INFO)

    from dataclasses import replace

    from askloop.integrations.tuning.evaluate import evaluate
    from askloop.integrations.tuning.local_model import LoraSettings
    from askloop.integrations.tuning.model import knowledge_base_states, tune_local
    from askloop.integrations.tuning.promotion import promote
    from askloop.integrations.tuning.samples import collect
    from askloop.integrations.wiring import services_for

    home = args.home or Path(tempfile.mkdtemp(prefix="askloop-loop-"))
    os.environ["ASKLOOP_HOME"] = str(home)  # a fresh data dir: its own store and log
    settings = load_settings()
    facts = FACTS[: args.facts]
    kb = kb_questions(args.kb)
    print(
        f"learning loop: {len(facts)} facts x 3 wordings (not in the knowledge base), "
        f"{len(kb)} handbook questions; tuning corpus kb/handbook; home {home}"
    )
    with services_for(settings) as services:
        if args.reuse:
            good_before, kb_held, kb_before = _from_log(services, facts, kb)
            print(f"from the log: {good_before} of {3 * len(facts)} fact answers were right")
        else:
            good_before, kb_held, kb_before = _simulate(services, settings, facts, kb)
        # A correction the handbook already states teaches the router, not the model
        # (as askloop tune model does).
        stated = knowledge_base_states(services, TENANT)
        samples = collect(services.answer_log, tenant=TENANT, stated=stated)
        counts = samples.counts()
        print(f"split by thread: {counts}")

        lora = (
            LoraSettings() if args.epochs is None else replace(LoraSettings(), epochs=args.epochs)
        )
        out = home / "candidate"
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        manifest = tune_local(
            services.answer_log, tenant=TENANT, out=out, settings=lora, stated=stated
        )
        losses = manifest["eval"]
        print(
            f"tuned in {manifest['seconds']:.0f}s ({manifest['steps']} steps, "
            f"{manifest['epochs']} epochs, held-out loss {losses['held_out_loss_before']:.3f}"
            f" -> {losses['held_out_loss_best']:.3f}); peak RSS "
            f"{manifest['peak_rss_mb']:.0f} MB (before tuning {rss_before:.0f} MB)"
        )
        base_model = services.chat_model(settings.models.finetuned)
        tuned = services.chat_model(f"local:{(out / 'model.gguf').resolve()}")
        result = evaluate(services.answer_log, tenant=TENANT, candidate=tuned, baseline=base_model)
        print(result.table())

        promote(home, TENANT, str(out))
        kb_after = []
        for n, (question, expected) in enumerate(kb_held):
            _, text, _ = ask(services, question, f"after-kb{n}")
            kb_after.append(judge(text, expected).correct)

    cand, base = result.candidate, result.baseline
    assert base is not None
    gain = cand.fact_accuracy - base.fact_accuracy
    kb_b = sum(kb_before) / max(1, len(kb_before))
    kb_a = sum(kb_after) / max(1, len(kb_after))
    minutes = manifest["seconds"] / 60
    gb = manifest["peak_rss_mb"] / 1024
    print()
    print(
        f"held-out facts, tuned-model route: {base.fact_accuracy:.0%} -> {cand.fact_accuracy:.0%}"
        f" ({gain * 100:+.0f} points; target >= +30)"
    )
    print(
        f"held-out handbook questions through the graph: {kb_b:.0%} -> {kb_a:.0%} "
        f"(of {len(kb_after)}; target: no regression)"
    )
    print(f"tuning: {minutes:.1f} min (target <= 15), peak RSS {gb:.2f} GB (target <= 4)")
    digest = hashlib.sha256((out / "model.gguf").read_bytes()).hexdigest()[:12]
    print(f"candidate {manifest['version']} model.gguf sha256 {digest}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
