"""Chunker: the token bound, heading scope, overlap and stable ids."""

from __future__ import annotations

import base64
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from askloop.agent.text import count_tokens
from askloop.integrations.ingest.chunker import chunk_document, split_section
from askloop.integrations.ingest.loaders import LoadedDocument, Section


def numbered(prefix: str, count: int, *, start: int = 0) -> str:
    """Distinct one-token words, so a word shows where it came from."""
    return " ".join(f"{prefix}{i}" for i in range(start, start + count))


def paragraphs(prefix: str, sizes: list[int]) -> str:
    out, start = [], 0
    for size in sizes:
        out.append(numbered(prefix, size, start=start))
        start += size
    return "\n\n".join(out)


def document(*sections: Section, source: str = "/kb/handbook.md") -> LoadedDocument:
    return LoadedDocument(
        source=source,
        title="Handbook",
        doc_type="markdown",
        content_hash="abc123",
        sections=list(sections),
    )


def test_count_tokens_counts_words_and_punctuation():
    assert count_tokens("Hello, world!") == 4
    assert count_tokens("  \n ") == 0


@pytest.mark.parametrize(("max_tokens", "overlap"), [(40, 0), (40, 10), (64, 63), (200, 30)])
def test_no_chunk_exceeds_the_bound_including_overlap(max_tokens, overlap):
    text = paragraphs("w", [5, 30, 120, 3, 39, 41, 250, 7])
    chunks = split_section(text, max_tokens=max_tokens, overlap=overlap, count_tokens=count_tokens)

    assert len(chunks) > 2
    assert all(0 < count_tokens(c) <= max_tokens for c in chunks)


def test_small_paragraphs_are_packed_together():
    text = paragraphs("w", [10, 10, 10])
    assert split_section(text, max_tokens=40, overlap=5, count_tokens=count_tokens) == [text]


def test_chunks_never_cross_a_heading():
    sections = [
        Section(("Leave",), paragraphs("leave", [30, 30, 30])),
        Section(("Leave", "Carry"), numbered("carry", 8)),
        Section(("Oncall",), paragraphs("oncall", [60, 5])),
    ]
    chunks = chunk_document(
        document(*sections), max_tokens=40, overlap=10, count_tokens=count_tokens
    )

    assert {c.heading_path for c in chunks} == {s.heading_path for s in sections}
    for chunk in chunks:
        prefix = chunk.heading_path[-1].lower()
        assert all(word.removeprefix(prefix).isdigit() for word in chunk.text.split())


def test_consecutive_chunks_of_a_section_overlap():
    chunks = split_section(numbered("w", 300), max_tokens=50, overlap=10, count_tokens=count_tokens)

    assert len(chunks) >= 6
    for prev, nxt in zip(chunks, chunks[1:], strict=False):
        assert nxt.split()[:10] == prev.split()[-10:]


def test_without_overlap_chunks_share_nothing_and_lose_nothing():
    text = numbered("w", 300)
    chunks = split_section(text, max_tokens=50, overlap=0, count_tokens=count_tokens)

    assert " ".join(chunks).split() == text.split()


def test_a_long_paragraph_is_split_at_sentences():
    sentences = [f"Sentence {i} says the office opens at nine." for i in range(60)]
    chunks = split_section(" ".join(sentences), max_tokens=40, overlap=0, count_tokens=count_tokens)

    assert len(chunks) > 1
    for chunk in chunks:
        assert chunk.startswith("Sentence ")
        assert chunk.endswith("at nine.")
        assert count_tokens(chunk) <= 40


def test_a_sentence_over_the_bound_is_split_at_words():
    chunks = split_section(
        numbered("w", 100) + ".", max_tokens=32, overlap=0, count_tokens=count_tokens
    )
    assert len(chunks) == 4
    assert all(count_tokens(c) <= 32 for c in chunks)


@pytest.mark.parametrize(
    "word",
    [
        pytest.param(base64.b64encode(random.Random(0).randbytes(7500)).decode(), id="base64"),
        pytest.param("=/" * 5000, id="all-punctuation"),
    ],
)
@pytest.mark.parametrize("overlap", [0, 8])
def test_a_giant_word_is_cut_and_bounded(word, overlap):
    assert len(word) == 10_000
    chunks = split_section(
        f"See {word} for the key.", max_tokens=64, overlap=overlap, count_tokens=count_tokens
    )

    assert len(chunks) > 1
    assert all(count_tokens(c) <= 64 for c in chunks)
    if overlap == 0:
        assert "".join("".join(c.split()) for c in chunks) == f"See{word}forthekey."


def test_overlap_must_be_below_the_bound():
    with pytest.raises(ValueError, match="overlap"):
        split_section("some text", max_tokens=10, overlap=10, count_tokens=count_tokens)


def test_positions_run_over_the_whole_document():
    sections = [
        Section(("A",), paragraphs("a", [30, 30])),
        Section(("B",), numbered("b", 5)),
        Section(("C",), paragraphs("c", [30, 30, 30])),
    ]
    chunks = chunk_document(
        document(*sections), max_tokens=40, overlap=5, count_tokens=count_tokens
    )

    assert [c.position for c in chunks] == list(range(len(chunks)))
    assert len({c.chunk_id for c in chunks}) == len(chunks)
    assert all(c.title == "Handbook" and c.document_hash == "abc123" for c in chunks)


def test_chunk_ids_are_stable_and_follow_the_text():
    sections = [Section(("A",), numbered("a", 30)), Section(("B",), numbered("b", 30))]
    first = chunk_document(document(*sections), max_tokens=40, overlap=5, count_tokens=count_tokens)
    again = chunk_document(document(*sections), max_tokens=40, overlap=5, count_tokens=count_tokens)
    edited = chunk_document(
        document(sections[0], Section(("B",), numbered("b", 30) + " extra")),
        max_tokens=40,
        overlap=5,
        count_tokens=count_tokens,
    )
    moved = chunk_document(
        document(*sections, source="/kb/other.md"),
        max_tokens=40,
        overlap=5,
        count_tokens=count_tokens,
    )

    assert [c.chunk_id for c in first] == [c.chunk_id for c in again]
    assert edited[0].chunk_id == first[0].chunk_id
    assert edited[1].chunk_id != first[1].chunk_id
    assert not {c.chunk_id for c in moved} & {c.chunk_id for c in first}


TEXTS = st.one_of(
    st.text(),
    st.text(alphabet="ab.!?X \n", max_size=600),
    st.lists(st.sampled_from(["word", "Word.", "x" * 50, "!" * 40, "\n\n", " "]), max_size=80).map(
        " ".join
    ),
)


@st.composite
def bounds(draw: st.DrawFn) -> tuple[int, int]:
    max_tokens = draw(st.integers(min_value=1, max_value=40))
    return max_tokens, draw(st.integers(min_value=0, max_value=max_tokens - 1))


@given(text=TEXTS, bound=bounds())
def test_split_section_chunks_are_never_empty_or_over_the_bound(text, bound):
    max_tokens, overlap = bound
    chunks = split_section(text, max_tokens=max_tokens, overlap=overlap, count_tokens=count_tokens)

    assert all(c.strip() for c in chunks)
    assert all(count_tokens(c) <= max_tokens for c in chunks)
    budget = max_tokens - overlap
    for word in text.split():
        if count_tokens(word) <= budget:  # longer words are cut; the next test covers them
            assert any(word in c.split() for c in chunks), word


@given(text=TEXTS, max_tokens=st.integers(min_value=1, max_value=40))
def test_split_section_without_overlap_keeps_every_character(text, max_tokens):
    chunks = split_section(text, max_tokens=max_tokens, overlap=0, count_tokens=count_tokens)
    assert "".join("".join(c.split()) for c in chunks) == "".join(text.split())
