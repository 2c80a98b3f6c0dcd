"""Settings: precedence of the sources, TOML sections, errors that name the problem."""

from __future__ import annotations

from collections.abc import Callable
from functools import reduce
from pathlib import Path

import pytest

from askloop.config.settings import SettingsError, load_settings, validate_tenant

WriteConfig = Callable[[str], Path]


@pytest.fixture
def write_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> WriteConfig:
    """Write a TOML file and point ASKLOOP_CONFIG at it."""

    def write(text: str) -> Path:
        path = tmp_path / "conf" / "askloop.toml"
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
        monkeypatch.setenv("ASKLOOP_CONFIG", str(path))
        return path

    return write


def value_at(settings: object, dotted: str) -> object:
    return reduce(getattr, dotted.split("."), settings)


# (field, env var, TOML text, keyword override, default, TOML value, env value, kw value)
PRECEDENCE = [
    pytest.param(
        "home",
        "ASKLOOP_HOME",
        'home = "/from/toml"',
        {"home": Path("/from/kw")},
        Path(".askloop"),
        Path("/from/toml"),
        Path("/from/env"),
        Path("/from/kw"),
        id="home",
    ),
    pytest.param(
        "models.answer",
        "ASKLOOP_ANSWER_MODEL",
        '[models]\nanswer = "toml:m"',
        {"models": {"answer": "kw:m"}},
        "local:default",
        "toml:m",
        "env:m",
        "kw:m",
        id="models.answer",
    ),
    pytest.param(
        "weaviate.url",
        "WEAVIATE_URL",
        '[weaviate]\nurl = "http://toml:8080"',
        {"weaviate": {"url": "http://kw:8080"}},
        None,
        "http://toml:8080",
        "http://env:8080",
        "http://kw:8080",
        id="weaviate.url",
    ),
    pytest.param(
        "teams.app_id",
        "MicrosoftAppId",
        '[teams]\napp_id = "toml-id"',
        {"teams": {"app_id": "kw-id"}},
        "",
        "toml-id",
        "env-id",
        "kw-id",
        id="teams.app_id",
    ),
]


@pytest.mark.parametrize(
    ("field", "var", "toml", "kwargs", "default", "from_toml", "from_env", "from_kw"),
    PRECEDENCE,
)
def test_keywords_beat_env_beat_toml_beat_defaults(
    monkeypatch, write_config, field, var, toml, kwargs, default, from_toml, from_env, from_kw
):
    monkeypatch.delenv("ASKLOOP_HOME")
    assert value_at(load_settings(), field) == default

    write_config(toml)
    assert value_at(load_settings(), field) == from_toml

    monkeypatch.setenv(var, str(from_env))
    assert value_at(load_settings(), field) == from_env

    assert value_at(load_settings(**kwargs), field) == from_kw


def test_sources_merge_inside_a_section(monkeypatch, write_config):
    write_config('[models]\nanswer = "toml:a"\nfinetuned = "toml:ft"\n')
    monkeypatch.setenv("ASKLOOP_ANSWER_MODEL", "env:a")

    models = load_settings().models
    assert (models.answer, models.finetuned) == ("env:a", "toml:ft")
    overridden = load_settings(models={"finetuned": "kw:ft"}).models
    assert (overridden.answer, overridden.finetuned) == ("env:a", "kw:ft")


def test_nested_toml_sections_and_tenant_map(write_config):
    write_config(
        'default_tenant = "public"\n'
        '[search]\nk = 7\nmode = "keyword"\n'
        '[tenants]\n"slack:T0ACME" = "acme"\n"teams:8f0e-11" = "acme"\n'
    )
    settings = load_settings()

    assert (settings.search.k, settings.search.mode) == (7, "keyword")
    assert settings.search.alpha == 0.6  # untouched keys keep their defaults
    assert settings.tenant_for("slack", "T0ACME") == "acme"
    assert settings.tenant_for("teams", "8f0e-11") == "acme"
    assert settings.tenant_for("slack", "T0OTHER") == "public"
    assert settings.tenant_for("teams", "T0ACME") == "public"  # the platform is part of the key


def test_relative_home_in_toml_is_relative_to_the_file(monkeypatch, write_config, tmp_path):
    monkeypatch.delenv("ASKLOOP_HOME")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    config = write_config('home = "data"\n')

    settings = load_settings()

    assert settings.home == config.parent / "data"
    assert settings.store_path == config.parent / "data" / "kb"


def test_home_in_toml_may_be_absolute_or_start_with_tilde(monkeypatch, write_config, tmp_path):
    monkeypatch.delenv("ASKLOOP_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "user"))

    write_config(f'home = "{tmp_path / "abs"}"\n')
    assert load_settings().home == tmp_path / "abs"

    write_config('home = "~/askloop"\n')
    assert load_settings().home == tmp_path / "user" / "askloop"


@pytest.mark.parametrize(
    ("toml", "named"),
    [
        pytest.param("[search\nk = 7\n", "cannot read settings file", id="malformed"),
        pytest.param('colour = "blue"\n', "colour", id="unknown-top-level-key"),
        pytest.param('Home = "x"\n', "Home", id="keys-are-case-sensitive"),
        pytest.param("[search]\nkk = 1\n", "search.kk", id="unknown-section-key"),
        pytest.param("[search]\nk = 0\n", "search.k", id="k-below-1"),
        pytest.param('[search]\nmode = "fuzzy"\n', "search.mode", id="bad-literal"),
        pytest.param("[graph]\nkk = 1\n", "graph.kk", id="unknown-graph-key"),
        pytest.param("[graph]\ngrade_threshold = 1.5\n", "graph.grade_threshold", id="graph-bound"),
        pytest.param(
            "[ingest]\nchunk_tokens = 64\nchunk_overlap = 64\n",
            "chunk_overlap must be smaller than chunk_tokens",
            id="overlap-not-below-bound",
        ),
        pytest.param(
            '[tenants]\n"slack:T0ACME" = "bad tenant!"\n', "'bad tenant!'", id="bad-tenant"
        ),
        pytest.param('[tenants]\nT0ACME = "acme"\n', "'T0ACME'", id="tenant-key-no-platform"),
        pytest.param('default_tenant = "-dash"\n', "'-dash'", id="bad-default-tenant"),
        pytest.param("home = 5\n", "home", id="home-not-a-string"),
    ],
)
def test_bad_toml_is_a_settings_error_naming_the_problem(monkeypatch, write_config, toml, named):
    monkeypatch.delenv("ASKLOOP_HOME")  # else it would hide a bad home in the file
    write_config(toml)
    with pytest.raises(SettingsError) as excinfo:
        load_settings()
    assert named in str(excinfo.value)


def test_missing_config_file_is_a_settings_error(monkeypatch, tmp_path):
    missing = tmp_path / "nope.toml"
    monkeypatch.setenv("ASKLOOP_CONFIG", str(missing))
    with pytest.raises(SettingsError, match="does not exist") as excinfo:
        load_settings()
    assert str(missing) in str(excinfo.value)


def test_config_path_that_is_a_folder_is_a_settings_error(monkeypatch, tmp_path):
    monkeypatch.setenv("ASKLOOP_CONFIG", str(tmp_path))
    with pytest.raises(SettingsError, match="cannot read settings file"):
        load_settings()


def test_bad_keyword_override_is_a_settings_error():
    with pytest.raises(SettingsError, match=r"search\.k"):
        load_settings(search={"k": 0})


@pytest.mark.parametrize("name", ["default", "acme", "a", "Team_1.prod-eu", "9lives", "x" * 64])
def test_valid_tenant_names_pass(name):
    assert validate_tenant(name) == name


@pytest.mark.parametrize("name", ["", "-acme", ".acme", "acme corp", "acme/eu", "é", "x" * 65])
def test_invalid_tenant_names_are_refused(name):
    with pytest.raises(SettingsError, match="invalid tenant"):
        validate_tenant(name)


SECRETS = {
    "WEAVIATE_API_KEY": ("weaviate", "api_key"),
    "ANTHROPIC_API_KEY": ("providers", "anthropic_api_key"),
    "OPENAI_API_KEY": ("providers", "openai_api_key"),
    "SLACK_BOT_TOKEN": ("slack", "bot_token"),
    "SLACK_SIGNING_SECRET": ("slack", "signing_secret"),
    "SLACK_APP_TOKEN": ("slack", "app_token"),
    "MicrosoftAppPassword": ("teams", "app_password"),
}


def test_secrets_do_not_leak_in_repr(monkeypatch):
    for var in SECRETS:
        monkeypatch.setenv(var, f"s3cr3t-{var}")

    settings = load_settings()

    for var, (section, field) in SECRETS.items():
        secret = getattr(getattr(settings, section), field)
        assert secret.get_secret_value() == f"s3cr3t-{var}"
    assert "s3cr3t" not in repr(settings)
    assert "s3cr3t" not in str(settings)


def test_empty_env_var_counts_as_unset(monkeypatch, write_config):
    monkeypatch.setenv("WEAVIATE_URL", "")
    monkeypatch.setenv("MicrosoftAppType", "")
    assert load_settings().weaviate.url is None
    assert load_settings().teams.app_type == "MultiTenant"

    write_config('[weaviate]\nurl = "http://toml:8080"\n')
    assert load_settings().weaviate.url == "http://toml:8080"


def test_empty_askloop_config_reads_no_file(monkeypatch):
    monkeypatch.setenv("ASKLOOP_CONFIG", "")
    assert load_settings().search.k == 5
