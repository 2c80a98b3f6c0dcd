"""The mechanical question builders of bench/decisions.py: deterministic, labelled, and
"absent" questions an ingested document covers are dropped."""

from __future__ import annotations

from bench._questions import (
    Coverage,
    Doc,
    build_questions,
    document_frequencies,
    key_sentence,
    small_talk_questions,
    split_documents,
    subject_of,
)

DOCS = [
    Doc(
        "kb/parking.md",
        "Parking",
        (
            ("Parking", "Staff park in the Harbour garage on level minus two every weekday."),
            ("Bicycles", "Bicycles go in the locked shed behind the Marlow building entrance."),
        ),
    ),
    Doc(
        "kb/laptops.md",
        "Laptops",
        (
            ("Navigation", "- index\n\n- modules |"),
            (
                "Models",
                "Engineers receive a Quokka workstation with sixty-four gigabytes of memory.",
            ),
        ),
    ),
    Doc(
        "kb/travel.md",
        "Travel",
        (("Booking", "Flights are booked through Waypoint at least fourteen days ahead."),),
    ),
    Doc(
        "kb/bikes.md",
        "Cycling to work",
        (("Overview", "Covered bicycle racks stand beside the Marlow building entrance."),),
    ),
]


def test_key_sentence_skips_code_and_short_lines() -> None:
    text = (
        ">>> import os\nos.getcwd()\n\nShort one.\n"
        "The function returns the current working directory as a string."
    )
    assert key_sentence(text) == "The function returns the current working directory as a string."
    assert key_sentence("- index\n\n- modules |") is None


def test_subject_is_the_heading_or_the_title_for_a_generic_one() -> None:
    doc = DOCS[3]
    assert subject_of(doc, "Overview") == "Cycling to work"
    assert subject_of(doc, "3. Racks ¶") == "Racks"
    assert subject_of(doc, "Navigation") is None


def test_split_is_seeded_and_disjoint() -> None:
    ingested, held_out = split_documents(DOCS, 0.5, seed=7)
    assert (ingested, held_out) == split_documents(list(reversed(DOCS)), 0.5, seed=7)
    assert len(held_out) == 2
    assert {d.doc_id for d in ingested} | {d.doc_id for d in held_out} == {d.doc_id for d in DOCS}
    assert not {d.doc_id for d in ingested} & {d.doc_id for d in held_out}


def test_answerable_questions_are_deterministic_and_labelled_with_their_document() -> None:
    df = document_frequencies(DOCS)
    first, dropped = build_questions(DOCS[:3], "answerable", 10, df, seed=1)
    again, _ = build_questions(DOCS[:3], "answerable", 10, df, seed=1)
    assert first == again and dropped == 0
    # One per section with a subject and a key sentence; the navigation section has none.
    assert len(first) == 4
    assert {q.doc_id for q in first} == {"kb/parking.md", "kb/laptops.md", "kb/travel.md"}
    assert all(q.kind == "answerable" and q.text.endswith(("?", ".")) for q in first)
    by_doc = {q.doc_id: q.text for q in first if q.doc_id == "kb/travel.md"}
    assert "Booking" in by_doc["kb/travel.md"]


def test_absent_questions_covered_by_an_ingested_document_are_dropped() -> None:
    ingested = DOCS[:3]
    renamed = Doc(
        "kb/bike-shed.md",
        "Bike shed",
        (("Bicycles", "Riders lock their bikes to the racks near the loading dock."),),
    )
    held_out = [DOCS[3], renamed]
    df = document_frequencies([*DOCS, renamed])
    coverage = Coverage(ingested, df, len(DOCS) + 1)
    # Its subject is an ingested heading.
    assert coverage.named("Bicycles") and not coverage.named("Cycling to work")
    # Most of its rare terms ("racks" is not in any ingested document) occur together in
    # the ingested parking page.
    assert coverage.covers("Racks", ["marlow", "entrance"])
    assert not coverage.covers("Racks", ["covered"])
    questions, dropped = build_questions(held_out, "absent", 5, df, seed=2, coverage=coverage)
    assert dropped == 1
    assert [(q.kind, q.doc_id) for q in questions] == [("absent", "kb/bikes.md")]
    unfiltered, _ = build_questions(held_out, "absent", 5, df, seed=2)
    assert {q.doc_id for q in unfiltered} == {"kb/bikes.md", "kb/bike-shed.md"}


def test_small_talk_is_seeded_and_leaves_out_what_an_ingested_title_names() -> None:
    pool = ["hello", "thanks!", "tell me about parking", "what's 2 + 2", "good night"]
    coverage = Coverage(DOCS[:1], document_frequencies(DOCS), len(DOCS))
    first, dropped = small_talk_questions(pool, 10, seed=3, coverage=coverage)
    assert first == small_talk_questions(pool, 10, seed=3, coverage=coverage)[0]
    assert dropped == 1
    assert "tell me about parking" not in {q.text for q in first}
    assert {q.kind for q in first} == {"small_talk"} and len(first) == 4


def test_small_talk_whose_names_an_ingested_title_holds_is_left_out() -> None:
    """On an encyclopaedia with a "FIFA World Cup" article, who won a World Cup is a
    question for it, though "won" and "football" are in no title."""
    cup = Doc(
        "wiki:FIFA World Cup", "FIFA World Cup", (("FIFA World Cup", "A football competition."),)
    )
    coverage = Coverage([cup], document_frequencies([cup]), 1)
    assert coverage.names_asked("Who won the football World Cup in 2018?")
    assert not coverage.names_asked("Who won the Tour de France in 2018?")  # "Tour", "France"
    assert not coverage.names_asked("Who won the football cup?")  # no name, "won" in no title
    pool = ["Who won the football World Cup in 2018?", "How does photosynthesis work?"]
    talk, dropped = small_talk_questions(pool, 5, seed=3, coverage=coverage)
    assert dropped == 1 and [q.text for q in talk] == ["How does photosynthesis work?"]
