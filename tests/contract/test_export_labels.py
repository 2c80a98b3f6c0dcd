"""One label per (prompt, completion), minimums on the training file, atomic outputs."""

from __future__ import annotations

import json

import pytest

from askloop.integrations.export.writer import ExportOptions, export_dataset, val_path
from tests.contract.test_answer_log import answer_log  # noqa: F401  (the two backends)
from tests.export_fixture import answer, populate, rate


@pytest.fixture
def log(answer_log):  # noqa: F811
    populate(answer_log)
    return answer_log


def run(log, fmt, out, **kw):
    report = export_dataset(log, ExportOptions(fmt=fmt, out=out, tenant="acme", **kw))
    lines = out.read_text().splitlines() if out.exists() and report.files else []
    return report, [json.loads(line) for line in lines]


def add(log, n, question, text, *votes, **kw):
    """Answer ``n`` with ``votes`` as (user, rating[, correction]) in rating order."""
    log.save_answer(answer(n, question, text, conversation_id=f"C1:x{n}", **kw))
    for user, rating, *correction in votes:
        rate(log, f"a{n:02d}", rating, user, correction=correction[0] if correction else "")


def test_identical_pairs_rated_both_ways_by_different_users_are_dropped(log, tmp_path):
    add(log, 60, "Capital of Spain?", "Lisbon.", ("u2", "up"))
    add(log, 61, "Capital of Spain?", "Lisbon.", ("u3", "down"))
    report, records = run(log, "trl-kto", tmp_path / "kto.jsonl")
    completions = [r["completion"][0]["content"] for r in records]
    assert "Lisbon." not in completions
    assert report.conflicts == 1
    _, sft = run(log, "trl-sft", tmp_path / "sft.jsonl")
    assert "Lisbon." not in json.dumps(sft)


def test_the_latest_vote_of_a_user_decides_across_copies(log, tmp_path):
    # One user rated the first copy 👍 and, later, the second 👎: one vote, 👎.
    add(log, 62, "Capital of Italy?", "Milan.", ("u1", "up"))
    add(log, 63, "Capital of Italy?", "Milan.", ("u1", "down", "Rome."))
    report, records = run(log, "trl-kto", tmp_path / "kto.jsonl")
    milan = [r["label"] for r in records if r["completion"][0]["content"] == "Milan."]
    assert milan == [False]
    assert report.conflicts == 0
    _, sft = run(log, "openai-sft", tmp_path / "sft.jsonl")
    targets = [r["messages"][-1]["content"] for r in sft]
    assert "Rome." in targets and "Milan." not in targets


def test_identical_pairs_are_merged_and_counted_as_duplicates(log, tmp_path):
    # a03 and a10 (both "Paris.", both 👍) plus a third copy 👍 by someone else.
    add(log, 64, "What is the capital of France?", "Paris.", ("u5", "up"))
    report, records = run(log, "trl-kto", tmp_path / "kto.jsonl")
    paris = [r for r in records if r["completion"][0]["content"] == "Paris."]
    assert len(paris) == 1 and paris[0]["label"] is True
    assert report.duplicates == 2


def test_dpo_pairs_use_every_distinct_answer_to_a_question(log, tmp_path):
    # a04 "Shakespeare." 👍 and a05 "Marlowe." 👎 already; a later, different 👎:
    add(log, 65, "Who wrote Hamlet?", "Bacon.", ("u2", "down"))
    # and a 👎 with the 👍's text under another prompt (a thread with history):
    add(
        log,
        66,
        "Who wrote Hamlet?",
        "Marlowe.",
        ("u3", "up"),
        history=({"role": "user", "content": "hi"}, {"role": "assistant", "content": "Hello."}),
    )
    _, records = run(log, "trl-dpo", tmp_path / "dpo.jsonl")
    pairs = {(r["chosen"][0]["content"], r["rejected"][0]["content"]) for r in records}
    assert ("Shakespeare.", "Bacon.") in pairs
    # "Marlowe." is 👎 in one prompt and 👍 in another: rated both ways, it pairs with nothing.
    assert not any("Marlowe." in pair for pair in pairs)


def test_minimums_apply_to_the_training_file(log, tmp_path):
    out = tmp_path / "sft.jsonl"
    whole, _ = run(log, "openai-sft", out)
    assert whole.files and whole.train >= 10
    out.write_text("older\n")
    report, _ = run(log, "openai-sft", out, val_fraction=0.9, seed=1)
    assert report.files == [] and report.train < 10 <= report.written
    assert "validation share leaves" in report.refused and "training file" in report.refused
    assert report.untouched and out.read_text() == "older\n"
    assert not val_path(out).exists()
    assert [p.name for p in tmp_path.iterdir() if "jsonl" in p.name] == ["sft.jsonl"]


def test_a_refused_export_leaves_no_folder_behind(log, tmp_path):
    out = tmp_path / "new" / "deeper" / "sft.jsonl"
    report, _ = run(log, "openai-sft", out, val_fraction=0.95)
    assert report.refused and not (tmp_path / "new").exists()
    written, _ = run(log, "openai-sft", out)
    assert written.files == [out]


def test_kto_balance_is_counted_on_the_training_file(log, tmp_path):
    report, records = run(log, "trl-kto", tmp_path / "kto.jsonl", val_fraction=0.3, seed=2)
    assert report.val > 0
    labels = [r["label"] for r in records]
    assert (labels.count(True), labels.count(False)) == (report.desirable, report.undesirable)


def test_an_export_without_a_validation_share_removes_the_stale_val_file(log, tmp_path):
    out = tmp_path / "sft.jsonl"
    first, _ = run(log, "trl-sft", out, val_fraction=0.3, seed=3)
    assert first.val and val_path(out).exists()
    second, _ = run(log, "trl-sft", out)
    assert not val_path(out).exists() and second.stale_removed == val_path(out)
    assert second.files == [out]
