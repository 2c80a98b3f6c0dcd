"""Thread memory: a LangGraph checkpointer on SQLite (default) or PostgreSQL."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

__all__ = ["open_checkpointer"]


def open_checkpointer(database_url: str | None, home: Path) -> tuple[Any, Any]:
    """(checkpointer, connection to close). Same database choice as the answer log."""
    if database_url and database_url.startswith(("postgresql://", "postgres://")):
        import psycopg
        from langgraph.checkpoint.postgres import PostgresSaver
        from psycopg.rows import dict_row

        pg = psycopg.connect(database_url, autocommit=True, prepare_threshold=0,
                             row_factory=dict_row)  # fmt: skip
        saver = PostgresSaver(pg)
        saver.setup()
        return saver, pg
    from langgraph.checkpoint.sqlite import SqliteSaver

    home.mkdir(parents=True, exist_ok=True)
    lite = sqlite3.connect(home / "checkpoints.db", check_same_thread=False)
    return SqliteSaver(lite), lite
