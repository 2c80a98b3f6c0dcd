"""What the log hands the exporters: rated, not withdrawn, not apologies, oldest first."""

from __future__ import annotations

from datetime import timedelta

from tests.contract.test_answer_log import answer_log  # noqa: F401  (the two backends)
from tests.export_fixture import T0, populate


def test_iter_rated_yields_usable_rated_answers_in_pages(answer_log):  # noqa: F811
    populate(answer_log)
    ids = [x.record.answer_id for x in answer_log.iter_rated(tenant="acme", batch=4)]
    assert ids[:3] == ["a01", "a02", "a03"]
    assert "a07" not in ids and "a08" not in ids and "a11" not in ids and "a12" not in ids
    assert len(ids) == len(set(ids)) == answer_log.count_rated(tenant="acme") == 29
    since = [x.record.answer_id for x in answer_log.iter_rated(since=T0 + timedelta(minutes=20))]
    assert since[0] == "a20" and len(since) == 21
    assert answer_log.tenants() == ["acme", "globex"]


def test_prompt_texts_of_used_versions_are_kept(answer_log):  # noqa: F811
    from tests.export_fixture import CTX_VERSIONS

    populate(answer_log)
    version = CTX_VERSIONS["answer_with_context"]
    assert "knowledge base" in answer_log.prompt_text(version)
    assert answer_log.prompt_text("nope") is None
