"""Teams under load: many conversations at once against the real ``askloop serve``.

The server runs with its production pacing (7 sends/s per conversation, one stream
update per second) over the small test knowledge base with a fast scripted model; a
fake Bot Connector on loopback records every activity askloop sends, with its arrival
time. Three phases:

1. ``--conversations`` questions posted at once, half in 1:1 chats (streamed), half in
   group chats: the time from each POST to the first activity Teams would show
   (typing), and to the final answer.
2. A 👍 feedback invoke on every answer, all at once: invoke response times.
3. ``--burst`` questions posted at once into one group chat: how many sends land in that
   conversation in its busiest second.

Targets: first visible activity p99 < 1 s, invoke response p99 < 1 s, never more than
7 sends/s into one conversation.

    python bench/teams_load.py [--conversations 50] [--burst 20]
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._wiki import percentile  # noqa: E402
from tests.fakes import FakeChatModel  # noqa: E402
from tests.teams_fake import (  # noqa: E402
    GROUP,
    FakeConnector,
    Sent,
    feedback_invoke,
    group_message,
    personal_message,
    post,
    teams_server,
    teams_settings,
)

TARGET_FIRST_S, TARGET_INVOKE_S, TARGET_SENDS = 1.0, 1.0, 7
QUESTION = "How many days of annual leave do employees get?"
ANSWER = (
    "Every employee gets 26 days of paid annual leave per year [1], pro rata for part-time "
    "staff, plus public holidays. Unused days carry over until the end of March."
)


def busiest_second(times: list[float]) -> int:
    ordered = sorted(times)
    return max((sum(1 for t in ordered if s <= t < s + 1.0) for s in ordered), default=0)


def line(label: str, values: list[float], target: float | None = None) -> str:
    p50, p99 = percentile(values, 50), percentile(values, 99)
    verdict = "" if target is None else ("  ok" if p99 < target else "  MISSED")
    return (
        f"  {label:34s} p50 {p50 * 1000:6.0f} ms  p99 {p99 * 1000:6.0f} ms  "
        f"max {max(values) * 1000:6.0f} ms{verdict}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=50)
    parser.add_argument("--burst", type=int, default=20, help="questions into one chat")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)

    with tempfile.TemporaryDirectory() as tmp, FakeConnector() as connector:
        root = Path(tmp)
        # Production pacing: stream updates 1/s, 7 sends/s per conversation.
        settings = teams_settings(root / "home", stream_interval_seconds=1.0)
        model = FakeChatModel(ANSWER)
        with teams_server(root, settings, answer=model) as srv:
            pool = ThreadPoolExecutor(max_workers=max(args.conversations, args.burst))
            url = connector.url

            # 1. many conversations at once
            activities = []
            for n in range(args.conversations):
                if n % 2:
                    activity = group_message(QUESTION, service_url=url, activity_id=f"q{n}")
                    activity["conversation"]["id"] = f"19:group-{n}@thread.v2"
                else:
                    activity = personal_message(
                        QUESTION, service_url=url, activity_id=f"q{n}", conversation_id=f"a:dm-{n}"
                    )
                activities.append(activity)
            started: dict[str, float] = {}

            def ask(activity: dict) -> float:
                started[activity["conversation"]["id"]] = time.monotonic()
                return post(srv.url, activity).seconds

            t0 = time.monotonic()
            acks = list(pool.map(ask, activities))
            srv.settle(120)
            wall = time.monotonic() - t0
            first, final = [], []
            for conversation, at in started.items():
                sent = connector.to(conversation)
                first.append(sent[0].at - at)
                final.append(max(s.at for s in sent if s.type == "message") - at)
            updates = ("informative", "streaming")
            streamed = sum(1 for s in connector.sent if s.stream_type in updates)

            # 2. a feedback invoke on every answer, all at once
            invokes = [
                feedback_invoke(
                    reply.id,
                    service_url=url,
                    conversation_id=reply.conversation_id,
                    activity_id=f"f{i}",
                )
                for i, reply in enumerate(connector.messages())
            ]
            invoke_seconds = list(pool.map(lambda a: post(srv.url, a).seconds, invokes))
            statuses = {post(srv.url, invokes[0]).status}

            # 3. a burst into one conversation
            burst = [
                group_message(QUESTION, service_url=url, activity_id=f"burst-{n}")
                for n in range(args.burst)
            ]
            list(pool.map(lambda a: post(srv.url, a), burst))
            srv.settle(120)
            pool.shutdown()
            ratings = sum(a.ups for a in srv.runtime.services.answer_log.recent(limit=500))

        per_conversation: dict[str, list[Sent]] = {}
        for s in connector.sent:
            per_conversation.setdefault(s.conversation_id, []).append(s)
        hot = busiest_second([s.at for s in per_conversation[GROUP]])
        worst = max(busiest_second([s.at for s in sent]) for sent in per_conversation.values())

    groups = args.conversations // 2
    print(
        f"{args.conversations} conversations at once ({args.conversations - groups} 1:1 "
        f"streamed, {groups} group chats), fast scripted model, "
        f"{settings.server.workers} answer workers; all answered in {wall:.1f}s"
    )
    print(line("HTTP acknowledgement", acks))
    print(line("first visible activity (typing)", first, TARGET_FIRST_S))
    print(line("final answer", final))
    print(f"  stream updates sent: {streamed}")
    print(f"{len(invokes)} feedback invokes at once ({ratings} recorded, statuses {statuses})")
    print(line("invoke response", invoke_seconds, TARGET_INVOKE_S))
    print(f"{args.burst} questions at once into one chat: {len(per_conversation[GROUP])} sent")
    verdict = "ok" if worst <= TARGET_SENDS else "MISSED"
    print(f"  busiest second in that chat: {hot} sends")
    print(f"  busiest second in any conversation: {worst} sends (<= {TARGET_SENDS}) {verdict}")


if __name__ == "__main__":
    main()
