"""Delivery claims as leases: a question, once acknowledged, is answered or told it
could not be.

A platform delivery (a Slack message, a Teams activity) is claimed in the log database
before it is answered. A claim made with a lease is *unfinished* (``claimed``) until its
owner marks it ``answered`` (an answer, or askloop's own reply such as a hint or an
apology for a failed answer, was posted) or ``apologised`` (askloop could not answer and
said so). While the owner works it renews the lease; if the owner dies (kill -9, a
crash, a lost node) the lease runs out, and the next claim of the key — a platform's
retry, or a server sweeping expired claims — takes it over, exactly one claimant at a
time. A finished claim is never taken over: a retry after the answer is a duplicate.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

__all__ = ["DeliveryState", "FinishedState", "PendingDelivery"]

DeliveryState = Literal["claimed", "answered", "apologised"]
FinishedState = Literal["answered", "apologised"]


@dataclass(frozen=True, slots=True)
class PendingDelivery:
    """An unfinished claim whose lease had expired, now taken over by the caller."""

    key: str
    #: "slack", "teams": which adapter knows how to answer it.
    platform: str
    #: What the adapter stored to answer later (its own JSON object).
    job: Mapping[str, Any]
    #: How many times the key has been claimed, this takeover included.
    attempts: int
    #: When it was first claimed.
    claimed_at: datetime
