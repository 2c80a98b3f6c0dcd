"""The route decision fitted on rated decisions: labels from 👍/👎 and corrections, a
split by thread, and a refit kept only when the held-out threads say it decides better."""

from __future__ import annotations

from pathlib import Path

import pytest

from askloop.agent import calibration
from askloop.agent.answers import LoggedAnswer, TraceStep
from askloop.agent.calibration import decide_calibrated
from askloop.agent.context import Policy
from askloop.agent.pseudo_questions import GENERAL, SMALL_TALK
from askloop.agent.rated_routes import label_of, score, split, states_correction
from askloop.agent.service import feedback_event
from askloop.integrations.answer_log.sql_log import open_answer_log
from askloop.integrations.tuning.rated import MIN_HELD_OUT, rated_decisions
from askloop.integrations.tuning.router import calibrate, load_model, model_path, probe_hits
from tests.fakes import HashingEmbedder
from tests.kb_fixture import handbook_store
from tests.records import answer_record, logged_answer

POLICY = Policy()


def _logged(route: str, rating: str | None, *, decided: str = "", thread: str = "") -> LoggedAnswer:
    trace = (TraceStep("route", decided, 1.0),) if decided else ()
    record = answer_record(
        tenant="t",
        question="How many days of leave?",
        answer="Some.",
        route=route,
        trace=trace,
        conversation_id=thread,
    )
    return logged_answer(record, rating=rating)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("route", "rating", "stated", "label"),
    [
        ("retrieve", "up", None, "retrieve"),
        ("rewrite", "up", None, "retrieve"),
        ("finetuned", "up", None, "finetuned"),
        ("finetuned", "down", True, "retrieve"),  # should have searched
        ("retrieve", "down", True, "retrieve"),  # searching was right, the answer was not
        ("retrieve", "down", False, "finetuned"),  # the knowledge base could not help
        ("finetuned", "down", False, None),  # searching would not have helped either
        ("finetuned", "down", None, None),  # a 👎 without a correction names no route
        ("retrieve", "down", None, None),
        ("retrieve", None, None, None),
    ],
)
def test_feedback_labels_a_route_only_where_it_says_which_was_right(route, rating, stated, label):
    decision = label_of(_logged(route, rating, decided="finetuned"), correction_stated=stated)
    assert (decision.label if decision else None) == label
    if decision:
        assert decision.decided == "finetuned" and decision.why


def test_a_thread_lands_on_one_side_of_the_split():
    decisions = [
        label_of(_logged("retrieve", "up", thread=f"th{i % 200}"), correction_stated=None)
        for i in range(800)
    ]
    fit, held = split(decisions)  # type: ignore[arg-type]
    assert {d.thread for d in fit}.isdisjoint({d.thread for d in held})
    assert 0.2 < len({d.thread for d in held}) / 200 < 0.4
    assert split(decisions) == (fit, held)  # type: ignore[arg-type]


def test_score_balances_the_two_labels():
    always_search = score(["retrieve"] * 9 + ["finetuned"], ["retrieve"] * 10)
    assert always_search.accuracy == 0.9 and always_search.balanced == 0.5
    assert always_search.searched == 1.0 and always_search.kept_out == 0.0
    assert score(["retrieve"], ["retrieve"]).kept_out is None


def _hit(text: str) -> dict:
    return {"title": "Leave", "heading_path": [], "text": text}


def test_a_correction_is_stated_by_a_hit_with_its_numbers_and_most_of_its_words():
    hits = [_hit("Parking is on level 2."), _hit("Employees get 26 days of paid leave a year.")]
    assert states_correction("Employees get 26 days of paid leave.", hits)
    assert not states_correction("Employees get 30 days of paid leave.", hits)  # not 30
    assert not states_correction("The canteen serves vegan lunches on Fridays.", hits)


# -- a tenant's rated log, refitted on and judged on held-out threads ---------------------------


@pytest.fixture(scope="module")
def handbook(tmp_path_factory):
    home = tmp_path_factory.mktemp("home")
    embedder = HashingEmbedder()
    store = handbook_store(home / "kb", embedder, tenant="hb")
    assert calibrate(store, embedder, tenant="hb", home=home, policy=POLICY).status == "fitted"
    yield home, store, embedder
    store.close()


def _questions(store) -> list[str]:
    titles = sorted({title for title, _, _ in store.sections(tenant="hb")})
    asked = [f"What does the handbook say about {t.lower()}?" for t in titles]
    return asked + list(SMALL_TALK) + list(GENERAL)


def _log_rated(tmp_path: Path, rated: list[tuple[str, str, str, str]]):
    """An answer log of (question, route, rating, correction), one thread each."""
    log = open_answer_log(None, tmp_path)
    for i, (question, route, rating, correction) in enumerate(rated):
        log.save_answer(
            answer_record(
                answer_id=f"r{i:04d}",
                tenant="hb",
                question=question,
                answer="An answer.",
                route=route,
                trace=(TraceStep("route", route, 1.0),),
                conversation_id=f"thread{i}",
            )
        )
        log.add_feedback(
            feedback_event(
                answer_id=f"r{i:04d}",
                rating=rating,  # type: ignore[arg-type]
                user="U1",
                source="cli",
                correction=correction,
            )
        )
    return log


def _corpus_only_decisions(home, store, embedder, questions) -> list[str]:
    model = load_model(model_path(home, "hb"))
    hits = probe_hits(store, embedder, tenant="hb", policy=POLICY, questions=questions)
    return [decide_calibrated(q, h, model)[0] for q, h in zip(questions, hits, strict=True)]


def test_a_thumbs_down_whose_correction_the_knowledge_base_states_means_search(handbook, tmp_path):
    _, store, embedder = handbook
    fact = "You may carry over up to 5 unused days; they must be used by 31 March."
    log = _log_rated(
        tmp_path,
        [
            ("can I keep my unused holiday?", "finetuned", "down", fact),
            ("who won the 1930 world cup?", "finetuned", "down", "Uruguay won it in Montevideo."),
            ("what is the capital of France?", "finetuned", "up", ""),
        ],
    )
    found = rated_decisions(log, store, embedder, tenant="hb", policy=POLICY)
    assert [(d.question, d.label) for d in found] == [
        ("can I keep my unused holiday?", "retrieve"),
        ("what is the capital of France?", "finetuned"),
    ]
    log.close()


def test_too_few_rated_decisions_leave_the_corpus_fit_standing(handbook, tmp_path):
    home, store, embedder = handbook
    log = _log_rated(tmp_path, [("hello there!", "finetuned", "up", "")] * 5)
    result = calibrate(
        store, embedder, tenant="hb", home=tmp_path, policy=POLICY, force=True, answer_log=log
    )
    rated = result.report["rated"]
    assert result.status == "fitted" and rated["adopted"] is False
    assert rated["decisions"] == 5 and "too few" in rated["why"]
    corpus_only = load_model(model_path(home, "hb"))
    assert load_model(model_path(tmp_path, "hb")).weights == corpus_only.weights
    log.close()


def test_ratings_that_agree_with_the_corpus_fit_cannot_beat_it_and_are_not_adopted(
    handbook, tmp_path
):
    home, store, embedder = handbook
    questions = _questions(store)
    decided = _corpus_only_decisions(home, store, embedder, questions)
    log = _log_rated(tmp_path, [(q, d, "up", "") for q, d in zip(questions, decided, strict=True)])
    result = calibrate(
        store, embedder, tenant="hb", home=tmp_path, policy=POLICY, force=True, answer_log=log
    )
    rated = result.report["rated"]
    assert rated["held_out"] >= MIN_HELD_OUT
    scores = rated["held_out_scores"]
    assert scores["corpus_only"]["balanced_accuracy"] == 1.0
    assert rated["adopted"] is False and "not" in rated["why"]
    assert load_model(model_path(tmp_path, "hb")).weights == (
        load_model(model_path(home, "hb")).weights
    )
    log.close()


def test_ratings_that_overrule_the_corpus_fit_are_adopted_when_held_out_threads_agree(
    handbook, tmp_path, monkeypatch
):
    """Users who want the tuned model for everything the corpus fit searches, and the
    reverse: a refit that follows them decides held-out threads better and is kept."""
    home, store, embedder = handbook
    monkeypatch.setattr(calibration, "RATED_WEIGHT", 500.0)  # ratings outweigh the corpus
    questions = _questions(store)
    decided = _corpus_only_decisions(home, store, embedder, questions)
    flipped = ["finetuned" if d == "retrieve" else "retrieve" for d in decided]
    log = _log_rated(tmp_path, [(q, d, "up", "") for q, d in zip(questions, flipped, strict=True)])
    result = calibrate(
        store, embedder, tenant="hb", home=tmp_path, policy=POLICY, force=True, answer_log=log
    )
    rated = result.report["rated"]
    scores = rated["held_out_scores"]
    assert scores["corpus_only"]["balanced_accuracy"] == 0.0
    assert scores["with_ratings"]["balanced_accuracy"] > 0.5
    assert scores["logged"]["accuracy"] == 1.0  # the routes logged are the labels
    assert rated["adopted"] is True
    assert load_model(model_path(tmp_path, "hb")).weights != (
        load_model(model_path(home, "hb")).weights
    )
    log.close()
