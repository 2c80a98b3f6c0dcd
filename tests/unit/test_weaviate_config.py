"""Weaviate configuration without a server: tenant names, endpoints, the compose file."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from askloop.config.settings import SettingsError, WeaviateSettings
from askloop.integrations.stores.weaviate.schema import weaviate_tenant
from askloop.integrations.stores.weaviate.store import Endpoint

COMPOSE = Path(__file__).resolve().parents[2] / "config" / "weaviate-compose.yml"


def test_tenant_names_map_collision_free_into_weaviates_charset():
    names = ["acme", "a.b", "a-b", "a_b", "A.b", "Acme", "acme.eu", "x" * 64, "x." * 31 + "xy"]
    mapped = [weaviate_tenant(n) for n in names]
    assert mapped[0] == "acme" and mapped[2] == "a-b"
    assert len(set(mapped)) == len(names)
    assert all(len(m) <= 64 and m.replace("_", "").replace("-", "").isalnum() for m in mapped)
    with pytest.raises(ValueError):
        weaviate_tenant("acme' OR 1=1")


def test_endpoint_is_parsed_from_settings():
    ep = Endpoint.from_settings(WeaviateSettings(url="https://kb.example.com"))
    assert (ep.http_host, ep.http_port, ep.http_secure, ep.grpc_port, ep.cloud) == (
        "kb.example.com",
        443,
        True,
        50051,
        False,
    )
    ep = Endpoint.from_settings(
        WeaviateSettings(url="http://10.0.0.5:8080", grpc_host="grpc.internal", grpc_port=9090)
    )
    assert (ep.http_port, ep.grpc_host, ep.grpc_port, ep.grpc_secure) == (
        8080,
        "grpc.internal",
        9090,
        False,
    )
    assert Endpoint.from_settings(
        WeaviateSettings(url="https://abc.c0.europe-west3.gcp.weaviate.cloud")
    ).cloud
    for bad in ("localhost:8080", "ftp://x", "http://host:notaport"):
        with pytest.raises(SettingsError):
            Endpoint.from_settings(WeaviateSettings(url=bad))


def test_compose_file_runs_a_locked_down_multi_tenant_weaviate():
    service = yaml.safe_load(COMPOSE.read_text())["services"]["weaviate"]
    env = service["environment"]
    assert env["AUTHENTICATION_ANONYMOUS_ACCESS_ENABLED"] == "false"
    assert env["AUTHENTICATION_APIKEY_ENABLED"] == "true"
    assert "WEAVIATE_ADMIN_KEY:?" in env["AUTHENTICATION_APIKEY_ALLOWED_KEYS"]
    assert env["PERSISTENCE_DATA_PATH"] == "/var/lib/weaviate"
    assert any(v.endswith(":/var/lib/weaviate") for v in service["volumes"])
    assert any(p.endswith(":50051:50051") for p in service["ports"])
    version = re.fullmatch(
        r"cr\.weaviate\.io/semitechnologies/weaviate:(\d+)\.(\d+)\.(\d+)", service["image"]
    )
    assert version is not None and (int(version[1]), int(version[2])) >= (1, 27)
