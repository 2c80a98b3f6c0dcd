"""Ratings that arrive while a commit runs share the next one (group commit)."""

from __future__ import annotations

import asyncio

import pytest

from askloop.agent.answers import Feedback
from askloop.agent.errors import LogUnavailableError
from askloop.integrations.server.ratings import RatingWriter


def rating(user: str) -> Feedback:
    return Feedback(answer_id="a1", user=user, rating="up", source="button")


def test_ratings_arriving_during_a_commit_share_the_next_one():
    commits: list[list[str]] = []

    async def scenario() -> list[bool]:
        release = asyncio.Event()

        async def commit(items):
            commits.append([f.user for f, _ in items])
            if len(commits) == 1:
                await release.wait()
            return [f.user != "unknown" for f, _ in items]

        writer = RatingWriter(commit)
        first = asyncio.create_task(writer.write(rating("u1"), "acme"))
        await asyncio.sleep(0)  # the first commit starts, and waits
        rest = [asyncio.create_task(writer.write(rating(u), None)) for u in ("u2", "unknown")]
        await asyncio.sleep(0)
        release.set()
        return await asyncio.gather(first, *rest)

    assert asyncio.run(scenario()) == [True, True, False]
    assert commits == [["u1"], ["u2", "unknown"]]


def test_a_failed_commit_fails_every_rating_in_it_and_the_next_batch_still_runs():
    async def scenario() -> tuple[list[BaseException | bool], bool]:
        calls = 0

        async def commit(items):
            nonlocal calls
            calls += 1
            if calls == 1:
                await asyncio.sleep(0)
                raise LogUnavailableError("the answer log database (SQLite) failed")
            return [True] * len(items)

        writer = RatingWriter(commit)
        batch = [asyncio.create_task(writer.write(rating(u), None)) for u in ("u1", "u2")]
        failed = await asyncio.gather(*batch, return_exceptions=True)
        return failed, await writer.write(rating("u3"), None)

    failed, later = asyncio.run(scenario())
    assert [type(f) for f in failed] == [LogUnavailableError, LogUnavailableError]
    assert later is True


@pytest.mark.parametrize("n", [1, 50])
def test_every_caller_gets_its_own_answer(n):
    async def scenario() -> list[bool]:
        async def commit(items):
            await asyncio.sleep(0)
            return [int(f.user) % 2 == 0 for f, _ in items]

        writer = RatingWriter(commit)
        return await asyncio.gather(*(writer.write(rating(str(i)), None) for i in range(n)))

    assert asyncio.run(scenario()) == [i % 2 == 0 for i in range(n)]
