"""Export throughput: seed a log with 100k rated answers, export openai-sft, report time
and peak memory of the export process (target: <= 10 s, <= 200 MB peak RSS).

Answers are realistic: half from the knowledge base (3 retrieved chunks of ~500
characters drawn from a 2,000-chunk knowledge base, 2 of them shown), half from the
tuned model; a quarter have thread history; 80% 👍.

    python bench/export.py [--answers 100000] [--format openai-sft]

The TRL formats also count long examples' tokens with the local model's tokenizer
(``--max-tokens``, default 1024); the targets are set for openai-sft.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from askloop.integrations.answer_log.sql_log import SqlAnswerLog  # noqa: E402
from askloop.prompts import load_prompt  # noqa: E402

TARGET_S, TARGET_MB = 10.0, 200.0


def seed(path: Path, n: int) -> None:
    log = SqlAnswerLog.sqlite(path)
    log.ping()  # creates the schema
    log.close()
    ctx = {p: load_prompt(p).version for p in ("answer_with_context", "context_message")}
    direct = {"answer_direct": load_prompt("answer_direct").version}
    text = (
        "The on-call engineer acknowledges pages within 15 minutes and escalates to the "
        "incident commander in the bridge channel. "
    ) * 4
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    conn = sqlite3.connect(path)
    conn.execute("BEGIN")
    for table in ("answer_with_context", "context_message", "answer_direct"):
        prompt = load_prompt(table)
        conn.execute(
            "INSERT OR IGNORE INTO prompt_texts VALUES (?, ?, ?)",
            (prompt.version, prompt.name, prompt.text),
        )
    rows, feedback = [], []
    for i in range(n):
        kb = i % 2 == 0
        # A knowledge base has a finite number of chunks: answers draw from 2,000.
        pool = [(i * 7 + j * 131) % 2000 for j in range(3)]
        retrieved = (
            [
                {
                    "chunk_id": f"c{k}",
                    "title": f"Page {k}",
                    "source": f"/kb/p{k}.md",
                    "score": 0.8 - j / 10,
                    "text": f"{text} (chunk {k})",
                    "url": "",
                    "query": "q",
                    "heading_path": ["Section"],
                }
                for j, k in enumerate(pool)
            ]
            if kb
            else []
        )
        history = (
            [
                {"role": "user", "content": f"Earlier question {i}?"},
                {"role": "assistant", "content": f"Earlier answer {i}."},
            ]
            if i % 4 == 1
            else []
        )
        rows.append(
            (
                f"a{i:07d}",
                "acme",
                "slack",
                f"C1:{i // 3}",
                "C1",
                "T1",
                "u",
                f"Question {i}?",
                f"Answer number {i} [1].",
                "retrieve" if kb else "finetuned",
                0,
                "local:x",
                json.dumps([f"Question {i}?"]),
                "[]",
                json.dumps(retrieved),
                "[]",
                json.dumps(ctx if kb else direct),
                json.dumps(history),
                None,
                (t0 + timedelta(seconds=i)).isoformat(timespec="microseconds"),
                "",
                json.dumps([f"c{pool[0]}", f"c{pool[1]}"] if kb else []),
            )
        )
        feedback.append(
            (
                f"a{i:07d}",
                "u1",
                "up" if i % 5 else "down",
                "",
                "",
                "button",
                (t0 + timedelta(seconds=i)).isoformat(),
            )
        )
    conn.executemany(f"INSERT INTO answers VALUES ({', '.join('?' * 22)})", rows)
    conn.executemany(
        "INSERT INTO feedback_events (answer_id, user_hash, rating, reason, correction, source, "
        "created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        feedback,
    )
    conn.commit()
    conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--answers", type=int, default=100_000)
    parser.add_argument("--format", dest="fmt", default="openai-sft")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        t0 = time.perf_counter()
        seed(home / "askloop.db", args.answers)
        print(f"seeded {args.answers} rated answers in {time.perf_counter() - t0:.1f}s")
        env = {**os.environ, "ASKLOOP_HOME": str(home)}
        askloop = str(Path(sys.executable).with_name("askloop"))
        out = home / f"{args.fmt}.jsonl"
        # Measured in a fresh process via /usr/bin/time: this process holds the seed data,
        # and a forked child's RSS would count it.
        timer = ["/usr/bin/time", "-f", "%M"] if Path("/usr/bin/time").exists() else []
        t0 = time.perf_counter()
        done = subprocess.run(
            [
                *timer,
                askloop,
                "export",
                "--format",
                args.fmt,
                "--out",
                str(out),
                "--tenant",
                "acme",
            ],
            env=env,
            check=True,
            stderr=subprocess.PIPE,
            text=True,
        )
        took = time.perf_counter() - t0
        for line in done.stderr.strip().splitlines()[:-1] if timer else []:
            if "longer than" in line:
                print(line)
        if timer:
            peak_mb = int(done.stderr.strip().splitlines()[-1]) / 1024
        else:
            peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        lines = sum(1 for _ in out.open())
    print(
        f"{args.fmt}: {lines} records in {took:.1f}s "
        f"({'met' if took <= TARGET_S else 'MISSED'} <= {TARGET_S:g}s), peak RSS "
        f"{peak_mb:.0f} MB ({'met' if peak_mb <= TARGET_MB else 'MISSED'} "
        f"<= {TARGET_MB:g} MB)"
    )


if __name__ == "__main__":
    main()
