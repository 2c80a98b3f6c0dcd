"""Dataset export from the hand-made log, on SQLite and PostgreSQL.

Golden files pin the exact records; regenerate them with ASKLOOP_REGENERATE_GOLDEN=1
and review the diff like code.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from askloop.agent.datasets.formats import FORMATS, validate
from askloop.integrations.export.writer import ExportOptions, export_dataset, val_path
from tests.contract.test_answer_log import answer_log  # noqa: F401  (the two backends)
from tests.export_fixture import LEAVE, PARKING, populate

GOLDEN = Path(__file__).resolve().parents[1] / "golden"


@pytest.fixture
def log(answer_log):  # noqa: F811
    populate(answer_log)
    return answer_log


def no_more(tenant, question, exclude, n):
    return [PARKING, LEAVE][:n]


def run(log, fmt, tmp_path, **kw):
    out = tmp_path / f"{fmt}.jsonl"
    report = export_dataset(log, ExportOptions(fmt=fmt, out=out, tenant="acme", **kw), more=no_more)
    lines = out.read_text().splitlines() if out.exists() else []
    return report, [json.loads(line) for line in lines]


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_each_format_matches_its_golden_file(log, tmp_path, fmt):
    report, records = run(log, fmt, tmp_path, raft_k=2)
    assert report.invalid == 0
    for record in records:
        validate(fmt, record)
    golden = GOLDEN / f"export-{fmt}.jsonl"
    text = "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in records)
    if os.environ.get("ASKLOOP_REGENERATE_GOLDEN"):
        golden.write_text(text)
    assert text == golden.read_text()


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_outputs_load_with_the_hf_datasets_json_loader(log, tmp_path, fmt):
    datasets = pytest.importorskip("datasets")
    report, records = run(log, fmt, tmp_path, raft_k=2)
    loaded = datasets.load_dataset(
        "json",
        data_files=str(tmp_path / f"{fmt}.jsonl"),
        split="train",
        cache_dir=str(tmp_path / "hf"),
    )
    assert loaded.num_rows == len(records) == report.train


def test_sft_uses_thumbs_up_and_corrections_only(log, tmp_path):
    report, records = run(log, "openai-sft", tmp_path)
    targets = [r["messages"][-1]["content"] for r in records]
    assert "You get 26 days [1]." in targets  # a01: majority 👍 (2 of 3)
    assert "Yes: up to 5 days, until 31 March [2]." in targets  # a02: 👎 + correction
    assert "No [2]." not in targets and "5." not in targets and "Marlowe." not in targets
    assert "Withdrawn answer." not in targets and "Globex answer." not in targets
    assert not any("can't search" in t for t in targets)
    assert targets.count("Paris.") == 1 and report.duplicates == 1


def test_openai_sft_reproduces_the_prompt_with_history_weighted_zero(log, tmp_path):
    _, records = run(log, "openai-sft", tmp_path)
    follow_up = next(r for r in records if r["messages"][-1]["content"].startswith("Yes: up"))
    roles = [m["role"] for m in follow_up["messages"]]
    assert roles == ["system", "user", "assistant", "user", "assistant"]
    assert follow_up["messages"][2]["weight"] == 0 and "weight" not in follow_up["messages"][-1]
    user = follow_up["messages"][3]["content"]
    assert '<document index="2" title="Annual leave > People > Leave > Carry-over">' in user
    assert user.rstrip().endswith("Question: And can I carry some over?")
    direct = next(r for r in records if r["messages"][-1]["content"] == "Paris.")
    assert [m["role"] for m in direct["messages"]] == ["system", "user", "assistant"]
    assert "<document" not in direct["messages"][1]["content"]


def test_trl_sft_trains_on_the_answer_only(log, tmp_path):
    _, records = run(log, "trl-sft", tmp_path)
    follow_up = next(r for r in records if r["completion"][0]["content"].startswith("Yes: up"))
    # The thread's earlier answer (rated 👍 here, but it could be 👎) is prompt, not target.
    assert [m["role"] for m in follow_up["prompt"]] == ["system", "user", "assistant", "user"]
    assert follow_up["prompt"][2]["content"] == "You get 26 days [1]."
    assert all(set(r) == {"prompt", "completion"} and len(r["completion"]) == 1 for r in records)


def test_dpo_pairs_come_from_corrections_and_same_question_ratings(log, tmp_path):
    _, records = run(log, "trl-dpo", tmp_path)
    pairs = {(r["chosen"][0]["content"], r["rejected"][0]["content"]) for r in records}
    assert ("Yes: up to 5 days, until 31 March [2].", "No [2].") in pairs
    assert ("Shakespeare.", "Marlowe.") in pairs
    _, openai = run(log, "openai-dpo", tmp_path)
    assert {
        (r["preferred_output"][0]["content"], r["non_preferred_output"][0]["content"])
        for r in openai
    } == pairs


def test_kto_labels_every_rated_answer_and_reports_the_balance(log, tmp_path):
    report, records = run(log, "trl-kto", tmp_path)
    labels = [r["label"] for r in records]
    assert labels.count(True) == report.desirable and labels.count(False) == report.undesirable
    assert report.desirable > 0 and report.undesirable > 0
    assert report.desirable + report.undesirable == report.written == len(records)


def test_router_examples_label_the_route_a_thumbs_up_confirms(log, tmp_path):
    report, records = run(log, "router", tmp_path)
    by_question = {r["question"]: r for r in records}
    # A 👍 on a knowledge-base answer: the router was right to search.
    leave = by_question["How many days of annual leave do I get?"]
    assert (leave["decision"], leave["label"]) == ("retrieve", "retrieve")
    # Searched, gave up, the tuned model's answer got a 👍: no search was needed.
    hamlet = by_question["Who wrote Hamlet?"]
    assert (hamlet["decision"], hamlet["label"]) == ("retrieve", "finetuned")
    assert hamlet["features"]["score"] == 0.5
    # A 👎 says nothing about the route; the store-down apology is not an example.
    assert "And can I carry some over?" not in by_question
    assert "What is 2+2?" not in by_question and "Store down?" not in by_question
    assert report.routing == [(r["features"]["score"], r["label"] == "retrieve") for r in records]


def test_raft_mixes_the_oracle_with_hard_negatives(log, tmp_path):
    _, records = run(log, "raft", tmp_path, raft_k=2, raft_p=1.0)
    assert len(records) == 1  # a01: the only 👍 answer with a citation
    user = records[0]["prompt"][-1]["content"]
    assert user.count("<document index=") == 3  # the oracle + 2 distractors
    assert "26 days of paid annual leave" in user and "visitors" in user
    answer = records[0]["completion"][0]["content"]
    n = user.index("Everyone gets 26 days")
    oracle_n = user[:n].rsplit('<document index="', 1)[1].split('"', 1)[0]
    assert answer == f"You get 26 days [{oracle_n}]."
    _, without = run(log, "raft", tmp_path, raft_k=2, raft_p=0.0)
    assert "26 days of paid" not in without[0]["prompt"][-1]["content"]
    assert without[0]["completion"][0]["content"] == "You get 26 days."


def test_personal_data_and_secrets_are_redacted_unless_the_operator_says_not_to(log, tmp_path):
    _, records = run(log, "trl-sft", tmp_path)
    text = json.dumps(records)
    assert "bob@corp.example" not in text and "xoxb-" not in text and "U012AB3CD" not in text
    assert "[EMAIL]" in text and "[SLACK_TOKEN]" in text and "[USER]" in text
    _, raw = run(log, "trl-sft", tmp_path, redact=False)
    assert "bob@corp.example" in json.dumps(raw)


def test_validation_split_keeps_threads_whole_and_is_deterministic(log, tmp_path):
    report, train = run(log, "openai-sft", tmp_path, val_fraction=0.5, seed=7)
    val = [json.loads(x) for x in val_path(tmp_path / "openai-sft.jsonl").read_text().splitlines()]
    assert report.train == len(train) and report.val == len(val) and train and val
    again, train2 = run(log, "openai-sft", tmp_path, val_fraction=0.5, seed=7)
    assert train2 == train
    follow = [r for r in train + val if len(r["messages"]) > 3]
    first = [r for r in train + val if r["messages"][-1]["content"] == "You get 26 days [1]."]
    assert (follow[0] in train) == (first[0] in train)  # thread-A is on one side only


def test_below_the_minimum_nothing_is_written(log, tmp_path):
    out = tmp_path / "globex.jsonl"
    report = export_dataset(log, ExportOptions(fmt="openai-sft", out=out, tenant="globex"))
    assert report.written == 1 and report.files == []
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if ".jsonl" in p.name]  # no partial files either
