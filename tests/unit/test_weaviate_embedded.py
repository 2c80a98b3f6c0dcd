"""Embedded Weaviate (opt-in): the real client starts a pre-placed binary, no download.

The binary is a stand-in (tests/weaviate_embedded_fake.py) serving the loopback fake on
the ports the client hands it, so the client's own embedded machinery is what runs.
"""

from __future__ import annotations

import json
import socket
import stat
import sys
import time
from pathlib import Path

import pytest

from askloop.agent.errors import StoreUnavailableError
from askloop.config.settings import Settings, SettingsError, WeaviateSettings
from askloop.integrations.stores.weaviate.connect import EmbeddedEndpoint, embedded_binary_name
from askloop.integrations.wiring import Services
from tests.fakes import HashingEmbedder
from tests.weaviate_fake import chunks, free_port, put

ROOT = Path(__file__).resolve().parents[2]


def test_the_binary_name_is_the_one_the_client_looks_for(tmp_path):
    from weaviate.embedded import EmbeddedOptions, EmbeddedV4

    (tmp_path / embedded_binary_name("1.30.5")).write_text("")
    embedded = EmbeddedV4(EmbeddedOptions(binary_path=str(tmp_path), version="1.30.5"))
    embedded.ensure_weaviate_binary_exists()  # would download if the name differed
    assert embedded._weaviate_binary_path == tmp_path / embedded_binary_name("1.30.5")


def place_fake_binary(directory: Path, version: str = "1.30.5") -> Path:
    binary = directory / embedded_binary_name(version)
    binary.write_text(
        f'#!/bin/sh\ncd {ROOT}\nexec {sys.executable} -m tests.weaviate_embedded_fake "$@"\n'
    )
    binary.chmod(binary.stat().st_mode | stat.S_IEXEC)
    return binary


def embedded_settings(tmp_path: Path, **kw) -> Settings:
    weaviate = WeaviateSettings(
        embedded=True,
        embedded_binary_path=tmp_path / "bin",
        embedded_port=free_port(),
        embedded_grpc_port=free_port(),
        **kw,
    )
    return Settings(home=tmp_path / "home", weaviate=weaviate)


def listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_opting_in_starts_the_placed_binary_and_closing_stops_it(tmp_path):
    (tmp_path / "bin").mkdir()
    place_fake_binary(tmp_path / "bin")
    settings = embedded_settings(tmp_path)
    embedder = HashingEmbedder(dimensions=8)
    with Services(settings, embedder=embedder) as services:
        store = services.store
        assert put(store, embedder, "acme", chunks(3)) == 3
        assert store.count(tenant="acme") == 3
        store.ping()
        started = json.loads((tmp_path / "home" / "weaviate" / "started.json").read_text())
        assert started["port"] == settings.weaviate.embedded_port
        assert started["grpc_port"] == settings.weaviate.embedded_grpc_port
        assert started["modules"] == ""  # no vectorizer modules: askloop brings vectors
    deadline = time.monotonic() + 10
    while listening(settings.weaviate.embedded_port) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not listening(settings.weaviate.embedded_port)


def test_without_the_binary_and_no_network_the_error_says_where_to_put_it(tmp_path, monkeypatch):
    import urllib.request

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(urllib.request, "urlretrieve", offline)
    settings = embedded_settings(tmp_path)
    with Services(settings, embedder=HashingEmbedder(dimensions=8)) as services:
        with pytest.raises(StoreUnavailableError) as caught:
            services.store.count(tenant="acme")
    message = str(caught.value)
    assert str(tmp_path / "bin" / embedded_binary_name("1.30.5")) in message
    assert "WEAVIATE_URL" in message


@pytest.mark.parametrize(
    ("kw", "match"),
    [({"url": "http://localhost:8080"}, "not both"), ({"embedded_version": "latest"}, "1.30.5")],
)
def test_contradictory_or_bad_embedded_settings_are_refused(tmp_path, kw, match):
    with pytest.raises(SettingsError, match=match):
        EmbeddedEndpoint.from_settings(WeaviateSettings(embedded=True, **kw), tmp_path / "home")
