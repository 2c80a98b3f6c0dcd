"""``askloop forget``: the hourly clean-up of ``askloop serve``, from the command line."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from askloop.agent.answers import Turn
from askloop.agent.graph import build_graph
from askloop.agent.service import Assistant
from askloop.integrations.answer_log.checkpoints import checkpoint_id_at, open_checkpointer
from askloop.integrations.answer_log.sql_log import open_answer_log
from askloop.integrations.cli.main import main
from tests.fakes import HashingEmbedder
from tests.kb_fixture import make_context, make_kb_store


def remember(home: Path, tmp_path: Path, *conversations: str) -> None:
    """Answer one question in each conversation, with askloop's own memory in ``home``."""
    embedder = HashingEmbedder()
    store = make_kb_store(tmp_path / "kb", embedder)
    saver, conn = open_checkpointer(None, home)
    log = open_answer_log(None, home)
    try:
        helper = Assistant(
            graph=build_graph(saver), context=make_context(store, embedder), answer_log=log
        )
        for conversation in conversations:
            helper.answer(Turn("paid annual leave days", "acme", conversation_id=conversation))
    finally:
        log.close()
        conn.close()
        store.close()


def age(home: Path, conversation: str, days: int) -> None:
    saver, conn = open_checkpointer(None, home)
    old = checkpoint_id_at(datetime.now(UTC) - timedelta(days=days))
    conn.execute(
        "UPDATE checkpoints SET checkpoint_id = ? WHERE thread_id LIKE ?",
        (old, f"%:{conversation}"),
    )
    conn.commit()
    conn.close()


def threads(home: Path) -> set[str]:
    saver, conn = open_checkpointer(None, home)
    try:
        return {c.config["configurable"]["thread_id"] for c in saver.list(None)}
    finally:
        conn.close()


def test_forget_deletes_only_conversations_idle_for_longer_than_asked(tmp_path, capsys):
    home = Path(os.environ["ASKLOOP_HOME"])
    remember(home, tmp_path, "old", "recent")
    age(home, "old", 40)
    age(home, "recent", 10)
    assert main(["forget", "--idle-days", "30"]) == 0
    assert "forgot the memory of 1 conversations idle for more than 30 days" in (
        capsys.readouterr().out
    )
    assert threads(home) == {"acme:cli:recent"}
    assert main(["forget"]) == 0  # the setting's default, 30 days: nothing more to do
    assert "forgot the memory of 0 conversations" in capsys.readouterr().out
    assert main(["forget", "--idle-days", "5"]) == 0
    assert threads(home) == set()


@pytest.mark.parametrize("bad", ["0", "soon"])
def test_forget_refuses_a_nonsense_number_of_days(capsys, bad):
    with pytest.raises(SystemExit) as exit_:
        main(["forget", "--idle-days", bad])
    assert exit_.value.code == 2 and "--idle-days" in capsys.readouterr().err
