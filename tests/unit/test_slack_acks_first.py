"""The work after a Slack acknowledgement waits for the acknowledgements still being
made (``background.AcksFirst``): a burst's 200s go out before its thanks and forms."""

from __future__ import annotations

import asyncio

import pytest

from askloop.integrations.slack.background import AcksFirst


async def _record(done: list[str], what: str) -> str:
    done.append(what)
    return what


@pytest.mark.asyncio
async def test_work_starts_at_once_when_no_request_is_being_answered():
    done: list[str] = []
    assert await AcksFirst().after_acks(_record(done, "thanks")) == "thanks"
    assert done == ["thanks"]


@pytest.mark.asyncio
async def test_work_waits_until_the_last_request_being_answered_is_done():
    acks, done = AcksFirst(max_wait_seconds=5.0), []
    first, second = acks.answering(), acks.answering()
    first.__enter__()
    second.__enter__()
    work = asyncio.create_task(acks.after_acks(_record(done, "thanks")))
    await asyncio.sleep(0.01)
    first.__exit__(None, None, None)
    await asyncio.sleep(0.01)
    assert done == []  # one request is still unanswered
    second.__exit__(None, None, None)
    assert await work == "thanks"
    assert done == ["thanks"]


@pytest.mark.asyncio
async def test_under_a_stream_that_never_pauses_work_starts_after_the_wait():
    acks, done = AcksFirst(max_wait_seconds=0.05), []
    with acks.answering():
        loop = asyncio.get_running_loop()
        started = loop.time()
        await acks.after_acks(_record(done, "form"))
        assert done == ["form"]
        assert 0.04 <= loop.time() - started < 1.0


@pytest.mark.asyncio
async def test_work_cancelled_while_waiting_never_starts_and_is_closed():
    acks, done = AcksFirst(max_wait_seconds=5.0), []
    with acks.answering():
        thanks = _record(done, "thanks")
        work = asyncio.create_task(acks.after_acks(thanks))
        await asyncio.sleep(0.01)
        work.cancel()
        with pytest.raises(asyncio.CancelledError):
            await work
    assert done == []
    assert thanks.cr_frame is None  # closed: no "coroutine was never awaited" at exit


@pytest.mark.asyncio
async def test_work_waits_for_the_requests_to_settle_not_for_an_instant_between_two():
    acks, done = AcksFirst(max_wait_seconds=5.0, settle_seconds=0.2), []
    loop = asyncio.get_running_loop()
    with acks.answering():
        pass  # answered: none is being answered now, but one has just begun
    started = loop.time()
    await acks.after_acks(_record(done, "thanks"))
    assert done == ["thanks"]
    assert loop.time() - started >= 0.15


@pytest.mark.asyncio
async def test_a_request_beginning_while_work_waits_to_settle_holds_it_back_again():
    acks, done = AcksFirst(max_wait_seconds=5.0, settle_seconds=0.1), []
    with acks.answering():
        pass
    work = asyncio.create_task(acks.after_acks(_record(done, "thanks")))
    await asyncio.sleep(0.06)
    with acks.answering():  # the next click of the burst
        await asyncio.sleep(0.06)
        assert done == []
    await asyncio.sleep(0.05)
    assert done == []  # 0.05 s since the last request began: not settled yet
    assert await work == "thanks"
