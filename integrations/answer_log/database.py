"""The answer log's database: one DB-API connection to SQLite or PostgreSQL.

:class:`SqlDatabase` owns the connection (opened on first use, migrated, dropped and
reopened after a failure), the dialect's SQL spelling, and transactions; the log's own
queries live in ``sql_log``.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from askloop.agent.errors import InvalidInputError, LogUnavailableError, UnknownAnswerError
from askloop.integrations.answer_log.migrations import MIGRATIONS, POSTGRES, SQLITE, Dialect

__all__ = ["SqlDatabase"]

log = logging.getLogger(__name__)


class SqlDatabase:
    """One DB-API connection, guarded by a lock; every use is a committed transaction."""

    def __init__(self, connect: Callable[[], Any], dialect: Dialect, description: str) -> None:
        self._connect = connect
        self.dialect = dialect
        self.description = description
        self._conn: Any = None
        self._lock = threading.RLock()

    @classmethod
    def sqlite(cls, path: Path) -> SqlDatabase:
        def connect() -> sqlite3.Connection:
            path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(path, timeout=10, check_same_thread=False, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")  # durable before we acknowledge
            conn.execute("PRAGMA foreign_keys=ON")
            return conn

        return cls(connect, SQLITE, f"SQLite at {path}")

    @classmethod
    def postgres(cls, url: str) -> SqlDatabase:
        def connect() -> Any:
            import psycopg

            return psycopg.connect(url, autocommit=True, connect_timeout=10)

        host = url.split("@")[-1]  # never log credentials
        return cls(connect, POSTGRES, f"PostgreSQL at {host}")

    def sql(self, statement: str) -> str:
        """``statement`` with ``?`` placeholders in this dialect's spelling."""
        return statement.replace("?", "%s") if self.dialect is POSTGRES else statement

    def ts(self, value: datetime) -> Any:
        value = value.astimezone(UTC)
        return value if self.dialect is POSTGRES else value.isoformat(timespec="microseconds")

    def json(self, value: Any) -> Any:
        if self.dialect is POSTGRES:
            from psycopg.types.json import Jsonb

            return Jsonb(value)
        return json.dumps(value, ensure_ascii=False)

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        """A cursor inside one transaction, committed on exit (migrating on first use)."""
        with self._lock:
            connecting = self._conn is None
            try:
                if self._conn is None:
                    self._conn = self._connect()
                    self._migrate(self._conn)
                    connecting = False
                conn = self._conn
                if self.dialect is POSTGRES:
                    with conn.transaction():
                        yield conn.cursor()
                else:
                    conn.execute("BEGIN IMMEDIATE")
                    try:
                        yield conn.cursor()
                    except BaseException:
                        conn.execute("ROLLBACK")
                        raise
                    conn.execute("COMMIT")
            except (UnknownAnswerError, InvalidInputError):
                raise
            except Exception as exc:
                log.exception("answer log operation failed on %s", self.description)
                self._drop_connection()
                raise LogUnavailableError(self._safe_message(exc, connecting)) from exc

    def _safe_message(self, exc: Exception, connecting: bool) -> str:
        """What failed and what to do, without the driver's text (it may name hosts,
        databases or users; it is in the log)."""
        kind = "PostgreSQL" if self.dialect is POSTGRES else "SQLite"
        # psycopg raises OperationalError when the server cannot be reached or went away.
        lost = self.dialect is POSTGRES and type(exc).__name__ == "OperationalError"
        if not (connecting or lost):
            return (
                f"the answer log database ({kind}) failed; try again, and if it persists "
                "see askloop's log for the details"
            )
        if self.dialect is POSTGRES:
            return (
                "the answer log database (PostgreSQL) is unavailable; check "
                "ASKLOOP_DATABASE_URL and that the database is running"
            )
        return (
            "the answer log database (SQLite) cannot be opened; check that ASKLOOP_HOME "
            "(or the path in ASKLOOP_DATABASE_URL) is a writable folder"
        )

    def close(self) -> None:
        with self._lock:
            self._drop_connection()

    def _drop_connection(self) -> None:
        try:
            if self._conn is not None:
                self._conn.close()
        except Exception:
            log.debug("closing a broken connection failed", exc_info=True)
        self._conn = None

    def _migrate(self, conn: Any) -> None:
        def run(statement: str, params: Sequence[Any] = ()) -> Any:
            cur = conn.cursor()
            cur.execute(self.sql(statement), params)
            return cur

        run(
            f"CREATE TABLE IF NOT EXISTS askloop_migrations (name TEXT PRIMARY KEY, "
            f"applied_at {self.dialect.timestamp} NOT NULL)"
        )
        for migration in MIGRATIONS:
            if self.dialect is POSTGRES:
                ctx: Any = conn.transaction()
            else:
                ctx = _SqliteTx(conn)
            with ctx:
                if self.dialect is POSTGRES:
                    # Replicas starting together must not run a migration twice.
                    run("SELECT pg_advisory_xact_lock(7145390)")
                done = run(
                    "SELECT 1 FROM askloop_migrations WHERE name = ?", (migration.name,)
                ).fetchone()
                if done:
                    continue
                for statement in migration.render(self.dialect):
                    run(statement)
                run(
                    "INSERT INTO askloop_migrations (name, applied_at) VALUES (?, ?)",
                    (migration.name, self.ts(datetime.now(UTC))),
                )
                log.info("answer log: applied migration %s", migration.name)


class _SqliteTx:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def __enter__(self) -> None:
        self._conn.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: Any, *_: Any) -> None:
        self._conn.execute("ROLLBACK" if exc_type else "COMMIT")
