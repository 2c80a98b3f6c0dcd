"""Per-tenant files under ``ASKLOOP_HOME`` that the graph reads on every question (the
router model, the word counts): each read once, and again only when its file changes, so
a refit lands without a restart."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Generic, TypeVar

__all__ = ["TenantFiles", "write_json"]

T = TypeVar("T")


def write_json(path: Path, data: Any) -> None:
    """Written whole or not at all (a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, separators=(",", ":")), encoding="utf-8")
    os.replace(tmp, path)


class TenantFiles(Generic[T]):
    """``get(tenant)``: what ``read`` makes of the tenant's file (``path_of``), or None
    when there is none; re-read only when the file's modification time changes."""

    def __init__(
        self,
        home: Path,
        path_of: Callable[[Path, str], Path],
        read: Callable[[Path], T | None],
    ) -> None:
        self._home = home
        self._path_of = path_of
        self._read = read
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[int, T | None]] = {}

    def get(self, tenant: str) -> T | None:
        path = self._path_of(self._home, tenant)
        try:
            stamp = path.stat().st_mtime_ns
        except OSError:
            return None
        with self._lock:
            cached = self._cache.get(tenant)
            if cached is not None and cached[0] == stamp:
                return cached[1]
        value = self._read(path)
        with self._lock:
            self._cache[tenant] = (stamp, value)
        return value
