"""The review pages: the queue and its actions, the answers search, one answer."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from askloop.agent.answers import LoggedAnswer, Review
from askloop.agent.errors import InvalidInputError, UnknownAnswerError
from askloop.integrations.answer_log.reviews import AnswerQuery
from askloop.integrations.console.app import (
    answer_log_of,
    identity_of,
    log_call,
    page,
    scope,
    tenant_choices,
)

__all__ = ["add_routes", "answer_view", "weak_evidence"]

QUEUE_SIZE = 50
PAGE_SIZE = 100
#: The most one page lists (``?limit=``; "show more" doubles it up to this).
MAX_ROWS = 1000
ACTIONS = ("accept", "edit", "kb_gap", "dismiss")
ROUTES = ("retrieve", "rewrite", "finetuned")
RATINGS = ("up", "down", "none")


def weak_evidence(item: LoggedAnswer) -> bool:
    """The grade found the hits poor, or the run gave up (as the queue's SQL reads it)."""
    return any(
        s.node == "give_up" or (s.node == "grade" and s.verdict == "poor")
        for s in item.record.trace
    )


def answer_view(item: LoggedAnswer) -> dict[str, Any]:
    """What the templates show of an answer (text stays text: Jinja escapes it)."""
    r = item.record
    cited = {c.chunk_id for c in r.citations}
    return {
        "id": r.answer_id,
        "tenant": r.tenant,
        "platform": r.platform,
        "channel": r.channel_id,
        "question": r.question,
        "answer": r.answer,
        "route": r.route,
        "rewrites": r.rewrites,
        "model": r.model,
        "created": r.created_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "rating": item.rating or "",
        "ups": item.ups,
        "downs": item.downs,
        "reason": item.reason,
        "correction": item.correction,
        "gold": item.gold,
        "review": item.review,
        "withdrawn": item.withdrawn,
        "error": r.error,
        "weak": weak_evidence(item),
        "queries": list(r.queries),
        "trace": [
            {
                "node": s.node,
                "verdict": s.verdict,
                "ms": f"{s.ms:.0f}",
                "detail": ", ".join(f"{k}={_short(v)}" for k, v in s.detail.items()),
            }
            for s in r.trace
        ],
        "retrieved": [
            {
                "title": c.title,
                "source": c.source,
                "score": f"{c.score:.3f}",
                "text": c.text,
                "cited": c.chunk_id in cited,
            }
            for c in r.retrieved
        ],
        "citations": [{"n": c.n, "title": c.title, "source": c.source} for c in r.citations],
    }


def _limit(request: web.Request, default: int) -> int:
    text = request.query.get("limit", "")
    if not text:
        return default
    if not text.isdigit() or not 1 <= int(text) <= MAX_ROWS:
        raise InvalidInputError(f"limit must be a whole number from 1 to {MAX_ROWS}")
    return int(text)


def _more(request: web.Request, shown: int, limit: int) -> str:
    """The address of the same page listing twice as many, or "" when all are shown."""
    if shown < limit or limit >= MAX_ROWS:
        return ""
    query = {k: v for k, v in request.query.items() if k not in ("limit", "saved")}
    query["limit"] = str(min(limit * 2, MAX_ROWS))
    return f"{request.path}?{urlencode(query)}"


def _short(value: Any, limit: int = 160) -> str:
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


async def queue(request: web.Request) -> web.StreamResponse:
    tenant = scope(request)
    limit = _limit(request, QUEUE_SIZE)
    answer_log = answer_log_of(request)
    items = await log_call(request, lambda: answer_log.review_queue(tenant=tenant, limit=limit))
    return page(
        request,
        "queue.html",
        active="queue",
        items=[answer_view(a) for a in items],
        tenants=await tenant_choices(request),
        tenant=tenant or "",
        saved=request.query.get("saved", ""),
        here=request.path_qs,
        more=_more(request, len(items), limit),
    )


async def review(request: web.Request) -> web.StreamResponse:
    """Store a reviewer's action (committed before the redirect says saved)."""
    identity = identity_of(request)
    form = await request.post()
    action = str(form.get("action") or "")
    if action not in ACTIONS:
        raise InvalidInputError(f"unknown review action {action!r}")
    answer_id = request.match_info["answer_id"]
    answer_log = answer_log_of(request)
    gold = ""
    if action == "accept":
        current = await log_call(
            request, lambda: answer_log.get_answer(answer_id, tenant=identity.tenant)
        )
        if current is None:
            raise UnknownAnswerError(answer_id)
        gold = current.correction
        if not gold.strip():
            raise InvalidInputError("this answer has no correction to accept: edit one instead")
    elif action == "edit":
        gold = str(form.get("gold") or "")
    event = Review(answer_id, action, identity.name, gold=gold)  # type: ignore[arg-type]
    await log_call(request, lambda: answer_log.add_review(event, tenant=identity.tenant))
    back = str(form.get("next") or "/console/")
    if not back.startswith("/console/") or back.startswith("//"):
        back = "/console/"
    path, _, query = back.partition("?")
    kept = [p for p in query.split("&") if p and not p.startswith("saved=")]
    kept.append(urlencode({"saved": f"{action}:{answer_id}"}))
    raise web.HTTPSeeOther(f"{path}?{'&'.join(kept)}")


def _day(text: str, name: str) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidInputError(f"{name} must be a date like 2026-11-30") from None


def _query(request: web.Request) -> tuple[AnswerQuery, dict[str, str]]:
    q = request.query
    route = q.get("route", "")
    rating = q.get("rating", "")
    if route and route not in ROUTES:
        raise InvalidInputError(f"route must be one of {', '.join(ROUTES)}")
    if rating and rating not in RATINGS:
        raise InvalidInputError(f"rating must be one of {', '.join(RATINGS)}")
    since, until = _day(q.get("since", ""), "since"), _day(q.get("until", ""), "until")
    chosen = {
        k: q.get(k, "").strip()
        for k in ("tenant", "route", "rating", "platform", "channel", "since", "until", "q")
    }
    tenant = scope(request)
    chosen["tenant"] = tenant or ""
    query = AnswerQuery(
        tenant=tenant,
        route=route or None,  # type: ignore[arg-type]
        rating=rating or None,  # type: ignore[arg-type]
        platform=chosen["platform"] or None,
        channel=chosen["channel"] or None,
        since=datetime.combine(since, datetime.min.time(), UTC) if since else None,
        until=datetime.combine(until + timedelta(days=1), datetime.min.time(), UTC)
        if until
        else None,
        text=chosen["q"],
    )
    return query, chosen


async def answers(request: web.Request) -> web.StreamResponse:
    query, chosen = _query(request)
    limit = _limit(request, PAGE_SIZE)
    answer_log = answer_log_of(request)
    found = await log_call(request, lambda: answer_log.find_answers(query, limit=limit))
    channels = await log_call(request, lambda: answer_log.channels(tenant=query.tenant))
    return page(
        request,
        "answers.html",
        active="answers",
        items=[answer_view(a) for a in found],
        chosen=chosen,
        tenants=await tenant_choices(request),
        routes=ROUTES,
        ratings=RATINGS,
        platforms=sorted({p for p, _ in channels} | {"slack", "teams", "cli", "console"}),
        channels=channels,
        limit=limit,
        more=_more(request, len(found), limit),
    )


async def answer(request: web.Request) -> web.StreamResponse:
    identity = identity_of(request)
    answer_id = request.match_info["answer_id"]
    answer_log = answer_log_of(request)
    found = await log_call(
        request, lambda: answer_log.get_answer(answer_id, tenant=identity.tenant)
    )
    if found is None:
        raise UnknownAnswerError(answer_id)
    reviews = await log_call(
        request, lambda: answer_log.reviews_of(answer_id, tenant=identity.tenant)
    )
    return page(
        request,
        "answer.html",
        active="answers",
        item=answer_view(found),
        reviews=[
            {
                "action": r.action,
                "reviewer": r.reviewer,
                "gold": r.gold,
                "source": r.source,
                "when": r.created_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
            }
            for r in reviews
        ],
        saved=request.query.get("saved", ""),
        here=request.path_qs,
    )


def add_routes(app: web.Application) -> None:
    from askloop.integrations.console.insights import insights

    app.router.add_get("/", queue)
    app.router.add_get("/answers", answers)
    app.router.add_get("/answers/{answer_id}", answer)
    app.router.add_post("/answers/{answer_id}/review", review)
    app.router.add_get("/insights", insights)
