"""Slack faults end to end: Web API errors, rate limits, graph failures, lifecycle events."""

from __future__ import annotations

import pytest

from askloop.agent.messages import MODEL_DOWN
from tests.fakes import FakeChatModel
from tests.slack_fake import FakeSlack
from tests.slack_payloads import app_mention, event_body
from tests.slack_rig import slack_rig

QUESTION = "How many days of annual leave do employees get?"


@pytest.fixture
def fake():
    with FakeSlack(rate_per_second=20, retry_after=0) as slack:
        yield slack


_LABELS = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen"
).split()


def no_traceback(caplog: pytest.LogCaptureFixture) -> bool:
    return not any(r.exc_info for r in caplog.records if r.name.startswith("integrations"))


def test_a_429_is_retried_after_retry_after_and_a_503_is_retried(tmp_path, fake):
    with slack_rig(tmp_path, fake) as rig:
        fake.fail("chat.postMessage", "service_unavailable", status=503)
        fake.fail("chat.postMessage", "ratelimited", status=429, retry_after=0)
        rig.event(app_mention(QUESTION))
        rig.settle()
        attempts = [c.status for c in fake.calls("chat.postMessage")]
        assert attempts == [503, 429, 200]
        assert len(fake.messages("C0GENERAL")) == 1
        assert len(rig.answers()) == 1


@pytest.mark.parametrize(
    ("error", "status", "expected"),
    [
        ("not_in_channel", 200, "invite it there (/invite @askloop)"),
        ("channel_not_found", 200, "C0GENERAL not found or not visible"),
        ("bad_gateway", 502, "Slack Web API unavailable for chat.postMessage in C0GENERAL"),
    ],
)
def test_a_failed_post_is_one_clear_log_line(tmp_path, fake, caplog, error, status, expected):
    with slack_rig(tmp_path, fake) as rig:
        fake.fail("chat.postMessage", error, status=status, times=5)
        rig.event(app_mention(QUESTION))
        rig.settle()
        [logged] = rig.answers()  # answered and logged as the failure it was
        assert logged.record.error == "undelivered"  # never exported as training data
        assert fake.messages() == []
        assert expected in caplog.text
        assert no_traceback(caplog)
        reason = error if status == 200 else f"http_{status}"
        assert (
            rig.metric("askloop_answer_failures_total", platform="slack", reason=f"slack_{reason}")
            == 1
        )
        assert logged.record.answer_id


def test_a_rejected_token_stops_posting_until_restart(tmp_path, fake, caplog):
    with slack_rig(tmp_path, fake) as rig:
        fake.fail("assistant.threads.setStatus", "invalid_auth", times=1)
        rig.event(app_mention(QUESTION, ts="1700000001.000100"))
        rig.settle()
        assert "Slack rejected the bot token (invalid_auth)" in caplog.text
        rig.event(app_mention(QUESTION, ts="1700000002.000100"))
        rig.settle()
        assert fake.calls("chat.postMessage") == []
        assert len(rig.answers()) == 0  # no model work for answers that cannot be delivered
        assert "posting is off (invalid_auth)" in caplog.text
        assert no_traceback(caplog)


@pytest.mark.parametrize(
    "event",
    [
        {"type": "app_uninstalled"},
        {"type": "tokens_revoked", "tokens": {"oauth": [], "bot": ["UASKLOOP"]}},
    ],
)
def test_uninstall_and_revoked_tokens_stop_posting(tmp_path, fake, caplog, event):
    with slack_rig(tmp_path, fake) as rig:
        assert rig.event(event_body(dict(event, event_ts="1700000000.1")))[0] == 200
        rig.event(app_mention(QUESTION))
        rig.settle()
        assert fake.calls("chat.postMessage") == []
        assert f"Slack: {event['type']} for team T0ACME" in caplog.text


def test_app_rate_limited_is_acknowledged_and_logged(tmp_path, fake, caplog):
    body = {
        "token": "x",
        "type": "app_rate_limited",
        "team_id": "T0ACME",
        "minute_rate_limited": 1518467820,
        "api_app_id": "A0ASKLOOP",
    }
    with slack_rig(tmp_path, fake) as rig:
        status, _ = rig.event(body)
        assert status == 200
        assert "dropping events for team T0ACME" in caplog.text
        assert (
            rig.metric(
                "askloop_platform_requests_total", platform="slack", outcome="app_rate_limited"
            )
            == 1
        )


def test_a_long_answer_is_split_and_msg_too_long_splits_it_further(tmp_path):
    # Labelled in words: a digit no document holds would be cut as an invented fact.
    labels = _LABELS[:12]
    paragraphs = [f"Part {w}: " + "leave policy details " * 40 for w in labels]
    long_answer = "\n\n".join(paragraphs) + " [1]"
    with (
        FakeSlack(rate_per_second=20, retry_after=0, max_message_chars=6000) as fake,
        slack_rig(tmp_path, fake, answer=FakeChatModel(long_answer)) as rig,
    ):
        rig.event(app_mention(QUESTION))
        rig.settle()
        parts = fake.messages("C0GENERAL")
        assert len(parts) > 2
        text = "\n".join(p.section_text() for p in parts)
        assert all(f"Part {w}:" in text for w in labels)
        with_buttons = [p for p in parts if any(b["type"] == "context_actions" for b in p.blocks)]
        assert with_buttons == [parts[-1]]
        answer_id = rig.answers()[0].record.answer_id
        assert {rig.answer_for("C0GENERAL", p.ts) for p in parts} == {answer_id}
        assert any(c.error == "msg_too_long" for c in fake.calls("chat.postMessage"))


def test_a_graph_failure_is_a_short_apology_in_the_thread(tmp_path, fake, caplog):
    def explode(messages):
        raise RuntimeError("secret internal detail")

    with slack_rig(tmp_path, fake, answer=FakeChatModel(explode)) as rig:
        rig.event(app_mention(QUESTION, ts="1700000001.000100"))
        rig.settle()
        [apology] = fake.messages("C0GENERAL")
    assert apology.thread_ts == "1700000001.000100"
    assert apology.section_text().startswith("Sorry")
    assert "secret internal detail" not in apology.section_text()
    assert "Traceback" not in apology.section_text()


def test_a_model_outage_answer_is_posted_without_feedback_buttons(tmp_path, fake):
    with slack_rig(tmp_path, fake, answer=FakeChatModel(down=True)) as rig:
        rig.event(app_mention(QUESTION))
        rig.settle()
        [reply] = fake.messages("C0GENERAL")
        assert reply.section_text() == MODEL_DOWN
        assert [b["type"] for b in reply.blocks] == ["section"]
        assert (
            rig.metric(
                "askloop_answer_failures_total", platform="slack", reason="model_unavailable"
            )
            == 1
        )


def test_answers_in_one_channel_are_spaced_so_slack_never_says_429(tmp_path):
    with (
        FakeSlack(rate_per_second=20, retry_after=0) as fake,
        slack_rig(tmp_path, fake, post_interval_seconds=0.1) as rig,
    ):
        for n in range(6):
            rig.event(app_mention(QUESTION, ts=f"1700000010.00010{n}"))
        rig.settle()
        assert len(fake.messages("C0GENERAL")) == 6
        assert fake.rate_limited == 0


def test_without_throttling_the_fake_does_say_429(tmp_path):
    # The check above means something: the same burst unthrottled is rate-limited.
    with (
        FakeSlack(rate_per_second=5, burst=1, retry_after=0) as fake,
        slack_rig(tmp_path, fake, post_interval_seconds=0) as rig,
    ):
        for n in range(3):
            rig.event(app_mention(QUESTION, ts=f"1700000010.00010{n}"))
        rig.settle()
        assert fake.rate_limited > 0
