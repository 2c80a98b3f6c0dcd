"""The evidence router: fixed weights over the probe hits' evidence, opt-in."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from langgraph.runtime import Runtime

from askloop.agent.calibration import CorpusStats
from askloop.agent.context import Policy
from askloop.agent.evidence_routing import (
    CORPUS_THRESHOLD,
    EVIDENCE_THRESHOLD,
    decide_evidence,
    heading_index,
    named_heading,
)
from askloop.agent.nodes import retrieve, route
from askloop.agent.routing import decide
from askloop.integrations.tuning.router import CorpusWordFiles, words_path, write_corpus_words
from tests.fakes import HashingEmbedder
from tests.kb_fixture import make_context, make_kb_store
from tests.unit.test_routing import hit

LEAVE = hit(
    "Annual leave",
    "Every employee gets 26 days of paid annual leave; up to 5 carry over.",
    0.55,
    headings=("Carrying leave over",),
)


def test_a_hit_that_states_the_subject_and_the_details_is_searched():
    decision, reason, values = decide_evidence("How many days of annual leave do I get?", [LEAVE])
    assert decision == "retrieve" and values["probability"] >= EVIDENCE_THRESHOLD
    assert "evidence" in reason and values["hit_coverage"] > 0.5


def test_a_near_neighbour_that_names_nothing_asked_is_not():
    """Cosine alone would search (the probe router does at a low threshold); the hits
    hold none of the question's words."""
    neighbour = hit("Oboe", "The oboe is a woodwind instrument with a double reed.", 0.44)
    question = "Who composed the Brandenburg concertos?"
    assert decide(question, [neighbour], Policy(route_threshold=0.4))[0] == "retrieve"
    decision, _, values = decide_evidence(question, [neighbour])
    assert decision == "finetuned" and values["hit_coverage"] == 0.0


def test_small_talk_and_an_empty_probe_go_to_the_tuned_model():
    assert decide_evidence("thanks, have a nice weekend!", [LEAVE])[0] == "finetuned"
    decision, reason, _ = decide_evidence("How many days of annual leave?", [])
    assert decision == "finetuned" and "found nothing" in reason


def test_the_route_step_uses_it_only_when_configured(tmp_path):
    embedder = HashingEmbedder()
    store = make_kb_store(tmp_path / "kb", embedder)
    question = "How many days of paid annual leave does every employee get?"
    for router in ("evidence", "probe"):
        ctx = make_context(store, embedder, router=router)
        state = {"question": question, "tenant": "acme", "trace": []}
        out = route(state, Runtime(context=ctx))  # type: ignore[arg-type]
        detail = out["trace"][0]["detail"]
        assert detail["policy"] == router
        assert ("probability" in detail["features"]) == (router == "evidence")
        if router == "evidence":
            assert out["decision"] == "retrieve" and detail["reason"].startswith("evidence")
    store.close()


def test_it_is_the_default_router(tmp_path):
    """With no router configured, the route step decides by the evidence weights: a
    question the handbook states goes to search, small talk to the tuned model."""
    embedder = HashingEmbedder()
    store = make_kb_store(tmp_path / "kb", embedder)
    ctx = make_context(store, embedder)
    ctx = replace(ctx, policy=Policy())
    asked = {
        "How many days of paid annual leave does every employee get?": "retrieve",
        "thanks, have a nice weekend!": "finetuned",
    }
    for question, expected in asked.items():
        state = {"question": question, "tenant": "acme", "trace": []}
        out = route(state, Runtime(context=ctx))  # type: ignore[arg-type]
        detail = out["trace"][0]["detail"]
        assert detail["policy"] == "evidence" and "probability" in detail["features"]
        assert out["decision"] == expected, question
    store.close()


def test_with_word_counts_a_question_on_words_the_corpus_uses_weighs_more():
    """Same hits, same question: the tenant's word counts tell a corpus that mentions
    the question's words somewhere (a page the probe missed) from one that never does."""

    leave = "Every employee gets 26 days of paid annual leave."
    mentions = CorpusStats.of([leave, "The payments team keeps an on-call rota for outages."])
    never = CorpusStats.of([leave, "Carrying leave over to a new year."])
    question = "Who is on the payments team's on-call rota?"
    seen = decide_evidence(question, [LEAVE], mentions)[2]
    unseen = decide_evidence(question, [LEAVE], never)[2]
    assert seen["corpus_coverage"] > 0.5 and unseen["corpus_coverage"] == 0.0
    assert seen["probability"] > unseen["probability"] + 0.03
    # Without counts, the weights that read no corpus feature.
    assert f"threshold {EVIDENCE_THRESHOLD} " in decide_evidence(question, [LEAVE])[1]


def test_the_route_step_reads_the_tenants_word_counts_written_after_an_ingest(tmp_path):

    embedder = HashingEmbedder()
    store = make_kb_store(tmp_path / "kb", embedder)
    home = tmp_path / "home"
    files = CorpusWordFiles(home)
    assert files.get("acme") is None
    stats = write_corpus_words(store, tenant="acme", home=home)
    assert stats.sections > 0 and files.get("acme") == stats
    # With the everyday English the grader tells names from common words by (not stored).
    assert {"login", "photosynthesis", "leave"} <= stats.everyday
    assert not {"pkgutil", "kubectl", "telnet"} & stats.everyday  # "telnet": too rare
    assert "everyday" not in words_path(home, "acme").read_text(encoding="utf-8")
    ctx = replace(make_context(store, embedder, router="evidence"), corpus_words=files)
    question = "How many days of paid annual leave does every employee get?"
    out = route({"question": question, "tenant": "acme", "trace": []}, Runtime(context=ctx))  # type: ignore[arg-type]
    detail = out["trace"][0]["detail"]
    assert detail["features"]["corpus_coverage"] > 0.5
    assert f"threshold {CORPUS_THRESHOLD}" in detail["reason"]
    store.close()


def test_unusable_word_counts_are_ignored_not_fatal(tmp_path, caplog):

    path = words_path(tmp_path, "acme")
    path.parent.mkdir(parents=True)
    path.write_text("{not json", encoding="utf-8")
    assert CorpusWordFiles(tmp_path).get("acme") is None
    assert "unusable word counts" in caplog.text


def test_words_scattered_over_near_neighbours_weigh_less_than_one_section_holding_them():
    """The same words in the hits (hit_coverage), but no single hit holds the question:
    two neighbours, each on a part of it, are weaker evidence than the section on it."""
    question = "How long may students borrow the refractometer?"
    scattered = [
        hit("Refractometer", "Rinse the refractometer long with distilled water.", 0.42),
        hit("Library cards", "Students may borrow books for three weeks.", 0.40),
    ]
    whole = [
        hit(
            "Equipment loans",
            "Students may borrow the refractometer for two days; ask how long at the desk.",
            0.42,
        ),
        scattered[1],
    ]
    spread = decide_evidence(question, scattered)[2]
    held = decide_evidence(question, whole)[2]
    assert spread["hit_coverage"] == held["hit_coverage"] == 1.0
    assert spread["one_hit_coverage"] <= 0.6 and held["one_hit_coverage"] == 1.0
    assert spread["probability"] < held["probability"] - 0.1


def test_a_one_word_question_found_in_a_hit_is_not_whole_coverage():
    values = decide_evidence("test", [LEAVE, hit("Tests", "Run the test suite nightly.", 0.3)])[2]
    assert values["one_hit_coverage"] == pytest.approx(1 / 3)


GETTEXT = [
    (
        "gettext — Multilingual internationalization services",
        ["Class-based API"],
        "The class-based API of the gettext module gives you more flexibility.",
    ),
    ("ast — Abstract Syntax Trees", ["Pattern matching"], "A match class pattern."),
]
#: The vector probe's neighbours of "What is Class-based API?" on python3-doc: the ast
#: page's sections on classes, none naming what was asked.
AST_CLASSES = [
    hit(
        "ast — Abstract Syntax Trees",
        "class ast.MatchClass(cls, patterns)",
        0.38,
        ("Pattern matching",),
    ),
    hit(
        "ast — Abstract Syntax Trees",
        "class ast.ClassDef(name, bases)",
        0.37,
        ("Function and class definitions",),
    ),
]


def test_a_question_naming_a_distinctive_heading_is_searched_whatever_the_weights_say():

    question = "What is Class-based API?"
    plain = CorpusStats.of(" ".join((t, *h, x)) for t, h, x in GETTEXT)
    decision, _, values = decide_evidence(question, AST_CLASSES, plain)
    assert decision == "finetuned" and "names_heading" not in values
    headings = CorpusStats(plain.sections, plain.df, headings=heading_index(GETTEXT))
    decision, reason, values = decide_evidence(question, AST_CLASSES, headings)
    assert decision == "retrieve" and values["names_heading"] == 1.0
    assert values["probability"] < CORPUS_THRESHOLD  # the weights alone still say no
    assert "names the heading 'Class-based API'" in reason
    # Other questions are decided by the weights as before.
    assert decide_evidence("thanks, have a nice weekend!", AST_CLASSES, headings)[0] == "finetuned"


def test_only_headings_of_two_words_or_more_that_few_documents_share_name_a_section():

    sections = [
        (title, [heading], "")
        for title in ("os", "sys", "ssl")
        for heading in ("Module contents", "Examples", "How to")
    ]
    sections += [("ssl", ["Server-side operation (deprecated)"], "")]
    sections += [("tarfile — Read and write tar archive files", ["Examples"], "")]
    index = heading_index(sections)
    words = CorpusStats(sections=len(sections), df={}, headings=index)
    # Three documents share "Module contents"; "Examples" is one word; "How to" says
    # nothing. A qualifier is dropped; each part of a title is a name too.
    assert len(index) == 3 and set(index.values()) == {1}
    assert named_heading("How do I set up Server-side operations?", words) == (
        "Server-side operations"
    )
    assert named_heading("Tell me about tarfile - read and write tar archive files", words) == (
        "tarfile - read and write tar archive files"
    )
    assert named_heading("Can I read and write tar archive files?", words) == (
        "read and write tar archive files"
    )
    for question in ("What are the module contents?", "How to set up the server?", "Examples?"):
        assert named_heading(question, words) == "", question


def test_ingest_stores_the_tenants_headings_with_its_word_counts(tmp_path):
    """Written by ``askloop ingest`` with the word counts and read back by the route step;
    counts written before headings were stored still load, naming no heading."""

    embedder = HashingEmbedder()
    store = make_kb_store(tmp_path / "kb", embedder)
    home = tmp_path / "home"
    stats = write_corpus_words(store, tenant="acme", home=home)
    store.close()
    # "Annual leave" is the one title of two words; "On-call" and "Kitchen" are one.
    assert stats.headings == {"annual leave": 1}
    assert CorpusWordFiles(home).get("acme") == stats
    path = words_path(home, "acme")
    older = json.loads(path.read_text(encoding="utf-8"))
    del older["headings"]
    path.write_text(json.dumps(older), encoding="utf-8")
    loaded = CorpusWordFiles(home).get("acme")
    assert loaded is not None and loaded.headings == {} and loaded.df == stats.df


def test_the_route_step_searches_a_question_naming_an_ingested_heading(tmp_path):
    """Through the route step, a real store and the word counts an ingest writes: most of
    the question is about what the knowledge base does not say, but it names the title of
    one of its documents, so the knowledge base is searched and the trace says why."""

    embedder = HashingEmbedder()
    store = make_kb_store(tmp_path / "kb", embedder)
    home = tmp_path / "home"
    question = "Where is the annual leave form for contractors in Berlin?"
    decisions = {}
    for written in (False, True):
        if written:
            write_corpus_words(store, tenant="acme", home=home)
        ctx = replace(
            make_context(store, embedder, router="evidence"), corpus_words=CorpusWordFiles(home)
        )
        out = route({"question": question, "tenant": "acme", "trace": []}, Runtime(context=ctx))  # type: ignore[arg-type]
        decisions[written] = (out["decision"], out["trace"][0]["detail"]["reason"])
    store.close()
    assert decisions[False][0] == "finetuned"
    assert decisions[True][0] == "retrieve"
    assert decisions[True][1].endswith("names the heading 'annual leave' of this knowledge base")


FACTORIES = {
    "/kb/functools.md": (
        "functools",
        "How does a function factory work? Functions that work on functions: how each works.",
    ),
    "/kb/ipaddress.md": (
        "Convenience factory functions",
        "ip_address returns an IPv4Address or IPv6Address object from a string.",
    ),
}


def test_retrieve_puts_the_section_a_question_names_first(tmp_path):
    """The search ranks a near neighbour first; the question names the heading of another
    section: with the tenant's headings known, that section leads the hits (and so is what
    ``grade`` reads), and the trace says why. Without them, the search's order stands."""
    embedder = HashingEmbedder()
    store = make_kb_store(tmp_path / "kb", embedder, kb=FACTORIES)
    home = tmp_path / "home"
    question = "How does Convenience factory functions work?"

    def first_hit(files):
        ctx = replace(make_context(store, embedder, router="evidence"), corpus_words=files)
        state = {"question": question, "queries": [question], "tenant": "acme", "trace": []}
        out = retrieve(state, Runtime(context=ctx))  # type: ignore[arg-type]
        return out["hits"][0]["source"], out["trace"][-1]["detail"], out["hits"]

    before, detail, hits = first_hit(None)
    assert before == "/kb/functools.md" and "named_section" not in detail
    write_corpus_words(store, tenant="acme", home=home)
    after, detail, moved = first_hit(CorpusWordFiles(home))
    assert (
        after == "/kb/ipaddress.md" and detail["named_section"] == "Convenience factory functions"
    )
    # Same hits, same length; the moved one takes the top fused score.
    assert {h["chunk_id"] for h in moved} == {h["chunk_id"] for h in hits}
    assert moved[0]["score"] == hits[0]["score"]
    # When the search left the section out altogether (one hit a search here), its
    # heading is searched by keywords.
    ctx = replace(
        make_context(store, embedder, router="evidence", k=1), corpus_words=CorpusWordFiles(home)
    )
    state = {"question": question, "queries": [question], "tenant": "acme", "trace": []}
    out = retrieve(state, Runtime(context=ctx))  # type: ignore[arg-type]
    assert [h["source"] for h in out["hits"]] == ["/kb/ipaddress.md"]
    assert out["hits"][0]["query"] == question
    assert out["trace"][-1]["detail"]["named_section"] == "Convenience factory functions"
    store.close()
