"""``[console]``: the sign-in tokens of the review console."""

from __future__ import annotations

import pytest

from askloop.config.settings import SettingsError, load_settings


def test_tenant_scoped_tokens_load_from_the_toml_and_the_admin_token_from_the_env(
    tmp_path, monkeypatch
):
    toml = tmp_path / "askloop.toml"
    toml.write_text(
        "[[console.tokens]]\nname = 'acme-lead'\ntoken = 'acme-token-0123456789'\n"
        "tenant = 'acme'\n\n[[console.tokens]]\nname = 'auditor'\n"
        "token = 'audit-token-0123456789'\n"
    )
    monkeypatch.setenv("ASKLOOP_CONFIG", str(toml))
    monkeypatch.setenv("ASKLOOP_CONSOLE_TOKEN", "admin-token-0123456789")
    console = load_settings().console
    assert console.token.get_secret_value() == "admin-token-0123456789"
    assert [(t.name, t.tenant) for t in console.tokens] == [
        ("acme-lead", "acme"),
        ("auditor", None),
    ]
    assert "acme-token" not in repr(console)  # secrets stay out of logs


@pytest.mark.parametrize(
    "table",
    [
        "[[console.tokens]]\nname = 'x'\ntoken = 'short'\n",
        "[[console.tokens]]\nname = 'x'\ntoken = 'long-enough-token-123'\ntenant = 'bad tenant'\n",
        "[[console.tokens]]\nname = '<script>'\ntoken = 'long-enough-token-123'\n",
        "[console]\ntoken = 'short'\n",
    ],
)
def test_weak_tokens_and_bad_names_are_refused(tmp_path, monkeypatch, table):
    toml = tmp_path / "askloop.toml"
    toml.write_text(table)
    monkeypatch.setenv("ASKLOOP_CONFIG", str(toml))
    with pytest.raises(SettingsError, match="console"):
        load_settings()
