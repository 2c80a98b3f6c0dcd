"""The PostgreSQL pool of ``connections.open_pool`` (imported only for PostgreSQL)."""

from __future__ import annotations

import logging
from time import monotonic
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

__all__ = ["CheckedPool"]

log = logging.getLogger(__name__)


class CheckedPool(ConnectionPool):
    """A pool whose every connection is checked as it is handed out.

    The same check as psycopg's ``check=ConnectionPool.check_connection``, without the
    back-off sleep it takes after each failure (1 s, then 2 s, ...): a server restart
    or failover closes every idle connection at once, and sleeping between discarding
    them would outlast the caller's whole wait. A connection the server closed is
    returned at once (the pool drops it and starts a replacement) and the next is tried.
    """

    def getconn(self, timeout: float | None = None) -> Any:
        wait = self.timeout if timeout is None else timeout
        deadline = monotonic() + wait
        while (left := deadline - monotonic()) > 0:
            conn = super().getconn(left)
            try:
                self.check_connection(conn)
            except psycopg.Error as exc:
                log.info("pool %s: dropping a connection the server closed (%s)", self.name, exc)
                self.putconn(conn)
                continue
            return conn
        raise PoolTimeout(f"couldn't get a working connection after {wait:.2f} sec")
