"""Answers as Teams activities: citations within Teams' limits, AI label, feedback loop."""

from __future__ import annotations

from dataclasses import replace

import pytest

from askloop.agent.answers import AnswerRecord, Citation, RetrievedChunk
from askloop.integrations.teams.rendering import (
    ABSTRACT_MAX,
    KEYWORDS_MAX,
    NAME_MAX,
    answer_activity,
    mark_stream_final,
    stream_update,
    strip_stream,
    welcome_activity,
    wire,
)
from tests.records import answer_record

LONG_TITLE = "Travel and expenses policy for employees of every Northwind office worldwide " * 2
LONG_TEXT = "Hotels in London may cost up to EUR 260 per night, taxes included. " * 10


def record(**overrides) -> AnswerRecord:
    fields = dict(
        platform="teams",
        question="What's the most I can spend on a hotel in London?",
        answer="Up to EUR 260 a night [1], booked through Tally [2].",
        model="fake:answer",
        citations=(
            Citation(
                n=1,
                chunk_id="c1",
                title=LONG_TITLE,
                source="people/travel.md",
                url="https://handbook.example.com/people/travel.md",
            ),
            Citation(n=2, chunk_id="c2", title="Tally", source="/kb/tally.md", url="/kb/tally.md"),
        ),
        retrieved=(
            RetrievedChunk(
                chunk_id="c1",
                title=LONG_TITLE,
                source="people/travel.md",
                score=0.9,
                text=LONG_TEXT,
                heading_path=(
                    "Travel",
                    "Hotels",
                    "Limits per city in Europe and the UK",
                    "Hotels",
                    "London",
                    "Extra",
                ),
            ),
            RetrievedChunk(
                chunk_id="c2",
                title="Tally",
                source="/kb/tally.md",
                score=0.8,
                text="Book   every\\ntrip in Tally.",
            ),
        ),
    )
    return answer_record(**(fields | overrides))


def message_entity(activity: dict) -> dict:
    (entity,) = [e for e in activity["entities"] if e["type"] == "https://schema.org/Message"]
    return entity


def test_askloops_feedback_form_switches_the_loop_to_custom():
    activity = wire(answer_activity(record(), feedback="custom"))

    assert activity["channelData"] == {
        "feedbackLoop": {"type": "custom"},
        "feedbackLoopEnabled": True,
    }


def test_an_answer_carries_citations_the_ai_label_and_the_feedback_loop():
    activity = wire(answer_activity(record()))

    assert activity["type"] == "message"
    assert activity["textFormat"] == "markdown"
    assert activity["text"].startswith("Up to EUR 260 a night [1], booked through Tally [2].")
    assert activity["channelData"] == {
        "feedbackLoop": {"type": "default"},
        "feedbackLoopEnabled": True,
    }
    entity = message_entity(activity)
    assert entity["@type"] == "Message"
    assert entity["@context"] == "https://schema.org"
    assert entity["additionalType"] == ["AIGeneratedContent"]
    first, second = entity["citation"]
    assert first["@type"] == "Claim" and first["position"] == 1
    appearance = first["appearance"]
    assert appearance["@type"] == "DigitalDocument"
    assert len(appearance["name"]) <= NAME_MAX and appearance["name"].endswith("…")
    assert len(appearance["abstract"]) <= ABSTRACT_MAX
    assert appearance["abstract"].startswith("Hotels in London may cost up to EUR 260")
    assert appearance["url"] == "https://handbook.example.com/people/travel.md"
    assert len(appearance["keywords"]) == KEYWORDS_MAX
    assert appearance["keywords"][:2] == ["Travel", "Hotels"]  # repeated headings once
    assert all(len(k) <= 28 for k in appearance["keywords"])
    assert second["position"] == 2
    assert second["appearance"]["abstract"] == "Book every\\ntrip in Tally."
    assert "url" not in second["appearance"]  # a file path is no link


def test_a_page_cited_by_two_of_its_chunks_is_one_citation_at_its_first_marker():
    travel = record().citations[0]
    again = replace(travel, n=3, chunk_id="c3")
    activity = wire(
        answer_activity(
            record(
                answer="Up to EUR 260 a night [1][3], booked through Tally [2]; receipts [3].",
                citations=(*record().citations, again),
            )
        )
    )
    assert activity["text"].startswith(
        "Up to EUR 260 a night [1], booked through Tally [2]; receipts [1]."
    )
    assert [c["position"] for c in message_entity(activity)["citation"]] == [1, 2]


@pytest.mark.parametrize(
    ("route", "note"),
    [
        ("retrieve", "_Answered from the knowledge base._"),
        ("rewrite", "_Answered from the knowledge base after refining the search._"),
        ("finetuned", "_Answered by the tuned model, not from a knowledge-base document._"),
    ],
)
def test_the_route_is_the_discreet_last_line(route, note):
    text = wire(answer_activity(record(route=route)))["text"]
    assert text.endswith(f"\n\n{note}")


def test_an_answer_without_sources_still_has_the_ai_label():
    activity = wire(answer_activity(record(route="finetuned", citations=(), retrieved=())))
    entity = message_entity(activity)
    assert entity["additionalType"] == ["AIGeneratedContent"]
    assert entity["citation"] == []


def test_an_apology_is_plain_text_without_label_or_buttons():
    activity = wire(
        answer_activity(
            record(
                answer="Sorry, the knowledge base is unavailable.",
                error="store_unavailable",
                citations=(),
            )
        )
    )
    assert activity["text"] == "Sorry, the knowledge base is unavailable."
    assert "entities" not in activity and "channelData" not in activity


def test_stream_updates_and_the_final_marking():
    update = wire(stream_update("informative", "x" * 2000, sequence=1, stream_id=None))
    assert update["type"] == "typing"
    assert len(update["text"]) <= 1000
    assert update["entities"] == [
        {"type": "streaminfo", "streamType": "informative", "streamSequence": 1}
    ]
    assert update["channelData"] == {"streamType": "informative", "streamSequence": 1}

    later = wire(stream_update("streaming", "Every employee", sequence=2, stream_id="s1"))
    assert later["entities"][0]["streamId"] == "s1"
    assert later["channelData"]["streamId"] == "s1"

    final = mark_stream_final(answer_activity(record()), "s1")
    wired = wire(final)
    assert {"type": "streaminfo", "streamType": "final", "streamId": "s1"} in wired["entities"]
    assert wired["channelData"]["streamType"] == "final"
    assert wired["channelData"]["feedbackLoop"] == {"type": "default"}

    plain = wire(strip_stream(final))
    assert all(e["type"] != "streaminfo" for e in plain["entities"])
    assert plain["channelData"] == {
        "feedbackLoop": {"type": "default"},
        "feedbackLoopEnabled": True,
    }


def test_the_welcome_suggests_three_questions_and_offers_buttons_in_personal_chats():
    prompts = ("One?", "Two?", "Three?", "Four?")
    personal = wire(welcome_activity(prompts, personal=True, mention=False))
    assert "- One?\n- Two?\n- Three?" in personal["text"] and "Four?" not in personal["text"]
    actions = personal["suggestedActions"]["actions"]
    assert [(a["type"], a["value"]) for a in actions] == [
        ("imBack", "One?"),
        ("imBack", "Two?"),
        ("imBack", "Three?"),
    ]
    channel = wire(welcome_activity(prompts, personal=False, mention=True))
    assert "Mention me" in channel["text"]
    assert "suggestedActions" not in channel


def test_an_uncited_answer_from_the_knowledge_base_names_the_documents_it_consulted():
    url = "https://handbook.example.com/people/travel.md"
    first, second = record().retrieved
    uncited = record(
        citations=(),
        retrieved=(replace(first, url=url), second),
        context=("c1", "c2"),
        answer="EUR 260.",
    )
    activity = wire(answer_activity(uncited))
    name = LONG_TITLE.strip()[: NAME_MAX - 1].rstrip() + "…"
    assert activity["text"] == (
        f"EUR 260.\n\nConsulted (not cited): [{name}]({url}) · Tally"
        "\n\n_Answered from the knowledge base._"
    )
    assert message_entity(activity)["citation"] == []
    # A citing answer shows its sources as claims, with no "consulted" line.
    assert "Consulted" not in wire(answer_activity(record(context=("c1", "c2"))))["text"]
