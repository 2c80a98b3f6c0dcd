"""Ask (the same Assistant the platforms use, streamed, with 👍/👎) and Export (the
CLI's own export code and its minimums, as a download)."""

from __future__ import annotations

import asyncio
import logging
import tempfile
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web

from askloop.agent.answers import Progress, Turn
from askloop.agent.datasets.formats import FORMATS
from askloop.agent.errors import AnswerFailedError, InvalidInputError
from askloop.integrations.console.app import (
    answer_log_of,
    identity_of,
    log_call,
    page,
    runtime_of,
    scope,
    secure_headers,
    tenant_choices,
)
from askloop.integrations.export.writer import ExportOptions, export_dataset

__all__ = ["add_routes"]

log = logging.getLogger(__name__)

#: The longest question the playground takes (platforms cut theirs similarly).
MAX_QUESTION = 4000


async def ask_page(request: web.Request) -> web.StreamResponse:
    runtime = runtime_of(request)
    tenant = scope(request) or runtime.settings.default_tenant
    return page(
        request,
        "ask.html",
        active="ask",
        tenants=await tenant_choices(request),
        tenant=tenant,
    )


async def ask(request: web.Request) -> web.StreamResponse:
    """One question; the answer streams back as NDJSON: ``status``/``text`` events as
    the graph works, then ``done`` (the logged answer) or ``error``."""
    runtime = runtime_of(request)
    identity = identity_of(request)
    body = await _json(request)
    question = str(body.get("question") or "").strip()
    if len(question) > MAX_QUESTION:
        raise InvalidInputError(f"the question is longer than {MAX_QUESTION} characters")
    tenant = scope(request, str(body.get("tenant") or "")) or runtime.settings.default_tenant
    turn = Turn(
        question=question,
        tenant=tenant,
        platform="console",
        # Each playground question stands alone: no thread memory shared between them.
        conversation_id=f"console-{uuid.uuid4().hex}",
        user=identity.name,
    )
    response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
    secure_headers(response)
    await response.prepare(request)

    async def send(event: dict[str, Any]) -> None:
        await response.write(orjson.dumps(event) + b"\n")

    async def progress(event: Progress) -> None:
        await send({"kind": event.kind, "text": event.text})

    try:
        record = await runtime.assistant.answer(turn, on_progress=progress)
    except InvalidInputError as exc:
        await send({"kind": "error", "text": str(exc)})
    except AnswerFailedError:
        log.warning("console: an answer failed", exc_info=True)
        await send({"kind": "error", "text": "The answer failed; see askloop's log."})
    else:
        await send(
            {
                "kind": "done",
                "answer_id": record.answer_id,
                "text": record.answer,
                "route": record.route,
                "model": record.model,
                "citations": [
                    {"n": c.n, "title": c.title, "source": c.source, "url": c.url}
                    for c in record.citations
                ],
            }
        )
    await response.write_eof()
    return response


async def rate(request: web.Request) -> web.StreamResponse:
    """👍/👎 on a playground answer, committed before the reply."""
    identity = identity_of(request)
    body = await _json(request)
    rating = body.get("rating")
    if rating not in ("up", "down"):
        raise InvalidInputError("rating must be up or down")
    await runtime_of(request).assistant.rate(
        tenant=identity.tenant,
        answer_id=str(body.get("answer_id") or ""),
        rating=rating,
        user=identity.name,
        source="console",
        platform="console",
        reason=str(body.get("reason") or ""),
        correction=str(body.get("correction") or ""),
    )
    return web.json_response({"saved": True, "rating": rating})


async def _json(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise InvalidInputError("the request body is not JSON") from None
    if not isinstance(body, dict):
        raise InvalidInputError("the request body must be a JSON object")
    return body


async def export_page(request: web.Request, *, status: int = 200, **extra: Any) -> web.Response:
    return page(
        request,
        "export.html",
        status=status,
        active="export",
        formats=[(f.name, f.description, f.minimum) for f in FORMATS.values()],
        tenants=await tenant_choices(request),
        chosen=extra.pop("chosen", {"format": "", "tenant": ""}),
        **{"message": "", **extra},
    )


async def export_form(request: web.Request) -> web.StreamResponse:
    return await export_page(request)


async def export(request: web.Request) -> web.StreamResponse:
    """The dataset as a download; the CLI's refusals (format minimums, KTO labels) as
    the page's message (422)."""
    form = await request.post()
    fmt = str(form.get("format") or "")
    chosen = {"format": fmt, "tenant": str(form.get("tenant") or "")}
    if fmt not in FORMATS:
        raise InvalidInputError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    tenant = scope(request, chosen["tenant"])
    if tenant is None:
        raise InvalidInputError("pick a tenant: every export is of one tenant")
    runtime = runtime_of(request)
    known = await log_call(request, answer_log_of(request).tenants)
    if tenant not in known:
        return await export_page(
            request, status=422, chosen=chosen, message=f"The log holds no answers of {tenant}."
        )
    more = None
    if fmt == "raft":
        from askloop.integrations.cli.export import more_distractors

        more = more_distractors(runtime.services)
    with tempfile.TemporaryDirectory(prefix="askloop-console-export-") as tmp:
        name = f"{fmt}.{tenant}.{datetime.now(UTC):%Y%m%d}.jsonl"
        opts = ExportOptions(fmt=fmt, out=Path(tmp) / name, tenant=tenant)
        # Off the loop and off the log's quick-call threads: an export may take a while.
        report = await asyncio.to_thread(export_dataset, answer_log_of(request), opts, more=more)
        if report.refused:
            return await export_page(
                request, status=422, chosen=chosen, message=f"Not written: {report.refused}."
            )
        who = identity_of(request).name
        log.info("console: %s exported %s of %s (%d examples)", who, fmt, tenant, report.written)
        # Sent from the file (datasets can be large), before the folder is removed.
        response = web.FileResponse(
            opts.out,
            headers={
                "Content-Type": "application/x-ndjson",
                "Content-Disposition": f'attachment; filename="{name}"',
            },
        )
        secure_headers(response)
        await response.prepare(request)
        await response.write_eof()
    return response


def add_routes(app: web.Application) -> None:
    app.router.add_get("/ask", ask_page)
    app.router.add_post("/ask", ask)
    app.router.add_post("/rate", rate)
    app.router.add_get("/export", export_form)
    app.router.add_post("/export", export)
