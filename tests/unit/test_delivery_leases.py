"""Question leases (``server.leases``) over a real SQLite log: renewal, takeover, the
shutdown apology and the sweep that answers what a dead server left."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from askloop.integrations.answer_log.sql_log import SqlAnswerLog
from askloop.integrations.server.leases import MAX_ATTEMPTS, Lease, Leases


class Assistant:
    """The AsyncAssistant calls leases make, straight onto the log."""

    def __init__(self, answer_log: SqlAnswerLog) -> None:
        self._log = answer_log
        self.calls: list[str] = []
        self.renewed_twice = asyncio.Event()

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._log, name)

        async def call(*args: Any, **kwargs: Any) -> Any:
            self.calls.append(name)
            if self.calls.count("renew_delivery") == 2:
                self.renewed_twice.set()
            return method(*args, **kwargs)

        return call


@pytest.fixture
def answer_log(tmp_path):
    log = SqlAnswerLog.sqlite(tmp_path / "log.db")
    yield log
    log.close()


def server(answer_log: SqlAnswerLog, name: str) -> tuple[Leases, list[asyncio.Task[Any]]]:
    spawned: list[asyncio.Task[Any]] = []

    def spawn(work: Any, *, name: str) -> asyncio.Task[Any]:
        spawned.append(asyncio.create_task(work, name=name))
        return spawned[-1]

    leases = Leases(Assistant(answer_log), seconds=60, spawn=spawn, owner=name)  # type: ignore[arg-type]
    return leases, spawned


def state(answer_log: SqlAnswerLog, key: str) -> tuple[str, str]:
    with answer_log._db.transaction() as cur:
        cur.execute("SELECT state, owner FROM deliveries WHERE key = ?", (key,))
        return tuple(cur.fetchone())  # type: ignore[return-value]


def expire(answer_log: SqlAnswerLog, key: str) -> None:
    """The owner died: its lease ran out a second ago."""
    db = answer_log._db
    with db.transaction() as cur:
        cur.execute(
            "UPDATE deliveries SET lease_until = ? WHERE key = ?",
            (db.ts(datetime.now(UTC) - timedelta(seconds=1)), key),
        )


JOB = {"text": "How many leave days?"}


@pytest.mark.asyncio
async def test_a_question_is_held_by_one_server_until_it_is_answered(answer_log):
    a, _ = server(answer_log, "a")
    b, _ = server(answer_log, "b")
    lease = await a.claim("q1", platform="slack", job=JOB)
    assert isinstance(lease, Lease)
    assert await a.claim("q1", platform="slack", job=JOB) is None  # known here: no I/O
    assert a._assistant.calls == ["claim_delivery"]  # type: ignore[attr-defined]
    assert await b.claim("q1", platform="slack", job=JOB) is None
    async with lease:
        assert await lease.held()
        await lease.finish()
    assert state(answer_log, "q1") == ("answered", "a")
    assert a.unfinished() == []
    expire(answer_log, "q1")
    assert await b.claim("q1", platform="slack", job=JOB) is None  # answered is final


@pytest.mark.asyncio
async def test_a_lease_that_ran_out_is_taken_over_and_the_first_server_stands_down(answer_log):
    a, _ = server(answer_log, "a")
    b, _ = server(answer_log, "b")
    slow = await a.claim("q1", platform="slack", job=JOB)
    assert slow is not None
    expire(answer_log, "q1")  # "a" stalled past its lease
    taken = await b.claim("q1", platform="slack", job=JOB)
    assert taken is not None
    assert not await slow.held()  # "a" must not post its answer now
    await slow.finish()
    assert state(answer_log, "q1") == ("claimed", "b")
    await taken.finish()
    assert state(answer_log, "q1") == ("answered", "b")


@pytest.mark.asyncio
async def test_past_the_grace_unfinished_questions_are_stopped_and_apologised_for(answer_log):
    leases, _ = server(answer_log, "a")
    said: list[str] = []
    claimed: list[str] = []
    both_answering = asyncio.Event()

    async def answer(key: str, apology_works: bool) -> None:
        lease = await leases.claim(key, platform="slack", job=JOB)
        assert lease is not None

        async def apologise() -> None:
            if not apology_works:
                raise ConnectionError("Slack is down")
            said.append(key)

        lease.apology = apologise
        async with lease:
            claimed.append(key)
            if len(claimed) == 2:
                both_answering.set()
            await asyncio.sleep(3600)  # the model is slow
            await lease.finish()

    tasks = [
        asyncio.create_task(answer("q1", True)),
        asyncio.create_task(answer("q2", False)),
    ]
    await asyncio.wait_for(both_answering.wait(), 30)
    assert await leases.apologise_unfinished() == 1
    assert all(t.cancelled() for t in tasks)
    assert said == ["q1"]
    assert state(answer_log, "q1") == ("apologised", "a")
    # An apology that could not be posted leaves the question claimed: the next server
    # to take it over answers it.
    assert state(answer_log, "q2") == ("claimed", "a")
    await leases.aclose()


@pytest.mark.asyncio
async def test_a_failed_answer_is_left_to_expire_and_be_taken_over(answer_log, caplog):
    leases, _ = server(answer_log, "a")
    lease = await leases.claim("q1", platform="slack", job=JOB)
    assert lease is not None
    with pytest.raises(RuntimeError):
        async with lease:
            raise RuntimeError("the graph blew up")
    assert leases.unfinished() == []  # not apologised for at shutdown, not renewed
    assert state(answer_log, "q1") == ("claimed", "a")
    assert "q1 was left unanswered" in caplog.text


@pytest.mark.asyncio
async def test_the_sweep_answers_what_a_dead_server_left_and_gives_up_after_attempts(
    answer_log,
):
    dead, _ = server(answer_log, "dead")
    assert await dead.claim("q1", platform="slack", job=JOB)
    assert await dead.claim("t1", platform="teams", job=JOB)
    expire(answer_log, "q1")
    expire(answer_log, "t1")
    leases, spawned = server(answer_log, "new")
    resumed: list[tuple[str, Any, int, bool]] = []

    async def resume(pending: Any, lease: Lease, *, give_up: bool) -> None:
        resumed.append((pending.key, dict(pending.job), pending.attempts, give_up))
        await lease.finish("apologised" if give_up else "answered")

    leases.resume_with("slack", resume)
    assert await leases.sweep() == 1  # teams has no resumer here: left alone
    await asyncio.gather(*spawned)
    assert resumed == [("q1", JOB, 2, False)]
    assert state(answer_log, "q1") == ("answered", "new")
    assert state(answer_log, "t1") == ("claimed", "dead")
    assert await leases.sweep() == 0

    # A question that killed its server every time is apologised for, not retried.
    assert await dead.claim("q2", platform="slack", job=JOB)
    for _ in range(MAX_ATTEMPTS - 1):
        expire(answer_log, "q2")
        assert answer_log.claim_delivery("q2", lease=timedelta(60), owner="x", platform="slack")
    expire(answer_log, "q2")
    assert await leases.sweep() == 1
    await asyncio.gather(*spawned)
    assert resumed[-1] == ("q2", JOB, MAX_ATTEMPTS + 1, True)
    assert state(answer_log, "q2") == ("apologised", "new")
    await leases.aclose()


@pytest.mark.asyncio
async def test_live_leases_are_renewed_while_the_answer_is_written(answer_log):
    leases = Leases(
        Assistant(answer_log),  # type: ignore[arg-type]
        seconds=0.03,
        spawn=SimpleNamespace,  # unused
        owner="a",
    )
    lease = await leases.claim("q1", platform="slack", job=JOB)
    assert lease is not None
    await asyncio.wait_for(leases._assistant.renewed_twice.wait(), 30)  # type: ignore[attr-defined]
    await lease.finish()
    assert state(answer_log, "q1") == ("answered", "a")
    await leases.aclose()
