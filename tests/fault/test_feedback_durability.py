"""Nothing acknowledged is lost: the installed ``askloop serve`` killed with SIGKILL in
the middle of a burst of 👍/👎 clicks and reactions, then restarted, on SQLite and on a
PostgreSQL database of the test's own; and the latest rating is the one Slack timed
last, however the clicks arrive.

Only Slack's Web API and the embeddings endpoint are fakes (tests.serve_process).
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Iterator

import pytest

from tests.pg_database import own_database
from tests.serve_process import (
    FakeEmbeddings,
    ServeProcess,
    click_body,
    current_ratings,
    reaction_body,
    seed_answers,
    serve_process,
    slack_ts,
    slack_user,
    stored_ratings,
)
from tests.slack_burst import burst
from tests.slack_fake import FakeSlack

EVENTS = "/slack/events"


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def server(request, tmp_path_factory) -> Iterator[ServeProcess]:
    """One running server per backend for the module (a test that kills it restarts it)."""
    home = tmp_path_factory.mktemp(f"serve-{request.param}")
    with FakeSlack(rate_per_second=0) as slack, FakeEmbeddings() as embeddings:
        database = own_database() if request.param == "postgres" else None
        url = database.__enter__().url if database is not None else None
        try:
            with serve_process(
                home, slack_api=slack.url, openai_url=embeddings.url, database_url=url
            ) as srv:
                srv.start()
                yield srv
        finally:
            if database is not None:
                database.__exit__(None, None, None)


def kill_9_during(server: ServeProcess, bodies: list[str], *, form: bool, after: int) -> list[int]:
    """Send ``bodies`` at once, SIGKILL the server as soon as the ``after``-th 200 is
    read, restart it; returns the indexes of the requests acknowledged (200 read)."""
    acks = burst(server.url + EVENTS, bodies, form=form, kill_after=after, kill=server.kill)
    server.start()
    acked = [a.index for a in acks if a.status == 200]
    assert len(acked) >= after
    return acked


def lost(server: ServeProcess, ratings: list[tuple[str, str, str]], acked: list[int]) -> list:
    """The acknowledged (answer, user, rating)s the log does not have."""
    stored = set(stored_ratings(server))
    wanted = [ratings[i] for i in acked]
    return [(a, u, r) for a, u, r in wanted if (a, slack_user(u), r) not in stored]


def settled(server: ServeProcess, answers: list[str], events: int) -> list[str]:
    """``answers``, once each has ``events`` rating events stored (written before the
    200 here; waiting lets a server that writes later be judged on order, not speed)."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        stored = Counter(answer for answer, _, _ in stored_ratings(server))
        if all(stored[a] >= events for a in answers):
            break
        time.sleep(0.2)
    return answers


def test_every_acknowledged_click_survives_kill_9(server):
    answers = seed_answers(server, 10, prefix=f"click{time.time_ns()}")
    now = slack_ts(time.time())
    clicks = [(answers[i % 10], f"UCLICK{i:03d}", "up" if i % 2 else "down") for i in range(60)]
    bodies = [
        click_body(a, r, user=u, message=server.messages[a], action_ts=now) for a, u, r in clicks
    ]
    acked = kill_9_during(server, bodies, form=True, after=20)
    missing = lost(server, clicks, acked)
    assert missing == [], f"{len(missing)} of {len(acked)} acknowledged clicks lost"


def test_every_acknowledged_reaction_survives_kill_9(server):
    prefix = f"react{time.time_ns()}"
    answers = seed_answers(server, 10, prefix=prefix)
    now = slack_ts(time.time())
    reactions = [(answers[i % 10], f"UREACT{i:03d}", "up" if i % 2 else "down") for i in range(40)]
    bodies = [
        reaction_body(
            "+1" if r == "up" else "-1",
            user=u,
            message=server.messages[a],
            event_ts=now,
            event_id=f"Ev{prefix}{i:03d}",
        )
        for i, (a, u, r) in enumerate(reactions)
    ]
    acked = kill_9_during(server, bodies, form=False, after=10)
    missing = lost(server, reactions, acked)
    assert missing == [], f"{len(missing)} of {len(acked)} acknowledged reactions lost"


def test_concurrent_clicks_out_of_order_end_with_the_latest_clicked(server):
    """Each user clicks 👍/👎 five times on an answer of their own; all the clicks
    arrive at once, the latest-timed first. Each answer ends rated as its latest click."""
    answers = seed_answers(server, 12, prefix=f"order{time.time_ns()}")
    rng = random.Random(13)
    base = time.time()
    expected, first, rest = {}, [], []
    for n, answer in enumerate(answers):
        earlier = [rng.choice(["up", "down"]) for _ in range(4)]
        expected[answer] = "down" if earlier[-1] == "up" else "up"  # unlike the last sent
        user, message = f"UORDER{n:03d}", server.messages[answer]
        at = [slack_ts(base + n + k / 1000) for k in range(5)]  # at[4]: the latest click
        first.append(
            click_body(answer, expected[answer], user=user, message=message, action_ts=at[4])
        )
        rest += [
            click_body(answer, rating, user=user, message=message, action_ts=at[k])
            for k, rating in enumerate(earlier)
        ]
    acks = burst(server.url + EVENTS, first + rest, form=True)
    assert {a.status for a in acks} == {200}
    assert current_ratings(server, settled(server, answers, 5)) == expected


def test_reactions_out_of_order_end_with_the_latest_reacted(server):
    """👍 added, 👍 removed, 👎 added — delivered 👎 first, one after the other: 👎."""
    prefix = f"rorder{time.time_ns()}"
    answers = seed_answers(server, 6, prefix=prefix)
    base = time.time()
    for n, answer in enumerate(answers):
        # (reaction, added, ms after the first): in the order Slack delivers them.
        delivered = [("-1", True, 3), ("+1", True, 1), ("+1", False, 2)]
        for k, (name, added, ms) in enumerate(delivered):
            body = reaction_body(
                name,
                user=f"URORDER{n:03d}",
                message=server.messages[answer],
                event_ts=slack_ts(base + n + ms / 1000),
                added=added,
                event_id=f"Ev{prefix}{n:02d}{k}",
            )
            [ack] = burst(server.url + EVENTS, [body], form=False)
            assert ack.status == 200
    assert current_ratings(server, settled(server, answers, 3)) == dict.fromkeys(answers, "down")
