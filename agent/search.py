"""The one knowledge-base search: the graph's steps, ``askloop search`` and the
``search_knowledge_base`` tool all find passages through this function."""

from __future__ import annotations

from askloop.agent.ports import Embedder, VectorStore
from askloop.agent.records import Hit, SearchMode

__all__ = ["search_knowledge_base"]


def search_knowledge_base(
    store: VectorStore,
    embedder: Embedder,
    *,
    tenant: str,
    query: str,
    k: int,
    mode: SearchMode = "hybrid",
) -> list[Hit]:
    """The ``k`` best chunks of ``tenant`` for ``query``, best first. The query is
    embedded unless the search is by keywords only."""
    vector = embedder.embed_query(query) if mode != "keyword" else None
    return store.search(tenant=tenant, query=query, vector=vector, k=k, mode=mode)
