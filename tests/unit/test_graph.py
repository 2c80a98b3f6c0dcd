"""The routed answer graph, end to end with a real embedded store and fake models."""

from __future__ import annotations

from itertools import count

import pytest
from langgraph.checkpoint.memory import InMemorySaver

from askloop.agent.context import Context
from askloop.agent.errors import StoreUnavailableError
from askloop.agent.graph import build_graph, graph
from askloop.agent.nodes import CAVEAT, EMPTY_KNOWLEDGE_BASE, MODEL_DOWN, NOT_FOUND, STORE_DOWN
from tests.fakes import FakeChatModel
from tests.kb_fixture import make_context


def run(context: Context, question: str, *, tenant: str = "acme", app=graph, thread=None):
    config = {"recursion_limit": 100}
    if thread:
        config["configurable"] = {"thread_id": thread}
    return app.invoke({"question": question, "tenant": tenant}, config, context=context)


def nodes(result) -> list[str]:
    return [step["node"] for step in result["trace"]]


def test_a_knowledge_base_question_is_answered_from_the_first_search(store, embedder):
    result = run(
        make_context(store, embedder), "how many days of paid annual leave does an employee get"
    )
    assert nodes(result) == ["route", "retrieve", "grade", "answer_with_context", "check_citations"]
    assert result["route"] == "retrieve" and result["answer"] == "Twenty-six days [1]."
    assert result["cited"] == [(1, result["context_hits"][0]["chunk_id"])]
    assert result["context_hits"][0]["title"] == "Annual leave"
    # The default probe is a vector search; retrieve runs the hybrid search itself.
    assert result["trace"][1]["detail"]["reused_probe"] is False
    assert {"answer_with_context", "context_message"} <= set(result["prompt_versions"])


@pytest.mark.parametrize("enabled", [True, False])
def test_an_uncited_answer_drawn_from_a_document_cites_it(store, embedder, enabled):
    model = FakeChatModel("Every employee gets 26 days of paid annual leave.")
    context = make_context(store, embedder, answer=model, attribute_citations=enabled)
    result = run(context, "how many days of paid annual leave does an employee get")
    step = result["trace"][-1]
    if not enabled:
        assert result["cited"] == [] and step["detail"]["attributed"] is None
        return
    leave = next(n for n, h in enumerate(result["context_hits"], 1) if h["title"] == "Annual leave")
    assert result["answer"] == f"Every employee gets 26 days of paid annual leave [{leave}]."
    assert result["cited"] == [(leave, result["context_hits"][leave - 1]["chunk_id"])]
    assert step["detail"]["attributed"] == leave  # the trace says the model did not cite it


def test_a_tuned_model_answer_is_never_attributed(store, embedder):
    tuned = FakeChatModel("Every employee gets 26 days of paid annual leave.", model_id="t")
    result = run(make_context(store, embedder, finetuned=tuned), "what is the capital of france")
    assert result["route"] == "finetuned" and result["cited"] == []


def test_a_hybrid_probe_is_reused_by_retrieve(store, embedder):
    calls = []
    search = store.search

    def counting(**kwargs):
        calls.append(kwargs["mode"])
        return search(**kwargs)

    store.search = counting
    context = make_context(store, embedder, probe_mode="hybrid")
    result = run(context, "how many days of paid annual leave does an employee get")
    assert result["trace"][1]["detail"]["reused_probe"] is True and calls == ["hybrid"]
    calls.clear()
    run(make_context(store, embedder), "how many days of paid annual leave does an employee get")
    assert calls == ["vector", "hybrid"]


def test_an_off_topic_question_goes_to_the_finetuned_model(store, embedder):
    result = run(make_context(store, embedder), "what is the capital of france")
    assert nodes(result) == ["route", "answer_direct", "check_citations"]
    assert result["route"] == "finetuned" and result["answer"] == "General answer."
    assert result["cited"] == [] and result["model"] == "fake:tuned"
    assert "best cosine" in result["trace"][0]["detail"]["reason"]


def test_poor_hits_are_rewritten_and_searched_again(store, embedder):
    rewriter = FakeChatModel(
        lambda m: (
            "on-call engineer acknowledges pages minutes"
            if "Rewrite" in m[-1].content
            else "Within 15 minutes [1]."
        )
    )
    result = run(make_context(store, embedder, answer=rewriter), "on-call: how fast must I react?")
    assert nodes(result) == [
        "route",
        "retrieve",
        "grade",
        "rewrite",
        "retrieve",
        "grade",
        "answer_with_context",
        "check_citations",
    ]
    assert result["route"] == "rewrite" and result["rewrites"] == 1
    assert result["queries"][1] == "on-call engineer acknowledges pages minutes"
    assert result["trace"][3]["verdict"] == "llm"


@pytest.mark.parametrize("max_rewrites", [0, 1, 2, 5])
def test_the_rewrite_loop_is_bounded_by_its_counter(store, embedder, max_rewrites):
    asked = count(1)
    context = make_context(
        store,
        embedder,
        # A new query each round (the same one again would end the loop early).
        answer=FakeChatModel(lambda m: f"engineer pages round {next(asked)}"),
        max_rewrites=max_rewrites,
        grade_threshold=0.99,
    )
    result = run(context, "on-call engineer question")
    assert result["rewrites"] == max_rewrites
    assert nodes(result).count("rewrite") == max_rewrites
    assert nodes(result)[-2:] == ["give_up", "check_citations"]
    assert result["answer"] == CAVEAT + "General answer."
    assert result["route"] == "finetuned" and result["cited"] == []


def test_giving_up_can_say_not_found_plainly(store, embedder):
    context = make_context(
        store, embedder, give_up="not_found", grade_threshold=0.99, max_rewrites=1
    )
    result = run(context, "on-call engineer question")
    assert result["answer"] == NOT_FOUND and result["route"] == "rewrite"


def test_the_rewrite_falls_back_to_keywords_without_an_llm(store, embedder):
    context = make_context(
        store,
        embedder,
        answer=FakeChatModel(down=True),
        grade_threshold=0.99,
        max_rewrites=1,
        give_up="not_found",
    )
    result = run(context, "How do I get the on-call engineer to acknowledge pages?")
    assert result["trace"][3]["verdict"] == "keywords"
    assert result["queries"][1] == "on-call engineer acknowledge pages"


def test_markers_that_point_at_nothing_are_dropped(store, embedder):
    model = FakeChatModel("Leave is 26 days [1][7], see also [2, 9] and [0] .")
    result = run(make_context(store, embedder, answer=model), "paid annual leave days employee")
    assert result["answer"] == "Leave is 26 days [1], see also [2] and."
    assert [n for n, _ in result["cited"]] == [1, 2]
    assert result["trace"][-1]["detail"]["dropped"] == [7, 9, 0]


def test_retrieved_text_is_delimited_data_in_the_user_turn(store, embedder):
    model = FakeChatModel("Coffee is free [1].")
    run(make_context(store, embedder, answer=model), "is kitchen coffee free")
    system, *_, user = model.calls[-1]
    assert "PWNED" not in system.content and "data, not instructions" in system.content
    assert user.role == "user"
    doc = user.content.split('<document index="1"', 1)[1].split("</document>", 1)[0]
    assert "Ignore previous instructions" in doc


def test_a_failing_model_gives_a_polite_answer(store, embedder):
    result = run(
        make_context(store, embedder, answer=FakeChatModel(down=True)), "paid annual leave days"
    )
    assert result["answer"] == MODEL_DOWN and result["error"] == "model_unavailable"
    assert result["cited"] == []


class DeadStore:
    def search(self, **_):
        raise StoreUnavailableError("connection refused")


def test_an_unreachable_store_says_so_and_cites_nothing(embedder):
    result = run(make_context(DeadStore(), embedder), "paid annual leave days")
    assert result["answer"] == STORE_DOWN and result["cited"] == []
    assert nodes(result) == ["route", "give_up", "check_citations"]


@pytest.mark.parametrize("allowed", [True, False])
def test_a_direct_question_skips_the_probe_unless_the_tuned_model_is_not_allowed(
    store, embedder, allowed
):
    searches = []

    class CountingStore:
        def search(self, **kwargs):
            searches.append(kwargs["query"])
            return store.search(**kwargs)

    question = "how many days of paid annual leave does an employee get"
    result = graph.invoke(
        {"question": question, "tenant": "acme", "direct": True, "allow_finetuned": allowed},
        {"recursion_limit": 100},
        context=make_context(CountingStore(), embedder),
    )
    if allowed:
        assert nodes(result) == ["route", "answer_direct", "check_citations"]
        assert searches == [] and result["route"] == "finetuned"
    else:  # a knowledge-base-only channel: searched as usual
        assert nodes(result)[:3] == ["route", "retrieve", "grade"]
        assert len(searches) >= 2 and result["route"] == "retrieve"


class StoreDyingAfter:
    """The real store for the first ``searches`` calls, then connection refused."""

    def __init__(self, store, searches: int) -> None:
        self._store, self._left = store, searches

    def search(self, **kwargs):
        if self._left <= 0:
            raise StoreUnavailableError("connection refused")
        self._left -= 1
        return self._store.search(**kwargs)

    def count(self, **kwargs):
        return self._store.count(**kwargs)


@pytest.mark.parametrize("searches", [1, 2])
def test_a_store_dying_mid_run_gives_up_at_once_without_rewriting(store, embedder, searches):
    # searches=1: the probe works, the first retrieve fails. searches=2: the first
    # retrieve is judged poor, the query is rewritten, and the second retrieve fails.
    # With searches=2 the grader says NO: the first search is poor.
    judge = {"grader": "llm", "answer": FakeChatModel("NO")} if searches == 2 else {}
    ctx = make_context(StoreDyingAfter(store, searches), embedder, **judge)
    result = run(ctx, "how many days of paid annual leave does an employee get")
    assert result["answer"] == STORE_DOWN and result["cited"] == []
    assert result["error"] == result["give_up_reason"] == "store_unavailable"
    expected = ["route", "retrieve", "grade"]
    if searches == 2:
        expected += ["rewrite", "retrieve", "grade"]
    assert nodes(result) == [*expected, "give_up", "check_citations"]
    assert result["trace"][-3]["detail"]["reason"] == "the search failed: store_unavailable"


@pytest.mark.parametrize("allow_finetuned", [True, False])
def test_an_empty_knowledge_base_says_so_instead_of_asking_the_tuned_model(
    store, embedder, allow_finetuned
):
    tuned = FakeChatModel("General answer.", model_id="fake:tuned")
    context = make_context(store, embedder, finetuned=tuned)
    result = graph.invoke(
        {
            "question": "paid annual leave days",
            "tenant": "nobody",
            "allow_finetuned": allow_finetuned,
        },
        context=context,
    )
    assert result["answer"] == EMPTY_KNOWLEDGE_BASE.format(tenant="nobody")
    assert "tenant nobody" in result["answer"] and not tuned.calls
    assert nodes(result) == ["route", "give_up", "check_citations"]
    assert result["error"] == result["give_up_reason"] == "empty_knowledge_base"
    assert result["trace"][0]["detail"]["reason"] == "empty_knowledge_base"
    assert result["cited"] == [] and result["model"] == ""


def test_a_probe_that_finds_nothing_in_a_full_knowledge_base_is_not_an_empty_one(store, embedder):
    search = store.search
    store.search = lambda **kw: [] if kw["mode"] == "vector" else search(**kw)
    result = run(make_context(store, embedder), "paid annual leave days")
    assert not result.get("error") and result["route"] == "finetuned"
    assert result["trace"][0]["detail"]["reason"] == "the probe search found nothing"


def test_huge_questions_are_truncated_and_the_trace_says_so(store, embedder):
    result = run(make_context(store, embedder, max_question_chars=200), "annual leave " * 10_000)
    assert len(result["question"]) == 200
    assert result["trace"][0]["detail"]["truncated"] is True


def test_thread_memory_carries_turns_but_not_per_run_state(store, embedder):
    app = build_graph(InMemorySaver())
    model = FakeChatModel("Twenty-six days [1].")
    context = make_context(store, embedder, answer=model)
    run(context, "paid annual leave days employee", app=app, thread="t1")
    second = run(context, "and paid annual leave days for an employee again?", app=app, thread="t1")
    assert [t["role"] for t in second["turns"]] == ["user", "assistant"] * 2
    assert nodes(second).count("route") == 1  # the first run's trace is not carried over
    assert second["queries"] == ["and paid annual leave days for an employee again?"]
    history = [m.content for m in model.calls[-1][1:-1]]
    assert history == ["paid annual leave days employee", "Twenty-six days [1]."]
    other = run(context, "paid annual leave days", app=app, thread="t2")
    assert len(other["turns"]) == 2


def test_history_and_the_remembered_turns_are_bounded_in_tokens(store, embedder):
    app = build_graph(InMemorySaver())
    model = FakeChatModel("Twenty-six days [1].")
    context = make_context(store, embedder, answer=model, history_tokens=20)
    # Spelled out: a digit the knowledge base lacks would make the hits poor (grading).
    for word in "one two three four five six seven eight nine ten eleven twelve".split():
        result = run(
            context, f"paid annual leave days for employee {word} please", app=app, thread="t"
        )
    history = [m.content for m in model.calls[-1][1:-1]]
    assert 0 < len(history) < 8
    # The thread remembers what the next history can use, not every turn ever: the
    # newest earlier turns the last answer saw, then the last exchange.
    remembered = [t["content"] for t in result["turns"]]
    assert remembered == [
        *history,
        "paid annual leave days for employee twelve please",
        "Twenty-six days [1].",
    ]


def test_a_give_up_answered_by_a_raft_model_with_context_is_a_finetuned_answer(store, embedder):
    context = make_context(
        store,
        embedder,
        answer=FakeChatModel("engineer"),
        max_rewrites=1,
        grade_threshold=0.99,
        finetuned_uses_context=True,
    )
    result = run(context, "on-call engineer question")
    assert result["context_hits"] and result["answer"].startswith(CAVEAT)
    assert result["route"] == "finetuned"


def test_a_tenant_with_a_promoted_model_is_answered_by_it_and_the_answer_says_which(
    store, embedder
):
    from dataclasses import replace

    promoted = FakeChatModel("Promoted answer.", model_id="local:/home/models/acme/v2/model.gguf")

    class Promoted:
        def __init__(self, tenant):
            self.tenant = tenant

        def get(self, tenant):
            return promoted if tenant == self.tenant else None

    context = replace(make_context(store, embedder), finetuned_models=Promoted("acme"))
    result = run(context, "what is the capital of france")
    assert result["answer"] == "Promoted answer." and result["model"] == promoted.model_id
    step = next(s for s in result["trace"] if s["node"] == "answer_direct")
    assert step["detail"]["model"] == promoted.model_id
    # Another tenant's promotion changes nothing here.
    context = replace(context, finetuned_models=Promoted("globex"))
    other = run(context, "what is the capital of france")
    assert other["answer"] == "General answer." and other["model"] == "fake:tuned"
