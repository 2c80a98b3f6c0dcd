"""The console's aiohttp sub-application: the door, the templates and the pages' routes.

| path                              | what                                              |
|-----------------------------------|---------------------------------------------------|
| GET  /console/                    | the review queue                                  |
| POST /console/answers/{id}/review | accept / edit / kb_gap / dismiss (CSRF)           |
| GET  /console/answers             | search and filter answers                         |
| GET  /console/answers/{id}        | one answer with its trace, chunks and reviews     |
| GET  /console/insights            | answers per day, 👍 rates, 👎 questions, KB gaps   |
| GET  /console/ask, POST .../ask   | the playground (an NDJSON stream), POST /rate     |
| GET  /console/export, POST        | a dataset download, validated as the CLI does     |
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import web
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from askloop.agent.errors import InvalidInputError, LogUnavailableError, UnknownAnswerError
from askloop.config.sections import SettingsError, validate_tenant
from askloop.integrations.answer_log.sql_log import SqlAnswerLog
from askloop.integrations.console.access import Access, Identity, Refusal
from askloop.integrations.server.runtime import ServerRuntime

__all__ = [
    "IDENTITY",
    "answer_log_of",
    "build_console",
    "identity_of",
    "log_call",
    "mount",
    "page",
    "runtime_of",
    "scope",
    "secure_headers",
    "tenant_choices",
]

log = logging.getLogger(__name__)
T = TypeVar("T")

HERE = Path(__file__).resolve().parent
#: Where the middleware leaves the signed-in reviewer on the request.
IDENTITY: web.RequestKey[Identity] = web.RequestKey("askloop_console_identity", Identity)
_RUNTIME: web.AppKey[ServerRuntime] = web.AppKey("console_runtime", ServerRuntime)
_ACCESS: web.AppKey[Access] = web.AppKey("console_access", Access)
_JINJA: web.AppKey[Environment] = web.AppKey("console_jinja", Environment)

#: Scripts and styles only from the console itself; no frames, no plugins.
_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
_NAV = (
    ("queue", "/console/", "Review queue"),
    ("answers", "/console/answers", "Answers"),
    ("insights", "/console/insights", "Insights"),
    ("ask", "/console/ask", "Ask"),
    ("export", "/console/export", "Export"),
)


def runtime_of(request: web.Request) -> ServerRuntime:
    return request.config_dict[_RUNTIME]


def identity_of(request: web.Request) -> Identity:
    return request[IDENTITY]


def answer_log_of(request: web.Request) -> SqlAnswerLog:
    """The log the console reads and reviews in (askloop's SQL log, the only one)."""
    answer_log = runtime_of(request).services.answer_log
    if not isinstance(answer_log, SqlAnswerLog):
        raise LogUnavailableError("the review console needs askloop's SQL answer log")
    return answer_log


async def log_call(request: web.Request, fn: Callable[..., T], *args: Any) -> T:
    """Call the answer log off the event loop."""
    return await runtime_of(request).assistant.read_log(fn, *args)


def scope(request: web.Request, chosen: str | None = None) -> str | None:
    """The tenant a request may see: a scoped token's own, else the one chosen (None:
    every tenant). ``InvalidInputError`` for a malformed name."""
    identity = identity_of(request)
    if identity.tenant is not None:
        return identity.tenant
    chosen = chosen if chosen is not None else request.query.get("tenant", "")
    if not chosen:
        return None
    try:
        return validate_tenant(chosen)
    except SettingsError as exc:
        raise InvalidInputError(str(exc)) from None


async def tenant_choices(request: web.Request) -> list[str]:
    """The tenants this reviewer may pick from."""
    identity = identity_of(request)
    if identity.tenant is not None:
        return [identity.tenant]
    runtime = runtime_of(request)
    known = await log_call(request, answer_log_of(request).tenants)
    return sorted({*known, runtime.settings.default_tenant})


def page(request: web.Request, template: str, *, status: int = 200, **context: Any) -> web.Response:
    """A rendered page (every value autoescaped)."""
    env = request.config_dict[_JINJA]
    active = context.pop("active", "")
    identity = request.get(IDENTITY)
    html = env.get_template(template).render(
        nav=_NAV,
        active=active,
        identity=identity,
        csrf=identity.csrf if identity else "",
        **context,
    )
    return web.Response(text=html, status=status, content_type="text/html", charset="utf-8")


def secure_headers(response: web.StreamResponse) -> None:
    """The console's security headers (CSP, nosniff, no referrer, no caching)."""
    if response.prepared:  # a stream or a file: its headers are gone already
        return
    response.headers.setdefault("Content-Security-Policy", _CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("Cache-Control", "no-store")


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def _guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    access = request.config_dict[_ACCESS]
    try:
        identity = access.identify(request)
        signed_in = access.sign_in(request, identity)
        if signed_in is not None:
            secure_headers(signed_in)
            return signed_in
        request[IDENTITY] = identity
        if request.method == "POST":
            sent = request.headers.get("X-CSRF-Token")
            if sent is None and request.content_type in (
                "application/x-www-form-urlencoded",
                "multipart/form-data",
            ):
                sent = str((await request.post()).get("csrf") or "")
            access.check_csrf(request, identity, sent)
        response = await handler(request)
    except Refusal as refusal:
        log.warning(
            "console: %s %s refused (%d): %s",
            request.method,
            request.path,
            refusal.status,
            refusal.message,
        )
        response = page(
            request,
            "refused.html",
            status=refusal.status,
            message=refusal.message,
            sign_in=refusal.sign_in,
        )
        if refusal.status == 401:
            response.headers["WWW-Authenticate"] = 'Bearer realm="askloop console"'
    except InvalidInputError as exc:
        log.info("console: %s %s: bad input: %s", request.method, request.path, exc)
        response = page(request, "problem.html", status=400, message=str(exc))
    except UnknownAnswerError:
        log.info("console: %s %s: no such answer", request.method, request.path)
        response = page(request, "problem.html", status=404, message="No such answer.")
    except LogUnavailableError as exc:
        response = page(request, "problem.html", status=503, message=str(exc))
    secure_headers(response)
    return response


def build_console(runtime: ServerRuntime) -> web.Application:
    """The console as a sub-application (mounted at ``/console``)."""
    from askloop.integrations.console import pages, playground

    console = web.Application(middlewares=[_guard])
    console[_RUNTIME] = runtime
    console[_ACCESS] = Access(runtime.settings.console)
    console[_JINJA] = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    pages.add_routes(console)
    playground.add_routes(console)
    console.router.add_static("/static", HERE / "static")
    return console


def mount(app: web.Application, runtime: ServerRuntime) -> None:
    """Serve the console at ``/console/`` of the server's app."""

    async def to_console(_: web.Request) -> web.StreamResponse:
        raise web.HTTPPermanentRedirect("/console/")

    app.router.add_get("/console", to_console)
    app.add_subapp("/console", build_console(runtime))
