"""The answer log's database: SQLite (one connection) or PostgreSQL (a checked pool).

:class:`SqlDatabase` owns the connections (opened on first use, migrated once), the
dialect's SQL spelling, and transactions; the log's own queries live in ``sql_log``.
What keeps each backend trustworthy while askloop runs (a pool that reconnects, a
SQLite file that is noticed when it vanishes) is in ``connections``.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from askloop.agent.errors import InvalidInputError, LogUnavailableError, UnknownAnswerError
from askloop.integrations.answer_log.connections import SqliteFile, open_pool
from askloop.integrations.answer_log.migrations import MIGRATIONS, POSTGRES, SQLITE, Dialect

__all__ = ["SqlDatabase"]

log = logging.getLogger(__name__)

#: Connections one process may hold: the server's answer workers and its quick-write
#: threads each need at most one at a time.
_POOL_SIZE = 10


class SqlDatabase:
    """Every use is one committed transaction: on SQLite over one connection guarded by
    a lock, on PostgreSQL on a connection from a pool."""

    def __init__(
        self,
        dialect: Dialect,
        description: str,
        *,
        sqlite_path: Path | None = None,
        postgres_url: str | None = None,
    ) -> None:
        self.dialect = dialect
        self.description = description
        self._path = sqlite_path
        self._file = SqliteFile(sqlite_path, what="answer log") if sqlite_path else None
        self._url = postgres_url
        self._conn: Any = None  # SQLite
        self._pool: Any = None  # PostgreSQL
        #: Connected and migrated (SQLite: this connection; PostgreSQL: the database).
        self._ready = False
        self._lock = threading.RLock()

    @classmethod
    def sqlite(cls, path: Path) -> SqlDatabase:
        return cls(SQLITE, f"SQLite at {path}", sqlite_path=path)

    @classmethod
    def postgres(cls, url: str) -> SqlDatabase:
        host = url.split("@")[-1]  # never log credentials
        return cls(POSTGRES, f"PostgreSQL at {host}", postgres_url=url)

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
        """A cursor inside one transaction, committed on exit (migrating on first use).

        Fails with ``LogUnavailableError`` (a message safe to show; the driver's text is
        logged), or with the caller's own ``UnknownAnswerError``/``InvalidInputError``.
        """
        if self.dialect is POSTGRES:
            with self._failures(), self._pg_transaction() as cur:
                yield cur
        else:
            with self._lock, self._failures(), self._sqlite_transaction() as cur:
                yield cur

    @contextmanager
    def _failures(self) -> Iterator[None]:
        try:
            yield
        except (UnknownAnswerError, InvalidInputError, LogUnavailableError):
            raise
        except Exception as exc:
            log.exception("answer log operation failed on %s", self.description)
            message = self._safe_message(exc)
            if self.dialect is SQLITE:
                self._drop_connection()
            raise LogUnavailableError(message) from exc

    @contextmanager
    def _sqlite_transaction(self) -> Iterator[Any]:
        assert self._file is not None and self._path is not None
        self._file.check()  # before connecting too: a deleted file is never recreated
        if self._conn is None:
            self._conn = _connect_sqlite(self._path)
            self._file.opened()
            self._migrate(self._conn)
            self._ready = True
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn.cursor()
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    @contextmanager
    def _pg_transaction(self) -> Iterator[Any]:
        import psycopg

        pool = self._pg_pool()
        for attempt in (1, 2):
            with ExitStack() as stack:
                conn = stack.enter_context(pool.connection())
                try:
                    stack.enter_context(conn.transaction())
                except psycopg.OperationalError:
                    # Lost between the pool's check and BEGIN: nothing was sent, so a
                    # fresh connection may safely start over (the broken one is dropped).
                    if attempt == 2:
                        raise
                    log.info("answer log: a connection to %s broke; retrying", self.description)
                    continue
                yield conn.cursor()
                return

    def _pg_pool(self) -> Any:
        with self._lock:
            if self._pool is None:
                self._pool = open_pool(
                    self._url or "", name="askloop-log", max_size=_POOL_SIZE, autocommit=True
                )
            if not self._ready:
                with self._pool.connection() as conn:
                    self._migrate(conn)
                self._ready = True
            return self._pool

    def _safe_message(self, exc: Exception) -> str:
        """What failed and what to do, without the driver's text (it may name hosts,
        databases or users; it is in the log)."""
        if self.dialect is POSTGRES:
            import psycopg

            # The server cannot be reached, went away, or no connection came in time.
            if not self._ready or isinstance(exc, psycopg.OperationalError):
                return (
                    "the answer log database (PostgreSQL) is unavailable; check "
                    "ASKLOOP_DATABASE_URL and that the database is running"
                )
        elif not self._ready:
            return (
                "the answer log database (SQLite) cannot be opened; check that ASKLOOP_HOME "
                "(or the path in ASKLOOP_DATABASE_URL) is a writable folder"
            )
        kind = "PostgreSQL" if self.dialect is POSTGRES else "SQLite"
        return (
            f"the answer log database ({kind}) failed; try again, and if it persists "
            "see askloop's log for the details"
        )

    def close(self) -> None:
        with self._lock:
            self._drop_connection()
            if self._pool is not None:
                self._pool.close()
                self._pool = None
                self._ready = False

    def _drop_connection(self) -> None:
        """Forget the SQLite connection (reopened on next use, unless its file vanished)."""
        try:
            if self._conn is not None:
                self._conn.close()
        except Exception:
            log.debug("closing a broken connection failed", exc_info=True)
        self._conn = None
        if self.dialect is SQLITE:
            self._ready = False

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


def _connect_sqlite(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, timeout=10, check_same_thread=False, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")  # durable before we acknowledge
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


class _SqliteTx:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def __enter__(self) -> None:
        self._conn.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: Any, *_: Any) -> None:
        self._conn.execute("ROLLBACK" if exc_type else "COMMIT")
