"""Post-hoc attribution of uncited knowledge-base answers."""

from __future__ import annotations

from askloop.agent.attribution import attribute


def doc(title: str, text: str, *headings: str) -> dict:
    return {
        "chunk_id": title,
        "title": title,
        "heading_path": list(headings),
        "text": text,
        "source": "",
        "url": "",
        "score": 0.5,
        "vector_score": 0.5,
        "keyword_score": 1.0,
        "query": "",
    }


LEAVE = doc("Annual leave", "Every employee gets 26 days of paid annual leave per year.")
ONCALL = doc("On-call", "The on-call engineer acknowledges pages within 15 minutes.")


def test_an_answer_drawn_from_a_document_is_attributed_to_it():
    answer = "The document says 26 days of annual leave, which is 26 days of leave per year."
    assert attribute(answer, [ONCALL, LEAVE]) == 2


def test_an_answer_that_changes_a_number_is_not_attributed():
    assert attribute("Employees get 30 days of paid annual leave per year.", [LEAVE]) is None


def test_a_short_or_unrelated_answer_is_not_attributed():
    assert attribute("26 days.", [LEAVE]) is None  # too few words to tell
    assert attribute("Coffee is free in the kitchen every morning.", [LEAVE, ONCALL]) is None
    assert attribute("", [LEAVE]) is None
    assert attribute("Every employee gets paid annual leave.", []) is None


def test_the_document_sharing_the_most_of_the_answer_wins():
    pages = doc("Paging", "Pages reach the on-call engineer by phone.", "On-call")
    answer = "The on-call engineer acknowledges pages within 15 minutes."
    assert attribute(answer, [pages, ONCALL]) == 2
