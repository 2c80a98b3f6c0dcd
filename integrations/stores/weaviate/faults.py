"""How Weaviate failures become askloop's typed errors, and which ones are worth a retry.

weaviate-client 4.x retries gRPC ``UNAVAILABLE`` itself, sleeping 1, 2, 4, ... 32 s
(about a minute per search while Weaviate is down), and folds the gRPC status into
``WeaviateQueryError`` text. :func:`surface_grpc_status` wraps the client's gRPC stub so
a failed call raises :class:`GrpcStatusError` with its status code instead: askloop
then fails fast, retries only what is safe with its own bounded backoff, and can tell
a bad API key from an outage.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import grpc
import httpx
from weaviate.exceptions import (
    InsufficientPermissionsError,
    UnexpectedStatusCodeError,
    WeaviateBaseError,
    WeaviateClosedClientError,
    WeaviateConnectionError,
    WeaviateGRPCUnavailableError,
    WeaviateStartUpError,
    WeaviateTimeoutError,
)

from askloop.agent.errors import AskloopError, IncompatibleStoreError, StoreUnavailableError

__all__ = [
    "TRANSLATED",
    "BatchWriteError",
    "GrpcStatusError",
    "is_transient",
    "surface_grpc_status",
    "translate",
]

log = logging.getLogger(__name__)

_KEY_HINT = "check WEAVIATE_API_KEY"


class BatchWriteError(StoreUnavailableError):
    """Some chunks of an upsert were refused by Weaviate; none of them is silently lost."""

    def __init__(self, message: str, *, failed: int, total: int, errors: dict[str, str]) -> None:
        super().__init__(message)
        self.failed = failed
        self.total = total
        #: chunk_id -> Weaviate's reason.
        self.errors = errors


class GrpcStatusError(Exception):
    """A gRPC call to Weaviate failed with ``code`` (not an ``RpcError``: see module doc)."""

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(f"{code.name}: {details}")
        self.code = code
        self.details = details


class _StatusStub:
    """Delegates to the client's ``WeaviateStub``; failed unary calls raise ``GrpcStatusError``."""

    def __init__(self, stub: Any) -> None:
        self._stub = stub

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._stub, name)
        if not callable(method):
            return method

        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return method(*args, **kwargs)
            except grpc.RpcError as exc:
                code = exc.code() if isinstance(exc, grpc.Call) else grpc.StatusCode.UNKNOWN
                details = exc.details() if isinstance(exc, grpc.Call) else str(exc)
                raise GrpcStatusError(code, details or "") from exc

        return call


def surface_grpc_status(client: Any) -> None:
    """Install :class:`_StatusStub` on a connected client (private attribute: pinned client)."""
    connection = getattr(client, "_connection", None)
    stub = getattr(connection, "_grpc_stub", None)
    if stub is None:
        log.warning("weaviate-client internals changed; gRPC errors keep the client's retries")
        return
    if not isinstance(stub, _StatusStub):
        connection._grpc_stub = _StatusStub(stub)  # type: ignore[union-attr]


def is_transient(exc: BaseException) -> bool:
    """Worth another try: the server was unreachable, not slow and not refusing us."""
    if isinstance(exc, GrpcStatusError):
        return exc.code == grpc.StatusCode.UNAVAILABLE
    if isinstance(exc, WeaviateConnectionError | WeaviateGRPCUnavailableError):
        return True
    if isinstance(exc, WeaviateStartUpError):  # connecting failed; not a version mismatch
        return exc.__cause__ is not None and not isinstance(exc.__cause__, WeaviateStartUpError)
    return isinstance(exc, httpx.ConnectError | httpx.RemoteProtocolError)


def _reason(exc: BaseException) -> tuple[type[AskloopError], str]:
    if isinstance(exc, GrpcStatusError):
        if exc.code == grpc.StatusCode.PERMISSION_DENIED:
            return StoreUnavailableError, f"Weaviate denied permission; {_KEY_HINT} and its role"
        if exc.code == grpc.StatusCode.UNAUTHENTICATED:
            return StoreUnavailableError, f"Weaviate rejected the credentials; {_KEY_HINT}"
        if exc.code == grpc.StatusCode.DEADLINE_EXCEEDED:
            return StoreUnavailableError, "Weaviate did not answer in time"
        if exc.code == grpc.StatusCode.UNAVAILABLE:
            return StoreUnavailableError, "Weaviate is unreachable (gRPC unavailable)"
        return StoreUnavailableError, f"Weaviate failed ({exc.code.name})"
    if isinstance(exc, UnexpectedStatusCodeError):  # includes InsufficientPermissionsError
        if isinstance(exc, InsufficientPermissionsError) or exc.status_code == 403:
            return StoreUnavailableError, f"Weaviate denied permission; {_KEY_HINT} and its role"
        if exc.status_code == 401:
            return StoreUnavailableError, f"Weaviate rejected the credentials; {_KEY_HINT}"
        return StoreUnavailableError, f"Weaviate answered HTTP {exc.status_code}"
    if isinstance(exc, WeaviateTimeoutError | httpx.TimeoutException):
        return StoreUnavailableError, "Weaviate did not answer in time"
    if isinstance(exc, WeaviateStartUpError):
        cause = exc.__cause__
        if cause is None or isinstance(cause, WeaviateStartUpError):
            # Raised for an unsupported server version, not for a network failure.
            return IncompatibleStoreError, _unsupported(exc.message)
        return StoreUnavailableError, "Weaviate is unreachable"
    if isinstance(exc, WeaviateGRPCUnavailableError):
        return StoreUnavailableError, "Weaviate's gRPC port does not answer (check the gRPC port)"
    if isinstance(exc, WeaviateConnectionError | WeaviateClosedClientError | httpx.TransportError):
        return StoreUnavailableError, "Weaviate is unreachable"
    return StoreUnavailableError, f"Weaviate failed ({type(exc).__name__})"


def _unsupported(message: str) -> str:
    """askloop's own words for a server the client refuses (its text is only logged)."""
    found = re.search(r"Weaviate version (\d+(?:\.\d+)*) is not supported", message)
    if found:
        return (
            f"this Weaviate cannot be used: version {found.group(1)} is not supported; "
            "upgrade Weaviate"
        )
    return "this Weaviate cannot be used; the details are in askloop's log"


def translate(exc: BaseException, action: str) -> AskloopError:
    """The typed error for ``exc``; its text is short and safe to show, e.g.
    "can't search right now: Weaviate is unreachable"."""
    if isinstance(exc, AskloopError):
        return exc
    kind, reason = _reason(exc)
    log.warning("weaviate: %s failed: %r", action, exc)
    if kind is IncompatibleStoreError:
        return kind(reason)
    return kind(f"can't {action} right now: {reason}")


#: What :func:`translate` maps; anything else is a bug and propagates unchanged.
TRANSLATED: tuple[type[BaseException], ...] = (
    GrpcStatusError,
    WeaviateBaseError,
    httpx.HTTPError,
    grpc.RpcError,
)
