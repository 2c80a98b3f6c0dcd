"""Grade quality: are answerable questions' hits graded good, and absent ones' poor?

Each question goes through the same hybrid search ``retrieve`` runs (k = the policy's),
then is graded by the old rule (best cosine >= 0.45) and by ``agent.grading.assess``.

- handbook (the ONLY corpus any constant is tuned on): kb/QUESTIONS.md's questions are
  answerable; absent ones are the questions it says the handbook does not cover, the
  router benchmark's off-topic and small-talk lines, and every answerable question with
  its numbers and names swapped for ones no handbook page has (built mechanically).
- wiki (HELD OUT; ``--wiki``): 2,000 ingested extracts (bench/_wiki.py protocol);
  answerable = "What is {title}?" and the description of the 200 EVAL articles; absent =
  the same for 200 articles not ingested whose title no ingested extract mentions.

``--tune`` prints a logistic fit of the grader's weights on the handbook features.

    python bench/grade.py [--wiki] [--tune]
"""

from __future__ import annotations

import argparse
import random
import re
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from askloop.agent import grading  # noqa: E402
from askloop.agent.context import Policy  # noqa: E402
from askloop.agent.evidence import key_terms  # noqa: E402
from askloop.agent.nodes.common import hit_data  # noqa: E402
from askloop.agent.search import search_knowledge_base  # noqa: E402
from askloop.config.settings import IngestSettings  # noqa: E402
from askloop.integrations.ingest.pipeline import ingest_paths  # noqa: E402
from askloop.integrations.models.embedders import MiniLMEmbedder  # noqa: E402
from askloop.integrations.stores.lance.store import LanceStore  # noqa: E402
from askloop.integrations.tuning.router import write_corpus_words  # noqa: E402
from bench.router import HANDBOOK_OFF_TOPIC, SMALL_TALK, lines, wiki_chunks  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
OLD_THRESHOLD = 0.45


def swapped(question: str, n: int) -> str | None:
    """``question`` with every number and name replaced by one no handbook page has."""
    terms = key_terms(question)
    if not terms.specific:
        return None
    out = question
    for i, t in enumerate(terms.numbers):
        out = re.sub(re.escape(t), str(9000 + 17 * n + i), out, flags=re.I)
    for i, t in enumerate(terms.names):
        fake = ("Zorvane", "Quillmarsh", "Tenbrook", "Okavira")[(n + i) % 4]
        out = re.sub(rf"\b{re.escape(t)}\b", fake, out, flags=re.I)
    return out


def handbook_set() -> list[tuple[str, str]]:
    text = (ROOT / "kb" / "QUESTIONS.md").read_text(encoding="utf-8")
    covered = re.findall(r"^\| \d+ \| (.+?) \|", text, re.M)
    not_covered = re.findall(r"^- (.+\?)$", text.split("does NOT cover")[1], re.M)
    out = [(q, "answerable") for q in covered]
    out += [(q, "absent") for q in not_covered + lines(HANDBOOK_OFF_TOPIC)]
    out += [(s, "swapped") for n, q in enumerate(covered) if (s := swapped(q, n))]
    out += [(q, "small talk") for q in lines(SMALL_TALK)]
    return out


def wiki_set(k_each: int = 200) -> tuple[list, list[tuple[str, str]]]:
    from bench._wiki import benchmark_split, wiki_articles

    docs, eval_ids, _ = benchmark_split()
    ingested = {v["title"] for v in docs}
    text = " ".join(v["extract"].lower() for v in docs)
    others = [v for v in wiki_articles() if v["title"] not in ingested]
    rng = random.Random(7)
    absent = []
    for v in rng.sample(others, len(others)):
        if v["title"].lower() not in text and (v.get("description") or "").strip():
            absent.append(v)
        if len(absent) == k_each:
            break
    out = []
    for i in eval_ids[:k_each]:
        out += [
            (f"What is {docs[i]['title']}?", "answerable"),
            (docs[i]["description"], "answerable"),
        ]
    for v in absent:
        out += [(f"What is {v['title']}?", "absent"), (v["description"], "absent")]
    return docs, out


def graded(store, embedder, tenant: str, questions, policy: Policy, home: Path):
    # The tenant's word counts, as `askloop ingest` writes them and the grade step reads.
    words = write_corpus_words(store, tenant=tenant, home=home)
    rows = []
    for q, kind in questions:
        found = search_knowledge_base(store, embedder, tenant=tenant, query=q, k=policy.k)
        hits = [hit_data(h, q) for h in found]
        old = bool(hits) and max((h["vector_score"] or 0.0) for h in hits) >= OLD_THRESHOLD
        verdict, _, f, _ = grading.assess(q, hits, policy.grade_threshold, words)
        rows.append((q, kind, old, verdict == "good", f))
    return rows


def report(name: str, rows) -> None:
    print(name)
    for kind in dict.fromkeys(r[1] for r in rows):
        sel = [r for r in rows if r[1] == kind]
        want = kind == "answerable"
        old = sum(r[2] == want for r in sel) / len(sel)
        new = sum(r[3] == want for r in sel) / len(sel)
        what = "graded good" if want else "graded poor"
        print(f"  {kind:11s} n={len(sel):3d}  {what}: before {old:.1%}  after {new:.1%}")


def tune(rows) -> None:
    """Logistic fits of the weights; answerable questions weigh ``cost`` times more
    (a good answer lost to a poor grade costs more than one more search)."""
    from sklearn.linear_model import LogisticRegression

    x = [[r[4]["fused"], r[4]["cosine"], r[4]["coverage"]] for r in rows]
    y = [r[1] == "answerable" for r in rows]
    n_yes = sum(y)
    for cost in (1.0, 2.0, 3.0):
        weights = {True: cost * len(y) / (2 * n_yes), False: len(y) / (2 * (len(y) - n_yes))}
        fit = LogisticRegression(C=10.0, class_weight=weights).fit(x, y)
        said = fit.predict(x)
        good = sum(s for s, t in zip(said, y, strict=True) if t) / n_yes
        poor = sum(not s for s, t in zip(said, y, strict=True) if not t) / (len(y) - n_yes)
        print(
            f"  fit (cost {cost:g}): bias {fit.intercept_[0]:.2f}  fused {fit.coef_[0][0]:.2f}  "
            f"cosine {fit.coef_[0][1]:.2f}  coverage {fit.coef_[0][2]:.2f}  "
            f"(in-sample, before veto: answerable good {good:.1%}, others poor {poor:.1%})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wiki", action="store_true", help="also the held-out wiki corpus")
    parser.add_argument("--tune", action="store_true", help="fit the weights (handbook only)")
    parser.add_argument("--show", action="store_true", help="print the misgraded questions")
    args = parser.parse_args()
    embedder = MiniLMEmbedder(threads=1)
    policy = Policy()
    with tempfile.TemporaryDirectory() as tmp:
        store = LanceStore(
            Path(tmp) / "hb", embedder_id=embedder.model_id, dimensions=embedder.dimensions
        )
        ingest_paths(
            [ROOT / "kb" / "handbook"],
            tenant="hb",
            store=store,
            embedder=embedder,
            settings=IngestSettings(),
        )
        rows = graded(store, embedder, "hb", handbook_set(), policy, Path(tmp))
        report("handbook (tuning corpus)", rows)
        if args.show:
            for r in rows:
                if r[3] != (r[1] == "answerable"):
                    print("   ", r[1], r[0], {k: round(v, 3) for k, v in r[4].items()})
        if args.tune:
            tune(rows)
        if args.wiki:
            docs, questions = wiki_set()
            wstore = LanceStore(
                Path(tmp) / "wiki", embedder_id=embedder.model_id, dimensions=embedder.dimensions
            )
            chunks = wiki_chunks(docs)
            wstore.upsert(
                tenant="wiki",
                chunks=chunks,
                vectors=embedder.embed_documents([c.search_text for c in chunks]),
            )
            report(
                "wiki (HELD OUT)", graded(wstore, embedder, "wiki", questions, policy, Path(tmp))
            )


if __name__ == "__main__":
    main()
