"""Heading- and paragraph-aware chunking with a token bound and overlap.

A chunk never crosses a heading. Inside a section, paragraphs are packed up to the
bound; a paragraph over the bound is split at sentences, a sentence over it at words.
Consecutive chunks of one section share ``overlap`` tokens so a fact on the boundary
is whole in at least one of them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime

from askloop.agent.records import Chunk, chunk_id_for, document_id_for
from askloop.agent.text import TOKEN_PATTERN as _TOKEN
from askloop.agent.text import count_tokens
from askloop.integrations.ingest.loaders import LoadedDocument

__all__ = ["chunk_document", "count_tokens", "split_section"]

_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[]?[A-Z0-9])")


def _split_words(text: str, max_tokens: int) -> Iterator[str]:
    words = text.split()
    piece: list[str] = []
    size = 0
    for word in words:
        n = max(1, count_tokens(word))
        if piece and size + n > max_tokens:
            yield " ".join(piece)
            piece, size = [], 0
        if n > max_tokens:  # one enormous "word" (a URL, base64): cut it
            yield from _cut_word(word, max_tokens)
            continue
        piece.append(word)
        size += n
    if piece:
        yield " ".join(piece)


def _cut_word(word: str, max_tokens: int) -> Iterator[str]:
    """Pieces of at most ``max_tokens`` tokens and ``3 * max_tokens`` characters.

    Cutting by characters alone is not enough: in "!!!!" or "a/b/c" every character
    is a token.
    """
    step = max(1, max_tokens * 3)
    start = size = 0
    for match in _TOKEN.finditer(word):
        if size >= max_tokens or match.end() - start > step:
            while match.start() - start > step:  # a run of letters longer than step
                yield word[start : start + step]
                start += step
            if match.start() > start:
                yield word[start : match.start()]
            start, size = match.start(), 0
        size += 1
    while start < len(word):
        yield word[start : start + step]
        start += step


def _units(text: str, max_tokens: int) -> Iterator[str]:
    """Paragraphs; or sentences of long paragraphs; or word runs of long sentences."""
    for paragraph in _PARAGRAPH_BREAK.split(text):
        paragraph = paragraph.strip()
        if not paragraph:
            continue
        if count_tokens(paragraph) <= max_tokens:
            yield paragraph
            continue
        for sentence in _SENTENCE_END.split(paragraph):
            if count_tokens(sentence) <= max_tokens:
                yield sentence
            else:
                yield from _split_words(sentence, max_tokens)


def _tail(text: str, tokens: int) -> str:
    """The last ``tokens`` tokens of ``text``, cut at a word boundary."""
    if tokens <= 0:
        return ""
    words = text.split()
    out: list[str] = []
    size = 0
    for word in reversed(words):
        n = max(1, count_tokens(word))
        if size + n > tokens:
            break
        out.append(word)
        size += n
    return " ".join(reversed(out))


def split_section(text: str, *, max_tokens: int, overlap: int) -> list[str]:
    """Split one section's text into chunk texts of at most ``max_tokens`` tokens."""
    if not 0 <= overlap < max_tokens:
        raise ValueError(f"overlap must be in [0, max_tokens), got {overlap} of {max_tokens}")
    budget = max_tokens - overlap  # new material per chunk; the rest is overlap
    pieces: list[str] = []
    current: list[str] = []
    size = 0
    for unit in _units(text, budget):
        n = count_tokens(unit)
        if current and size + n > budget:
            pieces.append("\n\n".join(current))
            current, size = [], 0
        current.append(unit)
        size += n
    if current:
        pieces.append("\n\n".join(current))
    if overlap <= 0 or len(pieces) < 2:
        return pieces
    out = [pieces[0]]
    for prev, piece in zip(pieces, pieces[1:], strict=False):
        carried = _tail(prev, overlap)
        out.append(f"{carried} {piece}" if carried else piece)
    return out


def chunk_document(
    doc: LoadedDocument,
    *,
    max_tokens: int,
    overlap: int,
    updated_at: datetime | None = None,
) -> list[Chunk]:
    document_id = document_id_for(doc.source)
    chunks: list[Chunk] = []
    for section in doc.sections:
        for text in split_section(section.text, max_tokens=max_tokens, overlap=overlap):
            position = len(chunks)
            chunks.append(
                Chunk(
                    chunk_id=chunk_id_for(document_id, position, text),
                    document_id=document_id,
                    document_hash=doc.content_hash,
                    text=text,
                    title=doc.title,
                    source=doc.source,
                    position=position,
                    heading_path=section.heading_path,
                    url=doc.url,
                    updated_at=updated_at,
                    doc_type=doc.doc_type,
                )
            )
    return chunks
