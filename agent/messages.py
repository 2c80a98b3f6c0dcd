"""Fixed texts the graph answers with when it cannot answer from a model or the KB."""

from __future__ import annotations

__all__ = ["CAVEAT", "EMPTY_KNOWLEDGE_BASE", "MODEL_DOWN", "NOT_FOUND", "STORE_DOWN"]

NOT_FOUND = "I couldn't find anything about this in the knowledge base."
#: ``{tenant}``: the knowledge-base tenant. Adapters may add how to fill it.
EMPTY_KNOWLEDGE_BASE = (
    "Nothing has been ingested into the knowledge base of tenant {tenant} yet, "
    "so I have no documents to answer from."
)
STORE_DOWN = "I can't search the knowledge base right now. Please try again in a few minutes."
MODEL_DOWN = "I can't reach the language model right now, so I can't answer. Please try again soon."
CAVEAT = (
    "I couldn't find this in the knowledge base, so this answer comes from the general "
    "model and may be wrong:\n\n"
)
