"""Delivery claims (the log database decides across replicas; repeats skip it) and the
bookkeeping of work started after an ack."""

from __future__ import annotations

import asyncio
import logging
from types import SimpleNamespace

import pytest

from askloop.integrations.answer_log.sql_log import SqlAnswerLog
from askloop.integrations.server.runtime import Metrics
from askloop.integrations.slack.dedup import Deliveries, event_key


class Assistant:
    """The one AsyncAssistant call claims use, over a real log database."""

    def __init__(self, answer_log: SqlAnswerLog | None) -> None:
        self._log = answer_log
        self.calls = 0

    async def claim_delivery(self, key: str) -> bool:
        self.calls += 1
        if self._log is None:
            raise ConnectionError("log database is down")
        return self._log.claim_delivery(key)


def replica(answer_log: SqlAnswerLog | None) -> tuple[Deliveries, Assistant, Metrics]:
    assistant, metrics = Assistant(answer_log), Metrics()
    runtime = SimpleNamespace(assistant=assistant, metrics=metrics)
    return Deliveries(runtime, remember=2), assistant, metrics  # type: ignore[arg-type]


def duplicates(metrics: Metrics) -> float:
    value = metrics.registry.get_sample_value(
        "askloop_duplicate_deliveries_total", {"platform": "slack"}
    )
    return value or 0.0


@pytest.fixture
def answer_log(tmp_path):
    log = SqlAnswerLog.sqlite(tmp_path / "log.db")
    yield log
    log.close()


@pytest.mark.asyncio
async def test_one_replica_wins_and_repeats_are_known_without_the_database(answer_log):
    a, a_db, a_metrics = replica(answer_log)
    b, b_db, _ = replica(answer_log)
    key = event_key("Ev1")
    assert [await a.first(key), await b.first(key)] == [True, False]
    assert await a.first(key) is False and await b.first(key) is False
    assert (a_db.calls, b_db.calls) == (1, 1)  # the repeats were answered from memory
    assert a.seen(key) and duplicates(a_metrics) == 1


@pytest.mark.asyncio
async def test_memory_is_bounded_and_the_database_still_knows(answer_log):
    deliveries, db, _ = replica(answer_log)
    for n in range(3):
        assert await deliveries.first(f"k{n}")
    assert not deliveries.seen("k0")  # forgotten here (remember=2) …
    assert await deliveries.first("k0") is False  # … but not by the database
    assert db.calls == 4


@pytest.mark.asyncio
async def test_when_the_log_is_down_nothing_is_handled_and_it_says_so(caplog):
    caplog.set_level(logging.ERROR)
    deliveries, _, metrics = replica(None)
    assert await deliveries.claim("k") is None
    assert await deliveries.first("k") is False
    assert "cannot check k for redelivery (log database is down)" in caplog.text
    assert duplicates(metrics) == 0


@pytest.mark.asyncio
async def test_work_started_while_routing_is_collected_for_the_router_to_wait_on():
    from askloop.integrations.slack.background import collect, start

    spawned: list[asyncio.Task] = []

    def spawn(work, *, name):
        task = asyncio.create_task(work, name=name)
        spawned.append(task)
        return task

    runtime = SimpleNamespace(spawn=spawn)
    done = asyncio.Event()

    async def answer() -> None:
        await asyncio.sleep(0)
        done.set()

    start(runtime, answer(), name="outside")  # type: ignore[arg-type]
    with collect() as started:
        start(runtime, answer(), name="inside")  # type: ignore[arg-type]
    assert [t.get_name() for t in started] == ["inside"]
    await asyncio.wait(started)
    assert done.is_set() and len(spawned) == 2
    await asyncio.wait(spawned)
