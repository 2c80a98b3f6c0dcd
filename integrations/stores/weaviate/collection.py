"""The connection to one multi-tenant Weaviate collection.

:class:`TenantCollection` connects on first use (sync client; the async one only for
readiness checks), checks the collection once against askloop's embedder, creates the
collection and tenants on demand, and runs every client call through :meth:`call`,
which retries what is safe and turns Weaviate failures into askloop's typed errors.
The store's reads and writes live in ``store``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from askloop.integrations.stores.weaviate.connect import EmbeddedEndpoint, Endpoint, Timeouts
from askloop.integrations.stores.weaviate.faults import (
    TRANSLATED,
    is_transient,
    surface_grpc_status,
    translate,
)
from askloop.integrations.stores.weaviate.schema import (
    check_compatible,
    collection_spec,
    weaviate_tenant,
)

__all__ = ["TenantCollection"]

log = logging.getLogger(__name__)
T = TypeVar("T")


class TenantCollection:
    """Clients, the collection handle and the tenants known to exist, guarded by a lock."""

    def __init__(
        self,
        endpoint: Endpoint | EmbeddedEndpoint,
        *,
        name: str,
        api_key: str | None,
        embedder_id: str,
        dimensions: int,
        timeouts: Timeouts | None = None,
        attempts: int = 3,
        backoff: float = 0.25,
    ) -> None:
        self.endpoint = endpoint
        self.name = name
        self.api_key = api_key
        self._embedder_id = embedder_id
        self._dimensions = dimensions
        self._timeouts = timeouts or Timeouts()
        self._attempts = attempts
        self._backoff = backoff
        self._client: Any = None
        self._async_client: Any = None
        self._handle: Any = None
        self._tenants: set[str] = set()  # Weaviate tenants known to exist
        self._lock = threading.RLock()

    @property
    def has_client(self) -> bool:
        """Whether the sync client is open."""
        return self._client is not None

    @property
    def has_async_client(self) -> bool:
        """Whether the async client is open."""
        return self._async_client is not None

    def call(self, action: str, call: Callable[[], T], *, retry: bool = False) -> T:
        """``call()``, retried when Weaviate was unreachable if ``retry``; failures become
        askloop's typed errors naming ``action``."""
        try:
            if not retry:
                return call()
            retrying = Retrying(
                stop=stop_after_attempt(self._attempts),
                wait=wait_exponential(multiplier=self._backoff, max=self._backoff * 8),
                retry=retry_if_exception(is_transient),
                reraise=True,
            )
            return retrying(call)
        except TRANSLATED as exc:
            raise translate(exc, action) from exc

    def client(self, action: str) -> Any:
        """The connected sync client."""
        with self._lock:
            if self._client is None:
                client = self.call(
                    action,
                    lambda: self.endpoint.connect(self.api_key, self._timeouts),
                    retry=True,
                )
                surface_grpc_status(client)
                self._client = client
            return self._client

    def async_client(self) -> Any:
        """The async client (made on first use, not yet connected); remote endpoints only."""
        if not isinstance(self.endpoint, Endpoint):
            raise TypeError("an embedded Weaviate has no async client")
        if self._async_client is None:
            self._async_client = self.endpoint.connect_async(self.api_key, self._timeouts)
        return self._async_client

    def handle(self, action: str, *, create: bool) -> Any:
        """The collection handle, checked once; None if it does not exist and not ``create``."""
        with self._lock:
            if self._handle is not None:
                return self._handle
            client = self.client(action)
            exists = self.call(action, lambda: client.collections.exists(self.name), retry=True)
            if not exists:
                if not create:
                    return None
                spec = collection_spec(
                    self.name, embedder_id=self._embedder_id, dimensions=self._dimensions
                )
                try:
                    self.call(action, lambda: client.collections.create(**spec))
                    log.info("created Weaviate collection %s", self.name)
                except Exception:
                    # Another process may have created it meanwhile; if not, re-raise.
                    if not self.call(action, lambda: client.collections.exists(self.name)):
                        raise
            handle = client.collections.use(self.name)
            config = self.call(action, handle.config.get, retry=True)
            check_compatible(config, embedder_id=self._embedder_id, dimensions=self._dimensions)
            self._handle = handle
            return handle

    def tenant(self, tenant: str, action: str, *, create: bool) -> Any:
        """The tenant-bound collection handle, or None if it does not exist and not ``create``."""
        name = weaviate_tenant(tenant)
        handle = self.handle(action, create=create)
        if handle is None:
            return None
        if name not in self._tenants:
            exists = self.call(action, lambda: handle.tenants.exists(name), retry=True)
            if not exists:
                if not create:
                    return None
                try:
                    self.call(action, lambda: handle.tenants.create(name))
                except Exception:
                    if not self.call(action, lambda: handle.tenants.exists(name)):
                        raise
                log.info("created Weaviate tenant %s for askloop tenant %s", name, tenant)
            with self._lock:
                self._tenants.add(name)
        return handle.with_tenant(name)

    def forget_tenant(self, tenant: str) -> None:
        """Check the tenant's existence again on its next use."""
        self._tenants.discard(weaviate_tenant(tenant))

    def drop(self, action: str) -> None:
        """Delete the whole collection with every tenant's objects."""
        client = self.client(action)
        self.call(action, lambda: client.collections.delete(self.name))
        with self._lock:
            self._handle = None
            self._tenants.clear()

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
            self._handle = None
            self._tenants.clear()
        if client is not None:
            try:
                client.close()
            except Exception:  # closing must not mask the caller's own error
                log.warning("closing the Weaviate client failed", exc_info=True)

    async def aclose(self) -> None:
        """Close the async client (on the loop that used it)."""
        client, self._async_client = self._async_client, None
        if client is not None:
            try:
                await client.close()
            except Exception:
                log.warning("closing the async Weaviate client failed", exc_info=True)
