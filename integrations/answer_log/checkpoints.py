"""Thread memory: a LangGraph checkpointer on SQLite (default) or PostgreSQL.

With one checkpoint per turn (the Assistant runs threaded turns with durability "exit"),
memory still grows with every conversation ever held. ``forget_idle_threads`` deletes
the threads whose last turn is older than a retention period; the server runs it hourly.
"""

from __future__ import annotations

import logging
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from langgraph.checkpoint.sqlite import SqliteSaver

from askloop.agent.answers import THREAD_ID
from askloop.agent.errors import LogUnavailableError
from askloop.integrations.answer_log.connections import SqliteFile, open_pool

__all__ = ["forget_idle_threads", "open_checkpointer", "ping_checkpointer"]

log = logging.getLogger(__name__)

# Both savers keep one row per checkpoint in a table of this name, keyed by thread_id
# and a time-ordered checkpoint_id (a UUIDv6; see ``checkpoint_id_at``).
_IDLE_THREADS = (
    "SELECT thread_id FROM checkpoints GROUP BY thread_id HAVING MAX(checkpoint_id) < {p}"
)
# UUIDv6 counts 100 ns intervals from the Gregorian epoch, 1582-10-15.
_GREGORIAN_OFFSET = 0x01B21DD213814000


def open_checkpointer(database_url: str | None, home: Path) -> tuple[Any, Any]:
    """(checkpointer, its connection to close). Same database choice as the answer log.

    On PostgreSQL the connection is a pool of checked connections that reconnects after
    the server drops them (``connections.open_pool``); on SQLite it is one connection to
    ``home/checkpoints.db``, and the saver refuses to go on if that file vanishes.

    A failure is ``LogUnavailableError`` with a message safe to show; the driver's own
    text (which names the host and database) goes to the log.
    """
    if database_url and database_url.startswith(("postgresql://", "postgres://")):
        from langgraph.checkpoint.postgres import PostgresSaver
        from psycopg.rows import dict_row

        pool = None
        try:
            # The saver holds its lock while it uses a connection: one is enough, and
            # a second lets the health check and the clean-up in beside it.
            pool = open_pool(
                database_url,
                name="askloop-memory",
                max_size=2,
                autocommit=True,
                prepare_threshold=0,
                row_factory=dict_row,
            )
            saver = PostgresSaver(pool)
            saver.setup()
        except Exception as exc:
            if pool is not None:
                pool.close()
            host = database_url.split("@")[-1]  # never log credentials
            log.exception("cannot open the conversation memory on PostgreSQL at %s", host)
            raise LogUnavailableError(
                "the conversation memory database (PostgreSQL) is unavailable; check "
                "ASKLOOP_DATABASE_URL and that the database is running"
            ) from exc
        return saver, pool
    try:
        home.mkdir(parents=True, exist_ok=True)
        path = home / "checkpoints.db"
        lite = sqlite3.connect(path, check_same_thread=False)
        watched = SqliteFile(path, what="conversation memory")
        watched.opened()
    except Exception as exc:
        log.exception("cannot open the conversation memory in %s", home)
        raise LogUnavailableError(
            "the conversation memory database (SQLite) cannot be opened; check that "
            "ASKLOOP_HOME is a writable folder"
        ) from exc
    return _WatchedSqliteSaver(lite, watched), lite


def ping_checkpointer(saver: Any, conn: Any) -> None:
    """Raise unless the conversation memory's database answers."""
    if isinstance(conn, sqlite3.Connection):
        with saver.cursor(transaction=False) as cur:  # checks the file, under the lock
            cur.execute("SELECT 1")
        return
    with conn.connection() as pg:
        pg.execute("SELECT 1")


class _WatchedSqliteSaver(SqliteSaver):
    """``SqliteSaver`` that refuses to read or write once its file vanished (SQLite itself
    would go on writing into the deleted file, lost at exit)."""

    def __init__(self, conn: sqlite3.Connection, file: SqliteFile) -> None:
        super().__init__(conn)
        self.file = file

    @contextmanager
    def cursor(self, transaction: bool = True) -> Iterator[sqlite3.Cursor]:
        self.file.check()
        with super().cursor(transaction) as cur:
            yield cur


def checkpoint_id_at(moment: datetime) -> str:
    """The smallest checkpoint id LangGraph could have given a checkpoint at ``moment``.

    LangGraph's checkpoint ids are UUIDv6: the timestamp fills the leading hex digits, so
    ids compare as text in time order, and every id made later is larger than this one.
    """
    ticks = int(moment.timestamp() * 10_000_000) + _GREGORIAN_OFFSET
    value = ((ticks >> 12) & 0xFFFF_FFFF_FFFF) << 80  # time_high, time_mid
    value |= (0x6000 | (ticks & 0x0FFF)) << 64  # version 6, time_low
    value |= 0x8000 << 48  # RFC 4122 variant; clock sequence and node 0
    return str(uuid.UUID(int=value))


def forget_idle_threads(
    saver: Any, conn: Any, *, older_than: timedelta, now: datetime | None = None
) -> int:
    """Delete every askloop thread whose newest checkpoint is older than ``older_than``.

    Returns how many threads were deleted. Each goes through the saver's own
    ``delete_thread`` (checkpoints, pending writes and blobs alike). Threads whose id is
    not askloop's (``agent.answers.THREAD_ID``) are left alone: another LangGraph
    application may share the tables.
    """
    boundary = checkpoint_id_at((now or datetime.now(UTC)) - older_than)
    if isinstance(conn, sqlite3.Connection):
        with saver.cursor(transaction=False) as cur:  # creates the tables on first use
            rows = cur.execute(_IDLE_THREADS.format(p="?"), (boundary,)).fetchall()
    else:
        with conn.connection() as pg:  # a pool: its own connection, beside the saver's
            rows = pg.execute(_IDLE_THREADS.format(p="%s"), (boundary,)).fetchall()
    ids = (row["thread_id"] if isinstance(row, dict) else row[0] for row in rows)
    threads = [t for t in ids if THREAD_ID.fullmatch(t)]
    for thread_id in threads:
        saver.delete_thread(thread_id)
    return len(threads)
