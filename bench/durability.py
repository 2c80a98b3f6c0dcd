"""Acknowledged feedback is never lost: kill -9 in the middle of a click burst.

``askloop serve`` runs as the installed command in a child process (tests.serve_process:
fake Slack Web API and fake embeddings on loopback, nothing else faked), on SQLite and
on the machine's PostgreSQL (a database of its own, dropped after). For each backend:

0. the log alone: ``--clicks`` concurrent ratings committed one transaction each (four
   writer threads, as before group commit) and group-committed (``RatingWriter``);
1. click-ack latency (request written → 200 read) of ``--clicks`` signed 👍/👎 clicks
   by distinct users, each on its own connection and carrying, as Slack's do, the whole
   answer message it was clicked on (a typical answer's blocks: a 4 KB form body):
   sent all at once (the worst case), then spread at ``--rate`` clicks a second;
2. for each kill point N (``--kill-at``, default 20/100/180): a fresh all-at-once
   burst, SIGKILL as soon as the N-th 200 is read, restart, and count the acknowledged
   clicks (every 200 read, including any that had arrived by the kill) against the
   clicks stored in the log.

    python bench/durability.py [--clicks 200] [--rate 100] [--kill-at 20 100 180]
                               [--backend sqlite postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from askloop.agent.answers import Citation, Feedback  # noqa: E402
from askloop.integrations.answer_log.sql_log import open_answer_log  # noqa: E402
from askloop.integrations.server.ratings import RatingWriter  # noqa: E402
from askloop.integrations.slack.render import answer_messages  # noqa: E402
from bench._wiki import percentile  # noqa: E402
from tests.records import answer_record  # noqa: E402
from tests.serve_process import (  # noqa: E402
    FakeEmbeddings,
    ServeProcess,
    click_body,
    seed_answers,
    slack_ts,
    slack_user,
    stored_ratings,
)
from tests.slack_burst import burst  # noqa: E402
from tests.slack_fake import FakeSlack  # noqa: E402

TARGET_P99_MS = 50.0
ANSWERS = 20
EVENTS = "/slack/events"
Click = tuple[str, str, str]  # answer id, user, rating


def clicks(
    server: ServeProcess, answers: list[str], n: int, tag: str
) -> tuple[list[str], list[Click]]:
    """Signed-to-be bodies of ``n`` clicks by distinct users, and what each one rates."""
    at = slack_ts(time.time())
    rated = [
        (answers[i % len(answers)], f"U{tag}{i:04d}", "up" if i % 2 else "down") for i in range(n)
    ]
    bodies = [
        click_body(a, r, user=u, message=server.messages[a], action_ts=at, blocks=answer_blocks(a))
        for a, u, r in rated
    ]
    return bodies, rated


@functools.cache
def answer_blocks(answer_id: str) -> list[dict[str, Any]]:
    """The blocks of a typical answer's message (three paragraphs, sources, the feedback
    buttons): Slack sends the whole message with every click, and reading it is most of
    what acknowledging a click costs."""
    paragraph = (
        "Employees get 26 days of paid annual leave a year, accrued monthly from the first "
        "day of employment; up to five unused days carry over into the next year. "
    )
    record = answer_record(
        answer_id=answer_id,
        answer="\n\n".join(f"{paragraph * 2}[{n}]" for n in (1, 2, 3)),
        citations=[
            Citation(
                n=n,
                chunk_id=f"leave-{n}",
                title=f"Leave policy, part {n}",
                source=f"handbook/leave-{n}.md",
                url=f"https://wiki.example.com/handbook/leave-{n}",
            )
            for n in (1, 2, 3)
        ],
    )
    return list(answer_messages(record)[-1].blocks)


def lost(server: ServeProcess, rated: list[Click], acked: list[int]) -> int:
    stored = set(stored_ratings(server))
    return sum((rated[i][0], slack_user(rated[i][1]), rated[i][2]) not in stored for i in acked)


def latency(
    server: ServeProcess, answers: list[str], args: argparse.Namespace, *, rate: float, tag: str
) -> str:
    bodies, rated = clicks(server, answers, args.clicks, tag)
    cpu_before = cpu_seconds(server)
    acks = burst(server.url + EVENTS, bodies, form=True, per_second=rate)
    time.sleep(2)  # the work after each ack (thanks, modal, message update) counts too
    cpu_ms = (cpu_seconds(server) - cpu_before) * 1000 / args.clicks
    ok = [a for a in acks if a.status == 200]
    ms = [a.ms for a in ok]
    p50, p99 = percentile(ms, 50), percentile(ms, 99)
    verdict = "met" if p99 <= TARGET_P99_MS else "MISSED"
    shape = "all at once" if rate <= 0 else f"at {rate:g}/s"
    missing = lost(server, rated, [a.index for a in ok])
    return (
        f"  {args.clicks} clicks {shape}: {len(ok)} acknowledged, {missing} of them not stored; "
        f"ack p50={p50:.1f} ms p99={p99:.1f} ms max={max(ms):.1f} ms "
        f"(target p99 <= {TARGET_P99_MS:g} ms: {verdict}); server CPU {cpu_ms:.2f} ms a click"
    )


def cpu_seconds(server: ServeProcess) -> float:
    """CPU time (user + system) the serve process has used so far.

    An all-at-once burst queues every click behind the ones before it on one event
    loop: its p99 is at least clicks x CPU per click, whatever the database does.
    """
    assert server.proc is not None
    fields = Path(f"/proc/{server.proc.pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def log_alone(database_url: str | None, home: Path, n: int) -> str:
    """``n`` concurrent ratings: one commit each, then group-committed (ms p50/p99)."""
    answer_log = open_answer_log(database_url, home)
    answer_log.save_answer(answer_record(answer_id="bench"))
    threads = ThreadPoolExecutor(4)

    async def rate(way: str) -> list[float]:
        loop = asyncio.get_running_loop()
        writer = RatingWriter(
            lambda items: loop.run_in_executor(threads, answer_log.add_feedback_many, items)
        )

        async def one(i: int) -> float:
            event = Feedback(answer_id="bench", user=f"{way}{i}", rating="up", source="button")
            started = time.perf_counter()
            if way == "each":
                await loop.run_in_executor(threads, answer_log.add_feedback, event)
            else:
                await writer.write(event, None)
            return (time.perf_counter() - started) * 1000

        return list(await asyncio.gather(*(one(i) for i in range(n))))

    try:
        each, group = asyncio.run(rate("each")), asyncio.run(rate("group"))
    finally:
        threads.shutdown()
        answer_log.close()
    return (
        f"  the log alone, {n} concurrent ratings: one commit each p50="
        f"{percentile(each, 50):.1f} ms p99={percentile(each, 99):.1f} ms; group-committed "
        f"p50={percentile(group, 50):.1f} ms p99={percentile(group, 99):.1f} ms"
    )


def run(backend: str, database_url: str | None, args: argparse.Namespace) -> None:
    print(f"{backend}:", flush=True)
    with tempfile.TemporaryDirectory() as scratch:
        print(log_alone(database_url, Path(scratch), args.clicks), flush=True)
    with (
        tempfile.TemporaryDirectory() as home,
        FakeSlack(rate_per_second=0) as slack,
        FakeEmbeddings() as embeddings,
    ):
        server = ServeProcess(
            Path(home), slack_api=slack.url, openai_url=embeddings.url, database_url=database_url
        )
        try:
            answers = seed_answers(server, ANSWERS)
            server.start()
            # Warm-up: the first requests pay for lazy imports and connections.
            burst(server.url + EVENTS, clicks(server, answers, 20, "W")[0], form=True)
            print(latency(server, answers, args, rate=0, tag="A"), flush=True)
            print(latency(server, answers, args, rate=args.rate, tag="R"), flush=True)
            total_acked = total_lost = 0
            for point in args.kill_at:
                bodies, rated = clicks(server, answers, args.clicks, f"K{point}")
                acks = burst(
                    server.url + EVENTS, bodies, form=True, kill_after=point, kill=server.kill
                )
                acked = [a.index for a in acks if a.status == 200]
                server.start()
                missing = lost(server, rated, acked)
                total_acked, total_lost = total_acked + len(acked), total_lost + missing
                print(
                    f"  SIGKILL after the {point}th 200, restart: {len(acked)} acknowledged, "
                    f"{len(acked) - missing} stored, {missing} lost",
                    flush=True,
                )
            if args.kill_at:
                verdict = "met" if total_lost == 0 else "MISSED"
                print(f"  lost in all: {total_lost} of {total_acked} (target 0: {verdict})")
        finally:
            server.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clicks", type=int, default=200)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--kill-at", type=int, nargs="*", default=[20, 100, 180])
    parser.add_argument("--backend", nargs="+", default=["sqlite", "postgres"])
    args = parser.parse_args()
    for backend in args.backend:
        if backend == "sqlite":
            run("SQLite", None, args)
            continue
        from tests.pg_database import own_database

        try:
            with own_database("askloop_bench") as db:
                run("PostgreSQL", db.url, args)
        except BaseException as exc:  # pytest.skip's exception: no PostgreSQL here
            if type(exc).__name__ != "Skipped":
                raise
            print(f"PostgreSQL: skipped ({exc})")


if __name__ == "__main__":
    main()
