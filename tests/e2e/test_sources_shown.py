"""An answer from the knowledge base always shows documents: the ones it cites, or when
it cites none, the ones it consulted, marked as such; in the CLI, Slack and Teams."""

from __future__ import annotations

import json

import pytest

from askloop.integrations import wiring
from askloop.integrations.cli.main import main
from tests.fakes import FakeChatModel
from tests.server_harness import fake_services
from tests.slack_fake import FakeSlack
from tests.slack_payloads import app_mention
from tests.slack_rig import slack_rig
from tests.teams_fake import GROUP, group_message, post, teams_server, teams_settings

QUESTION = "How many days of annual leave do employees get?"


def uncited() -> FakeChatModel:
    """An answer model that writes no [n] marker (and too little to attribute)."""
    return FakeChatModel("Twenty-six, I believe.")


@pytest.fixture
def cli(tmp_path, monkeypatch):
    """``askloop`` in this process over the test KB and an uncited answer model."""
    monkeypatch.setattr(
        wiring, "services_for", lambda settings: fake_services(tmp_path, settings, answer=uncited())
    )


def test_the_cli_names_the_consulted_documents_of_an_uncited_answer(cli, capsys):
    assert main(["ask", QUESTION, "--tenant", "acme"]) == 0
    out = capsys.readouterr().out
    assert "Twenty-six, I believe." in out
    assert "\nConsulted (not cited):\n  - Annual leave — /kb/leave.md\n" in out
    assert "Sources:" not in out

    assert main(["ask", QUESTION, "--tenant", "acme", "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["citations"] == []
    assert answer["consulted"][0] == {
        "title": "Annual leave",
        "source": "/kb/leave.md",
        "url": "",
        "chunk_id": answer["consulted"][0]["chunk_id"],
    }


def test_slack_names_the_consulted_documents_of_an_uncited_answer(tmp_path):
    with FakeSlack(rate_per_second=20, retry_after=0) as fake:
        with slack_rig(tmp_path, fake, answer=uncited()) as rig:
            rig.event(app_mention(QUESTION, channel="C0GENERAL", ts="1700000001.000100"))
            rig.settle()
            [reply] = fake.messages("C0GENERAL")
    [context] = [b for b in reply.blocks if b["type"] == "context"]
    route, sources = (e["text"] for e in context["elements"])
    assert route == "From the knowledge base"
    assert sources.startswith("*Consulted (not cited):* Annual leave  ·  ")


def test_teams_names_the_consulted_documents_of_an_uncited_answer(tmp_path, connector):
    with teams_server(tmp_path, teams_settings(tmp_path / "home"), answer=uncited()) as srv:
        post(srv.url, group_message(QUESTION, service_url=connector.url))
        srv.settle()
    _typing, final = connector.to(GROUP)
    text = final.activity["text"]
    assert text.startswith("Twenty-six, I believe.\n\nConsulted (not cited): Annual leave · ")
    assert text.endswith("\n\n_Answered from the knowledge base._")
