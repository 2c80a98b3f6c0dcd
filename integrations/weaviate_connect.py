"""Where Weaviate listens and how askloop connects to it (``WEAVIATE_URL`` + gRPC settings)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from config.settings import SettingsError, WeaviateSettings

__all__ = ["Endpoint", "Timeouts"]

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

    def connect(self, api_key: str | None, timeouts: Timeouts) -> Any:
        """A connected ``WeaviateClient``. Init checks are skipped (they phone PyPI);
        :meth:`WeaviateStore.ping` is the readiness check."""
        import weaviate
        from weaviate.classes.init import AdditionalConfig, Auth, Timeout

        config = AdditionalConfig(
            timeout=Timeout(init=timeouts.init, query=timeouts.query, insert=timeouts.insert)
        )
        auth = Auth.api_key(api_key) if api_key else None
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
