"""Relative score fusion, the hybrid ranking of the embedded store."""

from __future__ import annotations

import pytest

from askloop.integrations.stores.lance.schema import fuse_relative, quote, where_clause


def test_each_side_is_min_max_normalised_then_weighted():
    fused = fuse_relative({"a": 10.0, "b": 5.0, "c": 0.0}, {"b": 0.9, "c": 0.5}, alpha=0.6)
    assert fused["a"] == pytest.approx(0.4)  # best keyword, absent from vector
    assert fused["b"] == pytest.approx(0.4 * 0.5 + 0.6 * 1.0)
    assert fused["c"] == pytest.approx(0.0)


@pytest.mark.parametrize(("alpha", "winner"), [(0.0, "kw"), (1.0, "vec")])
def test_alpha_moves_the_weight_between_sides(alpha, winner):
    fused = fuse_relative({"kw": 3.0, "vec": 1.0}, {"kw": 0.1, "vec": 0.8}, alpha=alpha)
    assert max(fused, key=fused.__getitem__) == winner


def test_a_side_with_equal_scores_counts_fully_and_empty_sides_are_fine():
    assert fuse_relative({"a": 2.0}, {}, alpha=0.5) == {"a": 0.5}
    assert fuse_relative({}, {}, alpha=0.5) == {}


def test_where_clause_quotes_values_and_refuses_unknown_fields():
    assert quote("it's") == "'it''s'"
    clause = where_clause("acme", {"source": ["a'b", "c"], "doc_type": "pdf"})
    assert clause == "tenant = 'acme' AND source IN ('a''b', 'c') AND doc_type = 'pdf'"
    assert where_clause("acme", {"source": []}) == "false"
