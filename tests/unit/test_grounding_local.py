"""No invented facts on the real local model (SmolLM2-135M): whatever it writes, a
knowledge-base answer states no number or name that the documents and the question do
not hold. Slow: loads the GGUF."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from askloop.agent.context import Context, Policy
from askloop.agent.facts import unsupported, vocabulary
from askloop.agent.graph import graph
from askloop.agent.grounding import source_texts
from askloop.integrations.models.local import LocalChatModel
from askloop.integrations.stores.lance.store import LanceStore
from tests.fakes import FakeChatModel, HashingEmbedder
from tests.kb_fixture import whole_chunk

# The case: asked for the fee, SmolLM2 answered "£12.50" where the page says 45.
CLUB = (
    "Sports club",
    "The Northwind sports club organises football on Tuesdays and climbing on Thursdays. "
    "The yearly membership fee is GBP 45, paid to Marta Kowalczyk in January. "
    "Members bring their own kit.",
)
LEAVE = ("Annual leave", "Every full-time employee receives 26 days of paid annual leave.")
#: Question -> what its grounded answer must say.
QUESTIONS = {
    "How much is the yearly membership fee of the sports club?": "GBP 45",
    "Who do I pay the sports club fee to?": "Marta Kowalczyk",
    "How many days of paid annual leave does an employee get?": "26 days",
}


@pytest.fixture(scope="module")
def model() -> Iterator[LocalChatModel]:
    with LocalChatModel(threads=1) as m:
        yield m


@pytest.fixture
def kb(tmp_path: Path, embedder: HashingEmbedder) -> Iterator[LanceStore]:
    store = LanceStore(tmp_path / "kb", embedder_id=embedder.model_id, dimensions=64)
    chunks = [whole_chunk(f"/kb/{title}.md", title, text) for title, text in (CLUB, LEAVE)]
    store.upsert(
        tenant="acme", chunks=chunks, vectors=embedder.embed_documents([c.text for c in chunks])
    )
    yield store
    store.close()


@pytest.mark.slow
@pytest.mark.parametrize("style", ["grounded", "generative"])
@pytest.mark.parametrize("question", QUESTIONS)
def test_the_local_model_s_answers_state_only_documented_facts(
    model: LocalChatModel, kb: LanceStore, embedder: HashingEmbedder, style: str, question: str
):
    context = Context(
        store=kb,
        embedder=embedder,
        answer_model=model,
        finetuned_model=FakeChatModel("General answer.", model_id="fake:tuned"),
        policy=Policy(route_threshold=0.0, grade_threshold=0.0, answer_style=style),
    )
    result = graph.invoke({"question": question, "tenant": "acme"}, context=context)
    assert result["route"] == "retrieve" and not result.get("error")
    known = vocabulary([question, *(t for h in result["context_hits"] for t in source_texts(h))])
    assert unsupported(result["answer"], known) == [], result["answer"]
    step = next(s for s in result["trace"] if s["node"] == "answer_with_context")
    assert step["detail"]["style"] == style and step["detail"]["grounding"]
    if style == "grounded":
        # It leads with the page's own sentence, cited.
        assert result["answer"].startswith("“") and result["cited"]
        assert QUESTIONS[question] in result["answer"]
