"""Grounded answers: facts checked against the documents, the answering sentence quoted,
the model's wording kept only where supported (fakes at the chat-model seam)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from langgraph.graph.state import CompiledStateGraph

from askloop.agent.calibration import CorpusStats
from askloop.agent.facts import sentences, stated_facts, unsupported, vocabulary
from askloop.agent.graph import graph
from askloop.agent.grounding import (
    MIN_QUOTE_SCORE,
    check_generative,
    compose_grounded,
    resolve_style,
)
from askloop.agent.messages import CAVEAT, NOT_FOUND
from askloop.agent.quotes import candidates, choose_quotes, refers_elsewhere
from tests.fakes import FakeChatModel, HashingEmbedder
from tests.kb_fixture import make_context, make_kb_store

LEAVE = "Every employee gets 26 days of paid annual leave."


def hit(text: str, title: str = "Leave", headings: tuple[str, ...] = ()) -> dict:
    return {
        "chunk_id": title.lower(),
        "title": title,
        "source": f"/kb/{title.lower()}.md",
        "url": "",
        "heading_path": list(headings),
        "text": text,
        "score": 1.0,
        "vector_score": 0.5,
        "keyword_score": 0.5,
        "query": "",
    }


def test_numbers_are_compared_by_their_digits_and_names_as_words():
    known = vocabulary(["The fee is EUR 1,200 a year; doors open at 09:30 in Kraków (PIN 4242#)."])
    assert unsupported("It costs 1200 euros from 9:30 in Kraków, PIN 4242.", known) == []
    assert unsupported("The yearly membership fee is **£12.50** [1].", known) == ["12.50"]
    assert unsupported("The capital is L'Alma, la France.", known) == ["L'Alma", "France"]
    assert unsupported("It needs 2 approvals, not 3.", vocabulary(["Two approvals."])) == ["3"]


def test_a_sentence_s_first_word_and_citation_markers_are_not_facts():
    assert stated_facts("Employees get 26 days [1].") == (["26"], [])
    assert stated_facts("- **Compass** holds it, says Anna.") == ([], ["Anna"])
    assert sentences("Call ext. 4357 now. Then wait.\n- a list item") == [
        "Call ext. 4357 now.",
        "Then wait.",
        "- a list item",
    ]


def test_a_table_row_is_a_candidate_named_by_its_header():
    table = "Caps:\n\n| Location | Cap per night |\n|---|---|\n| London, Paris | EUR 260 |"
    rows = [c for c in candidates([hit(table)]) if c.key]
    assert [(c.text, c.key) for c in rows] == [
        ("Location: London, Paris; Cap per night: EUR 260", "London, Paris")
    ]


def test_the_sentence_that_answers_is_quoted():
    hits = [
        hit("Leave is booked in Compass. " + LEAVE + " Ask your manager first."),
        hit("The on-call engineer acknowledges pages within 15 minutes.", "On-call"),
    ]
    quotes = choose_quotes("how many days of paid annual leave", hits, HashingEmbedder())
    assert quotes[0].text == LEAVE and quotes[0].doc == 0


def test_supported_model_wording_follows_the_quote():
    docs = [hit(LEAVE + " Part-time staff get it pro rata.")]
    quote = f"“{LEAVE}” [1]"
    kept = compose_grounded("leave?", quote, docs, "Part-time staff get it pro rata [1].", docs)
    assert kept.outcome == "quote+model"
    assert kept.answer == f"{quote}\n\nPart-time staff get it pro rata [1]."


@pytest.mark.parametrize(
    ("model_text", "reason"),
    [
        ("You get 30 days. Part-time staff get it pro rata.", "unsupported"),
        ("Ask Gerald in Payroll.", "unsupported"),
        ("Every employee gets 26 days of paid annual leave [1].", "restates_quote"),
        ("I couldn't find that in the knowledge base.", "says_not_found"),
        ("The document you requested is a list of days, not a list.", "not_from_documents"),
        ("Part-time staff get it pro rata, and every employee gets", "unfinished"),
    ],
)
def test_otherwise_the_quote_stands_alone(model_text, reason):
    docs = [hit(LEAVE + " Part-time staff get it pro rata.")]
    quote = f"“{LEAVE}” [1]"
    alone = compose_grounded("how much leave do I get?", quote, docs, model_text, docs)
    assert (alone.answer, alone.outcome, alone.reasons) == (quote, "quote", (reason,))


def test_a_generative_answer_loses_only_its_unsupported_sentences():
    docs = [hit(LEAVE)]
    checked = check_generative("leave?", "You get 26 days [1]. Since 1998 it is 30 in Oslo.", docs)
    assert (checked.answer, checked.outcome) == ("You get 26 days [1].", "model_trimmed")
    assert checked.unsupported == ("1998", "30", "Oslo")
    gone = check_generative("leave?", "The fee is £12.50.", docs)
    assert gone.outcome == "unsupported"


def test_auto_is_grounded_for_the_local_model_only():
    assert resolve_style("auto", "local:smollm2-135m-instruct") == "grounded"
    assert resolve_style("auto", "anthropic:claude") == "generative"
    assert resolve_style("grounded", "openai:gpt") == "grounded"


def run(context, question="how many days of paid annual leave does an employee get"):
    app: CompiledStateGraph = graph
    return app.invoke({"question": question, "tenant": "acme"}, context=context)


def answer_step(result) -> dict:
    return next(s for s in result["trace"] if s["node"] == "answer_with_context")


def test_an_invented_number_never_reaches_a_grounded_answer(store, embedder):
    model = FakeChatModel("The yearly membership fee is £12.50 [1].")
    result = run(make_context(store, embedder, answer=model, answer_style="grounded"))
    assert result["answer"] == f"“{LEAVE}” [1]"
    assert result["cited"] == [(1, result["context_hits"][0]["chunk_id"])]
    detail = answer_step(result)["detail"]
    assert detail["style"] == "grounded" and detail["grounding"] == "quote"
    assert detail["unsupported"] == ["12.50"] and detail["quoted"] == [1]


def test_a_grounded_answer_keeps_supported_wording_and_streams_the_quote_first(store, embedder):
    model = FakeChatModel("Yes, that is paid leave for every employee [1].", model_id="local:x")
    context = make_context(store, embedder, answer=model)  # "auto": local -> grounded
    pieces = [
        chunk["text"]
        for mode, chunk in graph.stream(
            {
                "question": "how many days of paid annual leave does an employee get",
                "tenant": "acme",
                "stream": True,
            },
            context=context,
            stream_mode=["custom"],
        )
    ]
    assert pieces[0] == f"“{LEAVE}” [1]"
    assert "".join(pieces) == f"“{LEAVE}” [1]\n\nYes, that is paid leave for every employee [1]."
    result = run(context)
    assert result["answer"] == "".join(pieces)
    assert answer_step(result)["detail"]["grounding"] == "quote+model"


def test_a_grounded_answer_stands_on_its_quote_when_the_model_is_down(store, embedder):
    down = FakeChatModel(down=True)
    result = run(make_context(store, embedder, answer=down, answer_style="grounded"))
    assert result["answer"] == f"“{LEAVE}” [1]" and not result.get("error")
    assert answer_step(result)["detail"]["reasons"] == ["model_unavailable"]


def test_a_generative_answer_with_only_invented_facts_falls_back_to_the_quote(store, embedder):
    model = FakeChatModel("The yearly membership fee is £12.50 [1].")
    result = run(make_context(store, embedder, answer=model))  # fake:answer -> generative
    leave = next(n for n, h in enumerate(result["context_hits"], 1) if h["title"] == "Annual leave")
    assert result["answer"] == f"“{LEAVE}” [{leave}]"
    assert answer_step(result)["detail"]["grounding"] == "quote_fallback"


@pytest.mark.parametrize(
    ("give_up", "route", "answer"),
    [
        ("not_found", "retrieve", NOT_FOUND),
        ("finetuned", "finetuned", f"{CAVEAT}General answer."),
    ],
)
def test_hits_with_no_sentence_that_answers_are_given_up_on_not_quoted(
    store, embedder, monkeypatch, give_up, route, answer
):
    # A near neighbour of the question graded good: its best sentence scores under the bar.
    monkeypatch.setattr("askloop.agent.nodes.grounded.MIN_QUOTE_SCORE", 99.0)
    model = FakeChatModel("Twenty-six days [1].")
    result = run(
        make_context(store, embedder, answer=model, answer_style="grounded", give_up=give_up)
    )
    assert result["answer"] == answer
    assert result["route"] == route and result["cited"] == []
    assert model.calls == []  # nothing was written from the documents
    step = answer_step(result)
    assert step["verdict"] == "gave_up"
    assert step["detail"]["grounding"] == "no_answering_sentence"
    [gave_up] = [s for s in result["trace"] if s["node"] == "give_up"]
    assert gave_up["detail"]["reason"] == "no_answering_sentence"


def test_the_sentence_that_answers_clears_the_bar(store, embedder):
    quotes = choose_quotes(
        "how many days of paid annual leave does an employee get", [hit(LEAVE)], embedder
    )
    assert quotes[0].score >= MIN_QUOTE_SCORE


def test_a_sentence_that_sends_the_reader_to_the_asked_name_refers_elsewhere():
    see = "For temporary files and directories see the tempfile module's mkdtemp()."
    everyday = frozenset({"temporary", "files", "and", "directories", "module", "work"})
    assert refers_elsewhere("How does tempfile work?", see, everyday) == "tempfile"
    # A dotted name by its first part; a capitalised one without any word list.
    assert refers_elsewhere("What is random?", "Please see random.SystemRandom.") == "random"
    assert refers_elsewhere("What is Gatehouse?", "Access goes through (see Gatehouse).") == (
        "gatehouse"
    )
    # Not the name asked about, not a referral, or an everyday word: the passage answers.
    assert refers_elsewhere("How does shutil work?", see, everyday) == ""
    assert refers_elsewhere("How does tempfile work?", "The tempfile module makes files.") == ""
    assert refers_elsewhere("How do I use the VPN?", "Use the VPN client; see the IT page.") == ""
    pointer = "See the expenses page for how to claim it."
    assert refers_elsewhere("Internet contribution: what about expenses?", pointer) == ""


class Words:
    """The tenant's word counts, as ``askloop ingest`` writes them."""

    def get(self, tenant: str) -> CorpusStats:
        everyday = "temporary files and directories module creates opens securely how does work"
        return CorpusStats(sections=2, df={}, everyday=frozenset(everyday.split()))


OS_PAGE = (
    "Temporary files: for creating temporary files and directories see the tempfile module. "
    "The os module opens files with os.open()."
)
TEMPFILE_PAGE = "The tempfile module creates temporary files and directories securely."


def test_hits_whose_best_sentence_points_to_the_asked_module_are_given_up_on(tmp_path, monkeypatch):
    """The os page names tempfile only to send the reader there: "How does tempfile
    work?" is not answered from it. With the tempfile page ingested it is quoted."""
    # The hashing embedder's cosines are low: any best sentence answers here.
    monkeypatch.setattr("askloop.agent.nodes.grounded.MIN_QUOTE_SCORE", 0.0)
    embedder = HashingEmbedder()
    question = "How does tempfile work?"
    policy = {
        "answer_style": "grounded",
        "give_up": "not_found",
        "route_threshold": 0.0,
        "grade_threshold": 0.0,
    }
    model = FakeChatModel("It makes temporary files [1].")

    def context(store):
        # The tenant's word counts carry the English word list: "tempfile" is in none.
        return replace(make_context(store, embedder, answer=model, **policy), corpus_words=Words())

    neighbour = make_kb_store(tmp_path / "a", embedder, {"/kb/os.md": ("os", OS_PAGE)})
    result = run(context(neighbour), question)
    assert result["answer"] == NOT_FOUND and result["cited"] == []
    assert model.calls == []
    step = answer_step(result)
    assert step["verdict"] == "gave_up" and step["detail"]["grounding"] == "refers_elsewhere"
    assert step["detail"]["refers_to"] == "tempfile"
    [gave_up] = [s for s in result["trace"] if s["node"] == "give_up"]
    assert gave_up["detail"]["reason"] == "refers_elsewhere"

    pages = {"/kb/os.md": ("os", OS_PAGE), "/kb/tempfile.md": ("tempfile", TEMPFILE_PAGE)}
    both = make_kb_store(tmp_path / "b", embedder, pages)
    result = run(context(both), question)
    assert result["answer"].startswith(f"“{TEMPFILE_PAGE}”")
    assert answer_step(result)["detail"]["grounding"] != "refers_elsewhere"
