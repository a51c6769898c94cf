"""Ranking: fusing BM25 and vector candidates, fuzzy symbol matching.

Pure functions used by ``search.py`` after it has fetched candidates from each folder's store.
Plain equal-weight reciprocal-rank fusion lost to dense-only retrieval in a pilot here, so the
default fusion is a tuned convex combination of normalised scores (see
``benchmarks/search_eval.py`` for the figures behind the weights); weighted RRF is kept as an
option for comparison. Prose (Markdown, plain text) is weighed down so documentation does not
crowd out code.

The default, 'linear', adds the raw dense score (cosines, not rescaled: their absolute level
says how good a match is) to a fraction of the BM25 score divided by the best BM25 score of the
query, over the union of both candidate pools, with every candidate's dense score filled in.
Min-max rescaled convex fusion and RRF (options here) lost to it on the eval's dev split.

Measured (``benchmarks/search_eval.py``, strict counting: a hit counts when at least half of
it lies in the target function and it carries the target's name; 40 stdlib modules with
docstrings blanked, 3,157 chunks, 242 dev / 358 held-out queries from different files, MiniLM):
MRR@10 BM25 0.428 / 0.408, vector 0.523 / 0.519, hybrid 0.578 / 0.573 (dev / held-out). The
weights were chosen by coordinate search on the dev half (``--sweep``): BM25 weight 0.1 -> 0.15,
anonymous code 0.85 -> 0.7 and the prior against one- or two-line definitions (0.8) took the
dev half from 0.566 to 0.578 and the held-out half from 0.563 to 0.573. A second stage adding
the share of a definition's name (or class, or signature) words the query names won nothing on
the dev half (best weight 0: the embedded texts already carry the name's words), so it is out.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import TypeVar

K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True, slots=True)
class Fusion:
    """How hybrid search combines its two rankings."""

    method: str = "linear"
    """'linear' (dense score + weight x relative BM25), 'convex' (weighted sum of min-max
    normalised scores) or 'rrf' (weighted reciprocal ranks)."""
    bm25_weight: float = 0.15
    """Weight of the relative BM25 score (score / best score of the query) in 'linear'."""
    dense_weight: float = 0.5
    """Share of the dense (vector) score in 'convex'; BM25 gets the rest."""
    rrf_k: float = 60.0
    rrf_dense: float = 1.0
    rrf_bm25: float = 1.0
    prose_penalty: float = 0.6
    """Multiplier for chunks in prose languages."""
    code_penalty: float = 0.7
    """Multiplier for anonymous code (imports, module-level statements: no definition), which
    otherwise crowds out the definitions people search for (+0.014 MRR@10 on the eval)."""
    dense_best: float = 0.5
    """Dense score of a definition: this share of its best text's cosine (name and signature,
    or head of the code), the rest of their mean."""
    symbol_column: float = 8.0
    """BM25 weight of the names column (definition and class names, split) against the path's
    and the body's 1 (8 beat 4 by ~0.01 MRR@10 on an earlier eval)."""
    tiny_penalty: float = 0.8
    """Hybrid: multiplier for definitions of one or two lines (accessors, stubs), which the
    dense signal over-rates (+0.005 MRR@10 on the eval's dev half)."""

    @property
    def ceiling(self) -> float:
        """The highest hybrid score a candidate can reach (to show scores as 0-1)."""
        return 1.0 + self.bm25_weight


DEFAULT_FUSION = Fusion()


def _normalise(scores: Sequence[float]) -> list[float]:
    """Min-max to [0, 1] (a single candidate gets 1)."""
    if not scores:
        return []
    hi, lo = max(scores), min(scores)
    if hi - lo < 1e-9:
        return [1.0 for _ in scores]
    return [(s - lo) / (hi - lo) for s in scores]


def fuse(
    bm25: Sequence[tuple[K, float]],
    dense: Sequence[tuple[K, float]],
    fusion: Fusion = DEFAULT_FUSION,
    pool: int | None = None,
) -> list[tuple[K, float]]:
    """One ranking from two (each best first) over the top ``pool`` of each.

    Scores beyond the pools still count for the candidates (``dense`` may carry the dense
    scores of BM25's candidates); keys missing from a list score 0 there.
    """
    cut = pool or max(len(bm25), len(dense))
    candidates = dict.fromkeys([key for key, _ in bm25[:cut]] + [key for key, _ in dense[:cut]])
    scores: dict[K, float] = {}
    if fusion.method == "linear":
        top = max((s for _, s in bm25), default=0.0) or 1.0
        sparse = dict(bm25)
        dense_of = dict(dense)
        for key in candidates:
            scores[key] = dense_of.get(key, 0.0) + fusion.bm25_weight * sparse.get(key, 0.0) / top
    elif fusion.method == "rrf":
        for rank, (key, _) in enumerate(bm25[:cut]):
            scores[key] = scores.get(key, 0.0) + fusion.rrf_bm25 / (fusion.rrf_k + rank + 1)
        for rank, (key, _) in enumerate(dense[:cut]):
            scores[key] = scores.get(key, 0.0) + fusion.rrf_dense / (fusion.rrf_k + rank + 1)
    else:
        # BM25 scores are unbounded: scale by the best one. Cosines are squeezed into a narrow
        # band: min-max over the candidates spreads them.
        top = max((s for _, s in bm25), default=0.0) or 1.0
        for key, s in bm25[:cut]:
            scores[key] = scores.get(key, 0.0) + (1 - fusion.dense_weight) * (s / top)
        inside = [(key, s) for key, s in dense if key in candidates]
        for (key, _), s in zip(inside, _normalise([s for _, s in inside]), strict=True):
            scores[key] = scores.get(key, 0.0) + fusion.dense_weight * s
    return sorted(scores.items(), key=lambda kv: kv[1], reverse=True)


# ------------------------------------------------------------------------------------------
# Fuzzy symbol matching (workspace/symbol)


def _humps(name: str) -> str:
    """Initials of the words of an identifier: ``getUserName`` -> ``gun``."""
    parts = re.findall(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+", name)
    return "".join(p[0] for p in parts).lower()


def subsequence_pattern(query: str) -> str:
    """A LIKE pattern matching names that contain the query's characters in order."""
    escaped = [("\\" + ch) if ch in "%_\\" else ch for ch in query.lower()]
    return "%" + "%".join(escaped) + "%"


def fuzzy_score(query: str, name: str) -> float:
    """How well ``name`` matches what the user typed (0: no match)."""
    if not query:
        return 0.0
    q, n = query.lower(), name.lower()
    if name == query:
        return 100.0
    if n == q:
        return 95.0
    if n.startswith(q):
        return 80.0 - min(20.0, (len(n) - len(q)) * 0.5)
    if _humps(name).startswith(q):
        return 70.0
    index = n.find(q)
    if index >= 0:
        at_word = index > 0 and (name[index - 1] in "_.:$" or name[index].isupper())
        return (65.0 if at_word else 55.0) - min(10.0, len(n) * 0.1)
    # Subsequence: closer together is better.
    pos, first, last = 0, -1, -1
    for ch in q:
        found = n.find(ch, pos)
        if found < 0:
            return 0.0
        if first < 0:
            first = found
        last = found
        pos = found + 1
    spread = last - first + 1 - len(q)
    return max(1.0, 40.0 - spread * 2.0 - first * 0.5)
