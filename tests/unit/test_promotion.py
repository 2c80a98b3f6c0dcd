"""Promotion and rollback of a tenant's fine-tuned model, and the live pick-up."""

from __future__ import annotations

import json
import os

import pytest

from askloop.agent.errors import InvalidInputError
from askloop.integrations.tuning.promotion import (
    PromotedModels,
    current,
    promote,
    resolve_spec,
    rollback,
)
from tests.fakes import FakeChatModel


def _candidate(folder, version):
    folder.mkdir(parents=True)
    (folder / "model.gguf").write_bytes(b"GGUF" + version.encode())
    manifest = {"version": version, "base": {"spec": "local:default"}, "data_hash": "abc"}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


def test_promote_copies_the_candidate_and_rollback_walks_back(tmp_path):
    home = tmp_path / "home"
    first = _candidate(tmp_path / "c1", "tuned-1")
    second = _candidate(tmp_path / "c2", "tuned-2")
    assert current(home, "acme") is None

    entry = promote(home, "acme", str(first))
    kept = home / "models" / "acme" / "tuned-1" / "model.gguf"
    assert entry["spec"] == f"local:{kept.resolve()}" and kept.read_bytes() == b"GGUFtuned-1"
    assert entry["version"] == "tuned-1" and entry["manifest"]["data_hash"] == "abc"
    promote(home, "acme", str(second))
    assert current(home, "acme")["version"] == "tuned-2"
    assert current(home, "other") is None  # per tenant

    # Deleting the candidate folder does not break serving: the promoted copy is used.
    (first / "model.gguf").unlink()
    assert rollback(home, "acme")["version"] == "tuned-1"
    assert kept.is_file()
    assert rollback(home, "acme") is None  # back to the configured model
    assert current(home, "acme") is None
    with pytest.raises(InvalidInputError, match="no promoted model"):
        rollback(home, "acme")
    assert not list((home / "models" / "acme").glob(".*partial"))


def test_specs_and_bad_candidates(tmp_path):
    assert resolve_spec("openai:ft:gpt-x:acme") == ("openai:ft:gpt-x:acme", None)
    with pytest.raises(InvalidInputError, match="neither a folder"):
        resolve_spec(str(tmp_path / "missing"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(InvalidInputError, match="manifest.json"):
        resolve_spec(str(tmp_path / "empty"))
    hosted = tmp_path / "hosted"
    hosted.mkdir()
    (hosted / "manifest.json").write_text(
        json.dumps({"provider": "openai", "model": "ft:gpt-x:acme:1", "model_file": None})
    )
    assert resolve_spec(str(hosted))[0] == "openai:ft:gpt-x:acme:1"
    entry = promote(tmp_path / "home", "acme", "openai:ft:gpt-x:acme")
    assert entry == {**entry, "spec": "openai:ft:gpt-x:acme", "version": "openai:ft:gpt-x:acme"}


def test_promoted_models_follow_the_pointer_without_a_restart(tmp_path):
    home = tmp_path / "home"
    built: list[str] = []
    closed: list[str] = []

    def build(spec):
        built.append(spec)
        model = FakeChatModel(model_id=spec)
        model.close = lambda: closed.append(spec)
        return model

    models = PromotedModels(home, build)
    assert models.get("acme") is None
    promote(home, "acme", "openai:ft:one")
    assert models.get("acme").model_id == "openai:ft:one"
    assert models.get("acme").model_id == "openai:ft:one" and built == ["openai:ft:one"]
    promote(home, "acme", "openai:ft:two")
    pointer = home / "models" / "acme" / "promoted.json"
    stat = pointer.stat()  # same-second writes: make the change visible to mtime
    os.utime(pointer, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert models.get("acme").model_id == "openai:ft:two"
    rollback(home, "acme")
    rollback(home, "acme")
    assert models.get("acme") is None
    assert models.get("other") is None
    assert closed == ["openai:ft:one", "openai:ft:two"]  # each freed once nobody uses it


def test_an_unusable_promoted_model_falls_back_to_the_configured_one(tmp_path, caplog):
    home = tmp_path / "home"

    def build(spec):
        raise RuntimeError("bad file")

    promote(home, "acme", "local:/nowhere/model.gguf")
    assert PromotedModels(home, build).get("acme") is None
    assert "unusable" in caplog.text


def test_the_wiring_serves_a_promotion_without_a_restart(monkeypatch, tmp_path):
    from askloop.config.settings import load_settings
    from askloop.integrations.wiring import Services
    from tests.fakes import HashingEmbedder

    monkeypatch.setenv("ASKLOOP_HOME", str(tmp_path / "home"))
    settings = load_settings()
    configured = FakeChatModel(model_id="fake:configured")
    tuned = FakeChatModel(model_id="fake:tuned-v2")
    models = {settings.models.finetuned: configured, "fake:tuned-v2": tuned}
    with Services(settings, embedder=HashingEmbedder(), chat_models=models) as services:
        context = services.context
        assert context.finetuned_for("acme") is configured
        promote(settings.home, "acme", "fake:tuned-v2")
        assert context.finetuned_for("acme") is tuned  # the same context: no restart
        assert context.finetuned_for("globex") is configured
        rollback(settings.home, "acme")
        pointer = settings.home / "models" / "acme" / "promoted.json"
        stat = pointer.stat()
        os.utime(pointer, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
        assert context.finetuned_for("acme") is configured
