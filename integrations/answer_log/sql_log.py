"""The answer log over SQLite (default, in ``ASKLOOP_HOME``) or PostgreSQL (production).

Feedback is append-only: every rating event is kept, and a user's latest event by the
platform's time of rating (``rated_at``; ties by the event's row id) is their current
rating, whichever write committed last. Writes commit before the call returns, so a
rating acknowledged to a user is never lost.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from askloop.agent.answers import (
    UNDELIVERED,
    AnswerRecord,
    Feedback,
    LoggedAnswer,
    RatingFilter,
)
from askloop.agent.errors import InvalidInputError, UnknownAnswerError
from askloop.integrations.answer_log.database import SqlDatabase
from askloop.integrations.answer_log.deliveries import DeliveriesMixin
from askloop.integrations.answer_log.migrations import Dialect
from askloop.integrations.answer_log.reviews import AnswerQuery, ReviewsMixin
from askloop.integrations.answer_log.rows import FeedbackEvent, logged_answer, prompt_texts

__all__ = ["SqlAnswerLog", "open_answer_log"]

_ANSWER_COLUMNS = (
    "answer_id",
    "tenant",
    "platform",
    "conversation_id",
    "channel_id",
    "team_id",
    "user_hash",
    "question",
    "answer",
    "route",
    "rewrites",
    "model",
    "queries",
    "citations",
    "retrieved",
    "trace",
    "prompt_versions",
    "history",
    "withdrawn_at",
    "created_at",
    "error",
    "context",
)


_INSERT_FEEDBACK_INTO = (
    "INSERT INTO feedback_events (answer_id, user_hash, rating, reason, correction, source, "
    "created_at, rated_at)"
)
_INSERT_FEEDBACK = f"{_INSERT_FEEDBACK_INTO} VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
#: Exportable: rated by a user, or given a gold answer by a reviewer; not withdrawn,
#: not an apology.
_RATED = (
    "withdrawn_at IS NULL AND error = '' AND (EXISTS (SELECT 1 FROM feedback_events f "
    "WHERE f.answer_id = answers.answer_id) OR EXISTS (SELECT 1 FROM reviews r "
    "WHERE r.answer_id = answers.answer_id AND r.gold <> ''))"
)


def open_answer_log(database_url: str | None, home: Path) -> SqlAnswerLog:
    """The log named by ``ASKLOOP_DATABASE_URL``, or SQLite inside ``home``."""
    if not database_url:
        return SqlAnswerLog.sqlite(home / "askloop.db")
    if database_url.startswith(("postgresql://", "postgres://")):
        return SqlAnswerLog.postgres(database_url)
    if database_url.startswith("sqlite:///"):
        return SqlAnswerLog.sqlite(Path(database_url.removeprefix("sqlite:///")))
    raise InvalidInputError("ASKLOOP_DATABASE_URL must start with postgresql:// or sqlite:///")


class SqlAnswerLog(DeliveriesMixin, ReviewsMixin):
    """``AnswerLog`` over one :class:`SqlDatabase`."""

    def __init__(self, db: SqlDatabase) -> None:
        self._db = db
        #: Prompt versions already stored by this process: skip re-inserting them per answer.
        self._stored_prompts: set[str] = set()

    @classmethod
    def sqlite(cls, path: Path) -> SqlAnswerLog:
        return cls(SqlDatabase.sqlite(path))

    @classmethod
    def postgres(cls, url: str) -> SqlAnswerLog:
        return cls(SqlDatabase.postgres(url))

    @property
    def dialect(self) -> Dialect:
        return self._db.dialect

    # -- AnswerLog ----------------------------------------------------------------------------

    def ping(self) -> None:
        with self._db.transaction() as cur:
            cur.execute("SELECT 1")

    def close(self) -> None:
        self._db.close()

    def applied_migrations(self) -> list[str]:
        with self._db.transaction() as cur:
            cur.execute("SELECT name FROM askloop_migrations ORDER BY name")
            return [row[0] for row in cur.fetchall()]

    def save_answer(self, record: AnswerRecord) -> None:
        values = {
            "answer_id": record.answer_id,
            "tenant": record.tenant,
            "platform": record.platform,
            "conversation_id": record.conversation_id,
            "channel_id": record.channel_id,
            "team_id": record.team_id,
            "user_hash": record.user,
            "question": record.question,
            "answer": record.answer,
            "route": record.route,
            "rewrites": record.rewrites,
            "model": record.model,
            "queries": self._db.json(list(record.queries)),
            "citations": self._db.json([asdict(c) for c in record.citations]),
            "retrieved": self._db.json([asdict(c) for c in record.retrieved]),
            "trace": self._db.json([asdict(t) for t in record.trace]),
            "prompt_versions": self._db.json(dict(record.prompt_versions)),
            "history": self._db.json([dict(h) for h in record.history]),
            "withdrawn_at": None,
            "created_at": self._db.ts(record.created_at),
            "error": record.error,
            "context": self._db.json(list(record.context)),
        }
        columns = ", ".join(values)
        marks = ", ".join("?" for _ in values)
        versions = {
            n: v for n, v in record.prompt_versions.items() if v not in self._stored_prompts
        }
        texts = prompt_texts(versions)
        with self._db.transaction() as cur:
            cur.execute(
                self._db.sql(f"INSERT INTO answers ({columns}) VALUES ({marks})"),
                tuple(values.values()),
            )
            for version, (name, text) in texts.items():
                cur.execute(
                    self._db.sql(
                        "INSERT INTO prompt_texts (version, name, text) VALUES (?, ?, ?) "
                        "ON CONFLICT (version) DO NOTHING"
                    ),
                    (version, name, text),
                )
        self._stored_prompts.update(texts)

    def get_answer(self, answer_id: str, *, tenant: str | None = None) -> LoggedAnswer | None:
        with self._db.transaction() as cur:
            found = self._load(cur, "answer_id = ?", (answer_id,), tenant=tenant, limit=1)
        return found[0] if found else None

    def add_feedback(self, feedback: Feedback, *, tenant: str | None = None) -> LoggedAnswer:
        with self._db.transaction() as cur:
            if not self._exists(cur, feedback.answer_id, tenant=tenant):
                raise UnknownAnswerError(f"no answer {feedback.answer_id!r} to rate")
            cur.execute(self._db.sql(_INSERT_FEEDBACK), self._feedback_row(feedback))
            return self._load(cur, "answer_id = ?", (feedback.answer_id,), limit=1)[0]

    def add_feedback_many(self, items: Sequence[tuple[Feedback, str | None]]) -> list[bool]:
        if not items:
            return []
        ids = sorted({feedback.answer_id for feedback, _ in items})
        with self._db.transaction() as cur:
            cur.execute(
                self._db.sql(
                    "SELECT answer_id, tenant FROM answers "
                    f"WHERE answer_id IN ({', '.join('?' for _ in ids)})"
                ),
                tuple(ids),
            )
            tenants = {str(a): str(t) for a, t in cur.fetchall()}
            known = [
                f.answer_id in tenants and tenant in (None, tenants[f.answer_id])
                for f, tenant in items
            ]
            rows = [self._feedback_row(f) for (f, _), ok in zip(items, known, strict=True) if ok]
            if rows:
                # One prepared single-row INSERT over all rows: psycopg pipelines them in
                # one round trip and converts the query once; a multi-row VALUES list is a
                # new query text for every batch size (1,600 placeholders parsed per 200).
                cur.executemany(self._db.sql(_INSERT_FEEDBACK), rows)
        return known

    def _feedback_row(self, feedback: Feedback) -> tuple[Any, ...]:
        return (
            feedback.answer_id,
            feedback.user,
            feedback.rating,
            feedback.reason,
            feedback.correction,
            feedback.source,
            self._db.ts(feedback.created_at),
            self._db.ts(feedback.rated_at),
        )

    def withdraw(self, answer_id: str) -> bool:
        with self._db.transaction() as cur:
            cur.execute(
                self._db.sql(
                    "UPDATE answers SET withdrawn_at = ? "
                    "WHERE answer_id = ? AND withdrawn_at IS NULL"
                ),
                (self._db.ts(datetime.now(UTC)), answer_id),
            )
            return bool(cur.rowcount) or self._exists(cur, answer_id)

    def mark_undelivered(self, answer_id: str) -> bool:
        with self._db.transaction() as cur:
            cur.execute(
                self._db.sql("UPDATE answers SET error = ? WHERE answer_id = ? AND error = ''"),
                (UNDELIVERED, answer_id),
            )
            return bool(cur.rowcount)

    def _exists(self, cur: Any, answer_id: str, *, tenant: str | None = None) -> bool:
        """Whether the answer is logged (in ``tenant``, if given)."""
        where, params = "answer_id = ?", [answer_id]
        if tenant is not None:
            where, params = where + " AND tenant = ?", [*params, tenant]
        cur.execute(self._db.sql(f"SELECT 1 FROM answers WHERE {where}"), tuple(params))
        return cur.fetchone() is not None

    def recent(
        self, *, limit: int = 20, tenant: str | None = None, rating: RatingFilter | None = None
    ) -> list[LoggedAnswer]:
        if limit < 1:
            raise InvalidInputError("limit must be 1 or more")
        if rating is not None:
            return self.find_answers(AnswerQuery(tenant=tenant, rating=rating), limit=limit)
        with self._db.transaction() as cur:
            return self._load(cur, "1 = 1", (), tenant=tenant, limit=limit)

    # -- export reading -----------------------------------------------------------------------

    def iter_rated(
        self,
        *,
        tenant: str | None = None,
        since: datetime | None = None,
        batch: int = 1000,
        with_trace: bool = False,
    ) -> Iterator[LoggedAnswer]:
        """Answers with feedback or a reviewer's gold answer, oldest first, in constant
        memory (keyset pages).

        Withdrawn answers and apologies (answers with an error) are never yielded. The
        decision trace and queries are left empty unless ``with_trace`` (they are most
        of a row, and only the router dataset reads them).
        """
        where = _RATED
        params: tuple[Any, ...] = ()
        if since is not None:
            where, params = f"{where} AND created_at >= ?", (self._db.ts(since),)
        after: tuple[Any, str] | None = None
        while True:
            page_where, page_params = where, params
            if after is not None:
                # A row-value comparison lets both databases walk the (tenant, created_at)
                # index instead of re-sorting the table for every page.
                page_where += " AND (created_at, answer_id) > (?, ?)"
                page_params = (*params, after[0], after[1])
            with self._db.transaction() as cur:
                page = self._load(
                    cur,
                    page_where,
                    page_params,
                    tenant=tenant,
                    limit=batch,
                    oldest_first=True,
                    light=not with_trace,
                )
            yield from page
            if len(page) < batch:
                return
            last = page[-1].record
            after = (self._db.ts(last.created_at), last.answer_id)

    def count_rated(self, *, tenant: str | None = None, since: datetime | None = None) -> int:
        where = _RATED
        params: list[Any] = []
        if since is not None:
            where += " AND created_at >= ?"
            params.append(self._db.ts(since))
        if tenant is not None:
            where += " AND tenant = ?"
            params.append(tenant)
        with self._db.transaction() as cur:
            cur.execute(self._db.sql(f"SELECT COUNT(*) FROM answers WHERE {where}"), tuple(params))
            return int(cur.fetchone()[0])

    def tenants(self) -> list[str]:
        with self._db.transaction() as cur:
            cur.execute("SELECT DISTINCT tenant FROM answers ORDER BY tenant")
            return [row[0] for row in cur.fetchall()]

    def prompt_text(self, version: str) -> str | None:
        """The text of a prompt version used by some logged answer."""
        with self._db.transaction() as cur:
            cur.execute(self._db.sql("SELECT text FROM prompt_texts WHERE version = ?"), (version,))
            row = cur.fetchone()
        return row[0] if row else None

    # -- reading ------------------------------------------------------------------------------

    def _load(
        self,
        cur: Any,
        where: str,
        params: Sequence[Any],
        *,
        limit: int,
        tenant: str | None = None,
        oldest_first: bool = False,
        light: bool = False,
        order: str | None = None,
    ) -> list[LoggedAnswer]:
        # light: skip the trace and queries, which exports do not need (the bulk of a row).
        columns = [
            f"'[]' AS {c}" if light and c in ("trace", "queries") else c for c in _ANSWER_COLUMNS
        ]
        if tenant is not None:
            where, params = f"{where} AND tenant = ?", (*params, tenant)
        direction = "ASC" if oldest_first else "DESC"
        cur.execute(
            self._db.sql(
                f"SELECT {', '.join(columns)} FROM answers WHERE {where} "
                f"ORDER BY {order or f'created_at {direction}, answer_id'} LIMIT {int(limit)}"
            ),
            tuple(params),
        )
        rows = [dict(zip(_ANSWER_COLUMNS, row, strict=True)) for row in cur.fetchall()]
        if not rows:
            return []
        ids = [r["answer_id"] for r in rows]
        # A row written without rated_at (an older replica) counts from when it was stored.
        cur.execute(
            self._db.sql(
                "SELECT answer_id, id, COALESCE(rated_at, created_at), user_hash, rating, "
                "reason, correction FROM feedback_events "
                f"WHERE answer_id IN ({', '.join('?' for _ in ids)})"
            ),
            tuple(ids),
        )
        events: dict[str, list[FeedbackEvent]] = {}
        for answer_id, *event in cur.fetchall():
            events.setdefault(answer_id, []).append(FeedbackEvent(*event))
        reviews = self._reviews_for(cur, ids)
        return [
            logged_answer(r, events.get(r["answer_id"], []), reviews.get(r["answer_id"]))
            for r in rows
        ]
