"""Shared fixtures for every test tier."""

from __future__ import annotations

from pathlib import Path

import pytest

from askloop.config.settings import ENV_VARS


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """No askloop variable from the machine reaches a test; data goes to a fresh dir."""
    for var in (*ENV_VARS, "ASKLOOP_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    home = tmp_path_factory.mktemp("askloop-home")
    monkeypatch.setenv("ASKLOOP_HOME", str(home))
    return home
