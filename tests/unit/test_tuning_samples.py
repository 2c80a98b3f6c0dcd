"""What tuning learns from the rated log, and what it holds out."""

from __future__ import annotations

from askloop.integrations.answer_log.sql_log import SqlAnswerLog
from askloop.integrations.tuning.model import training_rows
from askloop.integrations.tuning.paraphrase import EVAL_TEMPLATES, reword
from askloop.integrations.tuning.samples import collect
from askloop.prompts import load_prompt
from tests.export_fixture import answer, kb_answer, rate


def _log(tmp_path):
    log = SqlAnswerLog.sqlite(tmp_path / "log.db")
    log.save_answer(answer(1, "Who leads design?", "No idea.", conversation_id="t1"))
    rate(log, "a01", "down", correction="Design is led by Ingrid Vasquez.")
    log.save_answer(
        kb_answer(2, "How many days of leave?", "You get 26 days [1].", conversation_id="t2")
    )
    rate(log, "a02", "down", correction="Everyone gets 26 days of paid annual leave.")
    log.save_answer(kb_answer(3, "Leave days?", "26 days [1].", conversation_id="t3"))
    rate(log, "a03", "up")
    log.save_answer(answer(4, "Capital of France?", "Paris.", conversation_id="t4"))
    rate(log, "a04", "up")
    log.save_answer(answer(5, "Unrated?", "Whatever.", conversation_id="t5"))
    log.save_answer(answer(6, "Who leads design?", "No idea.", conversation_id="t6"))
    rate(log, "a06", "down", correction="Design is led by Ingrid Vasquez.")  # a repeat
    return log


def test_samples_say_what_each_rating_teaches(tmp_path):
    log = _log(tmp_path)
    got = collect(log, tenant="acme", fraction=0.0)
    by_id = {s.answer_id: s for s in got.samples}
    assert set(by_id) == {"a01", "a02", "a03", "a04"}  # a06 repeats a01
    assert got.skipped == 1 and got.read == 5
    # A correction is a fact for the tuned route, asked on its prompt, without documents.
    fact = by_id["a02"]
    assert fact.kind == "fact" and fact.reference.startswith("Everyone gets 26 days")
    assert fact.prompt[0]["content"] == load_prompt("answer_direct").text
    assert fact.prompt[-1]["content"] == "How many days of leave?"
    # A 👍 knowledge-base answer keeps the documents it was made from.
    kb = by_id["a03"]
    assert kb.kind == "kb" and "<document" in kb.prompt[-1]["content"]
    assert by_id["a04"].kind == "fact" and by_id["a04"].reference == "Paris."
    log.close()


def test_corrections_the_knowledge_base_states_are_left_to_the_router(tmp_path):
    log = _log(tmp_path)
    got = collect(log, tenant="acme", fraction=0.0, stated=lambda text: "26 days" in text)
    assert got.in_knowledge_base == 1
    assert "a02" not in {s.answer_id for s in got.samples}
    assert got.counts()["in_knowledge_base"] == 1
    log.close()


def test_held_out_threads_and_wordings_are_never_trained_on(tmp_path):
    log = _log(tmp_path)
    everything = collect(log, tenant="acme", fraction=0.5, seed=3)
    assert everything.train and everything.held_out
    assert not {s.thread for s in everything.train} & {s.thread for s in everything.held_out}
    again = collect(log, tenant="acme", fraction=0.5, seed=3)
    assert again.digest() == everything.digest()  # deterministic split

    samples = collect(log, tenant="acme", fraction=0.0).samples
    rows, held = training_rows(samples)
    facts = [s for s in samples if s.kind == "fact"]
    assert len(rows) == 4 * len(facts) and len(held) == len(facts)
    trained = {r["prompt"][-1]["content"] for r in rows}
    for s in facts:
        assert reword(s.question, EVAL_TEMPLATES[0]) not in trained
    with_context, _ = training_rows(samples, with_context=True)
    assert len(with_context) == len(rows) + 1  # the 👍 knowledge-base answer, once
    log.close()
