"""askloop's own feedback form (``feedback_form = "custom"``), end to end and signed:
the answer asks Teams for a custom form, ``message/fetchTask`` gets askloop's dialog,
and its ``message/submitAction`` lands in the answer log with reason and correction."""

from __future__ import annotations

import json

import pytest

from tests.teams_fake import (
    APP_ID,
    OTHER_TENANT,
    PERSONAL,
    doc_fixture,
    feedback_invoke,
    fetch_task_invoke,
    needs_doc_fixtures,
    personal_message,
    post,
    teams_server,
    teams_settings,
)

pytestmark = pytest.mark.usefixtures("azure_ad")

QUESTION = "How many days of annual leave do employees get?"
ADAPTIVE = "application/vnd.microsoft.card.adaptive"


@pytest.fixture
def srv(tmp_path, openid):
    """A signed-requests-only server with askloop's form; OTHER_TENANT maps to "beta"."""
    settings = teams_settings(
        tmp_path / "home",
        app_id=APP_ID,
        app_password="app-secret",
        openid_metadata=openid.metadata_url,
        feedback_form="custom",
        unmapped="refuse",
    )
    settings = settings.model_copy(
        update={"tenants": {**settings.tenants, f"teams:{OTHER_TENANT}": "beta"}}
    )
    with teams_server(tmp_path, settings) as server:
        yield server


@pytest.fixture
def send(srv, keys, connector):
    """POST an activity with a valid Bot Framework token."""
    return lambda activity: post(srv.url, activity, token=keys.token(service_url=connector.url))


def ask(srv, send, connector, conversation_id=PERSONAL):
    """Ask the question; returns askloop's answer message and the answer's id."""
    question = personal_message(
        QUESTION, service_url=connector.url, conversation_id=conversation_id
    )
    assert send(question).status == 200
    srv.settle()
    (logged,) = srv.runtime.services.answer_log.recent()
    return connector.messages(conversation_id)[-1], logged.record.answer_id


def logged(srv, answer_id):
    return srv.runtime.services.answer_log.get_answer(answer_id)


def metric(srv, outcome: str) -> str:
    return f'askloop_platform_requests_total{{outcome="{outcome}",platform="teams"}}'


def card_of(response) -> tuple[str, dict]:
    """The title and Adaptive Card of a task-module ``continue`` invoke response."""
    assert (response.status, response.content_type) == (200, "application/json")
    task = response.body["task"]
    assert task["type"] == "continue"
    assert task["value"]["card"]["contentType"] == ADAPTIVE
    card = task["value"]["card"]["content"]
    assert card["type"] == "AdaptiveCard"
    return task["value"]["title"], card


def inputs(card: dict) -> dict[str, dict]:
    return {e["id"]: e for e in card["body"] if e["type"] == "Input.Text"}


def submit(reply_id, connector, reaction, values, *, activity_id, conversation_id=PERSONAL):
    """The filled-in form, as Teams delivers it: a feedback submitAction."""
    return feedback_invoke(
        reply_id,
        service_url=connector.url,
        reaction=reaction,
        feedback=json.dumps(values),
        activity_id=activity_id,
        conversation_id=conversation_id,
    )


@needs_doc_fixtures
def test_the_documented_fetch_task_opens_the_form_and_the_latest_submit_is_recorded(
    srv, send, connector
):
    fetch = doc_fixture("invoke_feedback_fetchtask.json")
    conversation = fetch["conversation"]["id"]
    reply, answer_id = ask(srv, send, connector, conversation)
    assert reply.activity["channelData"]["feedbackLoop"] == {"type": "custom"}
    assert reply.activity["channelData"]["feedbackLoopEnabled"] is True

    fetch.update(serviceUrl=connector.url, replyToId=reply.id)
    fetch["value"]["actionValue"]["reaction"] = "dislike"
    title, card = card_of(send(fetch))

    assert title == "👎 Improve this answer"
    fields = inputs(card)
    assert list(fields) == ["reason", "correction"]
    assert all(f["isMultiline"] for f in fields.values())
    assert [a["type"] for a in card["actions"]] == ["Action.Submit"]
    assert logged(srv, answer_id).rating is None  # opening the form records nothing

    first = submit(
        reply.id,
        connector,
        "dislike",
        {"reason": "Cited the 2023 policy.", "correction": "28 days since 2024."},
        activity_id="f:feedback-0101",
        conversation_id=conversation,
    )
    response, redelivered = send(first), send(first)
    assert (response.status, response.body) == (redelivered.status, redelivered.body) == (200, {})
    answer = logged(srv, answer_id)
    assert (answer.rating, answer.downs) == ("down", 1)
    assert (answer.reason, answer.correction) == ("Cited the 2023 policy.", "28 days since 2024.")

    second = submit(
        reply.id,
        connector,
        "dislike",
        {"reason": "Wrong year.", "correction": "Every employee gets 28 days."},
        activity_id="f:feedback-0102",
        conversation_id=conversation,
    )
    response = send(second)
    assert (response.status, response.body) == (200, {})
    answer = logged(srv, answer_id)
    assert (answer.rating, answer.ups, answer.downs) == ("down", 0, 1)  # same user: replaced
    assert (answer.reason, answer.correction) == ("Wrong year.", "Every employee gets 28 days.")


def test_a_like_opens_the_form_without_the_correction_and_is_recorded(srv, send, connector):
    reply, answer_id = ask(srv, send, connector)

    title, card = card_of(send(fetch_task_invoke(reply.id, service_url=connector.url)))
    assert title == "👍 Glad it helped"
    assert list(inputs(card)) == ["reason"]

    response = send(
        submit(
            reply.id,
            connector,
            "like",
            {"reason": "Clear, with the source."},
            activity_id="f:feedback-0201",
        )
    )
    assert (response.status, response.body) == (200, {})
    answer = logged(srv, answer_id)
    assert (answer.rating, answer.ups, answer.reason, answer.correction) == (
        "up",
        1,
        "Clear, with the source.",
        "",
    )
    metrics = srv.runtime.metrics.render().decode()
    assert f"{metric(srv, 'feedback_form')} 1.0" in metrics
    assert 'askloop_feedback_total{platform="teams",rating="up",source="invoke"} 1.0' in metrics


@pytest.mark.parametrize(
    ("change", "outcome", "says"),
    [
        ({"replyToId": "1736416899999"}, "feedback_unknown", "isn't one of askloop's answers"),
        ({"tenant": OTHER_TENANT}, "feedback_unknown", "isn't one of askloop's answers"),
        ({"tenant": "11111111-2222-3333-4444-555555555555"}, "refused", "not set up"),
        (
            {"value": {"actionName": "feedback", "actionValue": {"reaction": "love"}}},
            "feedback_invalid",
            "isn't one of askloop's answers",
        ),
        ({"value": "nonsense"}, "feedback_invalid", "isn't one of askloop's answers"),
    ],
    ids=[
        "unknown replyToId",
        "another tenant's answer",
        "unmapped tenant",
        "bad reaction",
        "not a feedback value",
    ],
)
def test_a_fetch_task_askloop_cannot_serve_gets_a_polite_dialog(
    srv, send, connector, change, outcome, says
):
    reply, answer_id = ask(srv, send, connector)
    fetch = fetch_task_invoke(
        change.get("replyToId", reply.id),
        service_url=connector.url,
        **{k: v for k, v in change.items() if k == "tenant"},
    )
    if "value" in change:
        fetch["value"] = change["value"]

    title, card = card_of(send(fetch))

    assert title == "Feedback"
    assert inputs(card) == {} and "actions" not in card
    (notice,) = card["body"]
    assert says in notice["text"]
    assert f"{metric(srv, outcome)} 1.0" in srv.runtime.metrics.render().decode()
    assert logged(srv, answer_id).rating is None


def test_teams_own_form_is_still_recorded_with_the_custom_setting(srv, send, connector):
    # Answers sent before switching to "custom" keep Teams' form.
    reply, answer_id = ask(srv, send, connector)

    response = send(feedback_invoke(reply.id, service_url=connector.url, text="Spot on."))

    assert (response.status, response.body) == (200, {})
    answer = logged(srv, answer_id)
    assert (answer.rating, answer.reason, answer.correction) == ("up", "Spot on.", "")


@pytest.mark.parametrize(
    "feedback",
    [
        pytest.param(json.dumps({"reason": 42}), id="reason not text"),
        pytest.param(
            json.dumps({"reason": "x", "correction": "c" * 3001}), id="correction too long"
        ),
        pytest.param(json.dumps({"feedbackText": "x", "reason": "y"}), id="both forms"),
        pytest.param(json.dumps(["reason", "correction"]), id="not an object"),
        pytest.param("{reason: wrong", id="not JSON"),
        pytest.param("[" * 50_000, id="nested too deep"),
    ],
)
def test_a_malformed_custom_feedback_is_refused_without_recording(srv, send, connector, feedback):
    reply, answer_id = ask(srv, send, connector)

    response = send(
        feedback_invoke(reply.id, service_url=connector.url, reaction="dislike", feedback=feedback)
    )

    assert (response.status, response.body) == (200, {})
    answer = logged(srv, answer_id)
    assert (answer.rating, answer.ups, answer.downs, answer.reason) == (None, 0, 0, "")
    assert f"{metric(srv, 'feedback_invalid')} 1.0" in srv.runtime.metrics.render().decode()
