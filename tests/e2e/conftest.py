"""Fixtures for driving the installed ``askloop`` command."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from askloop.config.settings import ENV_VARS

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


# -- Teams: the Bot Framework side (signing keys, OpenID metadata, connector) -------------


@pytest.fixture(scope="module")
def keys():
    from tests.teams_fake import BotFrameworkKeys

    return BotFrameworkKeys()


@pytest.fixture(scope="module")
def openid(keys):
    from tests.teams_fake import FakeOpenId

    fake = FakeOpenId(keys)
    yield fake
    fake.close()


@pytest.fixture
def connector():
    from tests.teams_fake import FakeConnector

    with FakeConnector() as fake:
        yield fake


#: What the stubbed Azure AD hands askloop for its outbound Bot Framework calls.
OUTBOUND_TOKEN = "outbound-token-from-azure-ad"


@pytest.fixture
def azure_ad(monkeypatch):
    """The outbound seam: Azure AD's token endpoint (msal) is not reachable in tests.
    Modules that send with an app id use it: ``pytestmark = usefixtures("azure_ad")``."""
    from askloop.integrations.teams import auth

    monkeypatch.setattr(auth, "acquire_token", lambda credentials: OUTBOUND_TOKEN)
