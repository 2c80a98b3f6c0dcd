"""The graph LangGraph hosts run (langgraph.json), called as a host calls it: a question
only, no askloop context; the process's wiring holds fakes at the seams."""

from __future__ import annotations

import pytest
from langgraph.checkpoint.memory import InMemorySaver

from askloop.agent.errors import InvalidInputError
from askloop.config.settings import Settings
from askloop.integrations import wiring
from askloop.integrations.host_graph import graph
from tests.fakes import FakeChatModel, HashingEmbedder
from tests.kb_fixture import make_context, make_kb_store

LEAVE = "How many days of annual leave do employees get?"
OUTPUT_KEYS = {"answer_id", "question", "tenant", "answer", "route", "citations"}


@pytest.fixture
def services(tmp_path):
    """The process's wiring, as settings make it, with fake models and a small store."""
    settings = Settings(
        home=tmp_path / "home",
        default_tenant="acme",
        models={"answer": "openai:answer", "finetuned": "openai:tuned"},
        graph={"route_threshold": 0.3, "grade_threshold": 0.5},
    )
    embedder = HashingEmbedder()
    store = make_kb_store(tmp_path / "kb", embedder)
    chat_models = {
        "openai:answer": FakeChatModel("Twenty-six days [1]."),
        "openai:tuned": FakeChatModel("General answer.", model_id="fake:tuned"),
    }
    with (
        wiring.Services(settings, embedder=embedder, store=store, chat_models=chat_models) as s,
        wiring.using_services(s),
    ):
        yield s
    store.close()


def test_a_question_alone_is_answered_for_the_default_tenant_and_logged(services):
    out = graph.invoke({"question": f"  {LEAVE}  "})

    assert set(out) == OUTPUT_KEYS
    assert out["tenant"] == "acme" and out["question"] == LEAVE
    assert out["answer"] == "Twenty-six days [1]." and out["route"] == "retrieve"
    assert [(c["n"], c["title"]) for c in out["citations"]] == [(1, "Annual leave")]
    logged = services.answer_log.get_answer(out["answer_id"], tenant="acme")
    assert logged is not None
    record = logged.record
    assert (record.platform, record.question, record.answer) == ("langgraph", LEAVE, out["answer"])
    assert record.route == "retrieve" and record.citations[0].title == "Annual leave"
    assert [s.node for s in record.trace][:2] == ["route", "retrieve"]
    assert record.retrieved and record.prompt_versions


def test_the_steps_use_the_context_built_from_settings(services):
    out = graph.invoke({"question": "Who wrote Hamlet?"}, context={})  # a host's JSON context

    assert out["route"] == "finetuned" and out["answer"] == "General answer."
    assert services.chat_model("openai:tuned").calls
    assert services.answer_log.get_answer(out["answer_id"]).record.model == "fake:tuned"


def test_a_callers_own_context_is_used_and_the_answer_still_logged(services, tmp_path):
    embedder = HashingEmbedder()
    own = make_context(
        make_kb_store(tmp_path / "own", embedder), embedder, answer=FakeChatModel("Mine [1].")
    )
    out = graph.invoke({"question": LEAVE, "tenant": "acme"}, context=own)

    assert out["answer"] == "Mine [1]."
    assert not services.chat_model("openai:answer").calls
    assert services.answer_log.get_answer(out["answer_id"]).record.answer == "Mine [1]."


def test_a_hosts_thread_is_the_conversation_and_its_memory(services):
    threaded = graph.copy({"checkpointer": InMemorySaver()})
    config = {"configurable": {"thread_id": "t-1"}}
    first = threaded.invoke({"question": LEAVE}, config)
    second = threaded.invoke({"question": "And on-call?"}, config)

    records = [services.answer_log.get_answer(o["answer_id"]).record for o in (first, second)]
    assert [r.conversation_id for r in records] == ["t-1", "t-1"]
    assert records[1].history[0] == {"role": "user", "content": LEAVE}


@pytest.mark.parametrize(
    ("inputs", "message"),
    [({"question": "   "}, "empty"), ({"question": "Hi?", "tenant": "no such/tenant"}, "tenant")],
)
def test_unusable_input_is_refused(services, inputs, message):
    with pytest.raises(InvalidInputError, match=message):
        graph.invoke(inputs)


def test_the_input_and_output_schemas_are_valid_json_schema():
    inputs = graph.get_input_jsonschema()
    outputs = graph.get_output_jsonschema()

    assert inputs["required"] == ["question"] and set(inputs["properties"]) == {
        "question",
        "tenant",
    }
    assert set(outputs["properties"]) == OUTPUT_KEYS
    assert outputs["properties"]["route"]["enum"] == ["retrieve", "rewrite", "finetuned"]
    # No context schema: a host's JSON context is never coerced into askloop's Context.
    assert graph.get_context_jsonschema() is None
