"""Answers as Block Kit messages; the typed values that travel through Slack."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from slack_sdk.models.blocks import Block

from askloop.agent.answers import AnswerRecord, Citation
from askloop.integrations.slack.render import (
    Budget,
    answer_messages,
    feedback_modal,
    notice,
    progress_message,
    route_label,
)
from askloop.integrations.slack.values import FeedbackValue, ModalState, TamperedValueError
from tests.records import answer_record

URL = "https://handbook.example.com/people/leave"


def record(answer="Every employee gets **26 days** [1].", **kw) -> AnswerRecord:
    fields = {
        "answer_id": "a" * 32,
        "answer": answer,
        "model": "fake:answer",
        "citations": (
            Citation(n=1, chunk_id="c1", title="Leave policy", source="leave.md", url=URL),
        ),
    }
    return answer_record(**(fields | kw))


def test_an_answer_is_one_message_with_text_route_sources_and_feedback():
    [message] = answer_messages(record())
    section, context, actions = message.blocks
    assert section["text"] == {
        "type": "mrkdwn",
        "text": f"Every employee gets *26 days* <{URL}|[1]>.",
        "verbatim": True,
    }
    assert [e["text"] for e in context["elements"]] == [
        "From the knowledge base",
        f"*Sources:* [1] <{URL}|Leave policy>",
    ]
    assert actions["type"] == "context_actions"
    buttons = actions["elements"][0]
    assert (buttons["type"], buttons["action_id"]) == ("feedback_buttons", "askloop_feedback")
    up = FeedbackValue.decode(buttons["positive_button"]["value"])
    down = FeedbackValue.decode(buttons["negative_button"]["value"])
    assert (up.answer_id, up.rating, down.rating) == ("a" * 32, "up", "down")
    assert message.text == "Every employee gets 26 days [1]."  # plain notification text
    for block in message.blocks:  # every block is valid Block Kit as slack_sdk knows it
        assert Block.parse(block) is not None


@pytest.mark.parametrize(
    ("route", "model", "label"),
    [
        ("retrieve", "m", "From the knowledge base"),
        ("rewrite", "m", "From the knowledge base"),
        ("finetuned", "fake:tuned", "From the tuned model"),
        ("finetuned", "none", ""),  # "not found": no model answered
    ],
)
def test_the_route_is_shown_discreetly(route, model, label):
    assert route_label(record(route=route, model=model)) == label


def test_a_page_cited_by_two_of_its_chunks_is_one_source():
    leave = record().citations[0]
    cited = (leave, replace(leave, n=2, chunk_id="c2"))
    [message] = answer_messages(record("26 days [1], 5 carried over [2].", citations=cited))
    context = message.blocks[1]
    assert context["elements"][1]["text"] == f"*Sources:* [1][2] <{URL}|Leave policy>"


def test_a_source_without_url_is_named_not_linked_and_many_sources_are_cut():
    citations = tuple(
        Citation(n=n, chunk_id=f"c{n}", title=f"Doc {n} " + "x" * 300, source=f"s{n}")
        for n in range(1, 30)
    )
    [message] = answer_messages(record(answer="See [1].", citations=citations))
    sources = message.blocks[1]["elements"][1]["text"]
    assert len(sources) <= 3000 and sources.endswith("…") and "<" not in sources


def test_an_apology_has_no_sources_route_or_buttons():
    [message] = answer_messages(
        record(answer="I can't reach the model.", error="model_unavailable", citations=())
    )
    assert [b["type"] for b in message.blocks] == ["section"]


def test_a_long_answer_is_split_and_the_buttons_end_the_last_message():
    answer = "\n\n".join(f"Part {n}. " + "words " * 400 for n in range(10))
    messages = answer_messages(record(answer=answer))
    assert len(messages) > 1
    for message in messages:
        sections = [b for b in message.blocks if b["type"] == "section"]
        assert all(len(b["text"]["text"]) <= 3000 for b in sections)
        assert sum(len(b["text"]["text"]) for b in sections) <= 12000
    kinds = [[b["type"] for b in m.blocks] for m in messages]
    assert all("context_actions" not in k for k in kinds[:-1])
    assert kinds[-1][-1] == "context_actions"
    smaller = answer_messages(record(answer=answer), Budget(3000, 3000))
    assert len(smaller) > len(messages)


def test_budgets_shrink_to_a_floor():
    budget: Budget | None = Budget()
    seen = []
    while budget is not None:
        seen.append((budget.section_chars, budget.message_chars))
        budget = budget.smaller()
    assert seen[0] == (3000, 12000) and seen[-1][0] >= 375 and len(seen) < 10


def test_drafts_and_notices_are_defanged():
    draft = progress_message("Working on <!channel> [it](https://evil.example.com)")
    assert "<" not in json.dumps(draft.blocks).replace("\\u", "")
    assert draft.blocks[0]["text"]["text"].endswith("…")
    assert notice("Sorry <@U1>").blocks[0]["text"]["text"] == "Sorry &lt;@U1&gt;"


def test_the_feedback_modal_carries_where_the_click_was():
    state = ModalState(answer_id="a" * 32, channel="C0GENERAL", thread_ts="1700000001.000100")
    view = feedback_modal(state)
    assert ModalState.decode(view["private_metadata"]) == state
    assert [b.get("block_id") for b in view["blocks"]] == [None, "reason", "correction"]
    assert view["blocks"][2]["optional"] is True
    assert len(view["title"]["text"]) <= 24


@pytest.mark.parametrize(
    "raw",
    [
        None,
        "click_me_123",
        '{"v": 1, "answer_id": "x", "rating": "sideways"}',
        '{"v": 2, "answer_id": "x", "rating": "up"}',
        '{"v": 1, "answer_id": "../../etc", "rating": "up"}',
        '{"v": 1, "answer_id": "x", "rating": "up", "admin": true}',
        '{"v": "1", "answer_id": "x", "rating": "up"}',
        "x" * 3000,
    ],
)
def test_values_that_askloop_did_not_produce_are_refused(raw):
    with pytest.raises(TamperedValueError):
        FeedbackValue.decode(raw)


def test_modal_state_refuses_odd_channels_and_timestamps():
    with pytest.raises(TamperedValueError):
        ModalState.decode('{"v": 1, "answer_id": "a", "channel": "<!here>"}')
    with pytest.raises(TamperedValueError):
        ModalState.decode('{"v": 1, "answer_id": "a", "channel": "C1", "thread_ts": "now"}')


def test_an_uncited_answer_from_the_knowledge_base_names_the_documents_it_consulted():
    from askloop.agent.answers import RetrievedChunk

    uncited = record(
        answer="Every employee gets 26 days.",
        citations=(),
        retrieved=(
            RetrievedChunk(
                chunk_id="c1", title="Leave policy", source="l.md", score=1, text="t", url=URL
            ),
            RetrievedChunk(chunk_id="c2", title="Holidays", source="h.md", score=1, text="t"),
        ),
        context=("c1", "c2"),
    )
    [message] = answer_messages(uncited)
    _, context, _ = message.blocks
    assert [e["text"] for e in context["elements"]] == [
        "From the knowledge base",
        f"*Consulted (not cited):* <{URL}|Leave policy>  ·  Holidays",
    ]
    [tuned] = answer_messages(
        record(
            route="finetuned",
            model="t",
            citations=(),
            **{"retrieved": uncited.retrieved, "context": uncited.context},
        )
    )
    assert [e["text"] for e in tuned.blocks[1]["elements"]] == ["From the tuned model"]
