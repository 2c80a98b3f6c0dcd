"""A loopback Weaviate for the real weaviate-client, as the client's own ``mock_tests`` do.

REST runs on pytest-httpserver (meta, readiness, schema, tenants); gRPC runs on an
in-process ``grpc.server`` serving ``weaviate.v1.Weaviate`` with the client's own
generated stubs. Every request is recorded for assertions. Objects written by
``BatchObjects`` are kept per (collection, tenant) so iteration and counts answer from
them; ranked searches answer with the canned ``search_results``.
"""

from __future__ import annotations

import json
import re
import socket
import struct
import threading
import uuid
from collections import defaultdict
from concurrent import futures
from datetime import UTC, datetime
from typing import Any

import grpc
from google.protobuf.json_format import MessageToDict
from pytest_httpserver import HTTPServer
from weaviate.proto.v1 import (
    aggregate_pb2,
    base_pb2,
    batch_delete_pb2,
    batch_pb2,
    health_weaviate_pb2,
    properties_pb2,
    search_get_pb2,
    tenants_pb2,
    weaviate_pb2_grpc,
)
from werkzeug import Request, Response

from askloop.agent.records import Chunk

__all__ = [
    "FakeWeaviate",
    "canned_result",
    "chunks",
    "flat",
    "put",
    "vectors_of",
    "stored_props",
    "free_port",
]

_HNSW_DEFAULTS = {
    "cleanupIntervalSeconds": 300,
    "dynamicEfMin": 100,
    "dynamicEfMax": 500,
    "dynamicEfFactor": 8,
    "ef": -1,
    "efConstruction": 128,
    "flatSearchCutoff": 40000,
    "maxConnections": 32,
    "skip": False,
    "vectorCacheMaxObjects": 1000000000000,
}
_SERVER_DEFAULTS = {
    "invertedIndexConfig": {
        "bm25": {"b": 0.75, "k1": 1.2},
        "cleanupIntervalSeconds": 60,
        "stopwords": {"preset": "en", "additions": None, "removals": None},
    },
    "replicationConfig": {"factor": 1},
    "shardingConfig": {
        "virtualPerPhysical": 128,
        "desiredCount": 1,
        "actualCount": 1,
        "desiredVirtualCount": 128,
        "actualVirtualCount": 128,
        "key": "_id",
        "strategy": "hash",
        "function": "murmur3",
    },
}


def complete_class(posted: dict[str, Any]) -> dict[str, Any]:
    """A class as the server echoes it: the posted one plus server-side defaults."""
    cls = json.loads(json.dumps(posted))
    for key, value in _SERVER_DEFAULTS.items():
        cls.setdefault(key, value)
    for vector in (cls.get("vectorConfig") or {}).values():
        vector.setdefault("vectorIndexType", "hnsw")
        vector["vectorIndexConfig"] = {**_HNSW_DEFAULTS, **(vector.get("vectorIndexConfig") or {})}
        vector["vectorIndexConfig"].setdefault("distance", "cosine")
    for prop in cls.get("properties") or []:
        prop.setdefault("indexFilterable", True)
        prop.setdefault("indexSearchable", prop["dataType"][0].startswith("text"))
        if prop["dataType"][0].startswith("text"):
            prop.setdefault("tokenization", "word")
    return cls


def canned_result(
    props: dict[str, Any],
    *,
    id_: str | None = None,
    score: float | None = None,
    distance: float | None = None,
    explain: str | None = None,
    vector: list[float] | None = None,
) -> search_get_pb2.SearchResult:
    """One search result as Weaviate would send it."""
    meta = search_get_pb2.MetadataResult(id=id_ or str(uuid.uuid4()))
    meta.id_as_bytes = uuid.UUID(meta.id).bytes
    if score is not None:
        meta.score, meta.score_present = score, True
    if distance is not None:
        meta.distance, meta.distance_present = distance, True
    if explain is not None:
        meta.explain_score, meta.explain_score_present = explain, True
    if vector is not None:
        import numpy as np

        packed = np.asarray(vector, dtype=np.float32).tobytes()
        meta.vectors.append(base_pb2.Vectors(name="default", vector_bytes=packed))
    fields = {name: _value(v) for name, v in props.items()}
    return search_get_pb2.SearchResult(
        metadata=meta,
        properties=search_get_pb2.PropertiesResult(
            non_ref_props=properties_pb2.Properties(fields=fields)
        ),
    )


def _value(v: Any) -> properties_pb2.Value:
    if isinstance(v, bool):
        return properties_pb2.Value(bool_value=v)
    if isinstance(v, int):
        return properties_pb2.Value(int_value=v)
    if isinstance(v, float):
        return properties_pb2.Value(number_value=v)
    if isinstance(v, list):
        texts = properties_pb2.TextValues(values=[str(x) for x in v])
        return properties_pb2.Value(list_value=properties_pb2.ListValue(text_values=texts))
    return properties_pb2.Value(text_value=str(v))


class FakeWeaviate(weaviate_pb2_grpc.WeaviateServicer):
    def __init__(self, httpserver: HTTPServer, *, version: str = "1.30.0") -> None:
        self.http = httpserver
        self.version = version
        self.api_key: str | None = None  # when set, REST demands "Bearer <key>"
        self.classes: dict[str, dict[str, Any]] = {}
        self.tenants: dict[str, set[str]] = defaultdict(set)
        self.objects: dict[tuple[str, str], dict[str, batch_pb2.BatchObject]] = defaultdict(dict)
        self.rest: list[tuple[str, str]] = []
        self.calls: dict[str, list[Any]] = defaultdict(list)
        self.search_results: list[search_get_pb2.SearchResult] = []
        self.batch_errors: dict[int, str] = {}
        self.delete_reply = batch_delete_pb2.BatchDeleteReply(matches=0, successful=0)
        #: rpc name -> [status code, times]: abort that many calls with that code.
        self.faults: dict[str, list[Any]] = {}
        self.slow = threading.Event()  # while set, Search waits (released on stop)
        self._release = threading.Event()
        self.grpc_port = 0
        self._server: grpc.Server | None = None

    # -- lifecycle --------------------------------------------------------------------

    def start(self, grpc_port: int = 0) -> FakeWeaviate:
        self.http.expect_request(re.compile(r"^/v1/.*")).respond_with_handler(self._rest)
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
        weaviate_pb2_grpc.add_WeaviateServicer_to_server(self, server)
        health = grpc.unary_unary_rpc_method_handler(
            lambda req, ctx: health_weaviate_pb2.WeaviateHealthCheckResponse(
                status=health_weaviate_pb2.WeaviateHealthCheckResponse.SERVING
            ),
            request_deserializer=health_weaviate_pb2.WeaviateHealthCheckRequest.FromString,
            response_serializer=health_weaviate_pb2.WeaviateHealthCheckResponse.SerializeToString,
        )
        server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler("grpc.health.v1.Health", {"Check": health}),)
        )
        self.grpc_port = server.add_insecure_port(f"127.0.0.1:{grpc_port}")
        server.start()
        self._server = server
        return self

    def stop(self) -> None:
        self._release.set()
        if self._server is not None:
            self._server.stop(grace=None)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http.port}"

    # -- REST -------------------------------------------------------------------------

    def _rest(self, request: Request) -> Response:
        path, method = request.path, request.method
        self.rest.append((method, path))
        if self.api_key and request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return _json({"error": [{"message": "unauthorized"}]}, 401)
        if path == "/v1/meta":
            return _json({"version": self.version, "grpcMaxMessageSize": 104858000})
        if path == "/v1/.well-known/ready":
            return Response(status=200)
        if path == "/v1/schema" and method == "POST":
            cls = complete_class(request.get_json())
            self.classes[cls["class"]] = cls
            return _json(cls)
        found = re.fullmatch(r"/v1/schema/(\w+)(?:/tenants(?:/([\w-]+))?)?", path)
        if found is None:
            return _json({"error": [{"message": f"no route {path}"}]}, 404)
        name, tenant = found.group(1), found.group(2)
        if name not in self.classes:
            return _json({"error": [{"message": f"class {name} not found"}]}, 404)
        if "/tenants" not in path:
            if method == "DELETE":
                del self.classes[name]
                return Response(status=200)
            return _json(self.classes[name])
        if method == "POST":
            for entry in request.get_json():
                self.tenants[name].add(entry["name"])
            return _json(request.get_json())
        if tenant is not None:
            status = 200 if tenant in self.tenants[name] else 404
            return _json({"name": tenant, "activityStatus": "ACTIVE"}, status)
        return _json([{"name": t} for t in sorted(self.tenants[name])])

    # -- gRPC -------------------------------------------------------------------------

    def _enter(self, rpc: str, request: Any, context: grpc.ServicerContext) -> None:
        self.calls[rpc].append(request)
        self.calls[f"{rpc}:metadata"].append(dict(context.invocation_metadata()))
        fault = self.faults.get(rpc)
        if fault and fault[1] > 0:
            fault[1] -= 1
            context.abort(fault[0], f"fake {fault[0].name}")

    def Search(self, request, context):  # noqa: N802 - gRPC method name
        self._enter("Search", request, context)
        if self.slow.is_set():
            self._release.wait(timeout=5)
        if any(request.HasField(f) for f in ("hybrid_search", "bm25_search", "near_vector")):
            return search_get_pb2.SearchReply(results=self.search_results[: request.limit])
        stored = sorted(self.objects[(request.collection, request.tenant)].items())
        after = [(k, o) for k, o in stored if not request.after or k > request.after]
        results = [
            canned_result(MessageToDict(o.properties.non_ref_properties), id_=k)
            for k, o in after[: request.limit or len(after)]
        ]
        return search_get_pb2.SearchReply(results=results)

    def BatchObjects(self, request, context):  # noqa: N802
        self._enter("BatchObjects", request, context)
        errors = []
        for index, obj in enumerate(request.objects):
            if index in self.batch_errors:
                errors.append(
                    batch_pb2.BatchObjectsReply.BatchError(
                        index=index, error=self.batch_errors[index]
                    )
                )
                continue
            self.objects[(obj.collection, obj.tenant)][obj.uuid] = obj
        return batch_pb2.BatchObjectsReply(errors=errors)

    def BatchDelete(self, request, context):  # noqa: N802
        self._enter("BatchDelete", request, context)
        return self.delete_reply

    def Aggregate(self, request, context):  # noqa: N802
        self._enter("Aggregate", request, context)
        count = len(self.objects[(request.collection, request.tenant)])
        return aggregate_pb2.AggregateReply(
            single_result=aggregate_pb2.AggregateReply.Single(objects_count=count)
        )

    def TenantsGet(self, request, context):  # noqa: N802
        self._enter("TenantsGet", request, context)
        names = sorted(self.tenants[request.collection])
        return tenants_pb2.TenantsGetReply(
            tenants=[tenants_pb2.Tenant(name=n, activity_status=1) for n in names]
        )


def _json(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json")


# -- helpers for the tests -------------------------------------------------------------


def chunks(n: int = 3, *, doc: str = "doc-a", start: int = 0) -> list[Chunk]:
    return [
        Chunk(
            chunk_id=f"{doc}-c{i}",
            document_id=doc,
            document_hash="v1",
            text=f"chunk {i} of {doc}",
            title="Leave policy",
            source=f"/kb/{doc}.md",
            position=i,
            heading_path=("Leave", "Annual"),
            updated_at=datetime(2024, 5, 1, tzinfo=UTC),
        )
        for i in range(start, start + n)
    ]


def put(store: Any, embedder: Any, tenant: str, items: list[Chunk]) -> int:
    return store.upsert(
        tenant=tenant,
        chunks=items,
        vectors=embedder.embed_documents([c.search_text for c in items]),
    )


def flat(f: base_pb2.Filters) -> list[tuple[int, str, object]]:
    """(operator, property, value) of a filter and its children."""
    if f.operator in (base_pb2.Filters.OPERATOR_AND, base_pb2.Filters.OPERATOR_OR):
        return [leaf for child in f.filters for leaf in flat(child)]
    prop = f.target.property or (f.on[0] if f.on else "")
    value = list(f.value_text_array.values) if f.HasField("value_text_array") else f.value_text
    return [(f.operator, prop, value)]


def vectors_of(obj: batch_pb2.BatchObject) -> dict[str, list[float]]:
    """The named vectors of a written object."""
    return {
        v.name: list(struct.unpack(f"{len(v.vector_bytes) // 4}f", v.vector_bytes))
        for v in obj.vectors
    }


def stored_props(n: int) -> dict[str, Any]:
    """The properties of chunk ``c<n>`` as Weaviate returns them."""
    return {
        "chunk_id": f"c{n}",
        "document_id": "doc-a",
        "document_hash": "v1",
        "text": f"text {n}",
        "title": "Leave policy",
        "source": "/kb/a.md",
        "url": "https://wiki/a",
        "position": n,
        "heading_path": ["Leave", "Annual"],
        "doc_type": "markdown",
        "acl": "staff",
        "updated_at": "2024-05-01T00:00:00+00:00",
    }


def free_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
