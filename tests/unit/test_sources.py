"""Which documents an answer shows: cited ones, else the consulted ones, marked."""

from __future__ import annotations

import pytest

from askloop.agent.answers import AnswerRecord, Citation, RetrievedChunk
from askloop.agent.sources import first_marks, shown_sources
from tests.records import answer_record

URL = "https://handbook.example.com/lab/loans"


def chunk(cid: str, title: str, source: str, url: str = "") -> RetrievedChunk:
    return RetrievedChunk(chunk_id=cid, title=title, source=source, score=0.5, text="t", url=url)


def uncited(**kw) -> AnswerRecord:
    """An answer from the knowledge base that cites none of the three chunks it read
    (two of them from one document) and one it retrieved but did not read."""
    fields = {
        "platform": "cli",
        "question": "How long can I borrow the refractometer?",
        "answer": "Two weeks.",
        "model": "fake:answer",
        "retrieved": (
            chunk("c1", "Loans", "/kb/loans.md", URL),
            chunk("c2", "Loans", "/kb/loans.md", URL),
            chunk("c3", "Lab kit", "/kb/kit.md"),
            chunk("c4", "Kitchen", "/kb/kitchen.md"),
        ),
        "context": ("c1", "c2", "c3"),
    }
    return answer_record(**(fields | kw))


def test_an_uncited_knowledge_base_answer_shows_each_consulted_document_once():
    sources = shown_sources(uncited())
    assert sources is not None and sources.kind == "consulted"
    assert sources.label == "Consulted (not cited)"
    assert [(s.title, s.url, s.n) for s in sources.items] == [
        ("Loans", URL, None),
        ("Lab kit", "", None),
    ]


def test_a_citing_answer_shows_what_it_cites_in_order():
    cited = (
        Citation(n=2, chunk_id="c3", title="Lab kit", source="/kb/kit.md"),
        Citation(n=1, chunk_id="c1", title="Loans", source="/kb/loans.md", url=URL),
    )
    sources = shown_sources(uncited(citations=cited))
    assert sources is not None and sources.kind == "cited" and sources.label == "Sources"
    assert [(s.n, s.title) for s in sources.items] == [(1, "Loans"), (2, "Lab kit")]


def test_a_document_cited_by_two_of_its_chunks_is_listed_once_under_its_first_marker():
    cited = (
        Citation(n=1, chunk_id="c1", title="Loans", source="/kb/loans.md", url=URL),
        Citation(n=2, chunk_id="c3", title="Lab kit", source="/kb/kit.md"),
        Citation(n=3, chunk_id="c2", title="Loans", source="/kb/loans.md", url=URL),
    )
    record = uncited(citations=cited)
    sources = shown_sources(record)
    assert sources is not None
    assert [(s.mark, s.title, s.chunk_id) for s in sources.items] == [
        ("[1][3]", "Loans", "c1"),
        ("[2]", "Lab kit", "c3"),
    ]
    assert first_marks(record) == {1: 1, 2: 2, 3: 1}


@pytest.mark.parametrize(
    "kw",
    [
        {"route": "finetuned", "model": "fake:tuned"},  # the tuned model read nothing to cite
        {"context": ()},  # "not found": nothing was read
        {"error": "model_unavailable"},  # an apology
    ],
)
def test_answers_not_drawn_from_documents_show_none(kw):
    assert shown_sources(uncited(**kw)) is None
