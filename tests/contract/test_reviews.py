"""Console reviews and the console's queries, on SQLite and the machine's PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest

from askloop.agent.answers import Review, TraceStep
from askloop.agent.errors import InvalidInputError, UnknownAnswerError
from askloop.integrations.answer_log.reviews import AnswerQuery
from askloop.integrations.export.writer import ExportOptions, export_dataset
from tests.contract.test_answer_log import answer_log, rate, record  # noqa: F401
from tests.export_fixture import CTX_VERSIONS

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
POOR = (
    TraceStep(node="route", verdict="retrieve", ms=1.0),
    TraceStep(node="grade", verdict="poor", ms=1.0, detail={"reason": "weak"}),
)
GOOD = (
    TraceStep(node="route", verdict="retrieve", ms=1.0),
    TraceStep(node="grade", verdict="good", ms=1.0),
)
GAVE_UP = (TraceStep(node="give_up", verdict="not_found", ms=1.0),)


def fill(log) -> None:
    log.save_answer(record("down-old", minutes=1, trace=GOOD))
    log.save_answer(record("down-new", minutes=5, trace=GOOD))
    log.save_answer(record("weak-old", minutes=2, trace=POOR))
    log.save_answer(record("weak-new", minutes=6, trace=GAVE_UP))
    log.save_answer(record("strong", minutes=7, trace=GOOD))
    log.save_answer(record("liked-weak", minutes=8, trace=POOR))
    log.save_answer(record("other-tenant", tenant="globex", minutes=9, trace=POOR))
    log.save_answer(record("apology", minutes=10, trace=POOR, error="store_unavailable"))
    rate(log, "u1", "down", "down-old", correction="30 days")
    rate(log, "u1", "down", "down-new", reason="outdated", correction="28 days")
    rate(log, "u1", "up", "liked-weak")


def ids(items) -> list[str]:
    return [a.record.answer_id for a in items]


def test_the_queue_puts_thumbs_down_first_then_weak_evidence_newest_first(answer_log):  # noqa: F811
    fill(answer_log)
    assert ids(answer_log.review_queue(tenant="acme")) == [
        "down-new",
        "down-old",
        "weak-new",
        "weak-old",
    ]
    assert ids(answer_log.review_queue()) == [
        "down-new",
        "down-old",
        "other-tenant",
        "weak-new",
        "weak-old",
    ]
    first = answer_log.review_queue(tenant="acme", limit=1)[0]
    assert (first.rating, first.reason, first.correction) == ("down", "outdated", "28 days")


def test_a_review_takes_an_answer_off_the_queue_until_new_feedback(answer_log):  # noqa: F811
    fill(answer_log)
    answer_log.add_review(Review("weak-old", "dismiss", "alice"))
    answer_log.add_review(Review("down-old", "kb_gap", "alice"))
    assert ids(answer_log.review_queue(tenant="acme")) == ["down-new", "weak-new"]
    # A new 👎 after the review puts it back.
    rate(answer_log, "u2", "down", "down-old", correction="31 days")
    assert "down-old" in ids(answer_log.review_queue(tenant="acme"))


def test_the_latest_gold_answer_wins_and_is_kept_through_later_reviews(answer_log):  # noqa: F811
    fill(answer_log)
    accepted = answer_log.add_review(
        Review("down-new", "accept", "alice", gold="28 days", created_at=T0)
    )
    assert (accepted.gold, accepted.review) == ("28 days", "accept")
    answer_log.add_review(
        Review("down-new", "edit", "bob", gold="28 days a year", created_at=T0 + timedelta(1))
    )
    answer_log.add_review(Review("down-new", "kb_gap", "bob", created_at=T0 + timedelta(2)))
    logged = answer_log.get_answer("down-new")
    assert (logged.gold, logged.review, logged.correction) == (
        "28 days a year",
        "kb_gap",
        "28 days",
    )
    events = answer_log.reviews_of("down-new")
    assert [(r.action, r.reviewer, r.source) for r in events] == [
        ("accept", "alice", "console"),
        ("edit", "bob", "console"),
        ("kb_gap", "bob", "console"),
    ]
    assert answer_log.reviews_of("down-new", tenant="globex") == []


def test_reviews_are_refused_for_unknown_or_other_tenants_answers_and_empty_gold(answer_log):  # noqa: F811
    fill(answer_log)
    with pytest.raises(UnknownAnswerError):
        answer_log.add_review(Review("nope", "dismiss", "alice"))
    with pytest.raises(UnknownAnswerError):
        answer_log.add_review(Review("other-tenant", "dismiss", "alice"), tenant="acme")
    with pytest.raises(InvalidInputError):
        answer_log.add_review(Review("down-new", "edit", "alice", gold="   "))
    with pytest.raises(InvalidInputError):
        answer_log.add_review(Review("down-new", "edit", "alice", gold="x" * 3001))
    assert answer_log.reviews_of("down-new") == []


def test_answers_are_found_by_every_filter(answer_log):  # noqa: F811
    fill(answer_log)
    answer_log.save_answer(
        record(
            "teams-1",
            minutes=60 * 24 * 3,
            platform="teams",
            channel_id="19:abc",
            route="finetuned",
            question="Where is 100% of the_parking?",
        )
    )

    def find(**kw):
        return ids(answer_log.find_answers(AnswerQuery(**kw)))

    assert find(tenant="globex") == ["other-tenant"]
    assert find(route="finetuned") == ["teams-1"]
    assert find(platform="teams") == ["teams-1"]
    assert find(channel="19:abc") == ["teams-1"]
    assert find(rating="up") == ["liked-weak"]
    assert find(rating="down", tenant="acme") == ["down-new", "down-old"]
    assert "strong" in find(rating="none") and "down-new" not in find(rating="none")
    assert find(text="100% THE_PARKING") == ["teams-1"]
    assert find(text="100%x") == []  # % and _ are literal, not wildcards
    assert find(since=T0 + timedelta(days=1)) == ["teams-1"]
    assert "teams-1" not in find(until=T0 + timedelta(days=1))
    assert answer_log.channels(tenant="acme") == [("slack", "C1"), ("teams", "19:abc")]


def test_insight_queries_count_days_and_knowledge_base_gaps(answer_log):  # noqa: F811
    fill(answer_log)
    answer_log.save_answer(record("tuned", minutes=60 * 24, route="finetuned", trace=GOOD))
    answer_log.add_review(Review("strong", "kb_gap", "alice"))
    days = answer_log.answers_per_day(since=T0 - timedelta(days=1), tenant="acme")
    assert days == [("2026-11-01", 6), ("2026-11-02", 1)]  # the apology is not an answer
    gaps = answer_log.gap_questions(since=T0 - timedelta(days=1), tenant="acme")
    assert sorted(w for _, w in gaps) == sorted(
        ["finetuned", "kb_gap", "not_found", "not_found", "not_found"]
    )


def test_export_teaches_the_gold_answer_over_the_raw_correction(answer_log, tmp_path):  # noqa: F811
    answer_log.save_answer(record("a1", prompt_versions=CTX_VERSIONS))
    rate(answer_log, "u1", "down", "a1", correction="30 days")
    out = tmp_path / "sft.jsonl"

    def target() -> str:
        export_dataset(answer_log, ExportOptions(fmt="trl-sft", out=out, tenant="acme"))
        return orjson.loads(out.read_text().splitlines()[0])["completion"][-1]["content"]

    assert target() == "30 days"
    answer_log.add_review(Review("a1", "edit", "alice", gold="Everyone gets 26 days."))
    assert target() == "Everyone gets 26 days."


def test_a_gold_answer_on_an_unrated_answer_is_exported_as_its_correction(answer_log, tmp_path):  # noqa: F811
    answer_log.save_answer(record("weak", prompt_versions=CTX_VERSIONS, trace=POOR))
    answer_log.save_answer(record("fine", prompt_versions=CTX_VERSIONS, minutes=1))
    out = tmp_path / "sft.jsonl"
    opts = ExportOptions(fmt="trl-sft", out=out, tenant="acme")
    assert export_dataset(answer_log, opts).read == 0  # unrated, unreviewed: nothing
    answer_log.add_review(Review("weak", "edit", "alice", gold="Everyone gets 26 days."))
    answer_log.add_review(Review("fine", "dismiss", "alice"))
    assert answer_log.count_rated(tenant="acme") == 1
    report = export_dataset(answer_log, opts)
    assert (report.read, report.written) == (1, 1)
    (line,) = out.read_text().splitlines()
    assert orjson.loads(line)["completion"][-1]["content"] == "Everyone gets 26 days."
    kto = export_dataset(
        answer_log, ExportOptions(fmt="trl-kto", out=tmp_path / "kto.jsonl", tenant="acme")
    )
    assert (kto.desirable, kto.undesirable) == (0, 1)  # the replaced answer is undesirable
