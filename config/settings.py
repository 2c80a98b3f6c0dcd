"""askloop settings: the only module that reads environment variables and the TOML file.

Precedence, highest first: keyword arguments to :func:`load_settings`, environment
variables (the names fixed in DESIGN.md), the TOML file named by ``ASKLOOP_CONFIG``,
then the defaults below. Nothing is read at import time.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from askloop.agent.context import Policy
from askloop.config.platforms import (
    TEAMS_APP_TYPES,
    SlackChannelRule,
    SlackRoute,
    SlackSettings,
    TeamsSettings,
    Unmapped,
)
from askloop.config.sections import (
    TENANT_PATTERN,
    ConsoleSettings,
    ConsoleToken,
    EmbedderSettings,
    GraphSettings,
    IngestSettings,
    ModelSettings,
    ProviderKeys,
    SearchSettings,
    ServerSettings,
    SettingsError,
    WeaviateSettings,
    validate_tenant,
)

# The tables live in sections.py and platforms.py; every name stays importable from here.
__all__ = [
    "ENV_VARS",
    "ConsoleSettings",
    "ConsoleToken",
    "TEAMS_APP_TYPES",
    "TENANT_PATTERN",
    "EmbedderSettings",
    "GraphSettings",
    "IngestSettings",
    "ModelSettings",
    "ProviderKeys",
    "SearchSettings",
    "ServerSettings",
    "Settings",
    "SettingsError",
    "SlackChannelRule",
    "SlackRoute",
    "SlackSettings",
    "TeamsSettings",
    "Unmapped",
    "WeaviateSettings",
    "load_settings",
    "model_cache_dir",
    "validate_tenant",
]


def model_cache_dir() -> Path:
    """Where derived model files (the embedder's ONNX export) are cached: shared by
    every ``ASKLOOP_HOME`` of the user, like other model caches (``$XDG_CACHE_HOME``)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "askloop" / "models"


#: The fixed environment contract (DESIGN.md §3): variable -> path inside Settings.
ENV_VARS: Mapping[str, tuple[str, ...]] = {
    "ASKLOOP_HOME": ("home",),
    "ASKLOOP_DATABASE_URL": ("database_url",),
    "ASKLOOP_ANSWER_MODEL": ("models", "answer"),
    "ASKLOOP_FINETUNED_MODEL": ("models", "finetuned"),
    "WEAVIATE_URL": ("weaviate", "url"),
    "WEAVIATE_API_KEY": ("weaviate", "api_key"),
    "ANTHROPIC_API_KEY": ("providers", "anthropic_api_key"),
    "OPENAI_API_KEY": ("providers", "openai_api_key"),
    "OPENAI_BASE_URL": ("providers", "openai_base_url"),
    "SLACK_BOT_TOKEN": ("slack", "bot_token"),
    "SLACK_SIGNING_SECRET": ("slack", "signing_secret"),
    "SLACK_APP_TOKEN": ("slack", "app_token"),
    "SLACK_API_URL": ("slack", "api_url"),
    "MicrosoftAppId": ("teams", "app_id"),
    "MicrosoftAppPassword": ("teams", "app_password"),
    "MicrosoftAppType": ("teams", "app_type"),
    "MicrosoftAppTenantId": ("teams", "app_tenant_id"),
    "BOTFRAMEWORK_OPENID_METADATA": ("teams", "openid_metadata"),
    "ASKLOOP_CONSOLE_TOKEN": ("console", "token"),
}


class Settings(BaseSettings):
    """Everything askloop can be configured with. See config/askloop.example.toml."""

    # case_sensitive: a key in the TOML file is a field's name exactly ("Home" is an
    # unknown key, as before), not matched case-insensitively.
    model_config = SettingsConfigDict(extra="forbid", frozen=True, case_sensitive=True)

    #: Data dir for the embedded store, log DB and checkpoints.
    home: Path = Path(".askloop")
    #: Log/feedback database; default SQLite inside ``home``.
    database_url: str | None = Field(default=None, repr=False)  # may hold a password
    #: Tenant used when none is given (CLI) or the platform tenant is unmapped.
    default_tenant: str = "default"
    #: "platform:id" -> askloop tenant, e.g. {"slack:T0ACME": "acme"}.
    tenants: dict[str, str] = Field(default_factory=dict)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "WARNING"
    embedder: EmbedderSettings = EmbedderSettings()
    ingest: IngestSettings = IngestSettings()
    search: SearchSettings = SearchSettings()
    weaviate: WeaviateSettings = WeaviateSettings()
    models: ModelSettings = ModelSettings()
    graph: Policy = Policy()
    providers: ProviderKeys = ProviderKeys()
    server: ServerSettings = ServerSettings()
    slack: SlackSettings = SlackSettings()
    teams: TeamsSettings = TeamsSettings()
    console: ConsoleSettings = ConsoleSettings()

    @field_validator("default_tenant")
    @classmethod
    def _tenant_ok(cls, v: str) -> str:
        return validate_tenant(v)

    @field_validator("tenants")
    @classmethod
    def _tenant_map_ok(cls, v: dict[str, str]) -> dict[str, str]:
        for key, tenant in v.items():
            if ":" not in key:
                raise ValueError(f"tenant key {key!r} must look like 'slack:T0ACME'")
            validate_tenant(tenant)
        return v

    @property
    def store_path(self) -> Path:
        return self.home / "kb"

    def tenant_for(self, platform: str, platform_tenant: str) -> str:
        """Map a verified platform tenant id to an askloop tenant (unmapped → default)."""
        return self.tenants.get(f"{platform}:{platform_tenant}", self.default_tenant)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The env names are a fixed, mixed-case contract, so a mapping source replaces
        # pydantic-settings' prefix-based env source.
        return (
            init_settings,
            _EnvContractSource(settings_cls, _environ()),
            _TomlFile(settings_cls, _environ().get("ASKLOOP_CONFIG")),
        )


def _environ() -> Mapping[str, str]:
    return os.environ


class _EnvContractSource(PydanticBaseSettingsSource):
    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        super().__init__(settings_cls)
        self._environ = environ

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        raise NotImplementedError  # __call__ builds the whole dict at once

    def __call__(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for var, path in ENV_VARS.items():
            value = self._environ.get(var)
            if value is None or value == "":
                continue
            node = out
            for part in path[:-1]:
                node = node.setdefault(part, {})
            node[path[-1]] = value
        return out


class _TomlFile(TomlConfigSettingsSource):
    """pydantic-settings' TOML source, with askloop's rules for the file: one named by
    ``ASKLOOP_CONFIG`` must exist and parse (a ``SettingsError`` says which), and a
    relative ``home`` in it is relative to the file, not to the working directory."""

    def __init__(self, settings_cls: type[BaseSettings], path: str | None) -> None:
        if path and not Path(path).expanduser().exists():
            raise SettingsError(f"ASKLOOP_CONFIG names {path}, which does not exist")
        if path and not Path(path).expanduser().is_file():
            raise SettingsError(f"cannot read settings file {path}: it is not a file")
        super().__init__(settings_cls, toml_file=Path(path) if path else None)

    def _read_file(self, file_path: Any) -> dict[str, Any]:
        try:
            data = super()._read_file(file_path)
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise SettingsError(f"cannot read settings file {file_path}: {exc}") from None
        if isinstance(data.get("home"), str):  # anything else fails validation
            home = Path(data["home"]).expanduser()
            data["home"] = home if home.is_absolute() else Path(file_path).parent / home
        return data


def load_settings(**overrides: Any) -> Settings:
    """Build settings from overrides, environment and TOML; raise ``SettingsError`` if invalid."""
    from pydantic import ValidationError

    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'settings'}: {err['msg']}"
            for err in exc.errors()
        )
        raise SettingsError(f"invalid settings: {problems}") from None
