"""One Weaviate query per search mode, and its results as askloop ``Hit``s.

Scores mean what they mean in the embedded store: BM25 for keyword, cosine similarity
for vector (Weaviate reports cosine *distance*, 1 - similarity), and the fused
relative score in [0, 1] for hybrid, with the BM25 score from Weaviate's explanation
and the cosine computed from the returned vector (the router and grader read it).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np
from weaviate.classes.query import HybridFusion, MetadataQuery

from askloop.agent.records import Hit, SearchMode
from askloop.integrations.stores.weaviate.schema import (
    BM25_PROPERTIES,
    RESULT_PROPERTIES,
    VECTOR_NAME,
    chunk_from_properties,
)

__all__ = ["cosine", "keyword_score_from_explain", "run_query", "to_hit"]


def run_query(
    handle: Any, mode: SearchMode, query: str, qvec: Any, *, k: int, where: Any, alpha: float
) -> Any:
    """The query result of one search on a tenant-bound collection handle."""
    common: dict[str, Any] = {"limit": k, "filters": where, "return_properties": RESULT_PROPERTIES}
    if mode == "keyword":
        return handle.query.bm25(
            query=query,
            query_properties=BM25_PROPERTIES,
            return_metadata=MetadataQuery(score=True),
            **common,
        )
    if mode == "vector":
        return handle.query.near_vector(
            near_vector=qvec.tolist(),
            target_vector=VECTOR_NAME,
            return_metadata=MetadataQuery(distance=True),
            **common,
        )
    return handle.query.hybrid(
        query=query,
        vector=qvec.tolist(),
        alpha=alpha,
        fusion_type=HybridFusion.RELATIVE_SCORE,
        query_properties=BM25_PROPERTIES,
        target_vector=VECTOR_NAME,
        include_vector=[VECTOR_NAME],
        return_metadata=MetadataQuery(score=True, explain_score=True),
        **common,
    )


def to_hit(obj: Any, mode: SearchMode, qvec: Any) -> Hit:
    chunk = chunk_from_properties(obj.properties)
    meta = obj.metadata
    if mode == "keyword":
        score = float(meta.score or 0.0)
        return Hit(chunk=chunk, score=score, mode=mode, keyword_score=score)
    if mode == "vector":
        score = 1.0 - float(meta.distance if meta.distance is not None else 1.0)
        return Hit(chunk=chunk, score=score, mode=mode, vector_score=score)
    return Hit(
        chunk=chunk,
        score=float(meta.score or 0.0),
        mode=mode,
        vector_score=cosine(qvec, (obj.vector or {}).get(VECTOR_NAME)),
        keyword_score=keyword_score_from_explain(meta.explain_score),
    )


# relativeScoreFusion explains each side as
# "Hybrid (Result Set keyword,bm25) Document <id>: original score <s>, normalized score: <n>".
_KEYWORD_EXPLAIN = re.compile(
    r"Result Set keyword[^)]*\) Document [^:]+: original score ([-+.\deE]+)"
)


def keyword_score_from_explain(explain: str | None) -> float | None:
    """The raw BM25 score of a hybrid hit, if Weaviate's explanation names one."""
    found = _KEYWORD_EXPLAIN.search(explain or "")
    if found is None:
        return None
    try:
        return float(found.group(1))
    except ValueError:
        return None


def cosine(query: np.ndarray, vector: Sequence[float] | None) -> float | None:
    if vector is None or len(vector) != query.shape[0]:
        return None
    v = np.asarray(vector, dtype=np.float32)
    norm = float(np.linalg.norm(query) * np.linalg.norm(v))
    if not norm:
        return 0.0
    return max(-1.0, min(1.0, float(np.dot(query, v)) / norm))
