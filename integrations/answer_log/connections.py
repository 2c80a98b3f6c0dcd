"""How the log's and the thread memory's databases stay trustworthy while askloop runs.

PostgreSQL: a pool of connections that are checked before use. A connection the server
dropped (a restart, a failover, ``pg_terminate_backend``) is thrown away and replaced,
and while the server is away the pool keeps reconnecting in the background, so askloop
recovers without a restart.

SQLite: one file, which must stay the file askloop opened. A file deleted (or swapped)
under a running process is not an error to SQLite: writes go on into the deleted file
and are lost at exit. :class:`SqliteFile` notices, and every use fails until the file
is restored and askloop restarted.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from askloop.agent.errors import LogUnavailableError

__all__ = ["POOL_WAIT_SECONDS", "SqliteFile", "open_pool"]

log = logging.getLogger(__name__)

#: How long a caller waits for a pooled connection. While the database is down every
#: use fails after this long: a click must still hear "not saved" within Slack's 3 s.
POOL_WAIT_SECONDS = 2.0
_CONNECT_TIMEOUT_SECONDS = 5
#: A reconnection attempt backs off (1, 2, 4, 8 s) and gives up after this long; the next
#: request starts a new one at once. Psycopg's default (5 min) backs off to 2-minute
#: gaps, so askloop would stay down for minutes after the database came back.
_RECONNECT_SECONDS = 10.0


def open_pool(url: str, *, name: str, max_size: int, **connection: Any) -> Any:
    """A started ``psycopg_pool.ConnectionPool`` (not yet connected: a database that is
    down at start is found on first use, and the pool keeps trying to reach it).

    Every connection is checked as it is handed out; ``connection`` holds the
    ``psycopg.connect`` options each connection is made with.
    """
    from askloop.integrations.answer_log.pg_pool import CheckedPool

    pool: Any = CheckedPool(
        url,
        name=name,
        min_size=1,
        max_size=max_size,
        kwargs={"connect_timeout": _CONNECT_TIMEOUT_SECONDS, **connection},
        timeout=POOL_WAIT_SECONDS,
        reconnect_timeout=_RECONNECT_SECONDS,
        open=False,
    )
    pool.open(wait=False)
    return pool


class SqliteFile:
    """A SQLite database file, and whether it is still the one that was opened."""

    def __init__(self, path: Path, *, what: str) -> None:
        self.path = path
        self._what = what
        self._identity: tuple[int, int] | None = None
        self._reported = False

    def opened(self) -> None:
        """Remember the file just opened (call right after connecting)."""
        try:
            st = os.stat(self.path)
        except OSError:  # not a file (":memory:"): nothing to watch
            return
        self._identity = (st.st_dev, st.st_ino)

    def check(self) -> None:
        """Raise ``LogUnavailableError`` if the file opened was deleted or replaced."""
        if self._identity is None:
            return
        try:
            st = os.stat(self.path)
            same = (st.st_dev, st.st_ino) == self._identity
        except FileNotFoundError:
            same = False
        if same:
            return
        if not self._reported:  # once: every health check and write would repeat it
            self._reported = True
            log.error(
                "%s: the SQLite file %s was deleted or replaced while askloop ran; "
                "nothing more is written until it is restored and askloop restarted",
                self._what,
                self.path,
            )
        raise LogUnavailableError(
            f"the {self._what} database file (SQLite) was deleted or replaced while "
            "askloop was running; restore it and restart askloop"
        )
