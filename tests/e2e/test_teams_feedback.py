"""👍/👎 through Teams' feedback loop: the ``message/submitAction`` invoke, end to end."""

from __future__ import annotations

import json

import pytest

from tests.teams_fake import (
    OTHER_TENANT,
    PERSONAL,
    feedback_invoke,
    personal_message,
    post,
    teams_server,
    teams_settings,
)

QUESTION = "How many days of annual leave do employees get?"


@pytest.fixture
def answered(tmp_path, connector):
    """A server that has answered one question in a personal chat."""
    settings = teams_settings(tmp_path / "home", unmapped="refuse")
    settings = settings.model_copy(
        update={"tenants": {**settings.tenants, f"teams:{OTHER_TENANT}": "beta"}}
    )
    with teams_server(tmp_path, settings) as srv:
        post(srv.url, personal_message(QUESTION, service_url=connector.url))
        srv.settle()
        (logged,) = srv.runtime.services.answer_log.recent()
        yield srv, connector.messages(PERSONAL)[-1], logged.record.answer_id


def logged(srv, answer_id):
    return srv.runtime.services.answer_log.get_answer(answer_id)


def test_a_like_with_text_is_recorded_and_answered_with_an_empty_object(answered, connector):
    srv, reply, answer_id = answered
    response = post(srv.url, feedback_invoke(reply.id, service_url=connector.url))

    assert response.status == 200
    assert response.content_type == "application/json"
    assert response.body == {}
    answer = logged(srv, answer_id)
    assert (answer.rating, answer.ups, answer.reason) == ("up", 1, "This is my feedback.")
    metrics = srv.runtime.metrics.render().decode()
    assert 'askloop_feedback_total{platform="teams",rating="up",source="invoke"} 1.0' in metrics


def test_a_dislike_on_the_stream_id_is_recorded_and_the_latest_rating_wins(answered, connector):
    srv, reply, answer_id = answered
    stream_id = reply.entity("streaminfo")["streamId"]
    post(srv.url, feedback_invoke(reply.id, service_url=connector.url))
    response = post(
        srv.url,
        feedback_invoke(
            stream_id,
            service_url=connector.url,
            reaction="dislike",
            text="Cited the wrong policy version.",
            activity_id="f:feedback-0002",
        ),
    )

    assert (response.status, response.body) == (200, {})
    answer = logged(srv, answer_id)
    assert (answer.rating, answer.downs, answer.reason) == (
        "down",
        1,
        "Cited the wrong policy version.",
    )


def test_a_redelivered_invoke_is_recorded_once(answered, connector):
    srv, reply, answer_id = answered
    invoke = feedback_invoke(reply.id, service_url=connector.url)
    assert post(srv.url, invoke).body == {}
    assert post(srv.url, invoke).body == {}
    assert logged(srv, answer_id).ups == 1


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"replyToId": "1736416899999"}, id="unknown replyToId"),
        pytest.param({"reaction": "love"}, id="reaction outside like/dislike"),
        pytest.param({"feedback": "not json at all"}, id="unparsable feedback"),
        pytest.param({"feedback": json.dumps({"feedbackText": 42})}, id="feedbackText not text"),
        pytest.param({"tenant": "11111111-2222-3333-4444-555555555555"}, id="unmapped tenant"),
        pytest.param({"tenant": OTHER_TENANT}, id="another tenant's answer"),
        pytest.param({"value": "nonsense"}, id="not a feedback value"),
    ],
)
def test_feedback_that_cannot_be_recorded_is_still_200_with_an_empty_object(
    answered, connector, change
):
    srv, reply, answer_id = answered
    options = {k: v for k, v in change.items() if k in ("reaction", "feedback", "tenant")}
    invoke = feedback_invoke(
        change.get("replyToId", reply.id), service_url=connector.url, **options
    )
    if "value" in change:
        invoke["value"] = change["value"]

    response = post(srv.url, invoke)

    assert (response.status, response.body) == (200, {})
    answer = logged(srv, answer_id)
    assert (answer.rating, answer.ups, answer.downs) == (None, 0, 0)


def test_invokes_delivered_out_of_order_end_with_the_rating_teams_timed_last(answered, connector):
    srv, reply, answer_id = answered
    # Liked at :03, disliked at :05, liked at :04: delivered in that order.
    for n, (reaction, second) in enumerate([("like", 3), ("dislike", 5), ("like", 4)]):
        invoke = feedback_invoke(
            reply.id, service_url=connector.url, reaction=reaction, activity_id=f"f:t-{n}"
        )
        invoke["timestamp"] = f"2025-01-09T10:00:0{second}.000Z"
        assert post(srv.url, invoke).status == 200
    answer = logged(srv, answer_id)
    assert (answer.rating, answer.ups, answer.downs) == ("down", 0, 1)


def test_feedback_that_cannot_be_saved_is_told_so(answered, connector, monkeypatch):
    from askloop.agent.errors import LogUnavailableError

    srv, reply, answer_id = answered

    def down(*args, **kwargs):
        raise LogUnavailableError("the answer log database (SQLite) failed")

    before = len(connector.messages(PERSONAL))
    monkeypatch.setattr(srv.runtime.services.answer_log, "add_feedback_many", down)
    response = post(srv.url, feedback_invoke(reply.id, service_url=connector.url))
    srv.settle()

    assert (response.status, response.body) == (200, {})
    [sorry] = connector.messages(PERSONAL)[before:]
    assert "not saved" in sorry.activity["text"]
