"""The ``askloop`` CLI through its real entry points.

The fast tests call ``main()`` in-process on paths that never load the model; the
slow ones run the installed console script as a user would, with the real embedder.
"""

from __future__ import annotations

import json
import sys

import pytest

from askloop.integrations.cli.main import main
from tests.e2e.conftest import askloop


def test_missing_path_is_a_clear_usage_error(capsys, tmp_path):
    assert main(["ingest", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert "nope" in err and "no such file" in err and "Traceback" not in err


@pytest.mark.parametrize("k", ["0", "-3", "ten"])
def test_bad_k_is_rejected(capsys, k):
    with pytest.raises(SystemExit) as exc:
        main(["search", "leave", "--k", k])
    assert exc.value.code == 2
    assert "--k" in capsys.readouterr().err


@pytest.mark.parametrize("query", ["", "   "])
def test_empty_query_is_rejected(capsys, query):
    assert main(["search", query, "--mode", "keyword"]) == 2
    assert "empty" in capsys.readouterr().err


def test_bad_tenant_is_rejected(capsys):
    assert main(["search", "leave", "--tenant", "a b/c", "--mode", "keyword"]) == 2
    assert "invalid tenant" in capsys.readouterr().err


def test_unreadable_settings_file_is_a_usage_error(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("ASKLOOP_CONFIG", str(tmp_path / "missing.toml"))
    assert main(["search", "leave"]) == 2
    assert "missing.toml" in capsys.readouterr().err


def test_search_on_an_empty_knowledge_base_says_so(capsys):
    assert main(["search", "leave", "--mode", "keyword"]) == 0
    assert "empty" in capsys.readouterr().out


def test_stdin_mode_prints_one_object_per_line(capsys, monkeypatch):
    import io

    monkeypatch.setattr(sys, "stdin", io.StringIO("leave\n\nparking\n"))
    assert main(["search", "-", "--mode", "keyword"]) == 2  # the blank line is bad input
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["query"] for line in lines] == ["leave", "", "parking"]
    assert lines[1]["error"] == "the query is empty"
    assert all(line["hits"] == [] for line in lines)


# -- the installed command, real model ------------------------------------------------------


@pytest.mark.slow
def test_ingest_search_reingest_and_prune(cli_env, small_kb):
    first = askloop(cli_env, "ingest", str(small_kb))
    assert first.returncode == 0, first.stderr
    assert "3 documents written" in first.stdout

    again = askloop(cli_env, "ingest", str(small_kb))
    assert again.returncode == 0 and "0 documents written" in again.stdout
    assert "3 unchanged" in again.stdout

    found = askloop(cli_env, "search", "how long do I have to acknowledge a page?", "--json")
    assert found.returncode == 0, found.stderr
    result = json.loads(found.stdout)
    assert result["hits"][0]["title"] == "On-call rotation"
    assert set(result["hits"][0]) >= {"chunk_id", "title", "source", "score", "text"}

    lines = askloop(cli_env, "search", "-", "--k", "1", stdin="visitor parking\nleave days\n")
    assert lines.returncode == 0, lines.stderr
    objs = [json.loads(line) for line in lines.stdout.splitlines()]
    assert [o["hits"][0]["title"] for o in objs] == ["Parking", "Annual leave"]
    assert "tracking" not in lines.stdout and "Home | About" not in lines.stdout

    human = askloop(cli_env, "search", "carry over unused days", "--k", "1")
    assert human.returncode == 0 and "Annual leave > Carry-over" in human.stdout

    (small_kb / "parking.html").unlink()
    pruned = askloop(cli_env, "ingest", str(small_kb), "--prune")
    assert pruned.returncode == 0 and "1 pruned" in pruned.stdout
    gone = askloop(cli_env, "search", "garage levels visitors", "--mode", "keyword", "--json")
    assert all(h["title"] != "Parking" for h in json.loads(gone.stdout)["hits"])


@pytest.mark.slow
def test_bad_files_warn_and_the_rest_is_ingested(cli_env, small_kb, tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "empty.md").write_bytes(b"")
    (bad / "image.txt").write_bytes(bytes(range(256)) * 4)
    (bad / "latin1.txt").write_bytes(
        "Caf\xe9 opening hours: the caf\xe9 opens at 08:00 and "
        "closes at 17:00 every weekday.".encode("cp1252")
    )
    (bad / "huge.txt").write_bytes(b"lorem ipsum dolor sit amet " * 2_000_000)  # ~54 MB
    result = askloop(cli_env, "ingest", str(small_kb), str(bad), str(tmp_path / "missing"))
    assert result.returncode == 2
    for name in ("empty.md", "image.txt", "huge.txt", "missing"):
        assert name in result.stderr
    assert "Traceback" not in result.stderr
    assert "4 documents written" in result.stdout and "4 skipped" in result.stdout
    cafe = askloop(cli_env, "search", "when does the café open", "--k", "1", "--json")
    assert "08:00" in json.loads(cafe.stdout)["hits"][0]["text"]
