"""Never handle a Slack delivery twice: claims in the log database, shared by replicas.

Questions are claimed with a lease (``lease``; ``server.leases``): one whose server died
before answering is taken over. Everything else (reactions, titles, prompts) is claimed
for good on first sight (``first``).

The database decides. Keys this process has seen claimed are also remembered (a
bounded LRU), so a redelivery that reaches the same replica again — the usual case —
is recognised without a round trip to the database.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from askloop.integrations.server.leases import Apology, Lease
from askloop.integrations.server.runtime import ServerRuntime

__all__ = ["Deliveries", "event_key"]

log = logging.getLogger(__name__)


def event_key(event_id: str) -> str:
    """The claim key of an Events API delivery (retries carry the same event_id)."""
    return f"slack:event:{event_id}"


class Deliveries:
    def __init__(self, runtime: ServerRuntime, *, remember: int = 50_000) -> None:
        self._runtime = runtime
        self._remember = remember
        self._seen: OrderedDict[str, None] = OrderedDict()

    def _note(self, key: str) -> None:
        self._seen[key] = None
        self._seen.move_to_end(key)
        if len(self._seen) > self._remember:
            self._seen.popitem(last=False)

    def seen(self, key: str) -> bool:
        """Known here to be claimed already (no I/O; False means "ask the database")."""
        return key in self._seen

    def count_duplicate(self, key: str) -> None:
        self._runtime.metrics.duplicates.labels("slack").inc()
        log.debug("Slack: %s already handled", key)

    async def claim(self, key: str) -> bool | None:
        """True the first time any replica claims ``key``; None when it cannot be told."""
        if key in self._seen:
            return False
        try:
            claimed = await self._runtime.assistant.claim_delivery(key)
        except Exception as exc:
            log.error("Slack: cannot check %s for redelivery (%s); skipping it", key, exc)
            return None
        self._note(key)
        return claimed

    async def lease(
        self, key: str, *, job: Mapping[str, Any], apology: Apology | None = None
    ) -> Lease | None:
        """Claim a question with a lease (``server.leases``): None when another claim
        holds or finished it (counted as a duplicate). Raises what the log raises when
        it cannot tell (the database is down): the caller owes the user an apology."""
        lease = await self._runtime.leases.claim(key, platform="slack", job=job, apology=apology)
        if lease is None:
            self.count_duplicate(key)
        return lease

    async def first(self, key: str) -> bool:
        """Claim ``key``; a repeat is counted as a duplicate and answered with False."""
        claimed = await self.claim(key)
        if claimed is False:
            self.count_duplicate(key)
        return bool(claimed)
