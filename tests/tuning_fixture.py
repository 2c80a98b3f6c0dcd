"""Conversation ids that land on a chosen side of the tuning split (by thread hash)."""

from __future__ import annotations

from askloop.agent.datasets.raft import is_validation
from askloop.integrations.tuning.samples import HELD_OUT_FRACTION, SPLIT_SEED

__all__ = ["conversation_on"]


def conversation_on(
    name: str, *, held_out: bool, tenant: str = "acme", platform: str = "slack"
) -> str:
    """A conversation id starting with ``name`` whose thread is held out (or trained on)."""
    for salt in range(1000):
        thread = f"{tenant}:{platform}:{name}-{salt}"
        if is_validation(thread, HELD_OUT_FRACTION, SPLIT_SEED) == held_out:
            return f"{name}-{salt}"
    raise AssertionError("no conversation id lands there")
