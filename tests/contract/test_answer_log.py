"""The AnswerLog contract, run against SQLite and the machine's PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from askloop.agent.answers import AnswerRecord, Citation, Feedback, RetrievedChunk, TraceStep
from askloop.agent.errors import InvalidInputError, LogUnavailableError, UnknownAnswerError
from askloop.agent.ports import AnswerLog
from askloop.integrations.answer_log.sql_log import SqlAnswerLog, open_answer_log
from tests.contract.conftest import PG_URL


@pytest.fixture(params=["sqlite", "postgres"])
def answer_log(request, tmp_path: Path) -> Iterator[SqlAnswerLog]:
    if request.param == "sqlite":
        backend = SqlAnswerLog.sqlite(tmp_path / "log.db")
        yield backend
        backend.close()
        return
    admin = request.getfixturevalue("pg_admin")
    schema = f"askloop_test_{uuid.uuid4().hex[:12]}"
    admin.execute(f"CREATE SCHEMA {schema}")
    sep = "&" if "?" in PG_URL else "?"
    url = f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
    backend = SqlAnswerLog.postgres(url)
    backend._description_url = url  # type: ignore[attr-defined]
    yield backend
    backend.close()
    admin.execute(f"DROP SCHEMA {schema} CASCADE")


def record(answer_id: str = "a1", *, tenant: str = "acme", minutes: int = 0, **kw) -> AnswerRecord:
    base = dict(
        answer_id=answer_id,
        tenant=tenant,
        platform="slack",
        question="How many leave days?",
        answer="26 days [1].",
        route="retrieve",
        model="local:smollm2",
        rewrites=0,
        queries=("How many leave days?",),
        citations=(
            Citation(
                n=1,
                chunk_id="c1",
                title="Leave",
                source="/kb/leave.md",
                url="https://wiki.example/leave",
            ),
        ),
        retrieved=(
            RetrievedChunk(
                chunk_id="c1",
                title="Leave",
                source="/kb/leave.md",
                score=0.91,
                text="Everyone gets 26 days.",
                query="q",
            ),
        ),
        context=("c1",),
        trace=(TraceStep(node="route", verdict="retrieve", ms=1.5, detail={"score": 0.8}),),
        prompt_versions={"answer_with_context": "abc123"},
        history=({"role": "user", "content": "hi"},),
        conversation_id="C1:1700000000.1",
        channel_id="C1",
        team_id="T1",
        user="u-hash",
        created_at=datetime(2026, 11, 1, 12, 0, tzinfo=UTC) + timedelta(minutes=minutes),
    )
    base.update(kw)
    return AnswerRecord(**base)


def rate(log: AnswerLog, user: str, rating, answer_id: str = "a1", **kw):
    return log.add_feedback(
        Feedback(
            answer_id=answer_id, user=user, rating=rating, source=kw.pop("source", "button"), **kw
        )
    )


def test_satisfies_the_port(answer_log):
    assert isinstance(answer_log, AnswerLog)


def test_an_answer_round_trips_with_everything_section_4_keeps(answer_log):
    original = record()
    answer_log.save_answer(original)
    logged = answer_log.get_answer("a1")
    assert logged is not None
    assert logged.record == original
    assert (logged.rating, logged.ups, logged.downs, logged.withdrawn) == (None, 0, 0, False)


def test_migrations_are_recorded_and_run_once(answer_log):
    answer_log.save_answer(record())
    assert answer_log.applied_migrations() == [
        "m001_answers_and_feedback",
        "m002_answer_error",
        "m003_context_and_prompt_texts",
        "m004_deliveries_and_message_links",
        "m005_delivery_leases",
        "m006_feedback_rated_at",
        "m007_reviews",
    ]
    answer_log.close()  # a new connection re-checks and applies nothing twice
    assert answer_log.applied_migrations() == [
        "m001_answers_and_feedback",
        "m002_answer_error",
        "m003_context_and_prompt_texts",
        "m004_deliveries_and_message_links",
        "m005_delivery_leases",
        "m006_feedback_rated_at",
        "m007_reviews",
    ]
    assert answer_log.get_answer("a1") is not None


def test_the_latest_rating_per_user_wins(answer_log):
    answer_log.save_answer(record())
    rate(answer_log, "u1", "up")
    logged = rate(answer_log, "u1", "down", reason="wrong number", correction="30 days")
    assert (logged.rating, logged.ups, logged.downs) == ("down", 0, 1)
    assert (logged.reason, logged.correction) == ("wrong number", "30 days")


def test_the_latest_rating_is_the_latest_by_the_platforms_time_not_by_write_order(answer_log):
    answer_log.save_answer(record())
    t0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
    # Written up, down, up, but clicked down (t0+3) last.
    rate(answer_log, "u1", "up", rated_at=t0 + timedelta(seconds=1))
    rate(answer_log, "u1", "down", rated_at=t0 + timedelta(seconds=3), reason="outdated")
    logged = rate(answer_log, "u1", "up", rated_at=t0 + timedelta(seconds=2))
    assert (logged.rating, logged.ups, logged.downs, logged.reason) == ("down", 0, 1, "outdated")
    # A cleared rating (removed reaction) timed before the down does not clear it.
    logged = rate(answer_log, "u1", None, source="reaction", rated_at=t0)
    assert (logged.rating, logged.downs) == ("down", 1)
    # Across users, the tie goes to the rating timed last.
    logged = rate(answer_log, "u2", "up", rated_at=t0 + timedelta(seconds=4))
    assert (logged.rating, logged.ups, logged.downs) == ("up", 1, 1)
    assert [a.rating for a in answer_log.iter_rated()] == ["up"]
    assert [a.rating for a in answer_log.recent()] == ["up"]


def test_ratings_recorded_together_are_stored_together_and_foreign_ones_refused(answer_log):
    answer_log.save_answer(record())
    answer_log.save_answer(record("b1", tenant="beta"))
    t0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)

    def event(answer_id: str, user: str, rating, seconds: int) -> Feedback:
        return Feedback(
            answer_id=answer_id,
            user=user,
            rating=rating,
            source="button",
            rated_at=t0 + timedelta(seconds=seconds),
        )

    stored = answer_log.add_feedback_many(
        [
            (event("a1", "u1", "down", 2), "acme"),
            (event("a1", "u1", "up", 1), "acme"),  # earlier: the down stays
            (event("a1", "u2", "up", 3), None),
            (event("b1", "u1", "up", 1), "acme"),  # another tenant's answer
            (event("zz", "u1", "up", 1), None),  # no such answer
        ]
    )
    assert stored == [True, True, True, False, False]
    a1, b1 = answer_log.get_answer("a1"), answer_log.get_answer("b1")
    assert (a1.ups, a1.downs, a1.rating) == (1, 1, "up")  # the tie: the latest, u2's
    assert (b1.ups, b1.downs) == (0, 0)
    assert answer_log.add_feedback_many([]) == []


def test_ratings_at_the_same_time_go_to_the_one_written_last(answer_log):
    answer_log.save_answer(record())
    same = datetime(2026, 11, 1, 12, 0, 5, 123456, tzinfo=UTC)
    rate(answer_log, "u1", "down", rated_at=same)
    assert rate(answer_log, "u1", "up", rated_at=same).rating == "up"


def test_ratings_stored_before_rated_at_existed_count_from_when_they_were_stored(answer_log):
    answer_log.save_answer(record())
    t0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
    rate(answer_log, "u1", "up", rated_at=t0 + timedelta(seconds=10))
    with answer_log._db.transaction() as cur:  # an older replica's row: no rated_at
        cur.execute(
            answer_log._db.sql(
                "INSERT INTO feedback_events (answer_id, user_hash, rating, reason, "
                "correction, source, created_at) VALUES (?, ?, ?, '', '', 'button', ?)"
            ),
            ("a1", "u1", "down", answer_log._db.ts(t0 + timedelta(seconds=20))),
        )
    assert answer_log.get_answer("a1").rating == "down"


def test_ratings_from_several_users_take_the_majority(answer_log):
    answer_log.save_answer(record())
    rate(answer_log, "u1", "down")
    rate(answer_log, "u2", "up")
    logged = rate(answer_log, "u3", "up")
    assert (logged.rating, logged.ups, logged.downs) == ("up", 2, 1)


def test_a_tie_goes_to_the_most_recent_rating(answer_log):
    answer_log.save_answer(record())
    rate(answer_log, "u1", "up")
    assert rate(answer_log, "u2", "down").rating == "down"
    assert rate(answer_log, "u1", "up", source="reaction").rating == "up"


def test_clearing_a_rating_removes_that_users_vote(answer_log):
    answer_log.save_answer(record())
    rate(answer_log, "u1", "up", source="reaction")
    logged = rate(answer_log, "u1", None, source="reaction")
    assert (logged.rating, logged.ups, logged.downs) == (None, 0, 0)


def test_rating_an_unknown_answer_is_rejected_and_stores_nothing(answer_log):
    answer_log.save_answer(record())
    with pytest.raises(UnknownAnswerError):
        rate(answer_log, "u1", "up", answer_id="nope")
    assert answer_log.get_answer("a1").ups == 0


def test_rating_another_tenants_answer_is_rejected(answer_log):
    answer_log.save_answer(record(tenant="globex"))
    with pytest.raises(UnknownAnswerError):
        answer_log.add_feedback(
            Feedback(answer_id="a1", user="u", rating="up", source="button"), tenant="acme"
        )
    assert answer_log.get_answer("a1", tenant="acme") is None
    assert answer_log.get_answer("a1", tenant="globex").ups == 0


def test_recent_is_newest_first_and_tenant_scoped(answer_log):
    for i in range(5):
        answer_log.save_answer(record(f"a{i}", minutes=i, tenant="acme" if i % 2 else "globex"))
    rate(answer_log, "u1", "up", answer_id="a3")
    newest = answer_log.recent(limit=2)
    assert [x.record.answer_id for x in newest] == ["a4", "a3"]
    acme = answer_log.recent(tenant="acme")
    assert [x.record.answer_id for x in acme] == ["a3", "a1"]
    assert acme[0].rating == "up"


#: (user, rating, seconds after T0 by the platform's clock), in the order they are written.
VOTE_CASES = (
    [("u1", "down", 1), ("u2", "up", 2), ("u3", "up", 3)],  # a 👎 outvoted: up
    [("u1", "up", 1), ("u2", "down", 2)],  # a tie goes to the most recent: down
    [("u1", "up", 2), ("u2", "down", 1)],  # most recent by the platform's time: up
    [("u1", "up", 1), ("u1", None, 2)],  # cleared: none
    [("u1", "down", 2), ("u1", "up", 1)],  # the later click was written first: down
)


def test_a_rating_filter_fills_its_limit_with_answers_of_that_rating(answer_log):
    """``askloop log --rating R --limit N`` shows N answers rated R when the log holds
    more, however many newer answers carry other (or outvoted) ratings."""
    t0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)

    def vote(answer_id: str, user: str, rating, second: int) -> None:
        rate(answer_log, user, rating, answer_id, rated_at=t0 + timedelta(seconds=second))

    for i in range(60):
        answer_id = f"a{i:02d}"
        answer_log.save_answer(record(answer_id, minutes=i))
        if i >= 30:  # the newest half: 👎 by two users, each with a stray 👍 beside it
            for user, rating, second in [("u1", "down", 1), ("u2", "down", 2), ("u3", "up", 3)]:
                vote(answer_id, user, rating, second)
        elif i % 3 == 0:
            vote(answer_id, "u1", "up", 1)
        elif i % 3 == 2:
            for user, rating, second in VOTE_CASES[i // 3 % len(VOTE_CASES)]:
                vote(answer_id, user, rating, second)
    everything = answer_log.recent(limit=100)
    assert {a.rating for a in everything} == {"up", "down", None}
    for wanted in ("up", "down", "none"):
        expected = [
            a.record.answer_id
            for a in everything
            if a.rating == (None if wanted == "none" else wanted)
        ]
        assert len(expected) > 3
        assert [a.record.answer_id for a in answer_log.recent(limit=3, rating=wanted)] == (
            expected[:3]
        )
        found = answer_log.recent(limit=100, rating=wanted)
        assert [a.record.answer_id for a in found] == expected
    # a29's later 👎 was written first, a26's 👍 cleared, a23's 👍 the more recent of a tie
    up = [a.record.answer_id for a in answer_log.recent(limit=4, rating="up")]
    assert up == ["a27", "a24", "a23", "a21"]


def test_withdrawn_answers_are_marked(answer_log):
    answer_log.save_answer(record())
    assert answer_log.withdraw("a1") is True
    assert answer_log.withdraw("a1") is True  # idempotent
    assert answer_log.withdraw("nope") is False
    assert answer_log.get_answer("a1").withdrawn is True


def test_an_undelivered_answer_is_logged_as_a_failure_and_never_exported(answer_log):
    answer_log.save_answer(record("a1"))
    answer_log.save_answer(record("a2", error="model_unavailable"))
    answer_log.add_feedback(Feedback(answer_id="a1", user="u1", rating="up", source="cli"))
    assert [a.record.answer_id for a in answer_log.iter_rated()] == ["a1"]

    assert answer_log.mark_undelivered("a1") is True
    assert answer_log.mark_undelivered("a1") is False  # a failure already
    assert answer_log.mark_undelivered("a2") is False  # keeps the first reason
    assert answer_log.mark_undelivered("nope") is False
    assert answer_log.get_answer("a1").record.error == "undelivered"
    assert answer_log.get_answer("a2").record.error == "model_unavailable"
    assert list(answer_log.iter_rated()) == []


def test_a_delivery_is_claimed_once(answer_log):
    assert answer_log.claim_delivery("slack:event:Ev1") is True
    assert answer_log.claim_delivery("slack:event:Ev1") is False
    assert answer_log.claim_delivery("slack:event:Ev2") is True
    with pytest.raises(InvalidInputError):
        answer_log.claim_delivery("")


def test_a_delivery_is_claimed_once_across_connections(answer_log, tmp_path):
    # Two replicas on one database: the second process sees the first one's claim.
    if answer_log.dialect.name == "sqlite":
        other = SqlAnswerLog.sqlite(tmp_path / "log.db")
    else:
        other = SqlAnswerLog.postgres(answer_log._description_url)
    try:
        assert answer_log.claim_delivery("teams:activity:1") is True
        assert other.claim_delivery("teams:activity:1") is False
    finally:
        other.close()


LEASE = timedelta(minutes=2)


def expire(answer_log, key: str) -> None:
    """The claim's lease ran out (its owner stopped renewing it) a second ago."""
    db = answer_log._db
    with db.transaction() as cur:
        cur.execute(
            db.sql("UPDATE deliveries SET lease_until = ? WHERE key = ?"),
            (db.ts(datetime.now(UTC) - timedelta(seconds=1)), key),
        )


def test_a_leased_claim_is_taken_over_only_after_its_lease_expired(answer_log):
    key, job = "slack:message:C1:1.0", {"text": "leave days?", "channel": "C1"}
    assert answer_log.claim_delivery(key, lease=LEASE, owner="a", platform="slack", job=job)
    assert not answer_log.claim_delivery(key, lease=LEASE, owner="b", platform="slack")
    assert answer_log.renew_delivery(key, owner="a", lease=LEASE)
    expire(answer_log, key)
    assert answer_log.claim_delivery(key, lease=LEASE, owner="b", platform="slack")
    # The first owner has lost it: it can neither keep nor finish it.
    assert not answer_log.renew_delivery(key, owner="a", lease=LEASE)
    assert not answer_log.finish_delivery(key, owner="a", state="answered")
    assert not answer_log.claim_delivery(key, lease=LEASE, owner="c", platform="slack")
    assert answer_log.finish_delivery(key, owner="b", state="answered")


def test_a_finished_claim_is_never_taken_over(answer_log):
    for state in ("answered", "apologised"):
        key = f"slack:message:C1:{state}"
        assert answer_log.claim_delivery(key, lease=LEASE, owner="a", platform="slack")
        assert answer_log.finish_delivery(key, owner="a", state=state)
        expire(answer_log, key)
        assert not answer_log.claim_delivery(key, lease=LEASE, owner="b", platform="slack")
        assert not answer_log.finish_delivery(key, owner="a", state="answered")
        assert not answer_log.take_over_deliveries(owner="b", lease=LEASE, platforms=["slack"])
    with pytest.raises(InvalidInputError):
        answer_log.finish_delivery("slack:message:C1:answered", owner="a", state="claimed")


def test_expired_claims_are_taken_over_once_with_what_is_needed_to_answer(answer_log):
    for n, platform in enumerate(["slack", "slack", "teams", "slack"]):
        job = {"n": n, "text": "Wie viele Urlaubstage? 🌴"}
        assert answer_log.claim_delivery(
            f"k{n}", lease=LEASE, owner="dead", platform=platform, job=job
        )
    for key in ("k0", "k1", "k2"):  # k3's owner is still renewing it
        expire(answer_log, key)
    taken = answer_log.take_over_deliveries(owner="me", lease=LEASE, platforms=["slack"])
    assert sorted((p.key, p.platform, p.job["n"], p.attempts) for p in taken) == [
        ("k0", "slack", 0, 2),
        ("k1", "slack", 1, 2),
    ]
    assert taken[0].job["text"] == "Wie viele Urlaubstage? 🌴"
    assert taken[0].claimed_at <= datetime.now(UTC)
    assert not answer_log.take_over_deliveries(owner="other", lease=LEASE, platforms=["slack"])
    assert answer_log.finish_delivery("k0", owner="me", state="apologised")
    [teams] = answer_log.take_over_deliveries(owner="me", lease=LEASE, platforms=["teams", "x"])
    assert (teams.key, teams.job) == ("k2", {"n": 2, "text": "Wie viele Urlaubstage? 🌴"})


def test_a_claim_without_a_lease_is_finished_at_once(answer_log):
    assert answer_log.claim_delivery("slack:event:Ev9")
    expire(answer_log, "slack:event:Ev9")
    assert not answer_log.claim_delivery("slack:event:Ev9", lease=LEASE, owner="b")
    with pytest.raises(InvalidInputError):
        answer_log.claim_delivery("k", lease=LEASE)  # a lease needs an owner


def test_an_expired_claim_goes_to_exactly_one_of_many_racing_replicas(answer_log, tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    if answer_log.dialect.name == "sqlite":
        replicas = [SqlAnswerLog.sqlite(tmp_path / "log.db") for _ in range(6)]
    else:
        replicas = [SqlAnswerLog.postgres(answer_log._description_url) for _ in range(6)]
    try:
        for round_ in range(5):
            key = f"slack:message:C1:{round_}"
            assert answer_log.claim_delivery(key, lease=LEASE, owner="dead", platform="slack")
            expire(answer_log, key)

            def claim(n: int, key: str = key) -> bool:
                log = replicas[n]
                if n % 2:
                    return bool(
                        log.take_over_deliveries(owner=f"r{n}", lease=LEASE, platforms=["slack"])
                    )
                return log.claim_delivery(key, lease=LEASE, owner=f"r{n}", platform="slack")

            with ThreadPoolExecutor(6) as pool:
                won = list(pool.map(claim, range(6)))
            assert won.count(True) == 1, won
            winner = f"r{won.index(True)}"
            assert answer_log.finish_delivery(key, owner=winner, state="answered")
    finally:
        for replica in replicas:
            replica.close()


def test_old_claims_can_be_pruned(answer_log):
    answer_log.claim_delivery("slack:event:old")
    assert answer_log.prune_deliveries(older_than=timedelta(0)) == 1
    assert answer_log.claim_delivery("slack:event:old") is True


def test_messages_link_to_answers_and_deleting_one_is_traceable(answer_log):
    answer_log.save_answer(record())
    answer_log.link_message(answer_id="a1", platform="slack", message_ref="C1:2.0", role="answer")
    answer_log.link_message(answer_id="a1", platform="slack", message_ref="C1:1.0", role="question")
    # The first link of a message wins; linking it again changes nothing.
    answer_log.save_answer(record("a2"))
    answer_log.link_message(answer_id="a2", platform="slack", message_ref="C1:2.0", role="answer")
    assert answer_log.answer_for_message(platform="slack", message_ref="C1:2.0") == "a1"
    assert answer_log.answer_for_message(platform="teams", message_ref="C1:2.0") is None
    assert list(answer_log.message_refs("a1")) == [
        ("slack", "C1:2.0", "answer"),
        ("slack", "C1:1.0", "question"),
    ]


def test_linking_a_message_to_an_unknown_answer_is_rejected(answer_log):
    with pytest.raises(UnknownAnswerError):
        answer_log.link_message(answer_id="nope", platform="slack", message_ref="x", role="answer")
    with pytest.raises(InvalidInputError):
        answer_log.link_message(answer_id="a1", platform="slack", message_ref="", role="answer")


def test_answer_ids_are_unique(answer_log):
    answer_log.save_answer(record())
    with pytest.raises(LogUnavailableError):
        answer_log.save_answer(record())
    assert answer_log.get_answer("a1") is not None  # the log still works afterwards


def test_unicode_and_large_text_survive(answer_log):
    big = "å🙂\u200b" * 30_000
    answer_log.save_answer(record(question=big, answer=big))
    assert answer_log.get_answer("a1").record.question == big


def test_default_is_sqlite_in_home_and_bad_urls_are_refused(tmp_path):
    log = open_answer_log(None, tmp_path)
    log.save_answer(record())
    assert (tmp_path / "askloop.db").exists()
    log.close()
    with pytest.raises(Exception, match="postgresql://"):
        open_answer_log("mysql://x", tmp_path)


def test_an_unreachable_database_is_a_clear_error():
    log = SqlAnswerLog.postgres("postgresql://nobody@127.0.0.1:1/none?connect_timeout=1")
    with pytest.raises(LogUnavailableError, match="unavailable"):
        log.ping()


def test_an_old_database_is_migrated_in_place_without_losing_rows(tmp_path):
    import sqlite3

    from askloop.integrations.answer_log.migrations import MIGRATIONS, SQLITE

    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE askloop_migrations (name TEXT PRIMARY KEY, applied_at TEXT)")
    for statement in MIGRATIONS[0].render(SQLITE):
        conn.execute(statement)
    conn.execute("INSERT INTO askloop_migrations VALUES ('m001_answers_and_feedback', 'x')")
    conn.execute(
        "INSERT INTO answers (answer_id, tenant, platform, question, answer, route, model, "
        "queries, citations, retrieved, trace, prompt_versions, history, created_at) VALUES "
        "('old', 'acme', 'cli', 'q', 'a', 'retrieve', 'm', '[]', '[]', '[]', '[]', '{}', '[]', "
        "'2026-01-01T00:00:00+00:00')"
    )
    for n, rating in enumerate(["down", "up"]):  # stored (and rated) down, then up
        conn.execute(
            "INSERT INTO feedback_events (answer_id, user_hash, rating, source, created_at) "
            f"VALUES ('old', 'u1', '{rating}', 'button', '2026-01-01T00:00:0{n}.000000+00:00')"
        )
    conn.commit()
    conn.close()
    log = SqlAnswerLog.sqlite(path)
    assert log.get_answer("old").record.error == ""
    assert (log.get_answer("old").rating, log.get_answer("old").ups) == ("up", 1)
    with log._db.transaction() as cur:  # rated when stored: the only time they knew
        cur.execute("SELECT COUNT(*) FROM feedback_events WHERE rated_at = created_at")
        assert cur.fetchone()[0] == 2
    assert log.applied_migrations() == [
        "m001_answers_and_feedback",
        "m002_answer_error",
        "m003_context_and_prompt_texts",
        "m004_deliveries_and_message_links",
        "m005_delivery_leases",
        "m006_feedback_rated_at",
        "m007_reviews",
    ]
    log.close()


def test_a_thread_marker_links_like_a_message_and_unknown_roles_are_refused(answer_log):
    answer_log.save_answer(record())
    answer_log.link_message(
        answer_id="a1", platform="slack", message_ref="thread:C1:1.0", role="thread"
    )
    assert answer_log.answer_for_message(platform="slack", message_ref="thread:C1:1.0") == "a1"
    with pytest.raises(InvalidInputError):
        answer_log.link_message(answer_id="a1", platform="slack", message_ref="x", role="reply")
