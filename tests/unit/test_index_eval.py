"""A small slice of the docstring -> function retrieval eval, with the real MiniLM model.

The full eval is ``benchmarks/search_eval.py``; this runs it on a few standard-library modules
so CI exercises the whole path (blanked corpus, chunking, local embeddings, three modes) and
prints the figures. It asserts retrieval works at all, never speed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.search_eval import blank_docstrings, run_eval


def test_blanking_keeps_line_numbers_and_collects_queries() -> None:
    """Docstrings are removed without moving a single line; each function yields its query."""
    source = 'def f(x):\n    """Return x doubled.\n\n    More.\n    """\n    return 2 * x\n'
    blanked, found = blank_docstrings(source)
    assert blanked.count("\n") == source.count("\n")
    assert "doubled" not in blanked and "return 2 * x" in blanked
    assert found == [("f", 0, "Return x doubled.\n\n    More.\n    ")]


@pytest.mark.slow
async def test_eval_slice_prints_figures(tmp_path: Path) -> None:
    """On a slice of the stdlib every mode retrieves, and hybrid is not worse than BM25."""
    result = await run_eval(files=6, queries=60, embedding="local", workdir=tmp_path)
    print()
    for mode, halves in result["modes"].items():
        for half in ("dev", "held_out"):
            m = halves[half]["strict"]
            print(
                f"eval slice {mode:7} {half:8} MRR@10 {m['mrr@10']:.3f}"
                f" R@1 {m['recall@1']:.3f} R@10 {m['recall@10']:.3f}"
            )
    assert sum(result["queries"].values()) >= 30

    def mrr(mode: str) -> float:
        """Strict MRR@10 over both halves, weighted by their sizes."""
        counts = result["queries"]
        total = sum(result["modes"][mode][h]["strict"]["mrr@10"] * n for h, n in counts.items())
        return float(total / sum(counts.values()))

    assert mrr("hybrid") >= 0.25
    assert mrr("hybrid") >= mrr("bm25") - 0.05
