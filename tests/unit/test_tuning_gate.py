"""The promotion gate's judging and statistics on fixed data."""

from __future__ import annotations

import pytest

from askloop.integrations.tuning.gate import (
    KB_TOLERANCE,
    ModelScore,
    bootstrap_interval,
    decide,
    judge,
    key_facts,
    token_f1,
)


def test_key_facts_are_numbers_codes_names_and_links():
    ref = "Ask Marta Quental; the Lisbon wifi password is Gaivota-2291, see https://wiki/x."
    assert key_facts(ref) == ["marta", "quental", "lisbon", "gaivota-2291", "https://wiki/x"]
    assert key_facts("The first word is not a name.") == []


def test_judge_needs_every_key_fact():
    ref = "Purchase orders over 10k are approved by Marta Quental."
    assert judge("Marta Quental approves POs above 10k.", ref).correct
    assert not judge("Marta approves purchase orders over 10k.", ref).correct
    assert not judge("They are approved by finance.", ref).correct


def test_judge_without_key_facts_needs_most_content_words():
    ref = "bring your laptop charger and badge"
    assert judge("Please bring the laptop charger and your badge.", ref).correct
    assert not judge("Bring a laptop.", ref).correct


def test_refusals_are_counted():
    assert judge("I don't know, sorry.", "It is 42.").refusal
    assert not judge("It is 42.", "It is 42.").refusal


def test_token_f1():
    assert token_f1("the office is in Lisbon", "The office is in Lisbon.") == 1.0
    assert token_f1("", "anything") == 0.0
    assert 0 < token_f1("office in Porto", "office in Lisbon") < 1


def test_bootstrap_interval_excludes_zero_only_for_a_clear_gain():
    base = [0.0] * 30
    clear = [1.0] * 20 + [0.0] * 10
    mean, low, high = bootstrap_interval(clear, base, seed=1)
    assert mean == pytest.approx(20 / 30) and 0 < low < mean < high <= 1
    noisy = [1.0, 0.0] * 15
    noisy_base = [0.0, 1.0] * 15
    _, low, high = bootstrap_interval(noisy, noisy_base, seed=1)
    assert low < 0 < high
    with pytest.raises(ValueError):
        bootstrap_interval([1.0], [])


def _score(facts: list[bool], kb: list[bool], model: str = "m") -> ModelScore:
    return ModelScore(
        model=model,
        fact_correct=tuple(facts),
        fact_f1=tuple(float(f) for f in facts),
        fact_refusals=0,
        kb_correct=tuple(kb),
    )


def test_decide_passes_a_clear_gain_without_kb_loss():
    cand = _score([True] * 12 + [False] * 8, [True] * 10)
    base = _score([False] * 18 + [True] * 2, [True] * 10)
    verdict = decide(cand, base)
    assert verdict.better and verdict.low > 0 and verdict.reasons == ()
    assert verdict.regressions == 0 or verdict.regressions <= 2


def test_decide_refuses_a_gain_that_costs_knowledge_base_answers():
    kb = [True] * 40
    cand = _score([True] * 15 + [False] * 5, [False] * 3 + [True] * 37)
    base = _score([False] * 20, kb)
    verdict = decide(cand, base)
    assert int(KB_TOLERANCE * 40) == 2
    assert not verdict.better and verdict.kb_lost == 3
    assert "knowledge-base" in verdict.reasons[0]


def test_decide_refuses_noise():
    cand = _score([True, False] * 10, [True])
    base = _score([False, True] * 10, [True])
    verdict = decide(cand, base)
    assert not verdict.better and verdict.regressions == 10
    assert "does not exclude 0" in verdict.reasons[0]


def test_decide_refuses_when_nothing_was_compared():
    verdict = decide(_score([], [True]), _score([], [True]))
    assert not verdict.better and "no held-out fact questions" in verdict.reasons[0]
