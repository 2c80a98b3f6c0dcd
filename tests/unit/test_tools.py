"""The plugin surface: askloop's LangChain tools, as a calling agent sees and uses them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, ToolMessage
from langchain_core.utils.function_calling import convert_to_openai_tool
from langgraph.checkpoint.memory import InMemorySaver
from pydantic import Field

import askloop.tools
import askloop.tools.knowledge
from askloop.agent.errors import InvalidInputError, StoreUnavailableError
from askloop.agent.graph import build_graph
from askloop.agent.nodes import STORE_DOWN
from askloop.agent.service import Assistant
from askloop.config.settings import Settings, SettingsError
from askloop.integrations import wiring
from askloop.integrations.answer_log.sql_log import SqlAnswerLog
from askloop.prompts import load_prompt
from askloop.tools import build_tools
from tests.fakes import FakeChatModel
from tests.unit.conftest import make_context

ROOT = Path(__file__).resolve().parents[2]
HIT_KEYS = {"n", "title", "source", "url", "score", "text"}


@pytest.fixture
def answer_log(tmp_path):
    log = SqlAnswerLog.sqlite(tmp_path / "log.db")
    yield log
    log.close()


def assistant_for(context, answer_log) -> Assistant:
    return Assistant(graph=build_graph(InMemorySaver()), context=context, answer_log=answer_log)


@pytest.fixture
def assistant(store, embedder, answer_log):
    return assistant_for(make_context(store, embedder), answer_log)


@pytest.fixture
def by_name(assistant) -> dict[str, Any]:
    return {t.name: t for t in build_tools(assistant, tenant="acme")}


class DownStore:
    """A knowledge base that cannot be reached (or, with ``error``, fails another way)."""

    def __init__(self, error: Exception | None = None) -> None:
        self.error = error or StoreUnavailableError("the knowledge base is unreachable")

    def search(self, **_: Any):
        raise self.error

    def count(self, **_: Any) -> int:
        raise self.error


# -- what an agent sees ----------------------------------------------------------------------


TOOLS = ["search_knowledge_base", "ask", "ask_finetuned_model", "rate_answer"]


def test_the_tools_have_names_descriptions_and_typed_described_arguments(by_name):
    assert list(by_name) == TOOLS
    for tool in by_name.values():
        assert len(tool.description) > 80
        schema = tool.args_schema.model_json_schema()
        assert all(p.get("description") for p in schema["properties"].values()), tool.name
        assert tool.handle_tool_error is True
    search = by_name["search_knowledge_base"].args_schema.model_json_schema()
    assert search["required"] == ["query"]
    assert search["properties"]["query"]["type"] == "string"
    k = search["properties"]["k"]
    assert (k["type"], k["default"], k["minimum"], k["maximum"]) == ("integer", 5, 1, 20)
    ask = by_name["ask"].args_schema.model_json_schema()
    assert ask["required"] == ["question"] and ask["properties"]["thread_id"]["default"] == ""
    assert set(by_name["ask_finetuned_model"].args) == {"question"}
    rate = by_name["rate_answer"].args_schema.model_json_schema()
    assert rate["required"] == ["answer_id", "rating"]
    # No tool lets the agent pick a tenant.
    assert all("tenant" not in t.args for t in by_name.values())
    assert "knowledge base" in by_name["search_knowledge_base"].description
    assert "without searching" in by_name["ask_finetuned_model"].description
    # What a chat model is given for the tool.
    spec = convert_to_openai_tool(by_name["search_knowledge_base"])["function"]
    assert spec["parameters"]["properties"]["k"]["maximum"] == 20


# -- search_knowledge_base -------------------------------------------------------------------


def test_search_returns_the_best_passages_first_as_json(by_name, assistant):
    hits = by_name["search_knowledge_base"].invoke({"query": "paid annual leave days", "k": 2})
    assert isinstance(hits, list) and 1 <= len(hits) <= 2
    assert [h["n"] for h in hits] == list(range(1, len(hits) + 1))
    assert all(set(h) == HIT_KEYS for h in hits)
    assert hits[0]["title"] == "Annual leave" and hits[0]["source"] == "/kb/leave.md"
    assert "26 days" in hits[0]["text"]
    assert hits[0]["score"] >= hits[-1]["score"]
    json.dumps(hits)
    # Searching writes no answer and calls no chat model.
    assert assistant.context.answer_model.calls == []


@pytest.mark.parametrize("k", [0, 21, -3])
def test_k_out_of_bounds_is_a_message_naming_k(by_name, k):
    out = by_name["search_knowledge_base"].invoke({"query": "leave", "k": k})
    assert isinstance(out, str) and out.startswith("Invalid arguments: k:")


def test_search_only_sees_the_tenant_the_tools_were_built_for(assistant):
    search = build_tools(assistant, tenant="globex")[0]
    out = search.invoke({"query": "paid annual leave days"})
    assert out == "The knowledge base is empty: no documents have been added yet."
    with pytest.raises(SettingsError, match="invalid tenant"):
        build_tools(assistant, tenant="")


def test_a_search_the_store_cannot_serve_is_a_clear_message(embedder, answer_log):
    down = assistant_for(make_context(DownStore(), embedder), answer_log)
    search, ask, *_ = build_tools(down, tenant="acme")
    assert search.invoke({"query": "leave"}) == "Error: the knowledge base is unreachable."
    # `ask` still answers, saying the knowledge base is down.
    assert ask.invoke({"question": "paid annual leave days"})["answer"] == STORE_DOWN


def test_an_unexpected_failure_is_a_generic_message_and_the_detail_is_logged(
    embedder, answer_log, caplog
):
    store = DownStore(RuntimeError("lance exploded"))
    broken = assistant_for(make_context(store, embedder), answer_log)
    out = build_tools(broken, tenant="acme")[0].invoke({"query": "leave"})
    assert out == "askloop failed unexpectedly; the details are in its log. Try again later."
    assert "lance exploded" in caplog.text and "lance" not in out


# -- ask ---------------------------------------------------------------------------------------


def test_ask_returns_the_routed_answer_with_citations_and_logs_it(by_name, answer_log):
    out = by_name["ask"].invoke({"question": "how many days of paid annual leave do I get"})
    assert set(out) == {"answer", "route", "citations", "answer_id"}
    assert out["answer"] == "Twenty-six days [1]." and out["route"] == "retrieve"
    assert out["citations"] == [
        {"n": 1, "title": "Annual leave", "url": "", "source": "/kb/leave.md"}
    ]
    logged = answer_log.get_answer(out["answer_id"], tenant="acme")
    assert logged is not None
    assert (logged.record.platform, logged.record.answer) == ("tool", out["answer"])
    json.dumps(out)
    out = by_name["ask"].invoke({"question": "what is the capital of france"})
    assert (out["route"], out["answer"], out["citations"]) == ("finetuned", "General answer.", [])


def test_ask_remembers_a_thread(by_name, answer_log):
    ask = by_name["ask"]
    ask.invoke({"question": "paid annual leave days", "thread_id": "t-1"})
    out = ask.invoke({"question": "paid annual leave days again", "thread_id": "t-1"})
    record = answer_log.get_answer(out["answer_id"]).record
    assert record.conversation_id == "t-1"
    assert [h["role"] for h in record.history] == ["user", "assistant"]


# -- ask_finetuned_model ---------------------------------------------------------------------


def test_ask_finetuned_model_asks_only_that_model_and_logs_the_answer(
    by_name, assistant, answer_log
):
    # A knowledge-base question: `ask` would search; this tool must not.
    out = by_name["ask_finetuned_model"].invoke({"question": "paid annual leave days"})
    assert set(out) == {"answer", "model", "answer_id"}
    assert (out["answer"], out["model"]) == ("General answer.", "fake:tuned")
    ctx = assistant.context
    assert ctx.answer_model.calls == []
    [messages] = ctx.finetuned_model.calls
    assert [(m.role, m.content) for m in messages] == [
        ("system", load_prompt("answer_direct").text),
        ("user", "paid annual leave days"),
    ]
    logged = answer_log.get_answer(out["answer_id"], tenant="acme").record
    assert (logged.platform, logged.route, logged.answer) == ("tool", "finetuned", out["answer"])
    assert logged.retrieved == () and logged.citations == ()
    [route, direct, _check] = logged.trace
    assert route.node == "route" and route.detail["policy"] == "direct"
    assert route.detail["probe_hits"] == 0
    assert direct.node == "answer_direct"
    # It can be rated like any answer.
    assert assistant.rate(answer_id=out["answer_id"], rating="up", user="agent", source="cli")


def test_a_finetuned_model_that_is_down_is_a_clear_message(store, embedder, answer_log):
    down = FakeChatModel(model_id="fake:tuned", down=True)
    helper = assistant_for(make_context(store, embedder, finetuned=down), answer_log)
    out = build_tools(helper, tenant="acme")[2].invoke({"question": "hello"})
    assert out == "Error: the fine-tuned model is unavailable; try again later."
    # The failed attempt is still in the log, with its error.
    [logged] = answer_log.recent()
    assert logged.record.error == "model_unavailable"


# -- rate_answer -----------------------------------------------------------------------------


def test_an_agent_passes_on_ratings_stored_like_any_other(by_name, answer_log):
    answer_id = by_name["ask"].invoke({"question": "how many days of paid annual leave"})[
        "answer_id"
    ]
    rate = by_name["rate_answer"]
    out = rate.invoke(
        {
            "answer_id": answer_id,
            "rating": "down",
            "reason": "too vague",
            "correction": "26 days a year.",
            "user": "U1",
        }
    )
    assert out == {"answer_id": answer_id, "rating": "down", "ups": 0, "downs": 1}
    logged = answer_log.get_answer(answer_id)
    assert (logged.rating, logged.reason, logged.correction) == (
        "down",
        "too vague",
        "26 days a year.",
    )
    # The same user changes their mind: the latest rating wins; another user adds one.
    rate.invoke({"answer_id": answer_id, "rating": "up", "user": "U1"})
    out = rate.invoke({"answer_id": answer_id, "rating": "up"})
    assert (out["ups"], out["downs"]) == (2, 0)


def test_rating_an_unknown_or_foreign_answer_is_a_message(by_name, assistant, answer_log):
    out = by_name["rate_answer"].invoke({"answer_id": "nope", "rating": "up"})
    assert isinstance(out, str) and out.startswith("Error:") and "nope" in out
    answer_id = by_name["ask"].invoke({"question": "paid annual leave days"})["answer_id"]
    globex = {t.name: t for t in build_tools(assistant, tenant="globex")}
    out = globex["rate_answer"].invoke({"answer_id": answer_id, "rating": "up"})
    assert isinstance(out, str) and out.startswith("Error:")
    assert answer_log.get_answer(answer_id).rating is None  # nothing recorded
    bad = by_name["rate_answer"].invoke({"answer_id": answer_id, "rating": "meh"})
    assert bad.startswith("Invalid arguments: rating")


# -- errors reach the agent as messages --------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("search_knowledge_base", {"query": ""}),
        ("search_knowledge_base", {"query": " \u200b "}),
        ("ask", {"question": "   "}),
        ("ask_finetuned_model", {"question": "\n\t"}),
    ],
)
def test_an_empty_query_or_question_is_a_message_not_an_exception(by_name, assistant, name, args):
    out = by_name[name].invoke(args)
    assert isinstance(out, str) and out.startswith("Invalid input: the") and "empty" in out
    assert assistant.context.finetuned_model.calls == []


# -- inside a LangGraph agent ------------------------------------------------------------------


class ToolCallingFake(GenericFakeChatModel):
    bound: list[str] = Field(default_factory=list)

    def bind_tools(self, tools, **kwargs):
        self.bound.extend(convert_to_openai_tool(t)["function"]["name"] for t in tools)
        return self


@pytest.mark.filterwarnings("ignore:create_react_agent has been moved")
def test_the_tools_work_in_a_prebuilt_react_agent(assistant):
    from langgraph.prebuilt import create_react_agent

    calls = [
        {"name": "search_knowledge_base", "args": {"query": "annual leave"}, "id": "c1"},
        {"name": "ask", "args": {"question": ""}, "id": "c2"},
    ]
    replies = [AIMessage("", tool_calls=calls), AIMessage("Everyone gets 26 days.")]
    model = ToolCallingFake(messages=iter(replies))
    agent = create_react_agent(model, build_tools(assistant, tenant="acme"))
    result = agent.invoke({"messages": [("user", "how much leave do we get?")]})
    assert model.bound == TOOLS
    found, refused = [m for m in result["messages"] if isinstance(m, ToolMessage)]
    assert json.loads(found.content)[0]["title"] == "Annual leave"
    assert refused.status == "error" and "empty" in refused.content
    assert result["messages"][-1].content == "Everyone gets 26 days."


# -- the plugin-host entry point ---------------------------------------------------------------


def test_importing_tools_does_no_work():
    heavy = {"torch", "lancedb", "sentence_transformers", "xllamacpp", "anthropic", "openai"}
    code = (
        "import sys, askloop.tools; print(sorted(m for m in sys.modules if m.split('.')[0] in "
        f"{heavy} or m.startswith('askloop.integrations')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]"


def test_load_tools_wires_askloop_once_on_first_call(monkeypatch):
    wiring.forget_process_services()
    built: list[tuple[Any, str]] = []
    real = askloop.tools.knowledge.build_tools

    def spy(assistant, *, tenant):
        built.append((assistant, tenant))
        return real(assistant, tenant=tenant)

    monkeypatch.setattr(askloop.tools.knowledge, "build_tools", spy)
    try:
        first = askloop.tools.load_tools()
        askloop.tools.load_tools(tenant="acme")
        assert [t.name for t in first] == TOOLS
        assert [tenant for _, tenant in built] == ["default", "acme"]
        assert built[0][0] is built[1][0] is wiring.process_services().assistant
    finally:
        wiring.forget_process_services()


def test_tools_share_the_wiring_a_running_command_installed(tmp_path):
    with wiring.Services(Settings(home=tmp_path)) as services, wiring.using_services(services):
        askloop.tools.load_tools()
        assert wiring.process_services() is services
    assert wiring._process is None


def test_load_tools_fails_loudly_on_a_bad_configuration_and_keeps_nothing(monkeypatch):
    wiring.forget_process_services()
    monkeypatch.setenv("ASKLOOP_ANSWER_MODEL", "nonsense:model")
    with pytest.raises(InvalidInputError, match="unknown model provider"):
        askloop.tools.load_tools()
    assert wiring._process is None
