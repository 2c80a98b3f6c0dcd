"""Delivery claims and platform-message links of the answer log.

Both live in the log database so every replica of ``askloop serve`` sees them. A claim
is one upsert on the primary key, atomic on SQLite and PostgreSQL alike: it inserts a
new key, or takes over an unfinished claim whose lease has expired (the update's
``WHERE state = 'claimed' AND lease_until < now``), or changes nothing. See
``agent.deliveries`` for the lifecycle.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from askloop.agent.answers import MessageRole
from askloop.agent.deliveries import FinishedState, PendingDelivery
from askloop.agent.errors import InvalidInputError, UnknownAnswerError

if TYPE_CHECKING:
    from askloop.integrations.answer_log.database import SqlDatabase

__all__ = ["DeliveriesMixin"]

_MAX_KEY = 512


class DeliveriesMixin:
    """Mixed into ``SqlAnswerLog``; uses its database and answer lookup."""

    if TYPE_CHECKING:  # provided by SqlAnswerLog
        _db: SqlDatabase

        def _exists(self, cur: Any, answer_id: str, *, tenant: str | None = None) -> bool: ...

    def claim_delivery(
        self,
        key: str,
        *,
        lease: timedelta | None = None,
        owner: str = "",
        platform: str = "",
        job: Mapping[str, Any] | None = None,
    ) -> bool:
        if not key or len(key) > _MAX_KEY:
            raise InvalidInputError(f"a delivery key must be 1-{_MAX_KEY} characters")
        if lease is not None and (lease <= timedelta(0) or not owner):
            raise InvalidInputError("a leased claim needs a positive lease and an owner")
        now = datetime.now(UTC)
        ts = self._db.ts
        if lease is None:  # finished at once: nothing to take over later
            state, until, finished, stored = "answered", None, ts(now), None
        else:
            state, until, finished = "claimed", ts(now + lease), None
            stored = self._db.json(dict(job)) if job is not None else None
        with self._db.transaction() as cur:
            cur.execute(
                self._db.sql(
                    "INSERT INTO deliveries (key, claimed_at, state, lease_until, owner, "
                    "platform, job, attempts, finished_at) VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?) "
                    "ON CONFLICT (key) DO UPDATE SET state = excluded.state, "
                    "lease_until = excluded.lease_until, owner = excluded.owner, "
                    "job = COALESCE(excluded.job, deliveries.job), "
                    "attempts = deliveries.attempts + 1, finished_at = excluded.finished_at "
                    "WHERE deliveries.state = 'claimed' AND deliveries.lease_until < ?"
                ),
                (key, ts(now), state, until, owner, platform, stored, finished, ts(now)),
            )
            return bool(cur.rowcount == 1)

    def renew_delivery(self, key: str, *, owner: str, lease: timedelta) -> bool:
        until = self._db.ts(datetime.now(UTC) + lease)
        with self._db.transaction() as cur:
            cur.execute(
                self._db.sql(
                    "UPDATE deliveries SET lease_until = ? "
                    "WHERE key = ? AND owner = ? AND state = 'claimed'"
                ),
                (until, key, owner),
            )
            return bool(cur.rowcount == 1)

    def finish_delivery(self, key: str, *, owner: str, state: FinishedState) -> bool:
        if state not in ("answered", "apologised"):
            raise InvalidInputError(f"a claim finishes answered or apologised, not {state!r}")
        with self._db.transaction() as cur:
            cur.execute(
                self._db.sql(
                    "UPDATE deliveries SET state = ?, lease_until = NULL, job = NULL, "
                    "finished_at = ? WHERE key = ? AND owner = ? AND state = 'claimed'"
                ),
                (state, self._db.ts(datetime.now(UTC)), key, owner),
            )
            return bool(cur.rowcount == 1)

    def take_over_deliveries(
        self, *, owner: str, lease: timedelta, platforms: Sequence[str], limit: int = 20
    ) -> list[PendingDelivery]:
        if not platforms or limit < 1:
            return []
        if not owner or lease <= timedelta(0):
            raise InvalidInputError("a takeover needs a positive lease and an owner")
        now = datetime.now(UTC)
        expired = (self._db.ts(now),)
        marks = ", ".join("?" for _ in platforms)
        taken: list[PendingDelivery] = []
        with self._db.transaction() as cur:
            cur.execute(
                self._db.sql(
                    "SELECT key FROM deliveries WHERE state = 'claimed' AND lease_until < ? "
                    f"AND platform IN ({marks}) ORDER BY claimed_at LIMIT ?"
                ),
                (*expired, *platforms, limit),
            )
            keys = [str(row[0]) for row in cur.fetchall()]
            for key in keys:
                # The same condition again: a concurrent claimant may have taken it.
                cur.execute(
                    self._db.sql(
                        "UPDATE deliveries SET owner = ?, lease_until = ?, "
                        "attempts = attempts + 1 "
                        "WHERE key = ? AND state = 'claimed' AND lease_until < ? "
                        "RETURNING platform, job, attempts, claimed_at"
                    ),
                    (owner, self._db.ts(now + lease), key, *expired),
                )
                row = cur.fetchone()
                if row is not None:
                    taken.append(_pending(key, row))
        return taken

    def prune_deliveries(self, *, older_than: timedelta) -> int:
        """Forget claims older than ``older_than`` (platforms stop retrying long before)."""
        cutoff = self._db.ts(datetime.now(UTC) - older_than)
        with self._db.transaction() as cur:
            cur.execute(self._db.sql("DELETE FROM deliveries WHERE claimed_at < ?"), (cutoff,))
            return int(cur.rowcount)

    def link_message(
        self, *, answer_id: str, platform: str, message_ref: str, role: MessageRole
    ) -> None:
        if not platform or not message_ref:
            raise InvalidInputError("a message link needs a platform and a message ref")
        if role not in ("answer", "question", "thread"):
            raise InvalidInputError(f"unknown message role {role!r}")
        with self._db.transaction() as cur:
            if not self._exists(cur, answer_id):
                raise UnknownAnswerError(f"no answer {answer_id!r} to link a message to")
            cur.execute(
                self._db.sql(
                    "INSERT INTO answer_messages (platform, message_ref, answer_id, role) "
                    "VALUES (?, ?, ?, ?) ON CONFLICT (platform, message_ref) DO NOTHING"
                ),
                (platform, message_ref, answer_id, role),
            )

    def answer_for_message(self, *, platform: str, message_ref: str) -> str | None:
        with self._db.transaction() as cur:
            cur.execute(
                self._db.sql(
                    "SELECT answer_id FROM answer_messages WHERE platform = ? AND message_ref = ?"
                ),
                (platform, message_ref),
            )
            row = cur.fetchone()
        return str(row[0]) if row else None

    def message_refs(self, answer_id: str) -> Iterator[tuple[str, str, str]]:
        """(platform, message_ref, role) of every message linked to an answer."""
        with self._db.transaction() as cur:
            cur.execute(
                self._db.sql(
                    "SELECT platform, message_ref, role FROM answer_messages "
                    "WHERE answer_id = ? ORDER BY role, message_ref"
                ),
                (answer_id,),
            )
            rows = cur.fetchall()
        return iter([(str(p), str(m), str(r)) for p, m, r in rows])


def _pending(key: str, row: Sequence[Any]) -> PendingDelivery:
    platform, job, attempts, claimed_at = row
    if isinstance(job, str | bytes):
        job = json.loads(job)  # SQLite keeps JSON as text; PostgreSQL's JSONB is decoded
    return PendingDelivery(
        key=key,
        platform=str(platform),
        job=job if isinstance(job, Mapping) else {},
        attempts=int(attempts),
        claimed_at=claimed_at
        if isinstance(claimed_at, datetime)
        else datetime.fromisoformat(str(claimed_at)),
    )
