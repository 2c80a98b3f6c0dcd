"""The Assistant is the one boundary: the CLI, the tools and the server's async face reach
the log and the knowledge base only through it, and all of them search the same way."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from langgraph.runtime import Runtime

from askloop.agent.errors import LogUnavailableError, StoreUnavailableError
from askloop.agent.nodes import retrieve
from askloop.agent.service import Assistant
from askloop.config.settings import GraphSettings, ModelSettings, Settings
from askloop.integrations import wiring
from askloop.integrations.cli.main import main
from askloop.integrations.server.runtime import AsyncAssistant, Metrics
from askloop.integrations.tuning.router import everyday_words
from askloop.tools import build_tools
from tests.fakes import FakeChatModel, HashingEmbedder
from tests.kb_fixture import make_kb_store

QUESTION = "How many days of annual leave do employees get?"

_inside = threading.local()


class Sealed:
    """A log or store that refuses every call not made from inside an Assistant method."""

    def __init__(self, inner: Any, down: Exception | None = None) -> None:
        self._inner = inner
        self._down = down

    def __getattr__(self, name: str) -> Any:
        if not getattr(_inside, "depth", 0):
            raise AssertionError(f"{name} reached around the Assistant")
        if self._down is not None and name not in {"model_id", "dimensions", "close"}:
            raise self._down
        return getattr(self._inner, name)


@pytest.fixture
def through_assistant(monkeypatch) -> list[str]:
    """The Assistant methods called, in order; inside them the sealed parts open."""
    called: list[str] = []
    for name, real in list(vars(Assistant).items()):
        if name.startswith("_") or not callable(real):
            continue

        def spy(self, *args, _real=real, _name=name, **kwargs):
            called.append(_name)
            _inside.depth = getattr(_inside, "depth", 0) + 1
            try:
                return _real(self, *args, **kwargs)
            finally:
                _inside.depth -= 1

        monkeypatch.setattr(Assistant, name, spy)
    return called


RealServices = wiring.Services


class Wiring:
    """Builds the Services of one command over a shared test knowledge base and log;
    the log and the store are sealed (and, with ``log_down``/``store_down``, down)."""

    def __init__(self, tmp_path: Path) -> None:
        self.embedder = HashingEmbedder()
        self.store: Any = make_kb_store(tmp_path / "kb", self.embedder)
        self.log_down: Exception | None = None
        self.store_down: Exception | None = None
        self.settings = Settings(home=tmp_path / "home").model_copy(
            update={
                "default_tenant": "acme",
                "models": ModelSettings(answer="test:answer", finetuned="test:tuned"),
                "graph": GraphSettings(router="probe", route_threshold=0.3, grade_threshold=0.5),
            }
        )
        self.answer_model = FakeChatModel("Every employee gets 26 days [1].")
        self.logs: list[Any] = []

    def __call__(self, settings: Settings | None = None) -> wiring.Services:
        """``settings`` (the CLI's own) are ignored: the command runs on these."""
        from askloop.integrations.answer_log.sql_log import open_answer_log

        log = open_answer_log(self.settings.database_url, self.settings.home)
        self.logs.append(log)
        return RealServices(
            self.settings,
            embedder=self.embedder,
            store=Sealed(self.store, self.store_down),
            answer_log=Sealed(log, self.log_down),
            chat_models={"test:answer": self.answer_model, "test:tuned": FakeChatModel("x")},
        )

    def close(self) -> None:
        for log in self.logs:
            log.close()
        self.store.close()


@pytest.fixture
def parts(tmp_path, monkeypatch) -> Any:
    made = Wiring(tmp_path)
    monkeypatch.setattr(wiring, "Services", made)  # the CLI's wiring comes from here
    yield made
    made.close()


def an_answer(parts: Wiring, through_assistant: list[str]) -> str:
    services = parts()
    with services:
        record = services.assistant.answer(_turn())
    through_assistant.clear()
    return record.answer_id


def _turn() -> Any:
    from askloop.agent.answers import Turn

    return Turn(question=QUESTION, tenant="acme", platform="cli")


# -- every path goes through the Assistant ------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["search", "annual leave", "--json"], ["search"]),
        (["search", "nothing matches zzz", "--mode", "keyword"], ["search", "knowledge_base_size"]),
        (["log", "--json"], ["recent"]),
        (["rate", "{answer_id}", "up", "--reason", "clear"], ["rate"]),
    ],
)
def test_the_cli_reaches_the_log_and_store_only_through_the_assistant(
    parts, through_assistant, capsys, argv, expected
):
    answer_id = an_answer(parts, through_assistant)
    argv = [a.format(answer_id=answer_id) for a in argv]
    assert main(argv) == 0, capsys.readouterr().err
    assert through_assistant == expected


def test_the_tools_reach_the_log_and_store_only_through_the_assistant(parts, through_assistant):
    answer_id = an_answer(parts, through_assistant)
    with parts() as services:
        tools = {t.name: t for t in build_tools(services.assistant, tenant="acme")}
        found = tools["search_knowledge_base"].invoke({"query": "annual leave", "k": 2})
        rated = tools["rate_answer"].invoke({"answer_id": answer_id, "rating": "down"})
    assert found[0]["title"] == "Annual leave"
    assert rated["downs"] == 1
    assert through_assistant == ["search", "rate"]


def test_the_async_face_delegates_every_call_to_the_assistant(parts, through_assistant):
    answer_id = an_answer(parts, through_assistant)

    async def use(async_assistant: AsyncAssistant) -> list[Any]:
        await async_assistant.warm_up()
        out = [
            await async_assistant.get_answer(answer_id, tenant="acme"),
            await async_assistant.claim_delivery("slack:E1"),
            await async_assistant.claim_delivery("slack:E1"),
            await async_assistant.link_message(
                answer_id=answer_id, platform="slack", message_ref="C1:1.5", role="answer"
            ),
            await async_assistant.answer_for_message(platform="slack", message_ref="C1:1.5"),
            await async_assistant.rate(
                answer_id=answer_id, rating="up", user="U1", source="button", platform="slack"
            ),
            await async_assistant.withdraw_message(platform="slack", message_ref="C1:1.5"),
            await async_assistant.prune_deliveries(older_than=timedelta(0)),
        ]
        await async_assistant.aclose()
        return out

    with parts() as services:
        got = asyncio.run(use(AsyncAssistant(services, workers=1, metrics=Metrics())))
    assert got[0].record.answer_id == answer_id
    assert got[1:3] == [True, False]
    assert got[4] == got[6] == answer_id
    assert got[5] is None  # committed when it returns (with any ratings beside it)
    assert through_assistant == [
        "prepare",
        "ping",
        "get_answer",
        "claim_delivery",
        "claim_delivery",
        "link_message",
        "answer_for_message",
        "record_feedback",
        "withdraw_message",
        "answer_for_message",  # withdraw_message asks it itself
        "prune_deliveries",
    ]


# -- with the log or the store down, every path says what the Assistant says --------------------


def test_with_the_log_down_cli_and_tool_report_the_assistants_error(
    parts, through_assistant, capsys
):
    parts.log_down = LogUnavailableError("the answer log cannot be reached")
    assert main(["log"]) == 1
    assert main(["rate", "a1", "up"]) == 1
    cli = capsys.readouterr().err.splitlines()
    with parts() as services:
        tool = {t.name: t for t in build_tools(services.assistant, tenant="acme")}["rate_answer"]
        reported = tool.invoke({"answer_id": "a1", "rating": "up"})
    assert cli == ["askloop: error: the answer log cannot be reached"] * 2
    assert reported == "Error: the answer log cannot be reached."
    assert through_assistant == ["recent", "rate", "rate"]


def test_with_the_store_down_cli_tool_and_graph_report_the_assistants_error(
    parts, through_assistant, capsys
):
    parts.store_down = StoreUnavailableError("the knowledge base is unreachable")
    assert main(["search", "annual leave"]) == 1
    with parts() as services:
        tool = {t.name: t for t in build_tools(services.assistant, tenant="acme")}
        reported = tool["search_knowledge_base"].invoke({"query": "annual leave"})
        record = services.assistant.answer(_turn())
    assert capsys.readouterr().err.strip() == "askloop: error: the knowledge base is unreachable"
    assert reported == "Error: the knowledge base is unreachable."
    assert record.trace[0].detail["reason"] == "store_unavailable"
    assert through_assistant == ["search", "search", "answer"]


# -- one search ---------------------------------------------------------------------------------


class RecordingStore:
    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.searches: list[dict[str, Any]] = []

    def search(self, **kwargs: Any) -> Any:
        self.searches.append(kwargs)
        return self._inner.search(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def test_cli_tool_and_graph_search_the_same_way_and_find_the_same_passages(
    parts, through_assistant, capsys
):
    recording = parts.store = RecordingStore(parts.store)
    query, k = "annual leave days", 3

    assert main(["search", query, "--k", str(k), "--mode", "hybrid", "--json"]) == 0
    cli = [h["chunk_id"] for h in json.loads(capsys.readouterr().out)["hits"]]
    with parts() as services:
        tool = {t.name: t for t in build_tools(services.assistant, tenant="acme")}
        passages = tool["search_knowledge_base"].invoke({"query": query, "k": k})
        context = services.context
    context = dataclasses.replace(
        context, store=recording, policy=dataclasses.replace(context.policy, k=k)
    )
    state = {"question": query, "tenant": "acme", "queries": [query], "rewrites": 1, "trace": []}
    with_data = retrieve(state, Runtime(context=context))  # type: ignore[arg-type]
    node = [h["chunk_id"] for h in with_data["hits"]]

    assert cli == node and len(cli) == k
    assert [p["title"] for p in passages] == [h["title"] for h in with_data["hits"]]
    first, *others = recording.searches
    for other in others:
        assert other.keys() == first.keys()
        assert {key: v for key, v in other.items() if key != "vector"} == {
            key: v for key, v in first.items() if key != "vector"
        }
        assert np.array_equal(other["vector"], first["vector"])
    assert len(recording.searches) == 3


# -- rating and the log never build what answering needs -----------------------------------------


def test_rating_searching_and_the_log_work_where_no_chat_model_can_be_built(
    parts, through_assistant, capsys, monkeypatch
):
    answer_id = an_answer(parts, through_assistant)
    parts.settings = parts.settings.model_copy(
        update={"models": ModelSettings(answer="nonsense:model", finetuned="nonsense:model")}
    )
    assert main(["rate", answer_id, "up"]) == 0
    assert main(["log", "--json"]) == 0
    assert main(["search", "annual leave", "--json"]) == 0
    assert main(["ask", QUESTION]) == 2
    assert "unknown model provider" in capsys.readouterr().err


def test_warm_up_loads_the_graders_word_list_before_the_first_question(parts, through_assistant):
    everyday_words.cache_clear()
    with parts() as services:
        asyncio.run(AsyncAssistant(services, workers=1, metrics=Metrics()).warm_up())
    assert everyday_words.cache_info().currsize == 1
    assert "login" in everyday_words()
