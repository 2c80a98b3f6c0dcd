"""Slack acknowledgement latency under load, and no double answers under redelivery.

``askloop serve`` (aiohttp + Bolt + the answer graph over the small test knowledge
base, with scripted instant models) runs in a child process, as it would on its own
host. This process runs the fake Slack Web API (tests.slack_fake) with Slack's
per-channel posting limit — about 1 message a second per channel, short bursts of 2 —
and plays Slack: it posts ``--events`` signed ``app_mention`` events at once, spread
over ``--channels`` channels, and times each acknowledgement (request sent → HTTP 200
read). Then it re-sends every event with ``X-Slack-Retry-Num`` 1..``--retries`` (the
same body, re-signed, as Slack does), waits until every answer is posted, and counts:
answers posted per event (duplicates = any beyond one), and the 429s the fake API had
to serve.

    python bench/slack_ack.py [--events 200] [--channels 40] [--retries 3]
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing
import sys
import tempfile
import time
from collections import Counter
from multiprocessing.connection import Connection
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._wiki import percentile  # noqa: E402
from tests.slack_burst import burst  # noqa: E402
from tests.slack_fake import BOT_TOKEN, SIGNING_SECRET, FakeSlack  # noqa: E402
from tests.slack_payloads import app_mention  # noqa: E402

TARGET_P99_MS = 50.0
QUESTION = "How many days of annual leave do employees get?"


def serve(conn: Connection, home: str, api_url: str) -> None:
    """The child: the real server with fake models, until told to stop."""
    from askloop.config.settings import Settings, SlackSettings
    from tests.server_harness import fake_services, running_server

    logging.basicConfig(level=logging.WARNING, format="server %(levelname)s %(name)s: %(message)s")
    settings = Settings(
        home=Path(home) / "home",
        tenants={"slack:T0ACME": "acme"},
        slack=SlackSettings(bot_token=BOT_TOKEN, signing_secret=SIGNING_SECRET, api_url=api_url),
    )
    with fake_services(Path(home), settings) as services, running_server(services) as srv:
        conn.send(srv.url)
        while (command := conn.recv()) != "stop":
            assert command == "settle"
            srv.settle(300)
            metrics = srv.runtime.metrics.registry
            conn.send(
                {
                    "answers": len(services.answer_log.recent(limit=100_000)),
                    "duplicates_skipped": metrics.get_sample_value(
                        "askloop_duplicate_deliveries_total", {"platform": "slack"}
                    )
                    or 0,
                }
            )


def blast(url: str, bodies: list[str], retry_num: int | None) -> list[float]:
    """Send every body at once, each on its own open connection; returns each
    acknowledgement's latency in ms (request written → complete response read)."""
    acks = burst(url, bodies, form=False, retry_num=retry_num)
    statuses = {ack.status for ack in acks}
    assert statuses == {200}, statuses
    return [ack.ms for ack in acks]


def events(n: int, channels: int, *, prefix: str) -> list[str]:
    return [
        json.dumps(
            app_mention(
                QUESTION,
                channel=f"C{prefix}{i % channels:04d}",
                ts=f"{1700000000 + i}.000100",
                event_id=f"Ev{prefix}{i:06d}",
            )
        )
        for i in range(n)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--channels", type=int, default=40)
    parser.add_argument("--retries", type=int, default=3)
    args = parser.parse_args()

    context = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory() as home, FakeSlack(rate_per_second=1.0, burst=2) as slack:
        parent, child = context.Pipe()
        server = context.Process(target=serve, args=(child, home, slack.url), daemon=True)
        server.start()
        try:
            url = parent.recv() + "/slack/events"
            # Warm-up: first requests pay for lazy imports and connection set-up.
            blast(url, events(5, 5, prefix="W"), None)
            parent.send("settle")
            parent.recv()
            slack.wait_for(lambda: len(slack.messages()) == 5, timeout=60)

            bodies = events(args.events, args.channels, prefix="B")
            acks = blast(url, bodies, None)
            retry_acks: list[float] = []
            for retry in range(1, args.retries + 1):
                retry_acks += blast(url, bodies, retry)
            started = time.perf_counter()
            parent.send("settle")
            stats = parent.recv()
            slack.wait_for(lambda: len(slack.messages()) >= 5 + args.events, timeout=300)
            time.sleep(0.5)  # anything extra would have arrived by now
            drained = time.perf_counter() - started
            parent.send("stop")
        finally:
            server.join(60)
            if server.is_alive():
                server.kill()

    per_thread = Counter((m.channel, m.thread_ts) for m in slack.messages())
    bench_threads = {k: v for k, v in per_thread.items() if k[0].startswith("CB")}
    duplicates = sum(v - 1 for v in bench_threads.values())
    missing = args.events - len(bench_threads)
    p50, p99 = percentile(acks, 50), percentile(acks, 99)
    print(
        f"{args.events} concurrent signed app_mention posts over {args.channels} channels "
        "(server in its own process, fake Slack Web API at 1 msg/s per channel):"
    )
    print(
        f"  ack latency  p50={p50:.1f} ms  p99={p99:.1f} ms  max={max(acks):.1f} ms  "
        f"target p99 < {TARGET_P99_MS:g} ms: {'met' if p99 < TARGET_P99_MS else 'MISSED'}"
    )
    print(
        f"  redeliveries: each event re-sent with X-Slack-Retry-Num 1..{args.retries} "
        f"({len(retry_acks)} posts): ack p50={percentile(retry_acks, 50):.1f} ms "
        f"p99={percentile(retry_acks, 99):.1f} ms"
    )
    print(
        f"  answers: {len(bench_threads)} threads answered, {duplicates} duplicate answers, "
        f"{missing} missing (target 0 duplicates: {'met' if duplicates == 0 else 'MISSED'}); "
        f"{stats['duplicates_skipped']:.0f} redeliveries recognised and skipped"
    )
    print(
        f"  429s from the fake API's per-channel limit: {slack.rate_limited} "
        f"(target 0: {'met' if slack.rate_limited == 0 else 'MISSED'}); all answers posted "
        f"{drained:.1f} s after the last redelivery was acknowledged"
    )


if __name__ == "__main__":
    main()
