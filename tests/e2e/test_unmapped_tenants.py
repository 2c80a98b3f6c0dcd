"""A [tenants] map closes the door to every platform tenant it does not list.

Slack workspaces and Microsoft 365 tenants missing from the map are refused on every
path (questions, clicks, the 👎 form, reactions, deletions, invokes) and nothing of
theirs reaches the log, even where the default tenant holds another tenant's answers;
``unmapped = "default"`` answers them from the default tenant as before.
"""

from __future__ import annotations

import sqlite3

import pytest

from tests.slack_fake import FakeSlack
from tests.slack_payloads import (
    app_mention,
    block_action,
    message_deleted,
    reaction,
    view_submission,
)
from tests.slack_rig import SlackRig, slack_rig
from tests.teams_fake import (
    OTHER_TENANT,
    PERSONAL,
    feedback_invoke,
    fetch_task_invoke,
    message_delete,
    personal_message,
    post,
    teams_server,
    teams_settings,
)

QUESTION = "How many days of annual leave do employees get?"
STRANGER = "T0STRANGER"
_TABLES = ("answers", "feedback_events", "deliveries", "answer_messages")


def log_rows(services) -> dict[str, int]:
    """Rows per table of the server's SQLite log (read beside the server's connection)."""
    with sqlite3.connect(services.settings.home / "askloop.db") as db:
        return {t: db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in _TABLES}


# -- Slack ---------------------------------------------------------------------------


@pytest.fixture
def fake():
    with FakeSlack(rate_per_second=50, retry_after=0) as slack:
        yield slack


def ask(rig: SlackRig, team: str = "T0ACME", ts: str = "1700000001.000100"):
    """A mention from ``team``; returns askloop's reply and its 👍/👎 values."""
    rig.event(app_mention(QUESTION, channel="C0GENERAL", ts=ts, team=team))
    rig.settle()
    reply = rig.fake.messages("C0GENERAL")[-1]
    [actions] = [b for b in reply.blocks if b["type"] == "context_actions"]
    buttons = actions["elements"][0]
    return reply, buttons["positive_button"]["value"], buttons["negative_button"]["value"]


@pytest.fixture
def acme(tmp_path, fake):
    """T0ACME is mapped to "acme", which is also the default tenant: the case where an
    unmapped workspace used to land on a mapped one's answers."""
    with slack_rig(tmp_path, fake, default_tenant="acme") as rig:
        reply, up, down = ask(rig)
        rig.interact(block_action(down, channel="C0GENERAL", message_ts=reply.ts))
        rig.settle()
        [opened] = fake.calls("views.open")
        yield rig, reply, up, opened.params["view"]["private_metadata"]


def test_a_question_from_an_unmapped_workspace_is_acked_and_ignored(acme, fake, caplog):
    rig, _, _, _ = acme
    before, posted = log_rows(rig.services), len(fake.messages())
    status, _ = rig.event(
        app_mention(QUESTION, channel="C0OTHER", ts="1700000099.000100", team=STRANGER)
    )
    rig.settle()
    assert status == 200  # Slack would retry anything else
    assert len(fake.messages()) == posted  # no answer, no "thinking…"
    assert log_rows(rig.services) == before
    refusals = [r for r in caplog.records if STRANGER in r.getMessage()]
    assert len(refusals) == 1


def test_a_click_from_an_unmapped_workspace_is_not_stored(acme, fake):
    rig, reply, up, _ = acme
    before = log_rows(rig.services)
    click = block_action(up, channel="C0GENERAL", message_ts=reply.ts, team=STRANGER)
    assert rig.interact(click)[0] == 200
    rig.settle()
    assert log_rows(rig.services) == before
    assert (rig.answers()[0].ups, rig.answers()[0].downs) == (0, 1)
    told = fake.calls("chat.postEphemeral")[-1]
    assert "not set up for this workspace" in told.params["text"]


def test_a_feedback_form_from_an_unmapped_workspace_is_not_stored(acme, fake):
    rig, _, _, metadata = acme
    before = log_rows(rig.services)
    status, _ = rig.interact(view_submission(metadata, reason="wrong", team=STRANGER))
    rig.settle()
    assert status == 200
    assert log_rows(rig.services) == before
    assert rig.answers()[0].reason == ""
    assert "not set up" in fake.calls("chat.postEphemeral")[-1].params["text"]


def test_a_reaction_from_an_unmapped_workspace_is_not_stored(acme):
    rig, reply, _, _ = acme
    before = log_rows(rig.services)
    rig.event(reaction("+1", channel="C0GENERAL", ts=reply.ts, team=STRANGER))
    rig.settle()
    assert log_rows(rig.services) == before
    assert rig.answers()[0].ups == 0


def test_a_deletion_from_an_unmapped_workspace_withdraws_nothing(acme):
    rig, reply, _, _ = acme
    rig.event(message_deleted("C0GENERAL", reply.ts, team=STRANGER))
    rig.settle()
    assert rig.answers()[0].withdrawn is False


def test_unmapped_default_answers_unmapped_workspaces_as_before(tmp_path, fake):
    # The default tenant is one with documents (an empty one answers no question).
    with slack_rig(tmp_path, fake, default_tenant="acme", unmapped="default") as rig:
        reply, up, _ = ask(rig, team=STRANGER)
        rig.interact(block_action(up, channel="C0GENERAL", message_ts=reply.ts, team=STRANGER))
        rig.settle()
        [logged] = rig.answers()
    assert (logged.record.tenant, logged.ups) == ("acme", 1)


def test_without_a_tenants_map_every_workspace_is_the_default_tenant(tmp_path, fake):
    with slack_rig(tmp_path, fake, tenants={}) as rig:
        rig.event(app_mention(QUESTION, channel="C0GENERAL", team=STRANGER))
        rig.settle()
        [logged] = rig.answers()
    assert logged.record.tenant == "default"
    assert logged.record.error == "empty_knowledge_base"  # nothing ingested for it


# -- Teams ---------------------------------------------------------------------------


@pytest.fixture
def teams(tmp_path, connector):
    """TENANT maps to "acme", also the default tenant; one answer given in PERSONAL."""
    settings = teams_settings(tmp_path / "home").model_copy(update={"default_tenant": "acme"})
    with teams_server(tmp_path, settings) as srv:
        post(srv.url, personal_message(QUESTION, service_url=connector.url))
        srv.settle()
        yield srv, connector.messages(PERSONAL)[-1]


def stranger(activity):
    activity["channelData"]["tenant"] = {"id": OTHER_TENANT}
    return activity


def test_a_teams_message_from_an_unmapped_tenant_is_refused(teams, connector):
    srv, _ = teams
    before = log_rows(srv.runtime.services)
    message = personal_message(
        QUESTION, service_url=connector.url, activity_id="1485983409000", tenant=OTHER_TENANT
    )
    assert post(srv.url, message).status == 200
    srv.settle()
    assert log_rows(srv.runtime.services) == before
    assert "not set up for your organization" in connector.messages()[-1].activity["text"]


def test_a_teams_feedback_invoke_from_an_unmapped_tenant_is_not_stored(teams, connector):
    srv, reply = teams
    before = log_rows(srv.runtime.services)
    invoke = feedback_invoke(reply.id, service_url=connector.url, tenant=OTHER_TENANT)
    response = post(srv.url, invoke)
    srv.settle()
    assert (response.status, response.body) == (200, {})
    assert log_rows(srv.runtime.services) == before
    [logged] = srv.runtime.services.answer_log.recent()
    assert logged.ups == 0


def test_a_teams_feedback_form_from_an_unmapped_tenant_is_refused(teams, connector):
    srv, reply = teams
    invoke = fetch_task_invoke(reply.id, service_url=connector.url, tenant=OTHER_TENANT)
    response = post(srv.url, invoke)
    assert response.status == 200
    assert "not set up" in str(response.body)


def test_a_teams_delete_from_an_unmapped_tenant_withdraws_nothing(teams, connector):
    srv, reply = teams
    post(srv.url, stranger(message_delete(reply.id, service_url=connector.url)))
    srv.settle()
    [logged] = srv.runtime.services.answer_log.recent()
    assert logged.withdrawn is False


def test_teams_unmapped_default_answers_unmapped_tenants_as_before(tmp_path, connector):
    settings = teams_settings(tmp_path / "home", unmapped="default")
    with teams_server(tmp_path, settings) as srv:
        message = personal_message(QUESTION, service_url=connector.url, tenant=OTHER_TENANT)
        post(srv.url, message)
        srv.settle()
        [logged] = srv.runtime.services.answer_log.recent()
        invoke = feedback_invoke(
            connector.messages()[-1].id, service_url=connector.url, tenant=OTHER_TENANT
        )
        post(srv.url, invoke)
        srv.settle()
        [logged] = srv.runtime.services.answer_log.recent()
    assert (logged.record.tenant, logged.ups) == ("default", 1)
