"""``askloop tune router`` and the refit after ``askloop ingest`` (only when the calibrated
router is configured), in-process."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from askloop.agent.service import feedback_event
from askloop.integrations import wiring
from askloop.integrations.answer_log.sql_log import open_answer_log
from askloop.integrations.cli.main import main
from tests.fakes import HashingEmbedder
from tests.records import answer_record

HANDBOOK = Path(__file__).resolve().parents[2] / "kb" / "handbook"


@pytest.fixture
def home(monkeypatch, tmp_path):
    monkeypatch.setenv("ASKLOOP_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(wiring, "build_embedder", lambda settings: HashingEmbedder())
    return tmp_path / "home"


def calibrated(monkeypatch, tmp_path) -> None:
    config = tmp_path / "askloop.toml"
    config.write_text('[graph]\nrouter = "calibrated"\n')
    monkeypatch.setenv("ASKLOOP_CONFIG", str(config))


def test_ingest_fits_no_router_unless_the_calibrated_one_is_configured(home, tmp_path, capsys):
    corpus = tmp_path / "docs"
    shutil.copytree(HANDBOOK / "office", corpus)
    assert main(["ingest", str(corpus), "--tenant", "acme"]) == 0
    assert "router of tenant" not in capsys.readouterr().err
    # No model fitted; only the evidence router's word counts are written.
    assert [p.name for p in (home / "router").iterdir()] == ["acme.words.json"]

    assert main(["tune", "router", "--tenant", "acme"]) == 0  # explicit: fits anyway
    assert "tenant acme: router fitted" in capsys.readouterr().out
    assert (home / "router" / "acme.json").is_file()


def test_ingest_fits_the_router_and_tune_router_reports_json(home, tmp_path, capsys, monkeypatch):
    calibrated(monkeypatch, tmp_path)
    corpus = tmp_path / "docs"
    shutil.copytree(HANDBOOK / "office", corpus)
    assert main(["ingest", str(corpus), "--tenant", "acme"]) == 0
    assert "router of tenant acme fitted" in capsys.readouterr().err
    assert (home / "router" / "acme.json").is_file()

    assert main(["ingest", str(corpus), "--tenant", "acme"]) == 0  # nothing changed
    assert "router" not in capsys.readouterr().err

    assert main(["tune", "router", "--tenant", "acme", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["tenant"] == "acme" and out["status"] == "fitted"
    assert out["path"] == str(home / "router" / "acme.json")
    assert len(out["fingerprint"]) == 32 and out["seconds"] >= 0
    assert out["positives"] >= 10 and out["negatives"] >= 10
    assert 0 <= out["positives_searched"] <= 1 and 0 <= out["negatives_kept_out"] <= 1
    # Nothing rated yet: the corpus-only fit stands, and says why.
    assert out["rated"]["decisions"] == 0 and out["rated"]["adopted"] is False

    assert main(["tune", "router", "--tenant", "acme"]) == 0
    printed = capsys.readouterr()
    assert "tenant acme: router fitted" in printed.out
    assert "rated decisions: none" in printed.out
    assert 'router = "calibrated"' not in printed.err  # configured: no opt-in hint


def test_tune_router_says_the_fit_is_unused_until_configured(home, tmp_path, capsys):
    corpus = tmp_path / "docs"
    shutil.copytree(HANDBOOK / "office", corpus)
    assert main(["ingest", str(corpus), "--tenant", "acme"]) == 0
    capsys.readouterr()
    assert main(["tune", "router", "--tenant", "acme"]) == 0
    assert 'router = "calibrated"' in capsys.readouterr().err  # opt-in: fitted, not yet used


def test_tune_router_on_an_empty_tenant_says_the_default_router_decides(home, capsys):
    assert main(["tune", "router", "--tenant", "nobody", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "empty"
    assert main(["tune", "router", "--tenant", "nobody"]) == 0
    assert "nothing is ingested" in capsys.readouterr().out


def test_tune_needs_a_target(home, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["tune"])
    assert exc.value.code == 2


def test_tune_router_reports_the_rated_decisions_it_found(home, tmp_path, capsys):
    corpus = tmp_path / "docs"
    shutil.copytree(HANDBOOK / "office", corpus)
    assert main(["ingest", str(corpus), "--tenant", "acme"]) == 0
    log = open_answer_log(None, home)
    for i in range(4):
        record = answer_record(
            answer_id=f"a{i}",
            platform="cli",
            question=f"hello number {i}!",
            answer="Hi.",
            route="finetuned",
        )
        log.save_answer(record)
        log.add_feedback(feedback_event(answer_id=f"a{i}", rating="up", user="u", source="cli"))
    log.close()
    capsys.readouterr()
    assert main(["tune", "router", "--tenant", "acme"]) == 0
    out = capsys.readouterr().out
    assert "rated decisions: 4 (" in out and "refit not adopted: too few" in out


def test_ingest_rewrites_word_counts_an_older_version_wrote_without_headings(home, tmp_path):
    """Nothing changed in the corpus, but the stored counts lack the headings the route
    step looks for: the next ``askloop ingest`` writes them (and leaves current ones be)."""
    corpus = tmp_path / "docs"
    shutil.copytree(HANDBOOK / "office", corpus)
    assert main(["ingest", str(corpus), "--tenant", "acme"]) == 0
    path = home / "router" / "acme.words.json"
    current = json.loads(path.read_text(encoding="utf-8"))
    assert current["headings"]  # the office pages' section headings
    older = {k: v for k, v in current.items() if k != "headings"}
    path.write_text(json.dumps(older), encoding="utf-8")
    assert main(["ingest", str(corpus), "--tenant", "acme"]) == 0  # nothing changed
    assert json.loads(path.read_text(encoding="utf-8")) == current
    path.write_text(json.dumps({**current, "sections": -1}), encoding="utf-8")
    assert main(["ingest", str(corpus), "--tenant", "acme"]) == 0
    assert json.loads(path.read_text(encoding="utf-8"))["sections"] == -1  # current: kept
