"""Slack feedback is stored before its 200, and the latest rating is Slack's latest.

A rating's time is the one Slack gives it (a click's ``action_ts``, a reaction's
``event_ts``), so clicks that arrive out of order still end with the user's last one.
A rating that cannot be saved is never thanked.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from askloop.agent.errors import LogUnavailableError
from tests.slack_fake import FakeSlack
from tests.slack_payloads import app_mention, block_action, reaction, view_submission
from tests.slack_rig import SlackRig, slack_rig

QUESTION = "How many days of annual leave do employees get?"


@pytest.fixture
def fake():
    with FakeSlack(rate_per_second=50, retry_after=0) as slack:
        yield slack


def ask(rig: SlackRig):
    """One answer in #general: (its message, the 👍 value, the 👎 value, its answer id)."""
    rig.event(app_mention(QUESTION, channel="C0GENERAL", ts="1700000001.000100"))
    rig.settle()
    reply = rig.fake.messages("C0GENERAL")[-1]
    [actions] = [b for b in reply.blocks if b["type"] == "context_actions"]
    buttons = actions["elements"][0]
    answer_id = rig.answers()[0].record.answer_id
    return (
        reply,
        buttons["positive_button"]["value"],
        buttons["negative_button"]["value"],
        answer_id,
    )


def click(reply, value: str, action_ts: str, user: str = "U0ALICE") -> dict:
    payload = block_action(value, channel="C0GENERAL", message_ts=reply.ts, user=user)
    payload["actions"][0]["action_ts"] = action_ts
    return payload


def react(reply, name: str, event_ts: str, *, added: bool = True) -> dict:
    payload = reaction(name, channel="C0GENERAL", ts=reply.ts, added=added)
    payload["event"]["event_ts"] = event_ts
    return payload


def _answered_so_far(rig: SlackRig) -> float:
    """Slack requests the server has answered 200 (counted as each response leaves)."""
    return rig.metric("askloop_platform_requests_total", platform="slack", outcome="ok")


def test_a_click_is_stored_before_its_200_leaves(tmp_path, fake, monkeypatch):
    with slack_rig(tmp_path, fake) as rig:
        reply, up, _, answer_id = ask(rig)
        answer_log = rig.services.answer_log
        write, answered_at_write = answer_log.add_feedback_many, []

        def add_feedback_many(*args, **kwargs):
            answered_at_write.append(_answered_so_far(rig))
            return write(*args, **kwargs)

        monkeypatch.setattr(answer_log, "add_feedback_many", add_feedback_many)
        before = _answered_so_far(rig)
        assert rig.interact(click(reply, up, "1800000000.000001"))[0] == 200
        assert answered_at_write == [before]  # written while the click was unanswered
        # No settle: what the 200 acknowledged is in the log already.
        assert rig.answer(answer_id).ups == 1
        rig.settle()
        [thanks] = fake.calls("chat.postEphemeral")
        assert "Thanks" in thanks.params["text"]


def test_a_click_without_slacks_signature_is_refused_and_not_stored(tmp_path, fake):
    with slack_rig(tmp_path, fake) as rig:
        reply, up, _, answer_id = ask(rig)
        assert rig.interact(click(reply, up, "1800000000.000001"), secret="not-slacks")[0] == 401
        stale = rig.interact(click(reply, up, "1800000000.000002"), timestamp=1_000_000_000)
        assert stale[0] == 401
        rig.settle()
        assert rig.answer(answer_id).ups == 0
        assert fake.calls("chat.postEphemeral") == []


def test_a_reaction_is_stored_when_its_200_arrives(tmp_path, fake):
    with slack_rig(tmp_path, fake) as rig:
        reply, _, _, answer_id = ask(rig)
        assert rig.event(react(reply, "+1", "1800000000.000001"))[0] == 200
        assert rig.answer(answer_id).ups == 1


def test_clicks_delivered_out_of_order_end_with_the_latest_clicked(tmp_path, fake):
    with slack_rig(tmp_path, fake) as rig:
        reply, up, down, answer_id = ask(rig)
        # Clicked up, down, up, down (…04 last) but delivered in another order.
        for value, ts in [(down, "04"), (up, "01"), (down, "02"), (up, "03")]:
            assert rig.interact(click(reply, value, f"1800000000.0000{ts}"))[0] == 200
        rig.settle()
        logged = rig.answer(answer_id)
        assert (logged.rating, logged.ups, logged.downs) == ("down", 0, 1)


def test_concurrent_clicks_end_with_the_latest_clicked_for_every_user(tmp_path, fake):
    users = [f"U0USER{n}" for n in range(6)]
    with slack_rig(tmp_path, fake) as rig:
        reply, up, down, answer_id = ask(rig)
        clicks = []
        for n, user in enumerate(users):
            # Each user's latest click (ts …09, sent first) is up for even users, down
            # for odd ones; the three sent after it are earlier clicks the other way.
            last = up if n % 2 == 0 else down
            other = down if last == up else up
            for ts, value in [("09", last), ("05", other), ("07", other), ("01", other)]:
                clicks.append(click(reply, value, f"1800000000.0000{ts}", user=user))
        with ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(lambda c: rig.interact(c)[0], clicks))
        assert set(statuses) == {200}
        rig.settle()
        logged = rig.answer(answer_id)
        assert (logged.ups, logged.downs) == (3, 3)


def test_reactions_delivered_out_of_order_end_with_the_latest_reacted(tmp_path, fake):
    with slack_rig(tmp_path, fake) as rig:
        reply, _, _, answer_id = ask(rig)
        # Added 👍 (…01), removed it (…02), added 👎 (…03): delivered last first.
        rig.event(react(reply, "-1", "1800000000.000003"))
        rig.event(react(reply, "+1", "1800000000.000002", added=False))
        rig.event(react(reply, "+1", "1800000000.000001"))
        rig.settle()
        logged = rig.answer(answer_id)
        assert (logged.rating, logged.ups, logged.downs) == ("down", 0, 1)


def test_the_forms_rating_is_the_clicks_at_the_clicks_time(tmp_path, fake):
    with slack_rig(tmp_path, fake) as rig:
        reply, up, down, answer_id = ask(rig)
        rig.interact(click(reply, down, "1800000000.000001"))
        rig.settle()
        [opened] = fake.calls("views.open")
        metadata = opened.params["view"]["private_metadata"]
        assert json.loads(metadata)["clicked_ts"] == "1800000000.000001"
        # A 👍 clicked while the form was open is later than the 👎 the form explains.
        rig.interact(click(reply, up, "1800000000.000002"))
        assert rig.interact(view_submission(metadata, reason="Outdated"))[0] == 200
        logged = rig.answer(answer_id)
        assert (logged.rating, logged.ups, logged.downs) == ("up", 1, 0)
        assert logged.reason == "Outdated"


def _log_down(rig: SlackRig, monkeypatch) -> None:
    def down(*args, **kwargs):
        raise LogUnavailableError("the answer log database (SQLite) failed")

    monkeypatch.setattr(rig.services.answer_log, "add_feedback_many", down)


def test_a_click_that_cannot_be_saved_is_told_so_and_never_thanked(tmp_path, fake, monkeypatch):
    with slack_rig(tmp_path, fake) as rig:
        reply, up, down, _ = ask(rig)
        _log_down(rig, monkeypatch)
        assert rig.interact(click(reply, up, "1800000000.000001"))[0] == 200
        assert rig.interact(click(reply, down, "1800000000.000002"))[0] == 200
        rig.settle()
        told = [c.params["text"] for c in fake.calls("chat.postEphemeral")]
        assert len(told) == 2
        assert all("not saved" in text and "Thanks" not in text for text in told)
        assert fake.calls("views.open") == []  # no form for a 👎 that was not stored


def test_a_form_that_cannot_be_saved_stays_open_with_the_error(tmp_path, fake, monkeypatch):
    with slack_rig(tmp_path, fake) as rig:
        reply, _, down, _ = ask(rig)
        rig.interact(click(reply, down, "1800000000.000001"))
        rig.settle()
        [opened] = fake.calls("views.open")
        _log_down(rig, monkeypatch)
        status, body = rig.interact(
            view_submission(opened.params["view"]["private_metadata"], reason="Outdated")
        )
        assert status == 200
        answer = json.loads(body)
        assert answer["response_action"] == "errors"
        assert "not saved" in answer["errors"]["reason"]
        rig.settle()
        assert fake.calls("chat.postEphemeral") == []  # nothing thanked


def test_a_reaction_that_cannot_be_saved_is_not_acknowledged_so_slack_retries(
    tmp_path, fake, monkeypatch
):
    with slack_rig(tmp_path, fake) as rig:
        reply, _, _, answer_id = ask(rig)
        delivery = react(reply, "+1", "1800000000.000001")
        with monkeypatch.context() as patched:
            _log_down(rig, patched)
            assert rig.event(delivery)[0] == 503
        # Slack's retry (same event_id) once the log is back is stored.
        assert rig.event(delivery, retry_num=1)[0] == 200
        assert rig.answer(answer_id).ups == 1


def test_a_burst_of_clicks_is_all_acknowledged_before_any_thanks_or_form(
    tmp_path, fake, monkeypatch
):
    with slack_rig(tmp_path, fake) as rig:
        reply, up, down, answer_id = ask(rig)
        rig.settle()
        n = 8
        answer_log = rig.services.answer_log
        write = answer_log.add_feedback_many

        commits = []

        def add_feedback_many(*args, **kwargs):
            # The first commit holds until every click of the burst is being answered,
            # so the clicks are acknowledged in more than one batch. Only the first: by
            # the second, the first batch's clicks may have had their 200s.
            commits.append(len(args[0]))
            if len(commits) == 1:
                in_flight = "askloop_requests_in_flight"
                fake.wait_for(lambda: rig.metric(in_flight, platform="slack") >= n)
            return write(*args, **kwargs)

        monkeypatch.setattr(answer_log, "add_feedback_many", add_feedback_many)
        before, seen = _answered_so_far(rig), []
        fake.observer = lambda method: seen.append((method, _answered_so_far(rig)))
        clicks = [
            click(reply, down if i % 2 else up, f"18000000{i:02d}.000001", user=f"U0USER{i}")
            for i in range(n)
        ]
        with ThreadPoolExecutor(n) as pool:
            assert [status for status, _ in pool.map(rig.interact, clicks)] == [200] * n
        rig.settle()
        after = [answered for method, answered in seen if method != "auth.test"]
        assert sorted(method for method, _ in seen if method != "auth.test") == sorted(
            ["chat.postEphemeral"] * (n // 2) + ["views.open"] * (n // 2)
        )
        assert after == [before + n] * n  # every thanks and form after the last 200
        assert rig.answer(answer_id).ups == n // 2
        assert sum(commits) == n
