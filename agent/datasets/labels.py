"""One label per (prompt, completion): the votes of identical answers merged.

The same question asked twice often gets the same answer (the local model is
deterministic), and each copy is rated on its own. A dataset must not hold the pair
labelled both ways, so the copies' votes are merged by the rule ratings follow: each
user's latest vote counts, the majority of users decides. When the users split evenly
the pair has no label: it is a conflict, dropped and reported, not guessed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypeVar

from askloop.agent.answers import Rating, Vote

__all__ = ["Ballot", "merge_votes", "resolve", "round_robin"]

#: user -> (when, rating): each user's latest vote over every copy of a pair.
Ballot = dict[str, tuple[Any, Rating]]
T = TypeVar("T")
U = TypeVar("U")


def merge_votes(ballot: Ballot | None, votes: Iterable[Vote]) -> Ballot:
    """``ballot`` with ``votes`` added, keeping each user's latest vote."""
    merged: Ballot = {} if ballot is None else ballot
    for vote in votes:
        held = merged.get(vote.user)
        if held is None or vote.at > held[0]:
            merged[vote.user] = (vote.at, vote.rating)
    return merged


def resolve(ballot: Mapping[str, tuple[Any, Rating]]) -> Rating | None:
    """The majority of users' latest votes; ``None`` when they split evenly (a conflict)."""
    ups = sum(1 for _, rating in ballot.values() if rating == "up")
    downs = len(ballot) - ups
    if ups == downs:
        return None
    return "up" if ups > downs else "down"


def round_robin(first: Sequence[T], second: Sequence[U]) -> list[tuple[T, U]]:
    """Pairs that use every item of both sides at least once (``max(len)`` pairs), not
    the cross product, so a question answered many times does not outweigh the rest."""
    if not first or not second:
        return []
    n = max(len(first), len(second))
    return [(first[i % len(first)], second[i % len(second)]) for i in range(n)]
