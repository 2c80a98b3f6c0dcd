"""Sends paced per key (a Teams conversation, a Slack channel), on simulated time."""

from __future__ import annotations

import asyncio
import random

import pytest

from askloop.integrations.pacing import KeyedPacer
from tests.fakes import SimulatedTime

pytestmark = pytest.mark.asyncio


async def test_no_window_ever_sees_more_sends_than_the_limit_whatever_the_latency():
    time = SimulatedTime()
    pacer = KeyedPacer(limit=7, window=1.0, clock=time.clock, sleep=time.sleep)
    rng = random.Random(7)
    arrivals: list[float] = []

    async def send() -> None:
        async with pacer.slot("chat"):
            # The request reaches the platform somewhere between its start and its end.
            latency = rng.choice([0.0, 0.01, 0.2, 0.6])
            split = rng.random()
            await time.sleep(latency * split)
            arrivals.append(time.now)
            await time.sleep(latency * (1 - split))

    await asyncio.gather(*(send() for _ in range(60)))

    assert len(arrivals) == 60
    arrivals.sort()
    busiest = max(sum(1 for t in arrivals if start <= t < start + 1.0) for start in arrivals)
    assert busiest <= 7


async def test_a_burst_goes_out_at_the_limit_then_waits_a_window():
    time = SimulatedTime()
    pacer = KeyedPacer(limit=7, window=1.0, clock=time.clock, sleep=time.sleep)
    starts = []
    for _ in range(8):
        async with pacer.slot("chat"):
            starts.append(time.now)
    assert starts[:7] == [0.0] * 7
    assert starts[7] == pytest.approx(1.0)


async def test_one_per_interval_spaces_sends_in_the_order_they_asked():
    # Slack's pacing: one message per channel per interval, posts leave in order.
    time = SimulatedTime(100.0)
    pacer = KeyedPacer(limit=1, window=1.0, clock=time.clock, sleep=time.sleep)
    sent: list[tuple[str, float]] = []

    async def post(channel: str, name: str) -> None:
        async with pacer.slot(channel):
            sent.append((name, time.now))

    await asyncio.gather(*(post("C1", f"m{n}") for n in range(3)))
    assert [name for name, _ in sent] == ["m0", "m1", "m2"]
    assert [t for _, t in sent] == pytest.approx([100.0, 101.0, 102.0])
    time.now += 5
    later = time.now
    async with pacer.slot("C1"):
        assert time.now == later  # the backlog has passed: no wait


async def test_a_window_of_zero_paces_nothing():
    time = SimulatedTime()
    pacer = KeyedPacer(limit=1, window=0.0, clock=time.clock, sleep=time.sleep)
    for _ in range(3):
        async with pacer.slot("C1"):
            pass
    assert time.now == 0.0 and len(pacer) == 0


async def test_keys_do_not_wait_for_each_other_and_idle_ones_are_forgotten():
    time = SimulatedTime()
    pacer = KeyedPacer(limit=2, window=1.0, clock=time.clock, sleep=time.sleep)
    for _ in range(2):
        async with pacer.slot("busy"):
            pass
    async with pacer.slot("other"):
        assert time.now == 0.0  # "busy" is at its limit, "other" did not wait
    for n in range(600):
        async with pacer.slot(f"chat-{n}"):
            pass
    await time.sleep(1.5)
    async with pacer.slot("one more"):
        pass
    assert len(pacer) <= 1  # keys idle for a window are forgotten


async def test_a_limit_below_one_is_refused():
    with pytest.raises(ValueError, match="limit"):
        KeyedPacer(limit=0, window=1.0)
