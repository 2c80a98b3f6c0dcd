"""The integration tier: real external services, each named by environment variables.

Every test here is skipped unless its service's variables are set. They are read at
import, because the autouse ``clean_env`` fixture removes askloop's variables before
each test (so that no unit test sees the machine's configuration).

    ANTHROPIC_API_KEY [ASKLOOP_IT_ANTHROPIC_MODEL]       pytest -m integration tests/integration
    OPENAI_API_KEY [OPENAI_BASE_URL] [ASKLOOP_IT_OPENAI_MODEL] [ASKLOOP_IT_OPENAI_EMBEDDING]
    SLACK_BOT_TOKEN ASKLOOP_IT_SLACK_CHANNEL             a channel the bot is a member of
    MicrosoftAppId MicrosoftAppPassword [MicrosoftAppType MicrosoftAppTenantId]
    WEAVIATE_URL [WEAVIATE_API_KEY]                      tests/contract (the store suite)
"""

from __future__ import annotations

import os

import pytest

__all__ = ["LIVE", "needs"]

LIVE: dict[str, str] = {
    name: os.environ[name]
    for name in (
        "ANTHROPIC_API_KEY",
        "ASKLOOP_IT_ANTHROPIC_MODEL",
        "OPENAI_API_KEY",
        "OPENAI_BASE_URL",
        "ASKLOOP_IT_OPENAI_MODEL",
        "ASKLOOP_IT_OPENAI_EMBEDDING",
        "SLACK_BOT_TOKEN",
        "ASKLOOP_IT_SLACK_CHANNEL",
        "MicrosoftAppId",
        "MicrosoftAppPassword",
        "MicrosoftAppType",
        "MicrosoftAppTenantId",
    )
    if os.environ.get(name)
}


def needs(*names: str) -> pytest.MarkDecorator:
    missing = [n for n in names if n not in LIVE]
    return pytest.mark.skipif(bool(missing), reason=f"{', '.join(missing)} not set")


@pytest.fixture
def embedder():
    from tests.fakes import HashingEmbedder

    return HashingEmbedder()


@pytest.fixture
def store(tmp_path, embedder):
    """The small test knowledge base (tenant "acme"), with its injected document."""
    from tests.kb_fixture import make_kb_store

    s = make_kb_store(tmp_path / "kb", embedder)
    yield s
    s.close()
