"""askloop settings: the only module that reads environment variables and the TOML file.

Precedence, highest first: keyword arguments to :func:`load_settings`, environment
variables (the names fixed in DESIGN.md), the TOML file named by ``ASKLOOP_CONFIG``,
then the defaults below. Nothing is read at import time.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from askloop.agent.answers import TENANT_NAME
from askloop.agent.context import Policy

__all__ = [
    "ENV_VARS",
    "EmbedderSettings",
    "GraphSettings",
    "ModelSettings",
    "IngestSettings",
    "SearchSettings",
    "ServerSettings",
    "Settings",
    "SettingsError",
    "SlackChannelRule",
    "SlackSettings",
    "TENANT_PATTERN",
    "TeamsSettings",
    "Unmapped",
    "load_settings",
    "model_cache_dir",
    "validate_tenant",
]

TENANT_PATTERN = re.compile(rf"^{TENANT_NAME}$")


def model_cache_dir() -> Path:
    """Where derived model files (the embedder's ONNX export) are cached: shared by
    every ``ASKLOOP_HOME`` of the user, like other model caches (``$XDG_CACHE_HOME``)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "askloop" / "models"


class SettingsError(ValueError):
    """The configuration cannot be used (bad TOML, bad value, unreadable file)."""


def validate_tenant(tenant: str) -> str:
    """Return ``tenant`` if it is a valid askloop tenant name, else raise ``SettingsError``."""
    if not TENANT_PATTERN.match(tenant):
        raise SettingsError(
            f"invalid tenant {tenant!r}: use 1-64 letters, digits, '_', '-' or '.', "
            "starting with a letter or digit"
        )
    return tenant


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EmbedderSettings(_Section):
    #: "local" (all-MiniLM-L6-v2 shipped in a PyPI wheel, offline) or "openai".
    provider: Literal["local", "openai"] = "local"
    #: Model name for the openai provider (ignored by "local").
    model: str = "text-embedding-3-small"
    batch_size: int = Field(default=64, ge=1, le=2048)
    #: Inference threads (ONNX Runtime or torch). 1 is fastest on small shared machines.
    threads: int = Field(default=1, ge=1, le=64)
    #: "onnx": ONNX Runtime from a one-time local export (~3x faster); "torch": PyTorch.
    runtime: Literal["onnx", "torch"] = "onnx"


class IngestSettings(_Section):
    #: Upper bound of a chunk with its title and headings, counted by the embedder's own
    #: tokenizer; capped at what the embedder reads (254 word pieces for MiniLM).
    chunk_tokens: int = Field(default=200, ge=32, le=2000)
    #: Tokens repeated from the end of one chunk at the start of the next.
    chunk_overlap: int = Field(default=30, ge=0, le=500)
    #: Files larger than this are skipped with a warning (embedding them would take hours).
    max_file_mb: float = Field(default=20.0, gt=0)
    #: When set, a file's citation URL is base_url + its path relative to the ingested folder.
    base_url: str | None = None

    @field_validator("chunk_overlap")
    @classmethod
    def _overlap_below_bound(cls, v: int, info: Any) -> int:
        bound = info.data.get("chunk_tokens", 200)
        if v >= bound:
            raise ValueError("chunk_overlap must be smaller than chunk_tokens")
        return v


class SearchSettings(_Section):
    k: int = Field(default=5, ge=1, le=100)
    mode: Literal["hybrid", "keyword", "vector"] = "hybrid"
    #: Hybrid fusion weight of the vector side (0 = keyword only, 1 = vector only).
    alpha: float = Field(default=0.6, ge=0.0, le=1.0)
    #: Candidates fetched from each side before fusion.
    candidates: int = Field(default=50, ge=1, le=1000)


class WeaviateSettings(_Section):
    url: str | None = None
    api_key: SecretStr | None = None
    grpc_host: str | None = None
    grpc_port: int | None = None
    #: Opt-in: run Weaviate as a child process (no WEAVIATE_URL). The client downloads
    #: the binary once, or uses one placed in ``embedded_binary_path`` beforehand.
    embedded: bool = False
    embedded_version: str = "1.30.5"
    #: Where the binary is (or is downloaded to); default ~/.cache/weaviate-embedded.
    embedded_binary_path: Path | None = None
    #: Its data; default ASKLOOP_HOME/weaviate.
    embedded_data_path: Path | None = None
    embedded_port: int = Field(default=8079, ge=1, le=65535)
    embedded_grpc_port: int = Field(default=50050, ge=1, le=65535)


class ModelSettings(_Section):
    #: "provider:model": local:default, anthropic:<model>, openai:<model> or openai:ft:<id>.
    answer: str = "local:default"
    finetuned: str = "local:default"
    #: Per-call timeout and attempts (429/5xx/timeouts are retried with backoff).
    timeout_seconds: float = Field(default=60.0, gt=0)
    max_attempts: int = Field(default=4, ge=1, le=10)
    #: llama.cpp threads of the local model; 1 is fastest on small shared machines.
    local_threads: int = Field(default=1, ge=1, le=64)
    local_context_tokens: int = Field(default=2048, ge=512, le=32768)


#: The ``[graph]`` section is the core's own Policy (one definition of its knobs).
GraphSettings = Policy


class ServerSettings(_Section):
    """``askloop serve``: where it listens and how much answering runs at once."""

    host: str = "127.0.0.1"
    port: int = Field(default=3000, ge=0, le=65535)
    #: Answers generated at once (threads); more queue. Keep low for the local model.
    workers: int = Field(default=4, ge=1, le=64)
    #: On shutdown, how long answers already acknowledged may take to finish.
    shutdown_grace_seconds: float = Field(default=30.0, ge=0)
    #: A conversation's thread memory (the earlier turns follow-ups see) is deleted this
    #: many days after its last turn, hourly; 0 keeps it forever. The answer log stays.
    thread_memory_days: int = Field(default=30, ge=0)


SlackRoute = Literal["retrieve", "rewrite", "finetuned"]

#: What happens to a platform tenant (Slack workspace or org, Microsoft 365 tenant) that
#: [tenants] does not list: "refuse" it on every path, or answer it from default_tenant.
Unmapped = Literal["refuse", "default"]


class SlackChannelRule(_Section):
    """How askloop behaves in one Slack channel, in direct messages ("dm") or in every
    channel without a rule of its own ("*")."""

    #: False: never answer here. ``"*" = {enabled = false}`` turns the listed channels
    #: into an allowlist.
    enabled: bool = True
    #: True: answer only when mentioned, not thread follow-ups without a mention.
    mention_only: bool = False
    #: Slack user ids allowed to ask here; empty = everyone.
    users: tuple[str, ...] = ()
    #: askloop tenant (knowledge-base collection) answering here; unset = the [tenants] map.
    tenant: str | None = None
    #: Routes an answer may take here. Leave out "finetuned" and only the knowledge base
    #: answers (a question it cannot answer gets "not found").
    routes: tuple[SlackRoute, ...] = ("retrieve", "rewrite", "finetuned")

    @field_validator("tenant")
    @classmethod
    def _tenant_ok(cls, v: str | None) -> str | None:
        return None if v is None else validate_tenant(v)

    @field_validator("routes")
    @classmethod
    def _knowledge_base_routes_stay(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if not {"retrieve", "rewrite"} <= set(v):
            raise ValueError(
                'routes must keep "retrieve" and "rewrite" (the knowledge base); '
                'leave out "finetuned" to keep the tuned model from answering'
            )
        return v


class SlackSettings(_Section):
    bot_token: SecretStr | None = None
    signing_secret: SecretStr | None = None
    app_token: SecretStr | None = None
    api_url: str = "https://slack.com/api/"
    #: Ignore messages and mentions posted by other bots and apps (askloop's own always are).
    ignore_bots: bool = True
    #: Seconds between two messages askloop posts or edits in one channel (Slack: ~1/s).
    post_interval_seconds: float = Field(default=1.0, ge=0.0, le=60.0)
    #: An answer still being written after this long is shown as it grows (0 = at once).
    draft_after_seconds: float = Field(default=1.0, ge=0.0, le=600.0)
    #: How a growing answer is shown: "update" posts a draft and edits it (every
    #: workspace); "native" types it into one message with Slack's streaming API
    #: (chat.startStream/appendStream/stopStream), falling back to "update" if refused.
    streaming: Literal["update", "native"] = "update"
    #: Offered when someone opens a new assistant thread with askloop (at most 4 are shown).
    suggested_prompts: tuple[str, ...] = (
        "How many days of annual leave do I get?",
        "How do I file an expense report?",
        "Who do I page when production is down?",
    )
    #: Per-channel rules, keyed by channel id, "dm" (direct messages) or "*" (any other).
    channels: dict[str, SlackChannelRule] = Field(default_factory=dict)
    #: A workspace missing from [tenants]: "refuse" or "default" (answer from
    #: default_tenant). Unset: "refuse" once [tenants] lists any tenant, else "default".
    unmapped: Unmapped | None = None

    @field_validator("suggested_prompts")
    @classmethod
    def _prompts_fit(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if len(v) > 4 or any(not p.strip() or len(p) > 150 for p in v):
            raise ValueError("suggested_prompts takes up to 4 non-empty prompts of <= 150 chars")
        return v

    def rule_for(self, channel: str, *, direct: bool) -> SlackChannelRule:
        """The rule of a channel: its own, else "dm" for direct messages, else "*"."""
        rule = self.channels.get(channel) or (self.channels.get("dm") if direct else None)
        return rule or self.channels.get("*") or SlackChannelRule()


TEAMS_APP_TYPES = ("MultiTenant", "SingleTenant", "UserAssignedMSI")


class TeamsSettings(_Section):
    #: The Azure Bot's app id; empty turns authentication off (local/emulator use only).
    app_id: str = ""
    app_password: SecretStr | None = None
    #: MultiTenant, SingleTenant (needs app_tenant_id) or UserAssignedMSI (needs app_tenant_id).
    app_type: str = "MultiTenant"
    app_tenant_id: str = ""
    #: Bot Framework OpenID metadata URL (default: the public cloud's); tests serve their own.
    openid_metadata: str | None = None
    #: In channels, answer only messages that @mention askloop.
    mention_required_in_channels: bool = True
    #: A Microsoft 365 tenant missing from [tenants]: "refuse" (replies that askloop is
    #: not set up for it) or "default" (answer from default_tenant). Unset: "refuse"
    #: once [tenants] lists any tenant, else "default". Formerly ``unmapped_tenant``.
    unmapped: Unmapped | None = Field(
        default=None, validation_alias=AliasChoices("unmapped", "unmapped_tenant")
    )
    #: Without an app id, /api/messages serves only the Bot Framework Emulator on
    #: loopback; True opens it to anyone who can reach the port (logged at start-up).
    allow_unauthenticated: bool = False
    #: Stream answers in 1:1 chats (group chats and channels always get one message).
    streaming: bool = True
    #: Seconds between two updates of one streamed answer (Teams: about 1/s per stream).
    stream_interval_seconds: float = Field(default=1.0, ge=0.0, le=10.0)
    #: Messages askloop sends into one conversation per second at most (Teams: about 7).
    max_sends_per_second: int = Field(default=7, ge=1, le=50)
    #: 👍/👎 on an answer opens Teams' own form ("default": a free-text comment) or
    #: askloop's ("custom": what was wrong, and the correct answer for training).
    feedback_form: Literal["default", "custom"] = "default"
    #: Questions the welcome message suggests (at most 3 are shown).
    suggested_prompts: tuple[str, ...] = (
        "How many days of annual leave do I get?",
        "How do I file an expense report?",
        "Who do I page when production is down?",
    )

    @field_validator("app_type")
    @classmethod
    def _known_app_type(cls, v: str) -> str:
        for known in TEAMS_APP_TYPES:
            if v.lower() == known.lower():
                return known
        raise ValueError(f"app_type must be one of {', '.join(TEAMS_APP_TYPES)}")

    @field_validator("suggested_prompts")
    @classmethod
    def _teams_prompts_fit(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if any(not p.strip() or len(p) > 150 for p in v):
            raise ValueError("suggested_prompts takes non-empty prompts of <= 150 chars")
        return v

    @model_validator(mode="after")
    def _tenant_for_single_tenant(self) -> TeamsSettings:
        if self.app_id and self.app_type != "MultiTenant" and not self.app_tenant_id:
            raise ValueError(f"app_type {self.app_type} needs app_tenant_id (MicrosoftAppTenantId)")
        return self


class ProviderKeys(_Section):
    anthropic_api_key: SecretStr | None = None
    openai_api_key: SecretStr | None = None
    openai_base_url: str | None = None


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
}


class Settings(BaseSettings):
    """Everything askloop can be configured with. See config/askloop.example.toml."""

    model_config = SettingsConfigDict(extra="forbid", frozen=True)

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
            _TomlSource(settings_cls, _environ().get("ASKLOOP_CONFIG")),
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


class _TomlSource(PydanticBaseSettingsSource):
    def __init__(self, settings_cls: type[BaseSettings], path: str | None) -> None:
        super().__init__(settings_cls)
        self._path = Path(path) if path else None

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        raise NotImplementedError

    def __call__(self) -> dict[str, Any]:
        if self._path is None:
            return {}
        try:
            with self._path.open("rb") as fh:
                data = tomllib.load(fh)
        except FileNotFoundError:
            raise SettingsError(
                f"ASKLOOP_CONFIG names {self._path}, which does not exist"
            ) from None
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise SettingsError(f"cannot read settings file {self._path}: {exc}") from None
        if isinstance(data.get("home"), str):  # anything else fails validation below
            # A relative home in the file is relative to the file, not to the cwd.
            home = Path(data["home"]).expanduser()
            data["home"] = home if home.is_absolute() else self._path.parent / home
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
