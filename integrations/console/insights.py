"""The insights page: answers per day, 👍 rate by route and by channel, the most 👎
questions and the knowledge base's gaps, over the last days (UTC)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from askloop.agent.datasets.examples import question_key
from askloop.integrations.answer_log.reviews import window
from askloop.integrations.console.app import (
    answer_log_of,
    log_call,
    page,
    scope,
    tenant_choices,
)
from askloop.integrations.console.charts import columns, rate_bars

__all__ = ["Insights", "gather", "insights"]

DAYS = 30
TOP = 10


@dataclass
class Insights:
    days: list[tuple[str, int]]
    by_route: dict[str, list[int]] = field(default_factory=dict)
    by_channel: dict[str, list[int]] = field(default_factory=dict)
    #: question key -> (a wording of it, 👎 answers)
    downs: dict[str, list[Any]] = field(default_factory=dict)
    #: question key -> (a wording, times, why -> count)
    gaps: dict[str, list[Any]] = field(default_factory=dict)


def gather(answer_log: Any, *, tenant: str | None, now: datetime, days: int = DAYS) -> Insights:
    """Everything the page shows, read in one pass over the rated answers."""
    since = window(days, now)
    per_day = dict(answer_log.answers_per_day(since=since, tenant=tenant))
    out = Insights(
        days=[
            (d, per_day.get(d, 0))
            for d in ((since + timedelta(days=i)).strftime("%Y-%m-%d") for i in range(days))
        ]
    )
    for item in answer_log.iter_rated(tenant=tenant, since=since):
        if item.rating is None:
            continue
        r = item.record
        channel = f"{r.platform} {r.channel_id}".strip()
        for table, key in ((out.by_route, r.route), (out.by_channel, channel)):
            counts = table.setdefault(key, [0, 0])
            counts[0 if item.rating == "up" else 1] += 1
        if item.rating == "down":
            out.downs.setdefault(question_key(r.question), [r.question, 0])[1] += 1
    for question, why in answer_log.gap_questions(since=since, tenant=tenant):
        entry = out.gaps.setdefault(question_key(question), [question, 0, Counter()])
        entry[1] += 1
        entry[2][why] += 1
    return out


async def insights(request: web.Request) -> web.StreamResponse:
    tenant = scope(request)
    answer_log = answer_log_of(request)
    data = await log_call(request, lambda: gather(answer_log, tenant=tenant, now=datetime.now(UTC)))

    def rows(table: dict[str, list[int]]) -> list[tuple[str, int, int]]:
        ranked = sorted(table.items(), key=lambda kv: (-(kv[1][0] + kv[1][1]), kv[0]))
        return [(k, up, down) for k, (up, down) in ranked[:TOP]]

    downs = sorted(data.downs.values(), key=lambda e: (-e[1], e[0]))[:TOP]
    gaps = sorted(data.gaps.values(), key=lambda e: (-e[1], e[0]))[:TOP]
    return page(
        request,
        "insights.html",
        active="insights",
        tenant=tenant or "",
        tenants=await tenant_choices(request),
        days=DAYS,
        total=sum(n for _, n in data.days),
        per_day=columns(data.days, title=f"Answers per day, last {DAYS} days"),
        by_route=rate_bars(rows(data.by_route), title="👍 rate by route"),
        by_channel=rate_bars(rows(data.by_channel), title="👍 rate by channel"),
        rated=bool(data.by_route),
        downs=[{"question": q, "count": n} for q, n in downs],
        gaps=[
            {"question": q, "count": n, "why": ", ".join(f"{w} ×{c}" for w, c in why.most_common())}
            for q, n, why in gaps
        ],
    )
