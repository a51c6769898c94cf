"""Ranking: fusion of the two signals, and scores users see between 0 and 1."""

from __future__ import annotations

from mimi_lsp.index.ranking import Fusion, fuse


def test_linear_fusion_adds_relative_bm25_to_the_dense_score() -> None:
    """A candidate found by both signals beats one found by the dense signal alone."""
    fused = fuse([("a", 8.0), ("b", 4.0)], [("b", 0.5), ("c", 0.55)], Fusion(bm25_weight=0.1))
    assert [key for key, _ in fused] == ["b", "c", "a"]


def test_the_ceiling_bounds_every_hybrid_score() -> None:
    """The best possible candidate (cosine 1, the query's best BM25 match) reaches the ceiling."""
    fusion = Fusion()
    fused = fuse([("a", 3.0)], [("a", 1.0)], fusion)
    assert fused[0][1] <= fusion.ceiling + 1e-9
    assert abs(fused[0][1] - fusion.ceiling) < 1e-9
