"""The platforms' documented example payloads, read where the design docs keep them.

They live beside the design docs (``shared/fixtures/<platform>``), not in this
repository: ``ASKLOOP_SHARED_FIXTURES`` names the folder, else ``../shared/fixtures``
next to the repository. Tests that replay them are skipped where they are absent.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

__all__ = ["doc_fixtures", "needs_doc_fixtures"]


def doc_fixtures(platform: str) -> Path:
    env = os.environ.get("ASKLOOP_SHARED_FIXTURES")
    base = Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "fixtures"
    return base / platform


def needs_doc_fixtures(platform: str, name: str) -> pytest.MarkDecorator:
    """Skip unless ``platform``'s documented payloads are there (``name`` for the reason)."""
    folder = doc_fixtures(platform)
    return pytest.mark.skipif(
        not folder.is_dir(), reason=f"{name}'s documented example payloads are not at {folder}"
    )
