"""Batched token counts equal the model's own count of each templated conversation."""

from __future__ import annotations

import re

import pytest

from askloop.integrations.export.tokens import BatchCounter


class WordTokens:
    """A tokenizer with a ChatML-like template: words, special tokens, 3 per message."""

    calls = 0

    def tokenize(self, text):
        self.calls += 1
        return [
            0 if re.fullmatch(r"<\|\w+\|>", t) else 1 for t in re.findall(r"<\|\w+\|>|\w+", text)
        ]

    def count_tokens(self, messages):
        return sum(len(self.tokenize(m["content"])) + 3 for m in messages) + 1


CONVERSATIONS = [
    [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi there"}],
    [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Text with <|endoftext|> inside it"},
        {"role": "assistant", "content": "Fine."},
    ],
    [{"role": "user", "content": ""}, {"role": "assistant", "content": "a b c d e"}],
]


def test_batched_counts_equal_one_by_one_counts():
    model = WordTokens()
    counter = BatchCounter(model, batch_chars=20)
    assert counter.count(CONVERSATIONS) == [model.count_tokens(c) for c in CONVERSATIONS]


def test_contents_share_tokenizer_calls():
    model = WordTokens()
    counter = BatchCounter(model)
    plain = [CONVERSATIONS[0], CONVERSATIONS[2]] * 100
    counter.count(plain)
    # 400 messages: the separator, the probe, two role sequences (count_tokens tokenizes
    # each of its messages), then one batch.
    assert model.calls <= 10


@pytest.mark.slow
def test_batched_counts_are_exact_on_the_local_model():
    from askloop.integrations.models.local import LocalChatModel
    from tests.export_fixture import CARRY, LEAVE

    conversations = [
        [
            {"role": "system", "content": "You answer from the handbook.\n\nRules:\n- Cite [n]."},
            {"role": "user", "content": f"<documents>\n{LEAVE.text}\n{CARRY.text}\n</documents>"},
            {"role": "assistant", "content": "You get 26 days [1]."},
        ],
        [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "How many days?"},
            {"role": "assistant", "content": "26."},
            {"role": "user", "content": "And carry-over? Call +44 20 7946 0000, ok…"},
            {"role": "assistant", "content": "Up to 5 days, until 31 March [2]."},
        ],
    ]
    with LocalChatModel(threads=1) as model:
        exact = [model.count_tokens(c) for c in conversations]
        assert BatchCounter(model).count(conversations) == exact
