"""The Assistant service: answers are logged before they are returned; ratings land."""

from __future__ import annotations

import pytest
from langgraph.checkpoint.memory import InMemorySaver

from askloop.agent.answers import CORRECTION_MAX_CHARS, Turn
from askloop.agent.errors import AnswerFailedError, InvalidInputError, UnknownAnswerError
from askloop.agent.graph import build_graph
from askloop.agent.messages import NOT_FOUND
from askloop.agent.service import Assistant, hash_user
from askloop.integrations.answer_log.sql_log import SqlAnswerLog
from tests.fakes import FakeChatModel
from tests.kb_fixture import make_context


@pytest.fixture
def answer_log(tmp_path):
    log = SqlAnswerLog.sqlite(tmp_path / "log.db")
    yield log
    log.close()


@pytest.fixture
def assistant(store, embedder, answer_log):
    return Assistant(
        graph=build_graph(InMemorySaver()),
        context=make_context(store, embedder),
        answer_log=answer_log,
    )


def test_an_answer_is_logged_with_its_trace_citations_and_versions(assistant, answer_log):
    record = assistant.answer(
        Turn(
            question="paid annual leave days employee",
            tenant="acme",
            platform="slack",
            conversation_id="C1:1.0",
            user="U123",
            channel_id="C1",
            team_id="T1",
        )
    )
    logged = answer_log.get_answer(record.answer_id)
    assert logged is not None and logged.record == record
    assert record.route == "retrieve" and record.model == "fake:answer"
    assert [c.title for c in record.citations] == ["Annual leave"]
    assert record.retrieved and record.citations[0].chunk_id == record.retrieved[0].chunk_id
    assert [s.node for s in record.trace][0] == "route"
    assert record.user == hash_user("slack", "U123") and "U123" not in record.user
    assert "answer_with_context" in record.prompt_versions
    assert record.context[0] == record.citations[0].chunk_id


def test_follow_ups_in_a_conversation_record_the_history_they_saw(assistant):
    turn = Turn(
        question="paid annual leave days employee", tenant="acme", conversation_id="thread-1"
    )
    first = assistant.answer(turn)
    second = assistant.answer(
        Turn(question="paid annual leave days again", tenant="acme", conversation_id="thread-1")
    )
    assert first.history == ()
    assert [h["role"] for h in second.history] == ["user", "assistant"]
    alone = assistant.answer(Turn(question="paid annual leave days again", tenant="acme"))
    assert alone.history == ()


def test_thread_memory_keeps_one_checkpoint_per_turn_and_none_for_one_off_turns(
    store, embedder, answer_log
):
    saver = InMemorySaver()
    assistant = Assistant(
        graph=build_graph(saver), context=make_context(store, embedder), answer_log=answer_log
    )
    for question in ["paid annual leave days employee", "and for part-time staff?"]:
        assistant.answer(Turn(question=question, tenant="acme", conversation_id="t-1"))
    assistant.answer(Turn(question="paid annual leave days employee", tenant="acme"))
    checkpoints = list(saver.list(None))
    # One per threaded turn (not one per graph step), and the one-off turn left nothing.
    assert len(checkpoints) == 2
    assert {c.config["configurable"]["thread_id"] for c in checkpoints} == {"acme:cli:t-1"}
    latest = saver.get_tuple({"configurable": {"thread_id": "acme:cli:t-1"}})
    assert [t["role"] for t in latest.checkpoint["channel_values"]["turns"]] == [
        "user",
        "assistant",
        "user",
        "assistant",
    ]


@pytest.mark.parametrize("question", ["", "   ", "\u200b\u200b", "\n\t"])
def test_empty_questions_are_refused(assistant, question):
    with pytest.raises(InvalidInputError, match="empty"):
        assistant.answer(Turn(question=question, tenant="acme"))


def test_invisible_characters_are_removed_before_routing(assistant):
    record = assistant.answer(Turn(question="paid\u200b annual\u2060 leave days", tenant="acme"))
    assert record.question == "paid annual leave days"


def test_rating_round_trip_and_unknown_answers(assistant, answer_log):
    record = assistant.answer(Turn(question="paid annual leave days", tenant="acme"))
    logged = assistant.rate(
        answer_id=record.answer_id,
        rating="down",
        user="U1",
        source="cli",
        reason="wrong",
        correction="30 days",
    )
    assert (logged.rating, logged.reason, logged.correction) == ("down", "wrong", "30 days")
    logged = assistant.rate(answer_id=record.answer_id, rating="up", user="U1", source="cli")
    assert (logged.rating, logged.ups, logged.downs) == ("up", 1, 0)
    with pytest.raises(UnknownAnswerError):
        assistant.rate(answer_id="nope", rating="up", user="U1", source="cli")
    with pytest.raises(UnknownAnswerError):
        assistant.rate(
            answer_id=record.answer_id, rating="up", user="U1", source="cli", tenant="globex"
        )


def test_a_correction_longer_than_the_limit_is_refused_not_cut(assistant, answer_log):
    record = assistant.answer(Turn(question="paid annual leave days", tenant="acme"))
    rate = {"answer_id": record.answer_id, "rating": "down", "user": "U1", "source": "cli"}
    with pytest.raises(InvalidInputError, match=f"{CORRECTION_MAX_CHARS:,}"):
        assistant.rate(**rate, correction="c" * (CORRECTION_MAX_CHARS + 1))
    assert answer_log.get_answer(record.answer_id).rating is None  # nothing recorded
    # Surrounding whitespace does not count; the longest correction is kept whole.
    longest = "c" * CORRECTION_MAX_CHARS
    logged = assistant.rate(**rate, correction=f"  {longest}\n")
    assert logged.correction == longest


def test_route_only_reports_the_decision_without_generating(assistant):
    decision = assistant.route("what is the capital of france", tenant="acme")
    assert decision["route"] == "finetuned" and decision["trace"]["node"] == "route"
    assert assistant.context.answer_model.calls == []
    assert assistant.context.finetuned_model.calls == []


def test_an_unexpected_graph_failure_is_a_short_typed_error(store, embedder, answer_log):
    class Broken:
        def invoke(self, *a, **k):
            raise KeyError("boom")

    assistant = Assistant(
        graph=Broken(), context=make_context(store, embedder), answer_log=answer_log
    )
    with pytest.raises(AnswerFailedError, match="Sorry"):
        assistant.answer(Turn(question="x", tenant="acme"))
    assert answer_log.recent() == []


def test_an_answer_that_is_an_apology_is_logged_with_its_error(embedder, answer_log):
    from tests.unit.test_graph import DeadStore

    assistant = Assistant(
        graph=build_graph(), context=make_context(DeadStore(), embedder), answer_log=answer_log
    )
    record = assistant.answer(Turn(question="paid annual leave", tenant="acme"))
    assert record.error == "store_unavailable"
    assert answer_log.get_answer(record.answer_id).record.error == "store_unavailable"


def test_where_the_tuned_model_is_not_allowed_off_topic_questions_get_not_found(assistant):
    turn = Turn(question="capital of France?", tenant="acme", allow_finetuned=False)
    record = assistant.answer(turn)
    assert record.answer == NOT_FOUND
    assert [s.node for s in record.trace][:2] == ["route", "retrieve"]
    assert assistant.context.finetuned_model.calls == []
    assert "not allowed here" in record.trace[0].detail["reason"]
    # The same question where it is allowed goes to the tuned model.
    assert assistant.answer(Turn(question="capital of France?", tenant="acme")).route == (
        "finetuned"
    )


def test_progress_names_each_slow_step_in_order(assistant):
    seen = []
    record = assistant.answer(
        Turn(question="paid annual leave days employee", tenant="acme"), on_progress=seen.append
    )
    statuses = [p.text for p in seen if p.kind == "status"]
    assert statuses == ["Searching the knowledge base…", "Writing the answer…"]
    # The answer streams after "Writing the answer…", each event the text so far.
    texts = [p.text for p in seen if p.kind == "text"]
    assert seen.index(next(p for p in seen if p.kind == "text")) == 2
    assert texts == ["Twenty-six ", "Twenty-six days ", "Twenty-six days [1]."]
    assert texts[-1] == record.answer


def test_models_stream_only_when_someone_listens(assistant):
    model = assistant.context.answer_model
    assistant.answer(
        Turn(question="paid annual leave days employee", tenant="acme", conversation_id="t1")
    )
    assert (len(model.calls), model.streamed) == (1, 0)
    assistant.answer(
        Turn(question="paid annual leave days employee", tenant="acme", conversation_id="t1"),
        on_progress=lambda _: None,
    )
    assert (len(model.calls), model.streamed) == (2, 1)
    # The thread remembers its state; a later turn without a listener does not stream.
    assistant.answer(
        Turn(question="paid annual leave days employee", tenant="acme", conversation_id="t1")
    )
    assert (len(model.calls), model.streamed) == (3, 1)


def test_a_give_up_streams_the_caveat_first(store, embedder, answer_log):
    from askloop.agent.messages import CAVEAT

    assistant = Assistant(
        graph=build_graph(InMemorySaver()),
        context=make_context(
            store, embedder, grader="llm", answer=FakeChatModel("NO"), max_rewrites=0
        ),
        answer_log=answer_log,
    )
    seen = []
    record = assistant.answer(
        Turn(question="paid annual leave days employee", tenant="acme"), on_progress=seen.append
    )
    texts = [p.text for p in seen if p.kind == "text"]
    assert record.answer.startswith(CAVEAT) and texts[0] == CAVEAT
    assert texts[-1] == record.answer


def test_a_deleted_message_withdraws_the_answer_it_carried(assistant, answer_log):
    record = assistant.answer(Turn(question="paid annual leave days employee", tenant="acme"))
    assistant.link_message(
        answer_id=record.answer_id, platform="slack", message_ref="C1:9.0", role="answer"
    )
    assert assistant.withdraw_message(platform="slack", message_ref="C1:404.0") is None
    assert answer_log.get_answer(record.answer_id).withdrawn is False
    assert assistant.withdraw_message(platform="slack", message_ref="C1:9.0") == record.answer_id
    assert answer_log.get_answer(record.answer_id).withdrawn is True
