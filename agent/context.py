"""Run dependencies of the graph, passed as LangGraph's runtime context."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import ConfigDict, Field
from pydantic.dataclasses import dataclass as pydantic_dataclass

from askloop.agent.chat import ChatModel
from askloop.agent.ports import (
    CorpusWordCounts,
    Embedder,
    FinetunedModels,
    RouterModels,
    VectorStore,
)

if TYPE_CHECKING:
    from askloop.agent.calibration import CorpusStats

__all__ = ["Context", "Policy"]


@pydantic_dataclass(frozen=True, slots=True, config=ConfigDict(extra="forbid"))
class Policy:
    """Thresholds and limits of the graph: also the settings section ``[graph]``, so
    the bounds below are checked when either builds one."""

    #: Hits used as context and by the grader.
    k: Annotated[int, Field(ge=1, le=20)] = 5
    #: Rewrite-and-search-again rounds before giving up.
    max_rewrites: Annotated[int, Field(ge=0, le=10)] = 2
    #: "evidence" (the default): a cheap probe search, decided by fixed weights over its
    #: hits' evidence (agent/evidence_routing.py; no LLM, no per-corpus threshold);
    #: "probe": the same probe, decided by ``route_threshold``; "calibrated": the same
    #: probe, decided by the tenant's fitted model (``askloop tune router``; the probe
    #: threshold where none is fitted) — opt-in until it holds on held-out corpora
    #: (bench/decisions.py); "llm": the answer model judges.
    router: Literal["probe", "calibrated", "evidence", "llm"] = "evidence"
    #: probe router: search the knowledge base when the routing score (best cosine plus
    #: evidence that a hit is about the question's subject, up to 1.6, agent/routing.py)
    #: reaches this. Corpus-dependent: tune it with bench/router.py or from logged traces.
    route_threshold: Annotated[float, Field(ge=0.0, le=2.0)] = 0.45
    #: The probe's search: "vector" is one store query (routing stays within its latency
    #: budget); "hybrid" also runs the keyword leg, and retrieve then reuses its hits.
    probe_mode: Literal["vector", "hybrid"] = "vector"
    #: "scores": hits are good when the grader's probability (from the top hit's fused
    #: score, the best cosine and the question's key terms found in the top hits,
    #: agent/grading.py) reaches ``grade_threshold``; "llm": the answer model judges.
    grader: Literal["scores", "llm"] = "scores"
    grade_threshold: Annotated[float, Field(ge=0.0, le=1.0)] = 0.5
    #: At the rewrite bound: "finetuned" answers with a caveat; "not_found" says so plainly.
    give_up: Literal["finetuned", "not_found"] = "finetuned"
    #: The fine-tuned model was trained with retrieved context (RAFT) and gets it.
    finetuned_uses_context: bool = False
    #: Questions longer than this are truncated (the trace says so).
    max_question_chars: Annotated[int, Field(ge=100)] = 4000
    #: Thread history given to the models, newest turns first, within this budget.
    history_tokens: Annotated[int, Field(ge=0)] = 1200
    max_answer_tokens: Annotated[int, Field(ge=16, le=8192)] = 400
    #: An answer from the knowledge base that cites nothing cites the document it is
    #: demonstrably drawn from (agent/attribution.py); the trace says so.
    attribute_citations: bool = True
    #: How a knowledge-base answer is made (agent/grounding.py): "grounded" leads with
    #: the documents' own sentence(s), quoted and cited, and keeps the model's wording
    #: only where every number and name it states is in a cited document; "generative"
    #: is the model's answer less any sentence stating a number or name that no
    #: retrieved document holds; "auto" is grounded for the local model, else generative.
    answer_style: Literal["auto", "grounded", "generative"] = "auto"


@dataclass(frozen=True, slots=True)
class Context:
    store: VectorStore
    embedder: Embedder
    answer_model: ChatModel
    finetuned_model: ChatModel
    policy: Policy = field(default_factory=Policy)
    #: Tenants' calibrated route decisions (agent/calibration.py); a tenant without one,
    #: or no source at all, is routed by the probe router's threshold.
    router_models: RouterModels | None = None
    #: Tenants' word counts, written by ``askloop ingest``: the evidence router weighs how
    #: much of a question the corpus mentions at all when it has them.
    corpus_words: CorpusWordCounts | None = None
    #: Tenants' promoted fine-tuned models; a tenant without one gets ``finetuned_model``.
    finetuned_models: FinetunedModels | None = None

    def words_of(self, tenant: str) -> CorpusStats | None:
        """The tenant's word counts (and headings), or None when none were written."""
        return self.corpus_words.get(tenant) if self.corpus_words else None

    def finetuned_for(self, tenant: str) -> ChatModel:
        promoted = self.finetuned_models.get(tenant) if self.finetuned_models else None
        return promoted if promoted is not None else self.finetuned_model
