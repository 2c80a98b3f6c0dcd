"""A tenant with nothing ingested is told so plainly (the CLI also says how to fix it),
in the CLI, Slack and Teams, instead of getting a tuned-model answer; the log says why.
The CLI names its data dir the first time it creates one."""

from __future__ import annotations

import json

import pytest

from askloop.agent.messages import EMPTY_KNOWLEDGE_BASE
from askloop.integrations import wiring
from askloop.integrations.cli.main import main
from tests.fakes import FakeChatModel
from tests.server_harness import fake_services
from tests.slack_fake import FakeSlack
from tests.slack_payloads import app_mention
from tests.slack_rig import slack_rig
from tests.teams_fake import GROUP, TENANT, group_message, post, teams_server, teams_settings

QUESTION = "How many days of annual leave do employees get?"


def tuned() -> FakeChatModel:
    return FakeChatModel("An invented answer.", model_id="fake:tuned")


def assert_logged_as_empty(logged, tenant: str) -> None:
    record = logged.record
    assert record.tenant == tenant and record.error == "empty_knowledge_base"
    assert record.answer == EMPTY_KNOWLEDGE_BASE.format(tenant=tenant)
    route, give_up = (s for s in record.trace if s.node in ("route", "give_up"))
    assert route.detail["reason"] == give_up.detail["reason"] == "empty_knowledge_base"


@pytest.fixture
def model():
    return tuned()


@pytest.fixture
def cli(tmp_path, monkeypatch, model):
    """``askloop`` in this process over the test KB (tenant "acme" only), with a data
    dir that does not exist yet."""
    home = tmp_path / "fresh-home"
    monkeypatch.setenv("ASKLOOP_HOME", str(home))
    monkeypatch.setattr(
        wiring, "services_for", lambda settings: fake_services(tmp_path, settings, finetuned=model)
    )
    return home


def test_the_cli_says_nothing_is_ingested_and_how_to_fix_it(cli, capsys, model):
    assert main(["ask", QUESTION]) == 0
    out, err = capsys.readouterr()
    assert out == (
        EMPTY_KNOWLEDGE_BASE.format(tenant="default")
        + "\nAdd documents with: askloop ingest PATH...\n"
    )
    assert err.splitlines() == [
        f"askloop: created the data dir {cli.resolve()} (set ASKLOOP_HOME to keep it elsewhere)"
    ]
    assert not model.calls  # the tuned model is never asked

    assert main(["ask", QUESTION, "--tenant", "newco", "--json"]) == 0
    out, err = capsys.readouterr()
    assert err == ""  # the data dir exists now: said once only
    answer = json.loads(out)
    assert answer["error"] == "empty_knowledge_base" and answer["tenant"] == "newco"
    assert main(["ask", QUESTION, "--tenant", "newco"]) == 0
    assert "askloop ingest PATH... --tenant newco" in capsys.readouterr().out

    assert main(["log", "--json", "--limit", "1"]) == 0
    assert json.loads(capsys.readouterr().out)["error"] == "empty_knowledge_base"


def test_a_tenant_with_documents_is_answered_as_before(cli, capsys):
    assert main(["ask", QUESTION, "--tenant", "acme"]) == 0
    assert "Every employee gets 26 days [1]." in capsys.readouterr().out


def test_the_cli_names_a_data_dir_it_creates_on_any_command(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ASKLOOP_HOME", str(tmp_path / "new"))
    assert main(["log"]) == 0
    assert f"created the data dir {(tmp_path / 'new').resolve()}" in capsys.readouterr().err
    assert main(["log"]) == 0
    assert capsys.readouterr().err == ""


def test_slack_says_nothing_is_ingested_for_the_workspace(tmp_path, model):
    with FakeSlack(rate_per_second=20, retry_after=0) as fake:
        tenants = {"slack:T0ACME": "newco"}
        with slack_rig(tmp_path, fake, tenants=tenants, finetuned=model) as rig:
            rig.event(app_mention(QUESTION, channel="C0GENERAL", ts="1700000001.000100"))
            rig.settle()
            [logged] = rig.answers()
            [reply] = fake.messages("C0GENERAL")
    assert reply.section_text() == EMPTY_KNOWLEDGE_BASE.format(tenant="newco")
    assert not [b for b in reply.blocks if b["type"] in ("context", "context_actions")]
    assert not model.calls
    assert_logged_as_empty(logged, "newco")


def test_teams_says_nothing_is_ingested_for_the_organization(tmp_path, connector, model):
    settings = teams_settings(tmp_path / "home").model_copy(
        update={"tenants": {f"teams:{TENANT}": "newco"}}
    )
    with teams_server(tmp_path, settings, finetuned=model) as srv:
        post(srv.url, group_message(QUESTION, service_url=connector.url))
        srv.settle()
        [logged] = srv.runtime.services.answer_log.recent(limit=5)
    _typing, final = connector.to(GROUP)
    assert final.activity["text"] == EMPTY_KNOWLEDGE_BASE.format(tenant="newco")
    assert "channelData" not in final.activity  # no 👍/👎 on a notice
    assert not model.calls
    assert_logged_as_empty(logged, "newco")
