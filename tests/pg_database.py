"""A PostgreSQL database of a test's own on the machine's server (127.0.0.1:5432), and
the faults a production database has: every connection dropped, the database refusing
new ones (down), and back up.

Skips the test, saying why, when no PostgreSQL answers there.
"""

from __future__ import annotations

import getpass
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest

__all__ = ["OwnDatabase", "own_database"]

_SERVER = "127.0.0.1:5432"


@dataclass
class OwnDatabase:
    name: str
    url: str
    admin: Any  # an autocommit connection to the server's maintenance database

    def drop_connections(self) -> int:
        """What a restart or failover does to clients: every connection to this
        database is closed by the server. Returns how many there were."""
        rows = self.admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (self.name,),
        ).fetchall()
        return len(rows)

    def go_down(self) -> None:
        """The database refuses new connections and loses the ones it had."""
        self.admin.execute(f'ALTER DATABASE "{self.name}" ALLOW_CONNECTIONS false')
        self.drop_connections()

    def come_back(self) -> None:
        self.admin.execute(f'ALTER DATABASE "{self.name}" ALLOW_CONNECTIONS true')


def _admin() -> tuple[Any, str]:
    psycopg = pytest.importorskip("psycopg")
    reasons = []
    for user in dict.fromkeys(["postgres", getpass.getuser()]):
        for database in ("postgres", "template1"):
            url = f"postgresql://{user}@{_SERVER}/{database}"
            try:
                return psycopg.connect(url, autocommit=True, connect_timeout=3), user
            except psycopg.OperationalError as exc:
                reasons.append(f"{user}@{database}: {str(exc).strip()}")
    pytest.skip(f"no PostgreSQL at {_SERVER} to create a database on ({'; '.join(reasons)})")


@contextmanager
def own_database(prefix: str = "askloop_fault") -> Iterator[OwnDatabase]:
    """A fresh database, dropped after (connections still open to it are closed)."""
    admin, user = _admin()
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield OwnDatabase(name=name, url=f"postgresql://{user}@{_SERVER}/{name}", admin=admin)
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()
