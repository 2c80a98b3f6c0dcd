"""Delivery claims and platform-message links of the answer log.

Both live in the log database so every replica of ``askloop serve`` sees them: a
claim is one ``INSERT`` on a primary key, atomic on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from askloop.agent.answers import MessageRole
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

    def claim_delivery(self, key: str) -> bool:
        if not key or len(key) > _MAX_KEY:
            raise InvalidInputError(f"a delivery key must be 1-{_MAX_KEY} characters")
        with self._db.transaction() as cur:
            cur.execute(
                self._db.sql(
                    "INSERT INTO deliveries (key, claimed_at) VALUES (?, ?) "
                    "ON CONFLICT (key) DO NOTHING"
                ),
                (key, self._db.ts(datetime.now(UTC))),
            )
            return bool(cur.rowcount == 1)

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
