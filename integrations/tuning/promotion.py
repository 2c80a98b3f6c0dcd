"""Per-tenant promotion of a tuned model: atomic, reversible, picked up while serving.

``ASKLOOP_HOME/models/<tenant>/promoted.json`` names the tenant's fine-tuned model
(``{"current": {...}, "history": [...]}``), replaced with one ``os.replace``. A promoted
DIR (``askloop tune model --out DIR``) is copied next to it first, so deleting DIR
later does not break serving. ``--rollback`` goes back one promotion; rolling back the
first one returns the tenant to the configured ``ASKLOOP_FINETUNED_MODEL``.

:class:`PromotedModels` is what the graph asks for a tenant's fine-tuned model: it
re-reads a tenant's pointer when the file changes (a ``stat`` per question),
so ``askloop serve`` answers with a promotion without a restart.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from askloop.agent.chat import ChatModel
from askloop.agent.errors import InvalidInputError
from askloop.integrations.models.gguf import MODEL_FILE

__all__ = [
    "MANIFEST",
    "PromotedModels",
    "current",
    "promote",
    "resolve_spec",
    "rollback",
]

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"

_POINTER = "promoted.json"


def _tenant_dir(home: Path, tenant: str) -> Path:
    return home / "models" / tenant


def read_manifest(folder: Path) -> dict[str, Any]:
    try:
        data = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InvalidInputError(
            f"{folder} is not a tuned model folder (no readable {MANIFEST})"
        ) from exc
    if not isinstance(data, dict):
        raise InvalidInputError(f"{folder / MANIFEST} is not a JSON object")
    return data


def resolve_spec(spec_or_dir: str) -> tuple[str, dict[str, Any] | None]:
    """A model spec for ``make_chat_model``, and the manifest when a DIR was named."""
    path = Path(spec_or_dir)
    if path.is_dir():
        manifest = read_manifest(path)
        if manifest.get("provider") == "openai":
            return f"openai:{manifest['model']}", manifest
        model = path / str(manifest.get("model_file") or MODEL_FILE)
        if not model.is_file():
            raise InvalidInputError(f"{path} holds no model file ({model.name})")
        return f"local:{model.resolve()}", manifest
    if ":" not in spec_or_dir:
        raise InvalidInputError(f"{spec_or_dir!r} is neither a folder nor a provider:model spec")
    return spec_or_dir, None


def _read_pointer(home: Path, tenant: str) -> dict[str, Any]:
    path = _tenant_dir(home, tenant) / _POINTER
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {"current": None, "history": []}
    except ValueError:
        log.error("promotion pointer %s is unreadable; serving the configured model", path)
        return {"current": None, "history": []}
    return data if isinstance(data, dict) else {"current": None, "history": []}


def _write_pointer(home: Path, tenant: str, data: dict[str, Any]) -> None:
    folder = _tenant_dir(home, tenant)
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / f".{_POINTER}.partial"
    partial.write_text(json.dumps(data, indent=2), encoding="utf-8")
    with partial.open("rb") as f:
        os.fsync(f.fileno())
    os.replace(partial, folder / _POINTER)


def current(home: Path, tenant: str) -> dict[str, Any] | None:
    """The tenant's promoted model entry (``spec``, ``version``, ...), or None."""
    entry = _read_pointer(home, tenant).get("current")
    return entry if isinstance(entry, dict) and entry.get("spec") else None


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.") or "model"


def promote(home: Path, tenant: str, spec_or_dir: str) -> dict[str, Any]:
    """Make ``spec_or_dir`` the tenant's fine-tuned model; returns the new entry."""
    spec, manifest = resolve_spec(spec_or_dir)
    now = datetime.now(UTC)
    entry: dict[str, Any] = {"spec": spec, "promoted_at": now.isoformat(), "source": spec_or_dir}
    if manifest is not None:
        version = _safe(str(manifest.get("version") or Path(spec_or_dir).resolve().name))
        entry["version"] = version
        entry["manifest"] = {k: manifest.get(k) for k in ("base", "data_hash", "examples")}
        if spec.startswith("local:"):
            kept = _tenant_dir(home, tenant) / version
            if not kept.exists():
                partial = kept.with_name(f".{kept.name}.partial")
                shutil.rmtree(partial, ignore_errors=True)
                partial.mkdir(parents=True)
                for name in (MANIFEST, str(manifest.get("model_file") or MODEL_FILE)):
                    shutil.copy2(Path(spec_or_dir) / name, partial / name)
                os.replace(partial, kept)
            entry["spec"] = f"local:{(kept / MODEL_FILE).resolve()}"
    else:
        entry["version"] = spec
    data = _read_pointer(home, tenant)
    history = list(data.get("history") or [])
    if data.get("current"):
        history.append(data["current"])
    _write_pointer(home, tenant, {"current": entry, "history": history})
    log.info("tenant %s: promoted %s (%s)", tenant, entry["version"], entry["spec"])
    return entry


def rollback(home: Path, tenant: str) -> dict[str, Any] | None:
    """Undo the tenant's last promotion; returns the entry now current (None: the
    configured model). Raises ``InvalidInputError`` when nothing was promoted."""
    data = _read_pointer(home, tenant)
    if not data.get("current"):
        raise InvalidInputError(f"tenant {tenant} has no promoted model to roll back")
    history = list(data.get("history") or [])
    previous = history.pop() if history else None
    _write_pointer(home, tenant, {"current": previous, "history": history})
    log.info("tenant %s: rolled back to %s", tenant, (previous or {}).get("version", "configured"))
    return previous


class PromotedModels:
    """Tenants' promoted fine-tuned models, re-read when a pointer file changes."""

    def __init__(self, home: Path, build: Callable[[str], ChatModel]) -> None:
        self._home = home
        self._build = build
        self._lock = threading.Lock()
        #: tenant -> ((inode, mtime_ns) of the pointer or None, model or None)
        self._seen: dict[str, tuple[tuple[int, int] | None, ChatModel | None]] = {}

    def get(self, tenant: str) -> ChatModel | None:
        path = _tenant_dir(self._home, tenant) / _POINTER
        try:
            found = path.stat()
            # Each write is a new file (os.replace): its inode changes even when two
            # promotions fall within the clock's granularity.
            stamp: tuple[int, int] | None = (found.st_ino, found.st_mtime_ns)
        except OSError:
            stamp = None
        with self._lock:
            known = self._seen.get(tenant)
            if known is not None and known[0] == stamp:
                return known[1]
            entry = current(self._home, tenant) if stamp is not None else None
            model = None
            if entry is not None:
                try:
                    model = self._build(entry["spec"])
                except Exception:
                    log.exception("tenant %s: promoted model %s unusable", tenant, entry["spec"])
                    model = None
                else:
                    log.info("tenant %s: fine-tuned model is now %s", tenant, entry["version"])
            self._seen[tenant] = (stamp, model)
            previous = known[1] if known is not None else None
            if previous is not None and previous is not model:
                self._release(previous)
            return model

    def _release(self, model: ChatModel) -> None:
        """Free a model no tenant is served by any more (a local one holds its weights
        in memory; it reloads if asked again)."""
        if any(m is model for _, m in self._seen.values()):
            return
        close = getattr(model, "close", None)
        if callable(close):
            close()
