"""The settings tables of askloop's own parts (``[embedder]``, ``[ingest]``, ``[search]``,
``[weaviate]``, ``[models]``, ``[graph]``, ``[server]``, the provider keys) and the
tenant-name rule every table shares. Read by :mod:`askloop.config.settings`."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from askloop.agent.answers import TENANT_NAME
from askloop.agent.context import Policy

__all__ = [
    "TENANT_PATTERN",
    "EmbedderSettings",
    "GraphSettings",
    "IngestSettings",
    "ConsoleSettings",
    "ConsoleToken",
    "ModelSettings",
    "ProviderKeys",
    "SearchSettings",
    "Section",
    "ServerSettings",
    "SettingsError",
    "WeaviateSettings",
    "validate_tenant",
]

TENANT_PATTERN = re.compile(rf"^{TENANT_NAME}$")


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


class Section(BaseModel):
    """A settings table: unknown keys are errors, values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class EmbedderSettings(Section):
    #: "local" (all-MiniLM-L6-v2 shipped in a PyPI wheel, offline) or "openai".
    provider: Literal["local", "openai"] = "local"
    #: Model name for the openai provider (ignored by "local").
    model: str = "text-embedding-3-small"
    batch_size: int = Field(default=64, ge=1, le=2048)
    #: Inference threads (ONNX Runtime or torch). 1 is fastest on small shared machines.
    threads: int = Field(default=1, ge=1, le=64)
    #: "onnx": ONNX Runtime from a one-time local export (~3x faster); "torch": PyTorch.
    runtime: Literal["onnx", "torch"] = "onnx"


class IngestSettings(Section):
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


class SearchSettings(Section):
    k: int = Field(default=5, ge=1, le=100)
    mode: Literal["hybrid", "keyword", "vector"] = "hybrid"
    #: Hybrid fusion weight of the vector side (0 = keyword only, 1 = vector only).
    alpha: float = Field(default=0.6, ge=0.0, le=1.0)
    #: Candidates fetched from each side before fusion.
    candidates: int = Field(default=50, ge=1, le=1000)


class WeaviateSettings(Section):
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


class ModelSettings(Section):
    #: "provider:model": local:default, local:PATH (a GGUF file or a folder holding
    #: model.gguf), anthropic:<model>, openai:<model> or openai:ft:<id>.
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


class ServerSettings(Section):
    """``askloop serve``: where it listens and how much answering runs at once."""

    host: str = "127.0.0.1"
    port: int = Field(default=3000, ge=0, le=65535)
    #: Answers generated at once (threads); more queue. Keep low for the local model.
    workers: int = Field(default=4, ge=1, le=64)
    #: On shutdown, how long answers already acknowledged may take to finish.
    shutdown_grace_seconds: float = Field(default=30.0, ge=0)
    #: A question being answered is leased for this long and the lease renewed while
    #: the answer is written; when its server dies, another (or the restarted one)
    #: takes it over once the lease has run out. Longer than a normal answer.
    delivery_lease_seconds: float = Field(default=120.0, ge=1, le=3600)
    #: A conversation's thread memory (the earlier turns follow-ups see) is deleted this
    #: many days after its last turn, hourly; 0 keeps it forever. The answer log stays.
    thread_memory_days: int = Field(default=30, ge=0)


class ProviderKeys(Section):
    anthropic_api_key: SecretStr | None = None
    openai_api_key: SecretStr | None = None
    openai_base_url: str | None = None


class ConsoleToken(Section):
    """A sign-in token of the review console, scoped to one tenant (or to all)."""

    #: Who signs in with it: recorded as the reviewer of every action taken.
    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.@-]*$")
    token: SecretStr
    #: The one tenant it sees; None: every tenant.
    tenant: str | None = None

    @field_validator("token")
    @classmethod
    def _long_enough(cls, v: SecretStr) -> SecretStr:
        if len(v.get_secret_value()) < 16:
            raise ValueError("a console token must be at least 16 characters")
        return v

    @field_validator("tenant")
    @classmethod
    def _tenant_ok(cls, v: str | None) -> str | None:
        return None if v is None else validate_tenant(v)


class ConsoleSettings(Section):
    """The review console at ``/console/`` of ``askloop serve``.

    With no token at all it answers only requests from this machine (loopback, no
    forwarding headers); with any token every request must sign in with one.
    """

    #: ASKLOOP_CONSOLE_TOKEN: signs in to every tenant (reviewer "admin").
    token: SecretStr | None = None
    #: Tenant-scoped tokens ([[console.tokens]] tables).
    tokens: tuple[ConsoleToken, ...] = ()

    @field_validator("token")
    @classmethod
    def _token_long_enough(cls, v: SecretStr | None) -> SecretStr | None:
        if v is not None and len(v.get_secret_value()) < 16:
            raise ValueError("ASKLOOP_CONSOLE_TOKEN must be at least 16 characters")
        return v
