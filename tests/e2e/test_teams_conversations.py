"""Teams over loopback: the real ``askloop serve``, activities posted to /api/messages,
replies caught by a fake Bot Connector at the activities' ``serviceUrl``."""

from __future__ import annotations

import logging

import pytest

from tests.fakes import FakeChatModel
from tests.teams_fake import (
    CHANNEL,
    GROUP,
    OTHER_TENANT,
    PERSONAL,
    TENANT,
    bot_added,
    channel_message,
    group_message,
    message_delete,
    personal_message,
    post,
    teams_server,
    teams_settings,
)

QUESTION = "How many days of annual leave do employees get?"


def answers(srv) -> list:
    return srv.runtime.services.answer_log.recent(limit=50)


def metric(srv, line: str) -> bool:
    return line in srv.runtime.metrics.render().decode()


def test_a_personal_chat_streams_then_gets_a_cited_answer_with_feedback_buttons(
    tmp_path, connector
):
    with teams_server(tmp_path, teams_settings(tmp_path / "home")) as srv:
        response = post(srv.url, personal_message(QUESTION, service_url=connector.url))
        srv.settle()
        (logged,) = answers(srv)

    assert response.status == 200
    sent = connector.to(PERSONAL)
    # Every activity is a reply to the question.
    assert {s.reply_to for s in sent} == {"1485983408511"}
    assert all(s.activity["replyToId"] == "1485983408511" for s in sent)
    typing, *updates, final = sent
    assert typing.type == "typing" and typing.entity("streaminfo") is None
    assert updates and all(u.type == "typing" for u in updates)
    first = updates[0].entity("streaminfo")
    assert first == {"type": "streaminfo", "streamType": "informative", "streamSequence": 1}
    assert updates[0].activity["text"] == "Searching the knowledge base…"

    assert final.type == "message"
    assert final.stream_type == "final"
    assert final.entity("streaminfo")["streamId"] == updates[0].id
    assert final.activity["text"].startswith("Every employee gets 26 days [1].")
    assert final.activity["text"].endswith("_Answered from the knowledge base._")
    message = final.entity("https://schema.org/Message")
    assert message["additionalType"] == ["AIGeneratedContent"]
    (claim,) = message["citation"]
    assert claim["position"] == 1
    assert claim["appearance"]["name"] == "Annual leave"
    assert claim["appearance"]["abstract"] == "Every employee gets 26 days of paid annual leave."
    assert final.activity["channelData"]["feedbackLoop"] == {"type": "default"}
    assert final.activity["channelData"]["feedbackLoopEnabled"] is True

    record = logged.record
    assert (record.platform, record.tenant, record.route) == ("teams", "acme", "retrieve")
    assert record.question == QUESTION
    assert record.conversation_id == PERSONAL
    assert record.user and "7faf8ab2" not in record.user  # hashed Entra object id


def test_a_group_chat_gets_typing_and_one_message(tmp_path, connector):
    with teams_server(tmp_path, teams_settings(tmp_path / "home")) as srv:
        post(srv.url, group_message(QUESTION, service_url=connector.url))
        srv.settle()
        assert metric(srv, 'askloop_answers_total{platform="teams",route="retrieve"} 1.0')

    typing, final = connector.to(GROUP)
    assert typing.type == "typing"
    assert final.type == "message" and final.stream_type is None
    assert final.reply_to == "1485983408600"
    assert final.entity("https://schema.org/Message")["citation"][0]["position"] == 1


def test_a_channel_answers_a_mention_in_its_thread_with_the_mention_stripped(tmp_path, connector):
    with teams_server(tmp_path, teams_settings(tmp_path / "home")) as srv:
        post(srv.url, channel_message(QUESTION, service_url=connector.url))
        srv.settle()
        (logged,) = answers(srv)

    thread = f"{CHANNEL};messageid=1481567603816"
    typing, final = connector.to(thread)
    assert final.reply_to == "1481567603816"
    assert final.stream_type is None
    assert logged.record.question == QUESTION
    assert logged.record.channel_id == CHANNEL
    assert logged.record.conversation_id == thread


def test_a_channel_message_without_a_mention_is_left_alone_unless_configured(tmp_path, connector):
    with teams_server(tmp_path, teams_settings(tmp_path / "home")) as srv:
        response = post(
            srv.url, channel_message(QUESTION, service_url=connector.url, mention=False)
        )
        srv.settle()
        assert response.status == 200
        assert answers(srv) == []
        assert connector.sent == []

    settings = teams_settings(tmp_path / "home2", mention_required_in_channels=False)
    with teams_server(tmp_path / "second", settings) as srv:
        post(srv.url, channel_message(QUESTION, service_url=connector.url, mention=False))
        srv.settle()
        assert len(answers(srv)) == 1
    assert len(connector.messages()) == 1


def test_a_redelivered_message_is_answered_once(tmp_path, connector):
    activity = personal_message(QUESTION, service_url=connector.url)
    with teams_server(tmp_path, teams_settings(tmp_path / "home")) as srv:
        first = post(srv.url, activity)
        srv.settle()
        again = post(srv.url, activity)
        srv.settle()
        assert len(answers(srv)) == 1
        assert metric(srv, 'askloop_duplicate_deliveries_total{platform="teams"} 1.0')

    assert first.status == again.status == 200
    assert len(connector.messages()) == 1


def test_an_unmapped_tenant_is_answered_from_the_default_tenant_or_refused(tmp_path, connector):
    stranger = personal_message(QUESTION, service_url=connector.url, tenant=OTHER_TENANT)
    with teams_server(tmp_path, teams_settings(tmp_path / "home", unmapped="default")) as srv:
        post(srv.url, stranger)
        srv.settle()
        (logged,) = answers(srv)
    assert logged.record.tenant == "default"

    settings = teams_settings(tmp_path / "home2")  # [tenants] is there: refused by default
    with teams_server(tmp_path / "second", settings) as srv:
        post(srv.url, {**stranger, "id": "1485983408999"})
        srv.settle()
        assert answers(srv) == []
    refusal = connector.messages()[-1]
    assert "not set up for your organization" in refusal.activity["text"]
    assert "channelData" not in refusal.activity or not refusal.activity["channelData"]


def test_the_tenant_comes_from_channel_data_only(tmp_path, connector):
    # conversation.tenantId says the mapped tenant; channelData.tenant.id does not.
    activity = channel_message(QUESTION, service_url=connector.url, tenant=OTHER_TENANT)
    assert activity["conversation"]["tenantId"] == TENANT
    settings = teams_settings(tmp_path / "home", unmapped="refuse")
    with teams_server(tmp_path, settings) as srv:
        post(srv.url, activity)
        srv.settle()
        assert answers(srv) == []


def test_installing_the_app_gets_a_welcome_with_suggested_questions(tmp_path, connector):
    with teams_server(tmp_path, teams_settings(tmp_path / "home")) as srv:
        post(srv.url, bot_added(service_url=connector.url))
        post(
            srv.url,
            bot_added(
                service_url=connector.url, conversation_type="channel", conversation_id=CHANNEL
            ),
        )
        srv.settle()

    (personal,) = connector.messages(PERSONAL)
    assert personal.reply_to is None  # a new message, not a reply
    assert "How many days of annual leave do I get?" in personal.activity["text"]
    buttons = personal.activity["suggestedActions"]["actions"]
    assert [b["type"] for b in buttons] == ["imBack"] * 3
    (channel,) = connector.messages(CHANNEL)
    assert "Mention me" in channel.activity["text"]


def test_installing_the_app_while_the_log_is_down_still_welcomes(
    tmp_path, connector, monkeypatch, caplog
):
    from askloop.agent.errors import LogUnavailableError

    def down(*args, **kwargs):
        raise LogUnavailableError("the answer log database (SQLite) failed")

    with teams_server(tmp_path, teams_settings(tmp_path / "home")) as srv:
        monkeypatch.setattr(srv.runtime.services.answer_log, "claim_delivery", down)
        with caplog.at_level(logging.WARNING, logger="askloop.integrations.teams.bot"):
            response = post(srv.url, bot_added(service_url=connector.url))
            srv.settle()

    assert response.status == 200
    (welcome,) = connector.messages(PERSONAL)
    assert "How many days of annual leave do I get?" in welcome.activity["text"]
    assert "welcoming without the duplicate check" in caplog.text


def test_deleting_the_question_or_the_answer_withdraws_it(tmp_path, connector):
    with teams_server(tmp_path, teams_settings(tmp_path / "home")) as srv:
        post(srv.url, personal_message(QUESTION, service_url=connector.url))
        post(srv.url, group_message(QUESTION, service_url=connector.url))
        srv.settle()
        personal_answer = next(a for a in answers(srv) if a.record.conversation_id == PERSONAL)
        group_answer = next(a for a in answers(srv) if a.record.conversation_id == GROUP)
        reply = connector.messages(GROUP)[-1]

        assert (
            post(srv.url, message_delete("1485983408511", service_url=connector.url)).status == 200
        )
        post(srv.url, message_delete(reply.id, service_url=connector.url, conversation_id=GROUP))
        srv.settle()
        log = srv.runtime.services.answer_log
        assert log.get_answer(personal_answer.record.answer_id).withdrawn
        assert log.get_answer(group_answer.record.answer_id).withdrawn


def test_a_delete_while_the_log_is_down_is_a_503_to_retry_and_nothing_is_lost(
    tmp_path, connector, monkeypatch, caplog
):
    from askloop.agent.errors import LogUnavailableError

    with teams_server(tmp_path, teams_settings(tmp_path / "home")) as srv:
        post(srv.url, personal_message(QUESTION, service_url=connector.url))
        srv.settle()
        (answered,) = answers(srv)
        reply = connector.messages(PERSONAL)[-1]
        answer_log = srv.runtime.services.answer_log
        delete = message_delete(reply.id, service_url=connector.url)
        with monkeypatch.context() as patched:

            def down(*args, **kwargs):
                raise LogUnavailableError("the answer log database (SQLite) failed")

            patched.setattr(answer_log, "answer_for_message", down)
            with caplog.at_level(logging.ERROR, logger="askloop.integrations.teams.endpoint"):
                assert post(srv.url, delete).status == 503
        assert "answer log database (SQLite) failed" in caplog.text
        assert "Traceback" not in caplog.text
        assert not answer_log.get_answer(answered.record.answer_id).withdrawn
        # The channel's retry, once the log is back, withdraws it.
        assert post(srv.url, delete).status == 200
        srv.settle()
        assert answer_log.get_answer(answered.record.answer_id).withdrawn


def test_a_failed_answer_is_an_apology_without_feedback_buttons(tmp_path, connector):
    down = FakeChatModel(down=True)
    settings = teams_settings(tmp_path / "home")
    with teams_server(tmp_path, settings, answer=down, finetuned=down) as srv:
        post(srv.url, group_message(QUESTION, service_url=connector.url))
        srv.settle()
        (logged,) = answers(srv)
        failures = 'askloop_answer_failures_total{platform="teams",reason="model_unavailable"} 1.0'
        assert metric(srv, failures)

    final = connector.messages(GROUP)[-1]
    assert logged.record.error == "model_unavailable"
    assert final.activity["text"] == logged.record.answer
    assert not (final.activity.get("channelData") or {}).get("feedbackLoop")
    assert final.entity("https://schema.org/Message") is None


def test_refused_stream_updates_still_deliver_the_answer(tmp_path, connector):
    connector.fail = lambda sent: (
        (403, {"error": {"code": "ContentStreamNotAllowed", "message": "Not allowed."}})
        if sent.stream_type in ("informative", "streaming")
        else None
    )
    with teams_server(tmp_path, teams_settings(tmp_path / "home")) as srv:
        post(srv.url, personal_message(QUESTION, service_url=connector.url))
        srv.settle()
        (logged,) = answers(srv)

    (final,) = connector.messages(PERSONAL)
    assert final.stream_type is None
    assert final.activity["text"].startswith("Every employee gets 26 days [1].")
    assert (
        srv.runtime.services.answer_log.answer_for_message(
            platform="teams", message_ref=f"{PERSONAL}/{final.id}"
        )
        == logged.record.answer_id
    )


def test_an_answer_no_send_delivers_is_logged_as_undelivered(tmp_path, connector):
    # The connector refuses every message (typing indicators pass): nobody sees the answer.
    connector.fail = lambda sent: (
        (503, {"error": {"code": "ServiceUnavailable", "message": "Try later."}})
        if sent.activity.get("type") == "message"
        else None
    )
    with teams_server(tmp_path, teams_settings(tmp_path / "home")) as srv:
        post(srv.url, group_message(QUESTION, service_url=connector.url))
        srv.settle()
        (logged,) = answers(srv)
        failures = 'askloop_answer_failures_total{platform="teams",reason="send_failed"} 1.0'
        assert metric(srv, failures)

    assert connector.messages(GROUP) == []
    assert logged.record.answer.startswith("Every employee gets 26 days")
    assert logged.record.error == "undelivered"  # never exported as training data


def test_streaming_can_be_turned_off(tmp_path, connector):
    with teams_server(tmp_path, teams_settings(tmp_path / "home", streaming=False)) as srv:
        post(srv.url, personal_message(QUESTION, service_url=connector.url))
        srv.settle()
    assert all(s.stream_type is None for s in connector.sent)
    assert len(connector.messages()) == 1


def test_without_an_app_id_the_server_warns_that_auth_is_off(tmp_path, connector, caplog):
    caplog.set_level(logging.WARNING)
    with teams_server(tmp_path, teams_settings(tmp_path / "home")):
        pass
    warning = [r for r in caplog.records if r.name == "askloop.integrations.teams"]
    assert warning and warning[0].levelno == logging.WARNING
    assert "serves only the Bot Framework Emulator" in warning[0].getMessage()


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b'{"text": "no type"}'])
def test_a_request_that_is_no_activity_is_a_400(tmp_path, body):
    import urllib.error
    import urllib.request

    with teams_server(tmp_path, teams_settings(tmp_path / "home")) as srv:
        request = urllib.request.Request(
            f"{srv.url}/api/messages", data=body, headers={"Content-Type": "application/json"}
        )
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(request, timeout=10)
    assert caught.value.code == 400


class SlowTypist(FakeChatModel):
    """Hands its reply out a word at a time, with a pause (in the answer's thread)."""

    def stream(self, messages, *, on_text, max_tokens=512, temperature=0.0, stop=()):
        import time

        out = self.complete(messages, max_tokens=max_tokens, temperature=temperature, stop=stop)
        for word in out.text.split(" "):
            time.sleep(0.03)
            on_text(word + " ")
        return out


def test_the_answer_text_streams_into_a_personal_chat(tmp_path, connector):
    model = SlowTypist(
        "Every employee gets 26 days of paid annual leave per year [1], plus holidays."
    )
    with teams_server(tmp_path, teams_settings(tmp_path / "home"), answer=model) as srv:
        post(srv.url, personal_message(QUESTION, service_url=connector.url))
        srv.settle()

    _typing, *updates, final = connector.to(PERSONAL)
    kinds = [u.stream_type for u in updates]
    assert "streaming" in kinds
    # Informative updates come first and stop once the text streams.
    assert kinds == sorted(kinds, key=lambda k: k == "streaming")
    sequences = [u.entity("streaminfo")["streamSequence"] for u in updates]
    assert sequences == list(range(1, len(updates) + 1))
    stream_id = updates[0].id
    assert all(u.entity("streaminfo")["streamId"] == stream_id for u in updates[1:])
    streamed = [u.activity["text"] for u in updates if u.stream_type == "streaming"]
    assert all(final.activity["text"].startswith(text.strip()) for text in streamed)
    assert all(len(a) <= len(b) for a, b in zip(streamed, streamed[1:], strict=False))
    assert final.entity("streaminfo") == {
        "type": "streaminfo",
        "streamType": "final",
        "streamId": stream_id,
    }
