"""The rewrite step takes a model's new query only when it is one: never the prompt's
own words, a bare label, nothing, or the question or an earlier query again."""

from __future__ import annotations

import pytest

from askloop.agent.graph import graph
from askloop.agent.rewriting import accepted_rewrite, keyword_rewrite, normalised
from askloop.prompts import load_prompt
from tests.fakes import FakeChatModel
from tests.kb_fixture import make_context

QUESTION = "How do I get the on-call engineer to acknowledge pages?"
KEYWORDS = "on-call engineer acknowledge pages"


def run_with_rewriter(store, embedder, reply: str, *, question: str = QUESTION, rewrites=1):
    """One poor search, then a rewrite by a model that replies ``reply``."""

    def answer(messages):
        return reply if "Rewrite the search query" in messages[-1].content else "Answer [1]."

    context = make_context(
        store,
        embedder,
        answer=FakeChatModel(answer),
        grade_threshold=0.99,
        max_rewrites=rewrites,
        give_up="not_found",
    )
    return graph.invoke(
        {"question": question, "tenant": "acme"}, {"recursion_limit": 50}, context=context
    )


def rewrite_steps(result):
    return [s for s in result["trace"] if s["node"] == "rewrite"]


@pytest.mark.parametrize(
    ("reply", "why"),
    [
        ("Rewrite the search query to:", "only a label"),
        ("Rewrite the search query so a keyword search finds it", "echoes the prompt"),
        ("", "empty reply"),
        ("  \n ``` \n", "empty reply"),
        ('"..."', "no query in the reply"),
        (QUESTION, "same as the question"),
        ("how do i get the ON-CALL engineer, to acknowledge pages", "same as the question"),
        (f"Question: {QUESTION}", "same as the question"),
    ],
)
def test_a_bad_model_rewrite_falls_back_to_the_keyword_rewrite(store, embedder, reply, why):
    result = run_with_rewriter(store, embedder, reply)
    [step] = rewrite_steps(result)
    assert step["verdict"] == "keywords"
    assert result["queries"] == [QUESTION, KEYWORDS]
    assert step["detail"]["rejected"]["why"] == why


def test_a_rewrite_identical_to_an_earlier_query_is_not_searched_again(store, embedder):
    result = run_with_rewriter(store, embedder, "pager acknowledgement time", rewrites=3)
    queries = result["queries"]
    assert queries[:2] == [QUESTION, "pager acknowledgement time"]
    assert len({normalised(q) for q in queries}) == len(queries)
    assert rewrite_steps(result)[1]["detail"]["rejected"]["why"] == "same as an earlier query"


@pytest.mark.parametrize(
    "reply",
    [
        'New query: "pager acknowledgement time"',
        "**Rewritten query:** pager acknowledgement time",
        "Here is the rewritten search query:\n\n`pager acknowledgement time`",
        "- 'pager acknowledgement time'.",
        "Sure! Search query: pager acknowledgement time",
    ],
)
def test_echoed_labels_and_quotes_are_stripped_from_a_model_rewrite(store, embedder, reply):
    result = run_with_rewriter(store, embedder, reply)
    [step] = rewrite_steps(result)
    assert step["verdict"] == "llm" and result["queries"][1] == "pager acknowledgement time"


def test_a_colon_that_belongs_to_the_query_is_kept():
    query, _ = accepted_rewrite(
        "on-call: acknowledgement deadline",
        question="on-call: how fast must I react?",
        earlier=[],
        prompt=load_prompt("rewrite_query").text,
    )
    assert query == "on-call: acknowledgement deadline"


def test_the_keyword_rewrite_never_repeats_a_query():
    assert keyword_rewrite("What is the refractometer?", [], []) == "refractometer"
    assert keyword_rewrite("refractometer loan", ["refractometer loan"], ["Lab kit"]) == (
        "refractometer loan lab kit"
    )
    assert keyword_rewrite("refractometer loan", ["refractometer loan", "x"], []) == "refractometer"
    assert keyword_rewrite("refractometer", ["refractometer"], []) is None


def test_when_no_new_query_can_be_made_the_run_gives_up_without_searching_again(store, embedder):
    # A one-word question, a model that repeats it, and hits whose titles add nothing:
    # every possible rewrite was searched already.
    search = store.search

    def kitchen_only(**kwargs):
        return [h for h in search(**kwargs) if h.chunk.title == "Kitchen"]

    store.search = kitchen_only
    result = run_with_rewriter(store, embedder, "Kitchen?", question="kitchen", rewrites=2)
    [step] = rewrite_steps(result)
    assert step["verdict"] == "no_new_query"
    assert result["queries"] == ["kitchen"]
    assert [s["node"] for s in result["trace"]] == [
        "route",
        "retrieve",
        "grade",
        "rewrite",
        "give_up",
        "check_citations",
    ]
    assert result["trace"][-2]["detail"]["reason"] == "no_new_query"
