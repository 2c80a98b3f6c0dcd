"""The graph as a LangGraph host loads it from langgraph.json, with no askloop context."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from askloop.integrations.cli.main import main
from askloop.integrations.wiring import forget_process_services

ROOT = Path(__file__).resolve().parents[2]


def load_graph_from_langgraph_json():
    spec = json.loads((ROOT / "langgraph.json").read_text())
    path, _, attr = spec["graphs"]["askloop"].partition(":")
    module_spec = importlib.util.spec_from_file_location("askloop_platform", ROOT / path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return getattr(module, attr)


def test_loading_the_graph_does_no_work():
    probe = (
        "import sys; import askloop.integrations.host_graph as p; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'torch','lancedb','sentence_transformers','xllamacpp','anthropic','openai'}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert out.stdout.strip() == "[]"


@pytest.mark.slow
def test_the_host_graph_answers_with_default_dependencies(small_kb, capsys):
    assert main(["ingest", str(small_kb)]) == 0
    graph = load_graph_from_langgraph_json()
    assert graph.name == "askloop"
    try:
        kb = graph.invoke({"question": "How fast must the on-call engineer acknowledge a page?"})
        general = graph.invoke({"question": "Who wrote Hamlet?"})
    finally:
        forget_process_services()
    assert kb["tenant"] == "default" and kb["route"] != "finetuned" and kb["answer"].strip()
    assert kb["citations"][0]["title"] == "On-call rotation"
    assert general["route"] == "finetuned"
    capsys.readouterr()
    assert main(["log", "--json"]) == 0
    logged = {r["answer_id"]: r for r in map(json.loads, capsys.readouterr().out.splitlines())}
    assert {kb["answer_id"], general["answer_id"]} <= set(logged)
    assert logged[kb["answer_id"]]["platform"] == "langgraph"
