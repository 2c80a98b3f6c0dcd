"""Bot Framework authentication, both ways.

Inbound: every request must carry a Bot Framework JWT (issuer, audience = app id,
signing key from the OpenID metadata and endorsed for the channel, ``serviceurl`` claim
= the activity's ``serviceUrl``). botbuilder validates it; :class:`RequestAuthenticator`
turns *every* way that fails into :class:`NotAuthenticatedError` (botbuilder itself
answers 500 for expired tokens, unknown key ids or bad signatures).

Outbound: replies carry an Azure AD token that botbuilder fetches with blocking msal
calls on the event loop, through a fresh credentials object (so a fresh token cache)
per turn. :class:`_CachingCredentialsFactory` keeps one credentials object per scope
and fetches its token on a thread; Connector clients are shared across turns
(:mod:`integrations.teams.connectors`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

import jwt
import requests
from botbuilder.integration.aiohttp import ConfigurationBotFrameworkAuthentication
from botbuilder.schema import Activity, CallerIdConstants
from botframework.connector.auth import (
    AuthenticateRequestResult,
    AuthenticationConstants,
    BotFrameworkAuthentication,
    ClaimsIdentity,
    ConnectorFactory,
    JwtTokenExtractor,
    ManagedIdentityServiceClientCredentialsFactory,
    PasswordServiceClientCredentialFactory,
    ServiceClientCredentialsFactory,
)
from msrest.authentication import Authentication

from askloop.config.settings import TeamsSettings
from askloop.integrations.teams.connectors import SharedConnectors

__all__ = [
    "NotAuthenticatedError",
    "RequestAuthenticator",
    "acquire_token",
    "build_authentication",
    "metadata_url",
]

log = logging.getLogger(__name__)

#: botbuilder itself refreshes the signing keys when they are a day old.
_KEYS_REFRESH_AFTER = timedelta(hours=23)
_UNKNOWN_KID_REFRESH_AFTER = timedelta(minutes=5)
#: A fetched token is reused this long; msal hands out tokens valid >= 5 more minutes.
_TOKEN_REUSE_SECONDS = 240.0


class NotAuthenticatedError(Exception):
    """The request does not carry a valid Bot Framework token (answer 401)."""


def acquire_token(credentials: Any) -> str:
    """Blocking: msal asks Azure AD (or its cache) for a Bot Connector token.

    The one place askloop talks to Azure AD; tests replace it.
    """
    token: str = credentials.get_access_token()
    return token


class _OffLoopCredentials(Authentication):
    """botbuilder's app credentials with the token fetched on a thread beforehand."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self._token = ""
        self._fetched_at = float("-inf")
        self._lock = asyncio.Lock()

    def __getattr__(self, name: str) -> Any:
        if name == "_inner":  # not set yet
            raise AttributeError(name)
        return getattr(self._inner, name)

    def _fresh(self) -> bool:
        return bool(self._token) and time.monotonic() - self._fetched_at < _TOKEN_REUSE_SECONDS

    async def refresh(self) -> None:
        """Fetch a token on a thread unless the one held is fresh; never raises (a
        failure shows again, loudly, when a reply is signed; an invoke must still be
        answered)."""
        if self._fresh():
            return
        async with self._lock:
            if self._fresh():
                return
            try:
                self._token = await asyncio.to_thread(acquire_token, self._inner)
            except Exception as exc:
                log.error("teams: no Bot Connector token from Azure AD: %s", exc)
                return
            self._fetched_at = time.monotonic()

    def signed_session(self, session: requests.Session | None = None) -> requests.Session:
        session = session or requests.Session()
        # Only a turn that outlived the reuse window fetches on the loop (msal's cache).
        token = self._token if self._fresh() else acquire_token(self._inner)
        session.headers["Authorization"] = f"Bearer {token}"
        return session


class _CachingCredentialsFactory(ServiceClientCredentialsFactory):
    def __init__(self, inner: ServiceClientCredentialsFactory) -> None:
        self._inner = inner
        self._credentials: dict[tuple[Any, ...], _OffLoopCredentials] = {}

    async def is_valid_app_id(self, app_id: str) -> bool:
        return bool(await self._inner.is_valid_app_id(app_id))

    async def is_authentication_disabled(self) -> bool:
        return bool(await self._inner.is_authentication_disabled())

    async def create_credentials(
        self, app_id: str, oauth_scope: str, login_endpoint: str, validate_authority: bool
    ) -> Authentication:
        if await self.is_authentication_disabled():
            return await self._inner.create_credentials(
                app_id, oauth_scope, login_endpoint, validate_authority
            )
        key = (app_id, oauth_scope, login_endpoint, validate_authority)
        credentials = self._credentials.get(key)
        if credentials is None:
            inner = await self._inner.create_credentials(
                app_id, oauth_scope, login_endpoint, validate_authority
            )
            credentials = self._credentials.setdefault(key, _OffLoopCredentials(inner))
        await credentials.refresh()
        return credentials

    async def aclose(self) -> None:
        """Close the HTTP sessions msal opened for the cached credentials."""
        for credentials in self._credentials.values():
            app = getattr(credentials._inner, "app", None)
            close = getattr(getattr(app, "http_client", None), "close", None)
            if callable(close):
                close()
        self._credentials.clear()


def _credentials_factory(settings: TeamsSettings) -> ServiceClientCredentialsFactory:
    app_id = settings.app_id or None
    if settings.app_type == "UserAssignedMSI":
        return ManagedIdentityServiceClientCredentialsFactory(app_id)
    password = settings.app_password.get_secret_value() if settings.app_password else None
    tenant = settings.app_tenant_id if settings.app_type == "SingleTenant" else None
    return PasswordServiceClientCredentialFactory(app_id, password, tenant)


class _Authentication(ConfigurationBotFrameworkAuthentication):
    """Shares Connector clients and user-token clients across turns (botbuilder builds
    both anew for every activity)."""

    def __init__(self, configuration: Any, *, credentials_factory: _CachingCredentialsFactory):
        super().__init__(configuration, credentials_factory=credentials_factory)
        self._credentials_factory = credentials_factory
        self._connectors = SharedConnectors()
        self._user_token_clients: dict[str, Any] = {}

    async def authenticate_request(
        self, activity: Activity, auth_header: str | None
    ) -> AuthenticateRequestResult:
        result: AuthenticateRequestResult = await super().authenticate_request(
            activity, auth_header
        )
        if result.connector_factory is not None:
            result.connector_factory = self._connectors.wrap(result.connector_factory)
        return result

    def create_connector_factory(self, claims_identity: ClaimsIdentity) -> ConnectorFactory:
        return self._connectors.wrap(super().create_connector_factory(claims_identity))

    async def create_user_token_client(self, claims_identity: ClaimsIdentity) -> Any:
        claims = claims_identity.claims or {}
        key = str(claims.get("aud") or claims.get("appid") or "")
        client = self._user_token_clients.get(key)
        if client is None:
            client = await super().create_user_token_client(claims_identity)
            client = self._user_token_clients.setdefault(key, client)
        return client

    async def aclose(self) -> None:
        await self._connectors.aclose()
        await self._credentials_factory.aclose()


def metadata_url(settings: TeamsSettings) -> str:
    """Where the Bot Framework publishes its signing keys (``BOTFRAMEWORK_OPENID_METADATA``)."""
    return (
        settings.openid_metadata or AuthenticationConstants.TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL
    )


def build_authentication(
    settings: TeamsSettings,
) -> tuple[BotFrameworkAuthentication, Callable[[], Awaitable[None]]]:
    """The public-cloud Bot Framework authentication (with the OpenID metadata URL of
    ``BOTFRAMEWORK_OPENID_METADATA`` when set) and the coroutine that closes it."""
    constants = AuthenticationConstants
    configuration = SimpleNamespace(
        VALIDATE_AUTHORITY=True,
        TO_CHANNEL_FROM_BOT_LOGIN_URL=constants.TO_CHANNEL_FROM_BOT_LOGIN_URL_PREFIX,
        TO_CHANNEL_FROM_BOT_OAUTH_SCOPE=constants.TO_CHANNEL_FROM_BOT_OAUTH_SCOPE,
        TO_BOT_FROM_CHANNEL_TOKEN_ISSUER=constants.TO_BOT_FROM_CHANNEL_TOKEN_ISSUER,
        OAUTH_URL=constants.OAUTH_URL,
        TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL=metadata_url(settings),
        TO_BOT_FROM_EMULATOR_OPENID_METADATA_URL=constants.TO_BOT_FROM_EMULATOR_OPENID_METADATA_URL,
        CALLER_ID=CallerIdConstants.public_azure_channel,
    )
    factory = _CachingCredentialsFactory(_credentials_factory(settings))
    authentication = _Authentication(configuration, credentials_factory=factory)
    return authentication, authentication.aclose


class _SigningKeys:
    """Refreshes botbuilder's cached OpenID metadata (the token signing keys) on a thread.

    botbuilder refreshes it once a day with blocking ``requests`` calls (no timeout) on
    the event loop, inside whichever request comes first; doing it beforehand on a
    thread keeps the loop, and Slack with it, free. A token signed with a key id the
    cache lacks (Microsoft rotated its keys) also refreshes it, at most every few
    minutes; botbuilder alone would refuse such tokens until its daily refresh. Should
    botbuilder's cache change shape, its own refresh still applies.
    """

    def __init__(self, metadata_url: str) -> None:
        self._url = metadata_url
        self._lock = asyncio.Lock()

    def _stale(self, metadata: Any, kid: str | None) -> bool:
        last = getattr(metadata, "last_updated", None)
        if not isinstance(last, datetime):
            return False
        age = datetime.now() - last
        if age > _KEYS_REFRESH_AFTER:
            return True
        known = {k.get("kid") for k in getattr(metadata, "keys", None) or [] if isinstance(k, dict)}
        return kid is not None and kid not in known and age > _UNKNOWN_KID_REFRESH_AFTER

    async def ensure_fresh(self, authorization: str) -> None:
        metadata = JwtTokenExtractor.get_open_id_metadata(self._url)
        refresh = getattr(metadata, "_refresh", None)
        kid = _key_id(authorization)
        if refresh is None or not self._stale(metadata, kid):
            return
        async with self._lock:
            if not self._stale(metadata, kid):
                return
            try:
                await asyncio.to_thread(lambda: asyncio.run(refresh()))
            except Exception as exc:
                log.warning("teams: cannot fetch the OpenID metadata at %s: %s", self._url, exc)


def _key_id(authorization: str) -> str | None:
    try:
        kid = jwt.get_unverified_header(authorization.split(" ", 1)[-1]).get("kid")
    except jwt.PyJWTError:
        return None
    return kid if isinstance(kid, str) else None


class RequestAuthenticator:
    """Checks an inbound request; with no app id configured, every request passes."""

    def __init__(
        self,
        authentication: BotFrameworkAuthentication,
        *,
        enabled: bool,
        openid_metadata: str = AuthenticationConstants.TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL,
    ) -> None:
        self._authentication = authentication
        self._keys = _SigningKeys(openid_metadata)
        self.enabled = enabled

    async def authenticate(
        self, activity: Activity, authorization: str | None
    ) -> AuthenticateRequestResult:
        """The authenticated identity of the request; ``NotAuthenticatedError`` else."""
        if self.enabled and not authorization:
            raise NotAuthenticatedError("no Authorization header")
        header = authorization if self.enabled else None
        if header:
            await self._keys.ensure_fresh(header)
        try:
            result: AuthenticateRequestResult = await self._authentication.authenticate_request(
                activity, header
            )
        except Exception as exc:
            raise NotAuthenticatedError(f"{type(exc).__name__}: {exc}") from exc
        return result
