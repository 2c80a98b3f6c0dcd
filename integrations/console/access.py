"""Who may open the console, as whom, and the CSRF check of every state change.

Without any token (``[console]``) the console answers only this machine: a loopback
peer with no forwarding headers (``server.loopback``) that names a loopback host in
``Host`` (a page on another site that rebinds its name to 127.0.0.1 is refused). With
a token set, every request signs in: ``?token=`` once (answered with a session cookie,
HttpOnly and SameSite=Strict, and a redirect that drops the token from the address),
or ``Authorization: Bearer``. The cookie is derived from the token, so every replica
reading the same settings accepts it, and changing a token signs its sessions out.

Every POST carries a CSRF token (a form field or the ``X-CSRF-Token`` header) bound to
the session, and a same-origin ``Origin`` when the browser sends one.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

from aiohttp import web

from askloop.config.sections import ConsoleSettings
from askloop.integrations.server.loopback import is_loopback_host, why_not_local

__all__ = ["COOKIE", "Access", "Identity", "Refusal"]

log = logging.getLogger(__name__)

COOKIE = "askloop_console"
#: Reviewer name of ASKLOOP_CONSOLE_TOKEN and of this machine without a token.
ADMIN, LOCAL = "admin", "local"


@dataclass(frozen=True, slots=True)
class Identity:
    """A signed-in reviewer: the name its actions are recorded as, and the one tenant
    it may see (None: every tenant)."""

    name: str
    tenant: str | None
    #: The CSRF token of this session.
    csrf: str


class Refusal(Exception):
    """Not let in: the HTTP status and a message safe to show."""

    def __init__(self, status: int, message: str, *, sign_in: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.sign_in = sign_in


@dataclass(frozen=True, slots=True)
class _Token:
    name: str
    secret: str
    tenant: str | None


class Access:
    """The console's door, built once from ``[console]``."""

    def __init__(self, settings: ConsoleSettings) -> None:
        tokens = [_Token(t.name, t.token.get_secret_value(), t.tenant) for t in settings.tokens]
        if settings.token is not None:
            tokens.insert(0, _Token(ADMIN, settings.token.get_secret_value(), None))
        self._tokens = tokens
        #: Binds the CSRF token of this machine's token-less sessions to this process.
        self._local_key = secrets.token_bytes(32)

    @property
    def needs_token(self) -> bool:
        return bool(self._tokens)

    def identify(self, request: web.Request) -> Identity:
        """The reviewer behind ``request``; ``Refusal`` when it may not come in."""
        if not self._tokens:
            why = why_not_local(request)
            host = _host_name(request.host or "")
            if why is None and not is_loopback_host(host or "?"):
                why = f"it names the host {host!r}, not this machine"
            if why is not None:
                log.warning("console: refused %s: %s", request.remote, why)
                raise Refusal(
                    403,
                    "The review console answers only this machine unless "
                    "ASKLOOP_CONSOLE_TOKEN is set.",
                )
            return Identity(LOCAL, None, self._csrf(self._local_key, LOCAL))
        offered = _bearer(request) or request.query.get("token")
        if offered is not None:
            token = self._match(offered)
            if token is None:
                log.warning("console: refused %s: a wrong token", request.remote)
                raise Refusal(403, "That console token is not valid.", sign_in=True)
            return self._identity(token)
        cookie = request.cookies.get(COOKIE, "")
        for token in self._tokens:
            if hmac.compare_digest(cookie, self._session(token)):
                return self._identity(token)
        raise Refusal(401, "Sign in with a console token.", sign_in=True)

    def sign_in(self, request: web.Request, identity: Identity) -> web.StreamResponse | None:
        """After ``?token=``: a redirect to the same page without it, setting the cookie.
        None when the request did not sign in that way."""
        if "token" not in request.query or not self._tokens:
            return None
        token = next(t for t in self._tokens if t.name == identity.name)
        rest = [(k, v) for k, v in request.query.items() if k != "token"]
        target = request.path + (f"?{urlencode(rest)}" if rest else "")
        response = web.Response(status=303, headers={"Location": target})
        response.set_cookie(
            COOKIE,
            self._session(token),
            httponly=True,
            samesite="Strict",
            secure=request.secure or request.headers.get("X-Forwarded-Proto") == "https",
            path="/console",
        )
        return response

    def check_csrf(self, request: web.Request, identity: Identity, sent: str | None) -> None:
        """``Refusal`` (403) unless a POST carries this session's CSRF token and, when the
        browser names one, comes from this origin."""
        origin = request.headers.get("Origin")
        if origin is not None:
            # Behind a proxy (token mode only) the browser's host may be the forwarded one.
            hosts = {request.host, *request.headers.getall("X-Forwarded-Host", [])}
            if urlsplit(origin).netloc not in hosts:
                raise Refusal(403, "The request came from another site.")
        if not sent or not hmac.compare_digest(sent, identity.csrf):
            raise Refusal(403, "The form has expired or did not come from this console.")

    def _match(self, offered: str) -> _Token | None:
        found = None
        for token in self._tokens:  # compare with every token: no early exit to time
            if hmac.compare_digest(offered.encode(), token.secret.encode()):
                found = found or token
        return found

    def _identity(self, token: _Token) -> Identity:
        key = hashlib.sha256(b"askloop-console-csrf\x00" + token.secret.encode()).digest()
        return Identity(token.name, token.tenant, self._csrf(key, token.name))

    @staticmethod
    def _session(token: _Token) -> str:
        digest = hmac.new(token.secret.encode(), b"askloop-console-session", "sha256")
        return digest.hexdigest()

    @staticmethod
    def _csrf(key: bytes, name: str) -> str:
        return hmac.new(key, name.encode(), "sha256").hexdigest()


def _bearer(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def _host_name(host: str) -> str:
    """``Host`` without its port (``[::1]:3000`` -> ``[::1]``)."""
    if host.startswith("["):
        return host.partition("]")[0] + "]"
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host
