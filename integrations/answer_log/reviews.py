"""Console reviews of the answer log, and the review console's queries over it.

A review is an append-only event (``agent.answers.Review``); an answer's latest one
(by time, then row id) is its review state, and its latest gold answer is what exports
teach instead of the raw correction. The queue and the search read the log with both
databases' own SQL; ratings are then worked out exactly as everywhere else
(``rows.logged_answer``), so a page never disagrees with ``askloop log``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from askloop.agent.answers import (
    CORRECTION_MAX_CHARS,
    LoggedAnswer,
    RatingFilter,
    Review,
    Route,
)
from askloop.agent.errors import InvalidInputError, UnknownAnswerError
from askloop.integrations.answer_log.migrations import POSTGRES

if TYPE_CHECKING:
    from askloop.integrations.answer_log.database import SqlDatabase

__all__ = ["AnswerQuery", "ReviewsMixin", "weak_evidence_sql", "window"]


def weak_evidence_sql(postgres: bool) -> str:
    """True for an answer whose decision trace shows weak evidence: the grade found
    the hits poor, or the run gave up."""
    if postgres:
        return (
            "EXISTS (SELECT 1 FROM jsonb_array_elements(answers.trace) t "
            "WHERE t ->> 'node' = 'give_up' "
            "OR (t ->> 'node' = 'grade' AND t ->> 'verdict' = 'poor'))"
        )
    return (
        "EXISTS (SELECT 1 FROM json_each(answers.trace) t "
        "WHERE json_extract(t.value, '$.node') = 'give_up' OR "
        "(json_extract(t.value, '$.node') = 'grade' "
        "AND json_extract(t.value, '$.verdict') = 'poor'))"
    )


_HAS_DOWN = (
    "EXISTS (SELECT 1 FROM feedback_events f WHERE f.answer_id = answers.answer_id "
    "AND f.rating = 'down')"
)
_HAS_RATING = (
    "EXISTS (SELECT 1 FROM feedback_events f WHERE f.answer_id = answers.answer_id "
    "AND f.rating IS NOT NULL)"
)
#: The answer's rating worked out in SQL as ``rows.logged_answer`` works it out, so a
#: filter on it can go into the query and its LIMIT: each user's latest event (by the
#: platform's time, then row id) is their vote unless it cleared the rating; the
#: majority wins and a tie goes to the most recent vote; NULL when no vote stands.
_RATING = (
    "(SELECT CASE WHEN SUM(CASE WHEN v.rating = 'up' THEN 1 ELSE -1 END) > 0 THEN 'up' "
    "WHEN SUM(CASE WHEN v.rating = 'up' THEN 1 ELSE -1 END) < 0 THEN 'down' "
    "ELSE MAX(CASE WHEN v.newest = 1 THEN v.rating END) END FROM "
    "(SELECT u.rating, ROW_NUMBER() OVER (ORDER BY u.at DESC, u.id DESC) AS newest FROM "
    "(SELECT f.rating, f.id, COALESCE(f.rated_at, f.created_at) AS at, "
    "ROW_NUMBER() OVER (PARTITION BY f.user_hash "
    "ORDER BY COALESCE(f.rated_at, f.created_at) DESC, f.id DESC) AS latest "
    "FROM feedback_events f WHERE f.answer_id = answers.answer_id) u "
    "WHERE u.latest = 1 AND u.rating IS NOT NULL) v)"
)
#: Reviewed since the last feedback came in (a new 👎 puts it back in the queue).
_REVIEWED = (
    "EXISTS (SELECT 1 FROM reviews r WHERE r.answer_id = answers.answer_id AND r.created_at >= "
    "COALESCE((SELECT MAX(f.created_at) FROM feedback_events f "
    "WHERE f.answer_id = answers.answer_id), answers.created_at))"
)


@dataclass(frozen=True, slots=True)
class AnswerQuery:
    """The answers page's filters (every one optional)."""

    tenant: str | None = None
    route: Route | None = None
    rating: RatingFilter | None = None
    platform: str | None = None
    channel: str | None = None
    since: datetime | None = None
    #: Exclusive end.
    until: datetime | None = None
    #: Words the question or the answer contains (case-insensitive).
    text: str = ""


class ReviewsMixin:
    """Mixed into ``SqlAnswerLog``; uses its database and answer loading."""

    if TYPE_CHECKING:  # provided by SqlAnswerLog
        _db: SqlDatabase

        def _exists(self, cur: Any, answer_id: str, *, tenant: str | None = None) -> bool: ...

        def _load(
            self,
            cur: Any,
            where: str,
            params: Sequence[Any],
            *,
            limit: int,
            tenant: str | None = None,
            oldest_first: bool = False,
            light: bool = False,
            order: str | None = None,
        ) -> list[LoggedAnswer]: ...

    def add_review(self, review: Review, *, tenant: str | None = None) -> LoggedAnswer:
        """Store a review durably (committed when this returns); the answer as it now is.

        ``UnknownAnswerError`` for an unknown answer or another tenant's;
        ``InvalidInputError`` for a gold answer that is missing, or too long.
        """
        gold = review.gold.strip()
        if review.action in ("accept", "edit") and not gold:
            raise InvalidInputError("a gold answer cannot be empty")
        if review.action not in ("accept", "edit") and gold:
            raise InvalidInputError(f"a {review.action} review carries no gold answer")
        if len(gold) > CORRECTION_MAX_CHARS:
            raise InvalidInputError(
                f"the gold answer is {len(gold):,} characters long; the most askloop takes "
                f"is {CORRECTION_MAX_CHARS:,}"
            )
        with self._db.transaction() as cur:
            if not self._exists(cur, review.answer_id, tenant=tenant):
                raise UnknownAnswerError(f"no answer {review.answer_id!r} to review")
            cur.execute(
                self._db.sql(
                    "INSERT INTO reviews (answer_id, action, gold, reviewer, source, created_at) "
                    "VALUES (?, ?, ?, ?, ?, ?)"
                ),
                (
                    review.answer_id,
                    review.action,
                    gold,
                    review.reviewer,
                    review.source,
                    self._db.ts(review.created_at),
                ),
            )
            return self._load(cur, "answer_id = ?", (review.answer_id,), limit=1)[0]

    def reviews_of(self, answer_id: str, *, tenant: str | None = None) -> list[Review]:
        """Every review of the answer, oldest first."""
        with self._db.transaction() as cur:
            if not self._exists(cur, answer_id, tenant=tenant):
                return []
            cur.execute(
                self._db.sql(
                    "SELECT action, gold, reviewer, source, created_at FROM reviews "
                    "WHERE answer_id = ? ORDER BY created_at, id"
                ),
                (answer_id,),
            )
            rows = cur.fetchall()
        return [
            Review(answer_id, action, reviewer, gold, source, _ts(created))
            for action, gold, reviewer, source, created in rows
        ]

    def _reviews_for(self, cur: Any, ids: Sequence[str]) -> dict[str, tuple[str, str]]:
        """answer_id -> (latest gold answer, latest action) of the reviewed ones."""
        cur.execute(
            self._db.sql(
                "SELECT answer_id, action, gold FROM reviews "
                f"WHERE answer_id IN ({', '.join('?' for _ in ids)}) ORDER BY created_at, id"
            ),
            tuple(ids),
        )
        out: dict[str, tuple[str, str]] = {}
        for answer_id, action, gold in cur.fetchall():
            old_gold = out.get(answer_id, ("", ""))[0]
            out[answer_id] = (gold or old_gold, action)
        return out

    def review_queue(self, *, tenant: str | None = None, limit: int = 50) -> list[LoggedAnswer]:
        """What a reviewer should look at: 👎 answers first, then unrated answers whose
        trace shows weak evidence, newest first in each; answers reviewed since their
        last feedback are done. Withdrawn answers and apologies are left out."""
        if limit < 1:
            raise InvalidInputError("limit must be 1 or more")
        weak = weak_evidence_sql(self._db.dialect is POSTGRES)
        # A 👎 outvoted by later 👍s is not for review.
        where = (
            f"withdrawn_at IS NULL AND error = '' AND NOT {_REVIEWED} AND "
            f"({_HAS_DOWN} OR (NOT {_HAS_RATING} AND {weak})) "
            f"AND COALESCE({_RATING}, 'down') = 'down'"
        )
        order = f"CASE WHEN {_HAS_DOWN} THEN 0 ELSE 1 END, created_at DESC, answer_id"
        with self._db.transaction() as cur:
            return self._load(cur, where, (), tenant=tenant, limit=limit, order=order)

    def find_answers(self, query: AnswerQuery, *, limit: int = 100) -> list[LoggedAnswer]:
        """Newest answers matching every filter of ``query``."""
        if limit < 1:
            raise InvalidInputError("limit must be 1 or more")
        where, params = ["1 = 1"], []
        for column, value in (
            ("route", query.route),
            ("platform", query.platform),
            ("channel_id", query.channel),
        ):
            if value:
                where.append(f"{column} = ?")
                params.append(value)
        if query.since is not None:
            where.append("created_at >= ?")
            params.append(self._db.ts(query.since))
        if query.until is not None:
            where.append("created_at < ?")
            params.append(self._db.ts(query.until))
        for word in query.text.split():
            escaped = word.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            pattern = f"%{escaped}%"
            where.append("(LOWER(question) LIKE ? ESCAPE '\\' OR LOWER(answer) LIKE ? ESCAPE '\\')")
            params += [pattern, pattern]
        if query.rating in ("up", "down"):
            where.append(f"{_RATING} = ?")
            params.append(query.rating)
        elif query.rating == "none":
            where.append(f"{_RATING} IS NULL")
        with self._db.transaction() as cur:
            return self._load(cur, " AND ".join(where), params, tenant=query.tenant, limit=limit)

    def channels(self, *, tenant: str | None = None) -> list[tuple[str, str]]:
        """(platform, channel) pairs that answers were asked in, for the filters."""
        where = "channel_id <> ''"
        params: tuple[str, ...] = ()
        if tenant is not None:
            where, params = f"{where} AND tenant = ?", (tenant,)
        with self._db.transaction() as cur:
            cur.execute(
                self._db.sql(
                    f"SELECT DISTINCT platform, channel_id FROM answers WHERE {where} "
                    "ORDER BY platform, channel_id LIMIT 500"
                ),
                params,
            )
            return [(str(p), str(c)) for p, c in cur.fetchall()]

    def answers_per_day(
        self, *, since: datetime, tenant: str | None = None
    ) -> list[tuple[str, int]]:
        """(YYYY-MM-DD in UTC, answers) for every day with answers since ``since``."""
        if self._db.dialect is POSTGRES:
            day = "to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')"
        else:
            day = "substr(created_at, 1, 10)"
        where, params = "created_at >= ? AND error = ''", [self._db.ts(since)]
        if tenant is not None:
            where += " AND tenant = ?"
            params.append(tenant)
        with self._db.transaction() as cur:
            cur.execute(
                self._db.sql(
                    f"SELECT {day} AS d, COUNT(*) FROM answers WHERE {where} GROUP BY d ORDER BY d"
                ),
                tuple(params),
            )
            return [(str(d), int(n)) for d, n in cur.fetchall()]

    def gap_questions(
        self, *, since: datetime, tenant: str | None = None, limit: int = 2000
    ) -> list[tuple[str, str]]:
        """(question, why) of the newest answers the knowledge base could not give:
        answered by the tuned model (``finetuned``), given up on (``not_found``), or
        marked by a reviewer (``kb_gap``)."""
        give_up = weak_evidence_sql(self._db.dialect is POSTGRES)
        marked = (
            "EXISTS (SELECT 1 FROM reviews r WHERE r.answer_id = answers.answer_id "
            "AND r.action = 'kb_gap')"
        )
        where = f"created_at >= ? AND error = '' AND (route = 'finetuned' OR {give_up} OR {marked})"
        params: list[Any] = [self._db.ts(since)]
        if tenant is not None:
            where += " AND tenant = ?"
            params.append(tenant)
        why = (
            f"CASE WHEN {marked} THEN 'kb_gap' WHEN route = 'finetuned' THEN 'finetuned' "
            "ELSE 'not_found' END"
        )
        with self._db.transaction() as cur:
            cur.execute(
                self._db.sql(
                    f"SELECT question, {why} FROM answers WHERE {where} "
                    f"ORDER BY created_at DESC LIMIT {int(limit)}"
                ),
                tuple(params),
            )
            return [(str(q), str(w)) for q, w in cur.fetchall()]


def window(days: int, now: datetime) -> datetime:
    """The start of the last ``days`` whole days up to ``now`` (UTC midnight)."""
    start = now - timedelta(days=days - 1)
    return start.replace(hour=0, minute=0, second=0, microsecond=0)


def _ts(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)
