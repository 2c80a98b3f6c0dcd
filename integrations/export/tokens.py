"""Example lengths in the local model's tokens, counted in batches.

The exact length of a conversation is its chat template rendered and tokenized (one
llama.cpp call or two, ~5 ms). Export counts thousands, so it splits the work: the
template's own tokens depend only on the roles, measured once per role sequence, and
every message's content is tokenized in batches, many contents in one call with a
special token between them. Special tokens are never merged with text, so the pieces
count exactly what they count inside the template (the role's newline is a token of its
own before a content that starts with a letter).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

__all__ = ["BatchCounter", "Tokenizer"]

Messages = Sequence[Mapping[str, str]]
_PROBE = "x"
#: How many recurring contents are remembered between batches.
_KNOWN_MAX = 1_000
#: Special-token texts tried as the separator, in order.
_SEPARATORS = ("<|endoftext|>", "<|im_end|>", "</s>", "<|end_of_text|>", "<eos>")


class Tokenizer(Protocol):
    def count_tokens(self, messages: Messages) -> int: ...

    def tokenize(self, text: str) -> list[int]: ...


class BatchCounter:
    """``count(conversations)`` -> their lengths under the model's chat template."""

    def __init__(self, model: Tokenizer, *, batch_chars: int = 200_000) -> None:
        self._model = model
        self._batch_chars = batch_chars
        self._overhead: dict[tuple[str, ...], int] = {}
        self._sep: tuple[str, int] | None = None
        self._probe = 0
        #: Contents that recur (system prompts are in every record): their counts.
        self._known: dict[str, int] = {}

    def count(self, conversations: Sequence[Messages]) -> list[int]:
        contents = [m["content"] for conv in conversations for m in conv]
        sizes = iter(self._contents(contents))
        out = []
        for conv in conversations:
            out.append(self._template(conv) + sum(next(sizes) for _ in conv))
        return out

    def _template(self, conv: Messages) -> int:
        """Tokens the template adds around contents with these roles."""
        roles = tuple(m["role"] for m in conv)
        if roles not in self._overhead:
            if not self._probe:
                self._probe = len(self._model.tokenize(_PROBE))
            probe = [{"role": r, "content": _PROBE} for r in roles]
            self._overhead[roles] = self._model.count_tokens(probe) - self._probe * len(roles)
        return self._overhead[roles]

    def _separator(self) -> tuple[str, int]:
        if self._sep is None:
            for text in _SEPARATORS:
                ids = self._model.tokenize(text)
                if len(ids) == 1:
                    self._sep = (text, ids[0])
                    break
            else:
                raise LookupError("the model's tokenizer has no known special token")
        return self._sep

    def _contents(self, contents: list[str]) -> list[int]:
        sep, sep_id = self._separator()
        sizes = [0] * len(contents)
        waiting: dict[str, list[int]] = {}  # distinct text -> where it occurs
        for i, text in enumerate(contents):
            known = self._known.get(text)
            if known is not None:
                sizes[i] = known
            elif sep in text:
                sizes[i] = len(self._model.tokenize(text))  # would split wrongly: alone
            else:
                waiting.setdefault(text, []).append(i)
        batch: list[str] = []
        chars = 0
        for text in waiting:
            batch.append(text)
            chars += len(text)
            if chars >= self._batch_chars:
                self._tokenize_batch(batch, waiting, sizes, sep, sep_id)
                batch, chars = [], 0
        if batch:
            self._tokenize_batch(batch, waiting, sizes, sep, sep_id)
        return sizes

    def _tokenize_batch(
        self,
        batch: list[str],
        where: dict[str, list[int]],
        sizes: list[int],
        sep: str,
        sep_id: int,
    ) -> None:
        ids = self._model.tokenize(sep.join(batch))
        counts, n = [], 0
        for token in ids:
            if token == sep_id:
                counts.append(n)
                n = 0
            else:
                n += 1
        counts.append(n)
        if len(counts) != len(batch):  # a content made a separator of its own: one by one
            counts = [len(self._model.tokenize(text)) for text in batch]
        for text, n in zip(batch, counts, strict=True):
            for i in where[text]:
                sizes[i] = n
            # Text that recurs (a system prompt) is remembered for the next batches.
            if len(where[text]) > 1 and len(self._known) < _KNOWN_MAX:
                self._known[text] = n
