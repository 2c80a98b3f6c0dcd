"""One process, one wiring: a host that loads the tools, runs the LangGraph host graph and
the ``askloop`` CLI in the same process answers, logs and rates through one set of objects.

Only the seams are fakes (the embedder and the chat models); the composition root,
the embedded store, the SQLite log and the thread memory are the real ones."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import askloop.tools
from askloop.config.settings import Settings
from askloop.integrations import wiring
from askloop.integrations.cli.main import main
from tests.fakes import FakeChatModel, HashingEmbedder
from tests.kb_fixture import make_kb_store

RealServices = wiring.Services


class CountingWiring:
    """Stands in for ``Services``: the real class with fake seams, counting how many
    wirings the process builds."""

    def __init__(self, tmp_path: Path) -> None:
        self.embedder = HashingEmbedder()
        self.store = make_kb_store(tmp_path / "kb", self.embedder)
        self.model = FakeChatModel("Every employee gets 26 days [1].")
        self.built: list[wiring.Services] = []

    def __call__(self, settings: Settings) -> wiring.Services:
        models = settings.models
        services = RealServices(
            settings,
            embedder=self.embedder,
            store=self.store,
            chat_models={models.answer: self.model, models.finetuned: self.model},
        )
        self.built.append(services)
        return services


@pytest.fixture
def counting(tmp_path, monkeypatch) -> Any:
    made = CountingWiring(tmp_path)
    monkeypatch.setattr(wiring, "Services", made)
    wiring.forget_process_services()
    yield made
    wiring.forget_process_services()
    made.store.close()


def test_tools_host_graph_and_cli_in_one_process_share_one_wiring(counting, capsys):
    from askloop.integrations.host_graph import graph

    tools = {t.name: t for t in askloop.tools.load_tools(tenant="acme")}
    asked = tools["ask"].invoke({"question": "How many days of annual leave do we get?"})
    calls_before_host = len(counting.model.calls)
    hosted = graph.invoke({"question": "How many days of annual leave?", "tenant": "acme"})

    assert main(["rate", asked["answer_id"], "up", "--reason", "spot on"]) == 0
    assert main(["log", "--json", "--tenant", "acme"]) == 0
    logged = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line[:1] == "{"]

    assert len(counting.built) == 1, "one wiring for the whole process"
    process = wiring.process_services()
    assert process is counting.built[0]
    assert len(counting.model.calls) > calls_before_host, "the host graph used its models"
    assert hosted["answer"]
    # Newest first: the host graph's answer is logged like the tool's.
    assert [(e["answer_id"], e["rating"]) for e in logged] == [
        (hosted["answer_id"], None),
        (asked["answer_id"], "up"),
    ]


def test_a_cli_with_other_settings_builds_its_own_wiring_and_leaves_the_process_one(
    counting, capsys, monkeypatch, tmp_path
):
    askloop.tools.load_tools(tenant="acme")
    monkeypatch.setenv("ASKLOOP_HOME", str(tmp_path / "elsewhere"))

    assert main(["log", "--json"]) == 0

    assert len(counting.built) == 2
    assert wiring.process_services() is counting.built[0]
    assert capsys.readouterr().out == ""
