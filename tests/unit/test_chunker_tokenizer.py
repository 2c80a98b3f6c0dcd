"""Chunks against the real MiniLM tokenizer: none is longer than the model reads.

The tokenizer alone loads in milliseconds (no weights); only the last test, which checks
the window against the model itself, is slow.
"""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from askloop.agent.text import count_tokens as estimate
from askloop.integrations.ingest.chunker import chunk_document
from askloop.integrations.ingest.loaders import LoadedDocument, Section
from askloop.integrations.models.embedders import MiniLMEmbedder

MINILM = MiniLMEmbedder()

SHELL = (
    "kubectl get pods -n kube-system -o jsonpath='{.items[*].metadata.name}' | "
    "xargs -I{} kubectl logs {} --since=1h --tail=200 2>&1 | grep -E 'ERR|WARN' >> /var/log/x.log"
)
CODE = "\n".join(
    f"    if cfg['retry_{i}'] >= 0x{i:04x}: self._q[{i}].put_nowait((t0, {{'k': v[{i}]}}))"
    for i in range(60)
)
URLS = " ".join(
    f"https://internal.example.com/api/v2/tenants/{i:08x}/docs?query=a%2Fb%26c&page={i}#frag-{i}"
    for i in range(40)
)
CJK = (
    "年次有給休暇は入社日から六か月後に十日付与されます。" * 40
    + "员工每年享有二十六天带薪年假。" * 40
)
HUGE_WORD = "".join(f"{i:x}" for i in range(5000))  # 17k hex digits, no space
STACK = "\n".join(
    f'  File "/srv/app/askloop/integrations/models/module_{i}.py", line {i * 7}, in handler_{i}'
    for i in range(50)
)

HASHES = " ".join(
    f"commit {hashlib.sha1(b'%d' % i).hexdigest()} id {hashlib.md5(b'%d' % i).hexdigest()}"
    for i in range(100)
)

ADVERSARIAL = {
    "hashes": HASHES,
    "shell": "\n".join([SHELL] * 30),
    "code": CODE,
    "urls": URLS,
    "cjk": CJK,
    "huge-word": f"The key is {HUGE_WORD} and nothing else.",
    "stack-trace": STACK,
}


def document(
    text: str, *, title: str = "Runbook", headings: tuple[str, ...] = ()
) -> LoadedDocument:
    return LoadedDocument(
        source="/kb/runbook.md",
        title=title,
        doc_type="markdown",
        content_hash="abc",
        sections=[Section(headings, text)],
    )


def longest(chunks) -> int:
    return max(MINILM.count_tokens(c.search_text) for c in chunks)


def test_minilm_counts_word_pieces_and_reads_254_of_them():
    assert MINILM.max_tokens == 254  # max_seq_length 256 less [CLS] and [SEP]
    assert MINILM.count_tokens("Hello, world!") == 4
    assert MINILM.count_tokens("tokenization") == 2  # token ##ization


@pytest.mark.parametrize("text", list(ADVERSARIAL.values()), ids=list(ADVERSARIAL))
def test_no_chunk_is_longer_than_minilm_reads(text):
    doc = document(text, headings=("Deploy", "Rollback steps"))
    chunks = chunk_document(
        doc, count_tokens=MINILM.count_tokens, max_tokens=MINILM.max_tokens, overlap=30
    )

    assert chunks and longest(chunks) <= MINILM.max_tokens
    # Nothing is lost on the way: every character of the text is in some chunk.
    kept = "".join("".join(c.text.split()) for c in chunks)
    assert set("".join(text.split())) <= set(kept)


@pytest.mark.parametrize("name", ["hashes", "code", "cjk", "stack-trace"])
def test_the_estimate_would_have_let_chunks_past_the_window(name):
    """The chunker as it was: sized by the regex estimate, at the old default bound.
    (A hex digest is one "token" to the estimate and ~25 word pieces to MiniLM.)"""
    doc = document(ADVERSARIAL[name], headings=("Deploy", "Rollback steps"))
    chunks = chunk_document(doc, count_tokens=estimate, max_tokens=200, overlap=30)
    assert longest(chunks) > MINILM.max_tokens


def test_a_title_and_headings_longer_than_the_window_leave_room_for_text():
    title = "Runbook " + " ".join(f"part-{i}" for i in range(200))
    headings = tuple(f"Heading {i} " + "x/" * 50 for i in range(5))
    chunks = chunk_document(
        document(SHELL, title=title, headings=headings),
        count_tokens=MINILM.count_tokens,
        max_tokens=MINILM.max_tokens,
        overlap=30,
    )
    assert longest(chunks) <= MINILM.max_tokens
    assert all(c.text.strip() for c in chunks)
    assert all(c.title.startswith("Runbook part-0") and c.title.endswith("…") for c in chunks)


FRAGMENTS = st.sampled_from(
    [SHELL[:80], CODE[:120], URLS[:90], CJK[:30], HUGE_WORD[:300], "Ünïcödé façade", "\n\n", ". "]
)


@settings(max_examples=60, deadline=None)
@given(
    parts=st.lists(st.one_of(FRAGMENTS, st.text(max_size=80)), max_size=40),
    max_tokens=st.integers(min_value=32, max_value=254),
    overlap=st.integers(min_value=0, max_value=60),
)
def test_any_text_is_cut_within_the_window(parts, max_tokens, overlap):
    chunks = chunk_document(
        document(" ".join(parts), headings=("Section",)),
        count_tokens=MINILM.count_tokens,
        max_tokens=max_tokens,
        overlap=min(overlap, max_tokens - 1),
    )
    assert all(MINILM.count_tokens(c.search_text) <= max_tokens for c in chunks)
    assert all(c.text.strip() for c in chunks)


@pytest.mark.slow
def test_max_tokens_is_exactly_the_window_the_model_reads(tmp_path):
    """Text past the window changes nothing; text just inside it changes the vector."""
    embedder = MiniLMEmbedder(cache_dir=tmp_path)
    words = " ".join(f"w{i}" for i in range(400)).split()  # "w1" is 2 pieces: w ##1
    text = ""
    for word in words:
        if embedder.count_tokens(f"{text} {word}".strip()) > embedder.max_tokens:
            break
        text = f"{text} {word}".strip()
    full = text if embedder.count_tokens(text) == embedder.max_tokens else f"{text} x"
    assert embedder.count_tokens(full) == embedder.max_tokens
    short = full.rsplit(" ", 1)[0]

    vectors = embedder.embed_documents([full, f"{full} zebra", short, f"{short} zebra"])
    assert vectors[0] == pytest.approx(vectors[1], abs=1e-6)  # "zebra" is past the window
    assert vectors[2] != pytest.approx(vectors[3], abs=1e-3)  # inside it, it counts
