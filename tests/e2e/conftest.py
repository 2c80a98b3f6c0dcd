"""Fixtures for driving the installed ``askloop`` command."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from config.settings import ENV_VARS

ASKLOOP = shutil.which("askloop") or str(Path(sys.executable).with_name("askloop"))


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ENV_VARS and k != "ASKLOOP_CONFIG"}
    env["ASKLOOP_HOME"] = str(tmp_path / "home")
    return env


def askloop(env: dict[str, str], *args: str, stdin: str | None = None):
    return subprocess.run(
        [ASKLOOP, *args], env=env, input=stdin, capture_output=True, text=True, timeout=300
    )


@pytest.fixture
def small_kb(tmp_path: Path) -> Path:
    root = tmp_path / "kb"
    root.mkdir()
    (root / "leave.md").write_text(
        "# Annual leave\n\nEvery employee gets 26 days of paid annual leave per year.\n\n"
        "## Carry-over\n\nUp to 5 unused days carry over until 31 March.\n"
    )
    (root / "oncall.md").write_text(
        "# On-call rotation\n\nThe on-call engineer must acknowledge a page within "
        "15 minutes. Escalate to the incident commander in #inc-bridge.\n"
    )
    (root / "parking.html").write_text(
        "<html><head><title>Parking</title><script>var x='tracking';</script></head><body>"
        "<nav>Home | About</nav><h1>Parking</h1><p>The garage has three levels. Level 2 is "
        "reserved for visitors.</p></body></html>"
    )
    return root
