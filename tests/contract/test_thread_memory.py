"""Thread memory survives a restart, on SQLite and on PostgreSQL checkpointers."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from askloop.agent.answers import Turn
from askloop.agent.graph import build_graph
from askloop.agent.service import Assistant
from askloop.integrations.answer_log.checkpoints import forget_idle_threads, open_checkpointer
from askloop.integrations.answer_log.sql_log import SqlAnswerLog
from tests.contract.conftest import PG_URL
from tests.fakes import HashingEmbedder
from tests.kb_fixture import make_context, make_kb_store


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request, tmp_path):
    if request.param == "sqlite":
        return None
    admin = request.getfixturevalue("pg_admin")
    schema = f"askloop_ckpt_{uuid.uuid4().hex[:12]}"
    admin.execute(f"CREATE SCHEMA {schema}")
    request.addfinalizer(lambda: admin.execute(f"DROP SCHEMA {schema} CASCADE"))
    sep = "&" if "?" in PG_URL else "?"
    return f"{PG_URL}{sep}options=-csearch_path%3D{schema}"


@pytest.fixture
def kb(tmp_path):
    embedder = HashingEmbedder()
    store = make_kb_store(tmp_path / "kb", embedder)
    yield store, embedder
    store.close()


def assistant(database_url, home, store, embedder, *, with_saver=False):
    saver, conn = open_checkpointer(database_url, home)
    log = SqlAnswerLog.sqlite(home / "log.db")
    helper = Assistant(
        graph=build_graph(saver), context=make_context(store, embedder), answer_log=log
    )
    return (helper, saver, conn) if with_saver else (helper, conn)


def test_a_follow_up_after_a_restart_sees_the_earlier_turns(database_url, tmp_path, kb):
    store, embedder = kb
    first, conn = assistant(database_url, tmp_path, store, embedder)
    first.answer(
        Turn(question="paid annual leave days employee", tenant="acme", conversation_id="C1:42")
    )
    conn.close()

    again, conn = assistant(database_url, tmp_path, store, embedder)
    follow_up = again.answer(
        Turn(question="paid annual leave days again", tenant="acme", conversation_id="C1:42")
    )
    other = again.answer(
        Turn(question="paid annual leave days again", tenant="globex", conversation_id="C1:42")
    )
    conn.close()
    assert [h["content"] for h in follow_up.history][0] == "paid annual leave days employee"
    assert other.history == ()  # same thread id in another tenant is another thread


def test_idle_conversations_are_forgotten_and_active_ones_kept(database_url, tmp_path, kb):
    store, embedder = kb
    helper, saver, conn = assistant(database_url, tmp_path, store, embedder, with_saver=True)
    try:
        # Nothing to forget in a new database (SQLite creates its tables on first use).
        assert forget_idle_threads(saver, conn, older_than=timedelta(days=30)) == 0
        # Another LangGraph application's thread in the same tables, as old as "idle".
        foreign = str(uuid.uuid4())
        build_graph(saver).invoke(
            {"question": "paid annual leave days", "tenant": "acme"},
            {"configurable": {"thread_id": foreign}, "recursion_limit": 50},
            context=make_context(store, embedder),
        )
        for thread in ["idle", "active"]:
            helper.answer(Turn("paid annual leave days employee", "acme", conversation_id=thread))
            time.sleep(0.01)
            if thread == "idle":
                between = datetime.now(UTC)
                time.sleep(0.01)
        # A month after `between`, "idle" has been quiet for a month, "active" not quite.
        month = timedelta(days=30)
        assert forget_idle_threads(saver, conn, older_than=month, now=between) == 0
        assert forget_idle_threads(saver, conn, older_than=month, now=between + month) == 1
        assert saver.get_tuple({"configurable": {"thread_id": foreign}}) is not None
        idle, active = (
            helper.answer(Turn("paid annual leave days again", "acme", conversation_id=thread))
            for thread in ["idle", "active"]
        )
        assert idle.history == ()  # forgotten: a follow-up starts afresh
        assert [h["content"] for h in active.history][0] == "paid annual leave days employee"
    finally:
        conn.close()
