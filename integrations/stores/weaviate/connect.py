"""Where Weaviate listens and how askloop connects to it (``WEAVIATE_URL`` + gRPC settings)."""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from askloop.agent.errors import StoreUnavailableError
from askloop.config.settings import SettingsError, WeaviateSettings

__all__ = ["EmbeddedEndpoint", "Endpoint", "Timeouts", "embedded_binary_name"]

log = logging.getLogger(__name__)

_VERSION = re.compile(r"^v?\d+\.\d+\.\d+$")

#: Weaviate Cloud clusters; their gRPC host is derived by ``connect_to_weaviate_cloud``.
_CLOUD_DOMAINS = (".weaviate.cloud", ".weaviate.network")


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Seconds: connecting (``init``), each search or read, each batch write or delete."""

    init: float = 5.0
    query: float = 15.0
    insert: float = 60.0


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where Weaviate listens, parsed from ``WEAVIATE_URL`` and the gRPC settings."""

    url: str
    http_host: str
    http_port: int
    http_secure: bool
    grpc_host: str
    grpc_port: int
    grpc_secure: bool
    cloud: bool

    @classmethod
    def from_settings(cls, settings: WeaviateSettings) -> Endpoint:
        if not settings.url:
            raise SettingsError("WEAVIATE_URL is not set")
        parts = urlsplit(settings.url.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise SettingsError(
                f"WEAVIATE_URL must look like http://host:8080 or https://host: {settings.url!r}"
            )
        secure = parts.scheme == "https"
        try:
            port = parts.port or (443 if secure else 80)
        except ValueError:
            raise SettingsError(f"WEAVIATE_URL has a bad port: {settings.url!r}") from None
        host = parts.hostname
        return cls(
            url=settings.url,
            http_host=host,
            http_port=port,
            http_secure=secure,
            grpc_host=settings.grpc_host or host,
            grpc_port=settings.grpc_port or 50051,
            grpc_secure=secure,
            cloud=host.endswith(_CLOUD_DOMAINS),
        )

    def connect_async(self, api_key: str | None, timeouts: Timeouts) -> Any:
        """An unconnected ``WeaviateAsyncClient`` (``await client.connect()``), for code
        that runs on an event loop (the server's readiness checks)."""
        import weaviate

        config, auth = _client_options(api_key, timeouts)
        if self.cloud:
            if auth is None:
                raise SettingsError("Weaviate Cloud needs WEAVIATE_API_KEY")
            return weaviate.use_async_with_weaviate_cloud(
                cluster_url=self.http_host,
                auth_credentials=auth,
                additional_config=config,
                skip_init_checks=True,
            )
        return weaviate.use_async_with_custom(
            http_host=self.http_host,
            http_port=self.http_port,
            http_secure=self.http_secure,
            grpc_host=self.grpc_host,
            grpc_port=self.grpc_port,
            grpc_secure=self.grpc_secure,
            auth_credentials=auth,
            additional_config=config,
            skip_init_checks=True,
        )

    def connect(self, api_key: str | None, timeouts: Timeouts) -> Any:
        """A connected ``WeaviateClient``. Init checks are skipped (they phone PyPI);
        :meth:`WeaviateStore.ping` is the readiness check."""
        import weaviate

        config, auth = _client_options(api_key, timeouts)
        if self.cloud:
            if auth is None:
                raise SettingsError("Weaviate Cloud needs WEAVIATE_API_KEY")
            return weaviate.connect_to_weaviate_cloud(
                cluster_url=self.http_host,
                auth_credentials=auth,
                additional_config=config,
                skip_init_checks=True,
            )
        return weaviate.connect_to_custom(
            http_host=self.http_host,
            http_port=self.http_port,
            http_secure=self.http_secure,
            grpc_host=self.grpc_host,
            grpc_port=self.grpc_port,
            grpc_secure=self.grpc_secure,
            auth_credentials=auth,
            additional_config=config,
            skip_init_checks=True,
        )


def _client_options(api_key: str | None, timeouts: Timeouts) -> tuple[Any, Any]:
    from weaviate.classes.init import AdditionalConfig, Auth, Timeout

    config = AdditionalConfig(
        timeout=Timeout(init=timeouts.init, query=timeouts.query, insert=timeouts.insert)
    )
    return config, Auth.api_key(api_key) if api_key else None


def embedded_binary_name(version: str) -> str:
    """The file name weaviate-client looks for before downloading a release."""
    tag = f"v{version.removeprefix('v')}"
    return f"weaviate-{tag}-{hashlib.sha256(tag.encode()).hexdigest()}"


@dataclass(frozen=True, slots=True)
class EmbeddedEndpoint:
    """Weaviate as a child process (``weaviate.embedded = true``), started on connect
    and stopped when the client closes."""

    version: str
    binary_path: Path
    data_path: Path
    port: int
    grpc_port: int

    @classmethod
    def from_settings(cls, settings: WeaviateSettings, home: Path) -> EmbeddedEndpoint:
        if settings.url:
            raise SettingsError("set either WEAVIATE_URL or weaviate.embedded, not both")
        if not _VERSION.match(settings.embedded_version):
            raise SettingsError(
                f"weaviate.embedded_version must look like 1.30.5: {settings.embedded_version!r}"
            )
        binary = settings.embedded_binary_path or Path.home() / ".cache" / "weaviate-embedded"
        return cls(
            version=settings.embedded_version.removeprefix("v"),
            binary_path=binary.expanduser(),
            data_path=(settings.embedded_data_path or home / "weaviate").expanduser(),
            port=settings.embedded_port,
            grpc_port=settings.embedded_grpc_port,
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def binary(self) -> Path:
        return self.binary_path / embedded_binary_name(self.version)

    def connect(self, api_key: str | None, timeouts: Timeouts) -> Any:
        import weaviate
        from weaviate.classes.init import AdditionalConfig, Timeout

        if not self.binary.exists():
            log.warning(
                "embedded Weaviate %s is not in %s; the client will try to download it",
                self.version,
                self.binary_path,
            )
        self.data_path.mkdir(parents=True, exist_ok=True)
        config = AdditionalConfig(
            timeout=Timeout(init=timeouts.init, query=timeouts.query, insert=timeouts.insert)
        )
        try:
            return weaviate.connect_to_embedded(
                port=self.port,
                grpc_port=self.grpc_port,
                version=self.version,
                persistence_data_path=str(self.data_path),
                binary_path=str(self.binary_path),
                additional_config=config,
                # The askloop tenant model needs multi-tenancy; nothing else is enabled.
                environment_variables={"ENABLE_MODULES": "", "DISABLE_TELEMETRY": "true"},
            )
        except OSError as exc:  # the download failed (offline) or the binary won't run
            log.warning("starting embedded Weaviate %s failed: %r", self.version, exc)
            raise StoreUnavailableError(
                f"cannot start embedded Weaviate {self.version} (the reason is in askloop's "
                f"log). Without network, place the release binary at {self.binary} or set "
                "WEAVIATE_URL"
            ) from exc
