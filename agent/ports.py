"""Ports: the Protocols the core depends on. Integrations implement them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from askloop.agent.answers import (
    AnswerRecord,
    Feedback,
    LoggedAnswer,
    MessageRole,
    RatingFilter,
)
from askloop.agent.chat import ChatModel
from askloop.agent.deliveries import FinishedState, PendingDelivery
from askloop.agent.records import Chunk, Hit, SearchMode

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from askloop.agent.calibration import CorpusStats, RouterModel

    Vectors = npt.NDArray[np.float32]

__all__ = [
    "AnswerLog",
    "CorpusWordCounts",
    "Embedder",
    "FILTER_FIELDS",
    "Filters",
    "FinetunedModels",
    "RouterModels",
    "VectorStore",
    "Vectors",
    "check_search",
    "check_upsert",
]


def __getattr__(name: str) -> Any:
    # numpy is imported when vectors are (by stores and embedders), not by every
    # command that imports the ports: `askloop log` and `--help` need none.
    if name == "Vectors":
        import numpy as np
        import numpy.typing as npt

        return npt.NDArray[np.float32]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


#: Metadata filters: field -> exact value, or any of several values.
Filters = Mapping[str, str | Sequence[str]]
#: The fields a search may filter on, in every store.
FILTER_FIELDS: frozenset[str] = frozenset({"document_id", "source", "title", "doc_type", "acl"})


@runtime_checkable
class Embedder(Protocol):
    """Turns text into unit-length vectors."""

    @property
    def model_id(self) -> str:
        """Identifies the model; a store built with one embedder refuses another."""
        ...

    @property
    def dimensions(self) -> int: ...

    @property
    def max_tokens(self) -> int:
        """The most tokens of one text the model reads (its own special tokens aside);
        the rest of a longer text never reaches the vector."""
        ...

    def count_tokens(self, text: str) -> int:
        """How many tokens ``text`` is to this model, counted as it tokenizes."""
        ...

    def embed_documents(self, texts: Sequence[str]) -> Vectors:
        """Embed many texts, shape (len(texts), dimensions), L2-normalised."""
        ...

    def embed_query(self, text: str) -> Vectors:
        """Embed one query, shape (dimensions,), L2-normalised."""
        ...


@runtime_checkable
class VectorStore(Protocol):
    """A tenant-partitioned knowledge base of chunks with keyword, vector and hybrid search.

    Every call names its tenant; no call reads or writes another tenant's chunks.
    """

    def upsert(self, *, tenant: str, chunks: Sequence[Chunk], vectors: Vectors) -> int:
        """Insert or replace chunks by ``chunk_id``; returns how many were written."""
        ...

    def delete_document(
        self, *, tenant: str, document_id: str, keep_hash: str | None = None
    ) -> int:
        """Delete a document's chunks (only those of other versions when ``keep_hash``)."""
        ...

    def documents(self, *, tenant: str) -> dict[str, tuple[str, frozenset[str]]]:
        """document_id -> (source, the document hashes its chunks carry)."""
        ...

    def search(
        self,
        *,
        tenant: str,
        query: str,
        vector: Vectors | None,
        k: int,
        mode: SearchMode,
        filters: Filters | None = None,
    ) -> list[Hit]:
        """Best ``k`` chunks of ``tenant`` for the query, best first."""
        ...

    def count(self, *, tenant: str) -> int: ...

    def ping(self) -> None:
        """Raise ``StoreUnavailableError`` unless the store answers."""
        ...

    def close(self) -> None: ...


def check_upsert(chunks: Sequence[Chunk], vectors: Vectors, *, dimensions: int) -> Vectors:
    """Validate ``VectorStore.upsert`` vectors the same way in every store: one row of
    ``dimensions`` per chunk. Returns them as a float32 array."""
    import numpy as np

    from askloop.agent.errors import InvalidInputError

    array = np.asarray(vectors, dtype=np.float32)
    if array.shape != (len(chunks), dimensions):
        raise InvalidInputError(
            f"expected {len(chunks)} vectors of {dimensions} dims, got {array.shape}"
        )
    return array


def check_search(
    *, query: str, vector: Vectors | None, k: int, mode: str, dimensions: int
) -> Vectors | None:
    """Validate ``VectorStore.search`` arguments the same way in every store.

    Returns the query vector as a flat float32 array (or None for keyword search);
    raises ``InvalidInputError`` naming what is wrong.
    """
    import numpy as np

    from askloop.agent.errors import InvalidInputError
    from askloop.agent.records import SEARCH_MODES

    if mode not in SEARCH_MODES:
        raise InvalidInputError(f"unknown search mode {mode!r}; use one of {SEARCH_MODES}")
    if not isinstance(k, int) or k < 1:
        raise InvalidInputError("k must be a positive whole number")
    if mode != "vector" and not query.strip():
        raise InvalidInputError("the query is empty")
    if mode != "keyword" and vector is None:
        raise InvalidInputError(f"{mode} search needs the query vector")
    if vector is None:
        return None
    flat = np.asarray(vector, dtype=np.float32).reshape(-1)
    if flat.shape[0] != dimensions:
        raise InvalidInputError(f"query vector has {flat.shape[0]} dims, not {dimensions}")
    return flat


@runtime_checkable
class AnswerLog(Protocol):
    """Durable log of answers and their feedback (SQLite by default, PostgreSQL in production)."""

    def save_answer(self, record: AnswerRecord) -> None:
        """Persist an answer; returns once it is durable."""
        ...

    def get_answer(self, answer_id: str, *, tenant: str | None = None) -> LoggedAnswer | None:
        """The answer with its ratings, or None if unknown (or in another tenant)."""
        ...

    def add_feedback(self, feedback: Feedback, *, tenant: str | None = None) -> LoggedAnswer:
        """Record a rating event durably; the user's latest event wins.

        Raises ``UnknownAnswerError`` if the answer is unknown or in another tenant.
        """
        ...

    def add_feedback_many(self, items: Sequence[tuple[Feedback, str | None]]) -> list[bool]:
        """Record rating events in one transaction, durable when this returns; each
        with the tenant its answer must be in (None: any). Returns, per item, False
        where the answer is unknown or another tenant's (nothing stored for it).
        """
        ...

    def withdraw(self, answer_id: str) -> bool:
        """Mark an answer withdrawn (its message was deleted); False if unknown."""
        ...

    def mark_undelivered(self, answer_id: str) -> bool:
        """The answer reached nobody (every post of it failed): it is logged from now on
        with the error ``"undelivered"``, so no export trains on it and the question's
        retry is its only answer. False when unknown or already a failure."""
        ...

    def recent(
        self, *, limit: int = 20, tenant: str | None = None, rating: RatingFilter | None = None
    ) -> list[LoggedAnswer]:
        """Newest answers first; with ``rating``, only those whose current rating is up,
        down, or none."""
        ...

    def claim_delivery(
        self,
        key: str,
        *,
        lease: timedelta | None = None,
        owner: str = "",
        platform: str = "",
        job: Mapping[str, Any] | None = None,
    ) -> bool:
        """Claim a platform delivery key atomically; True when the caller now holds it.

        Shared by every process on the same database, so a redelivered event is
        handled once however many replicas receive it. Without ``lease`` the claim is
        finished at once (only the first claim ever wins). With one it stays unfinished
        until ``finish_delivery``, and a later claim takes it over once the lease has
        expired (``agent.deliveries``); ``job`` is what a taker-over needs to answer.
        """
        ...

    def renew_delivery(self, key: str, *, owner: str, lease: timedelta) -> bool:
        """Extend ``owner``'s unfinished claim; False when it is not (or no longer) theirs."""
        ...

    def finish_delivery(self, key: str, *, owner: str, state: FinishedState) -> bool:
        """Mark ``owner``'s claim answered or apologised; False when it is not theirs."""
        ...

    def take_over_deliveries(
        self, *, owner: str, lease: timedelta, platforms: Sequence[str], limit: int = 20
    ) -> list[PendingDelivery]:
        """Take over up to ``limit`` unfinished claims of ``platforms`` whose lease expired
        (each atomically: a concurrent claimant gets it or this call does)."""
        ...

    def prune_deliveries(self, *, older_than: timedelta) -> int:
        """Forget delivery claims older than ``older_than``; returns how many."""
        ...

    def link_message(
        self, *, answer_id: str, platform: str, message_ref: str, role: MessageRole
    ) -> None:
        """Remember that a platform message carries (``answer``) or asked (``question``)
        an answer. Linking the same message again keeps the first link."""
        ...

    def answer_for_message(self, *, platform: str, message_ref: str) -> str | None:
        """The answer id linked to a platform message, or None."""
        ...

    def ping(self) -> None: ...

    def close(self) -> None: ...


@runtime_checkable
class CorpusWordCounts(Protocol):
    """Tenants' word counts (in how many sections each term occurs), from their corpus."""

    def get(self, tenant: str) -> CorpusStats | None:
        """The tenant's counts, or None when none were written."""
        ...


@runtime_checkable
class RouterModels(Protocol):
    """Tenants' calibrated route decisions, fitted on their own corpus."""

    def get(self, tenant: str) -> RouterModel | None:
        """The tenant's fitted model, or None when it has none."""
        ...


@runtime_checkable
class FinetunedModels(Protocol):
    """Tenants' promoted fine-tuned models (``askloop promote``)."""

    def get(self, tenant: str) -> ChatModel | None:
        """The tenant's promoted model, or None to use the configured one."""
        ...
