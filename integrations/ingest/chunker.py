"""Heading- and paragraph-aware chunking, bounded by the embedder's own tokenizer.

Sizes are the embedder's ``count_tokens`` of the text that is embedded, title and
heading path included (``search_text_for``), so no chunk is longer than the model
reads. An estimate is not enough: technical text estimated at 200 tokens was 690
MiniLM word pieces, and the model silently drops whatever is past its window.

A chunk never crosses a heading. Inside a section, paragraphs are packed up to the
bound; a paragraph over it is split at sentences, a sentence over it at words, a word
over it at characters. Consecutive chunks of one section share ``overlap`` tokens so a
fact on the boundary is whole in at least one of them.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime

from askloop.agent.records import Chunk, chunk_id_for, document_id_for, search_text_for
from askloop.integrations.ingest.loaders import LoadedDocument

__all__ = ["CHUNKER_VERSION", "TokenCounter", "chunk_document", "chunking_hash", "split_section"]

#: Bumped whenever the same document and settings would be cut differently; part of
#: ``chunking_hash``, so the next ingest re-chunks every document.
CHUNKER_VERSION = "2"

#: Tokens of a text, as the embedder counts them (``Embedder.count_tokens``).
TokenCounter = Callable[[str], int]

_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[]?[A-Z0-9])")


def chunking_hash(content_hash: str, *, model_id: str, max_tokens: int, overlap: int) -> str:
    """The hash a document's chunks carry: its content and how it was cut. Re-ingest
    skips a document only when both are unchanged."""
    key = f"{content_hash}\x1f{CHUNKER_VERSION}\x1f{model_id}\x1f{max_tokens}\x1f{overlap}"
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def _split_words(text: str, budget: int, count: TokenCounter) -> Iterator[str]:
    piece: list[str] = []
    size = 0
    for word in text.split():
        n = max(1, count(word))
        if piece and size + n > budget:
            yield " ".join(piece)
            piece, size = [], 0
        if n > budget:  # one enormous "word" (a URL, base64, a line of CJK): cut it
            yield from _cut_word(word, budget, count)
            continue
        piece.append(word)
        size += n
    if piece:
        yield " ".join(piece)


def _cut_word(word: str, budget: int, count: TokenCounter) -> Iterator[str]:
    """Pieces of ``word`` of at most ``budget`` tokens each, longest first-fitting prefix
    found by bisection. Counts need not grow with length (a long enough word is one
    unknown token to WordPiece); bisection keeps "the piece fits" true regardless."""
    start = 0
    while start < len(word):
        if count(word[start:]) <= budget:
            yield word[start:]
            return
        fits, over = start + 1, len(word)  # one character is as small as a piece gets
        while over - fits > 1:
            mid = (fits + over) // 2
            if count(word[start:mid]) <= budget:
                fits = mid
            else:
                over = mid
        yield word[start:fits]
        start = fits


def _units(text: str, budget: int, count: TokenCounter) -> Iterator[tuple[str, int]]:
    """Paragraphs; or sentences of long paragraphs; or word runs of long sentences;
    each with its token count."""
    for paragraph in _PARAGRAPH_BREAK.split(text):
        paragraph = paragraph.strip()
        if not paragraph:
            continue
        if (n := count(paragraph)) <= budget:
            yield paragraph, n
            continue
        for sentence in _SENTENCE_END.split(paragraph):
            if (n := count(sentence)) <= budget:
                yield sentence, n
            else:
                yield from ((run, count(run)) for run in _split_words(sentence, budget, count))


def _tail(text: str, tokens: int, count: TokenCounter) -> str:
    """The last ``tokens`` tokens of ``text``, cut at a word boundary."""
    if tokens <= 0:
        return ""
    out: list[str] = []
    size = 0
    for word in reversed(text.split()):
        n = max(1, count(word))
        if size + n > tokens:
            break
        out.append(word)
        size += n
    return " ".join(reversed(out))


def _bounded(text: str, fits: Callable[[str], bool]) -> Iterator[str]:
    """``text``, halved at words (or characters) until every piece fits.

    Packing adds up the counts of the parts; for a tokenizer that is not additive over
    whitespace (BPE) a whole can count more than its parts, and this is the backstop.
    """
    if fits(text):
        yield text
        return
    words = text.split()
    if len(words) > 1:
        halves = [" ".join(words[: len(words) // 2]), " ".join(words[len(words) // 2 :])]
    elif len(text.strip()) > 1:
        word = text.strip()
        halves = [word[: len(word) // 2], word[len(word) // 2 :]]
    else:
        yield text  # one character over the bound: nothing smaller to offer
        return
    for half in halves:
        yield from _bounded(half, fits)


def split_section(
    text: str, *, max_tokens: int, overlap: int, count_tokens: TokenCounter
) -> list[str]:
    """Split one section's text into chunk texts of at most ``max_tokens`` tokens."""
    if not 0 <= overlap < max_tokens:
        raise ValueError(f"overlap must be in [0, max_tokens), got {overlap} of {max_tokens}")

    def fits(piece: str) -> bool:
        return count_tokens(piece) <= max_tokens

    return [
        t for piece in _pack(text, max_tokens, overlap, count_tokens) for t in _bounded(piece, fits)
    ]


def _pack(text: str, max_tokens: int, overlap: int, count: TokenCounter) -> list[str]:
    """Units packed up to ``max_tokens - overlap``, then the overlap carried over, by
    the sum of the units' counts (the caller checks the result with ``_bounded``)."""
    budget = max_tokens - overlap  # new material per chunk; the rest is overlap
    pieces: list[str] = []
    current: list[str] = []
    size = 0
    for unit, n in _units(text, budget, count):
        if current and size + n > budget:
            pieces.append("\n\n".join(current))
            current, size = [], 0
        current.append(unit)
        size += n
    if current:
        pieces.append("\n\n".join(current))
    if overlap > 0 and len(pieces) > 1:
        carried = [_tail(prev, overlap, count) for prev in pieces[:-1]]
        pieces = [pieces[0]] + [
            f"{tail} {piece}" if tail else piece
            for tail, piece in zip(carried, pieces[1:], strict=True)
        ]
    return pieces


def _fit_context(
    title: str, heading_path: Sequence[str], count: TokenCounter, limit: int
) -> tuple[str, tuple[str, ...]]:
    """Title and heading path shortened to at most ``limit`` tokens of context: outer
    headings go first, then the title is cut at words. Real ones are far shorter; this
    keeps room for the text when a heading or title is a whole paragraph."""
    headings = tuple(heading_path)
    while headings and count(search_text_for(title=title, heading_path=headings, text="")) > limit:
        headings = headings[1:]
    if headings or count(title) <= limit:
        return title, headings
    if limit < 2:
        return "", ()
    short = next(_split_words(title, limit - 1, count), "")
    return (f"{short}…" if count(f"{short}…") <= limit else short), ()


def chunk_document(
    doc: LoadedDocument,
    *,
    count_tokens: TokenCounter,
    max_tokens: int,
    overlap: int,
    updated_at: datetime | None = None,
    document_hash: str | None = None,
) -> list[Chunk]:
    """The document's chunks, each of whose ``search_text`` is at most ``max_tokens``
    tokens by ``count_tokens``. ``document_hash`` defaults to the content hash."""
    count = count_tokens
    document_id = document_id_for(doc.source)
    chunks: list[Chunk] = []
    for section in doc.sections:
        title, headings = _fit_context(doc.title, section.heading_path, count, max_tokens // 4)

        def fits(text: str, title: str = title, headings: tuple[str, ...] = headings) -> bool:
            return (
                count(search_text_for(title=title, heading_path=headings, text=text)) <= max_tokens
            )

        room = max_tokens - count(search_text_for(title=title, heading_path=headings, text=""))
        pieces = _pack(section.text, room, min(overlap, room // 2), count)
        for text in (t for piece in pieces for t in _bounded(piece, fits)):
            position = len(chunks)
            chunks.append(
                Chunk(
                    chunk_id=chunk_id_for(document_id, position, text),
                    document_id=document_id,
                    document_hash=document_hash or doc.content_hash,
                    text=text,
                    title=title,
                    source=doc.source,
                    position=position,
                    heading_path=headings,
                    url=doc.url,
                    updated_at=updated_at,
                    doc_type=doc.doc_type,
                )
            )
    return chunks
