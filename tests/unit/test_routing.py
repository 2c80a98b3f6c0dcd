"""The probe router's decision: cosine plus evidence that a hit is about the subject."""

from __future__ import annotations

import pytest

from askloop.agent.context import Policy
from askloop.agent.routing import OVERLAP_WEIGHT, TITLE_WEIGHT, decide, features, tune_threshold


def hit(title, text, cosine, headings=()):
    return {
        "chunk_id": title,
        "title": title,
        "source": "",
        "url": "",
        "heading_path": list(headings),
        "text": text,
        "score": cosine,
        "vector_score": cosine,
        "keyword_score": None,
        "query": "",
    }


def test_a_hit_titled_with_the_subject_adds_the_title_weight():
    f = features("What is Mercury?", [hit("Mercury (planet)", "The smallest planet.", 0.4)])
    assert f["title_match"] == 1.0 and f["overlap_words"] == 1
    assert f["score"] == pytest.approx(0.4 + TITLE_WEIGHT + OVERLAP_WEIGHT / 4)


def test_question_words_in_a_heading_or_opening_count_up_to_the_cap():
    hits = [
        hit("Leave", "Annual leave: employees get 26 paid days.", 0.5, headings=("Annual leave",))
    ]
    f = features("How many paid annual leave days do employees get?", hits)
    assert f["overlap_words"] >= 4
    assert f["score"] == pytest.approx(0.5 + OVERLAP_WEIGHT)  # capped at 4 words


def test_a_near_neighbour_without_the_subject_stays_below_the_threshold():
    hits = [hit("Oboe", "The oboe is a woodwind instrument.", 0.44)]
    decision, reason, f = decide("Tell me about the clarinet", hits, Policy(route_threshold=0.5))
    assert decision == "finetuned" and f["title_match"] == 0 and "threshold 0.5" in reason


def test_no_hits_means_the_finetuned_model():
    decision, _, f = decide("anything", [], Policy())
    assert decision == "finetuned" and f["best_cosine"] == 0.0


def test_the_threshold_decides():
    hits = [hit("Parking", "Level 2 is for visitors.", 0.3)]
    assert decide("parking for visitors", hits, Policy(route_threshold=0.2))[0] == "retrieve"
    assert decide("parking for visitors", hits, Policy(route_threshold=1.5))[0] == "finetuned"


def test_the_tuned_threshold_separates_labelled_scores_best():
    # Should search (True) from 0.6 up, except one outlier at 0.3.
    points = [(0.1, False), (0.2, False), (0.3, True), (0.45, False), (0.6, True), (0.9, True)]
    threshold, accuracy = tune_threshold(points)
    assert 0.45 < threshold <= 0.6 and accuracy == 5 / 6
    assert all((score >= threshold) == search for score, search in points if score != 0.3)
    # One kind only: every threshold below (or above) all scores is right.
    assert tune_threshold([(0.5, True), (0.7, True)])[1] == 1.0
    with pytest.raises(ValueError, match="no labelled"):
        tune_threshold([])
