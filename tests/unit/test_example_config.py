"""The shipped example settings file stays loadable and in step with the defaults."""

from __future__ import annotations

from pathlib import Path

from askloop.config.settings import Settings, load_settings

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "askloop.example.toml"


def test_example_file_loads_and_matches_the_defaults(monkeypatch):
    monkeypatch.setenv("ASKLOOP_CONFIG", str(EXAMPLE))
    monkeypatch.delenv("ASKLOOP_HOME")
    loaded = load_settings()
    for section in ("embedder", "ingest", "search", "models", "graph"):
        assert getattr(loaded, section) == getattr(Settings(), section), section
    assert loaded.home == EXAMPLE.parent / ".askloop"
    assert loaded.default_tenant == Settings().default_tenant


def test_every_setting_is_documented_in_the_example():
    text = EXAMPLE.read_text()
    for name, field in Settings.model_fields.items():
        assert name in text, name
        sub = getattr(field.annotation, "model_fields", None) or getattr(
            field.annotation, "__pydantic_fields__", None
        )
        for key in sub or {}:
            assert key in text, f"{name}.{key}"


def test_the_graph_section_is_the_cores_policy(tmp_path, monkeypatch):
    # One definition of the graph's knobs: what settings load is what the graph runs with.
    from askloop.agent.context import Policy

    assert Settings().graph == Policy()
    toml = tmp_path / "askloop.toml"
    toml.write_text("[graph]\nk = 3\ngive_up = 'not_found'\n")
    monkeypatch.setenv("ASKLOOP_CONFIG", str(toml))
    assert load_settings().graph == Policy(k=3, give_up="not_found")
