"""Search: the candidates of every folder, fused, ranked and turned into hits; symbol lookup.

BM25 runs on a reader thread while the query embeds (SQLite and the model both release the
GIL); the vector search starts on the other reader thread as soon as the query is embedded,
next to BM25's tail; then one reader call per search scores BM25's candidates on the dense
signal too (so fusion compares every candidate on both), fuses (``ranking.fuse``), ranks,
drops duplicates and fetches the text of the ``k`` hits only (``hits``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import OrderedDict
from collections.abc import Callable
from functools import partial
from typing import Any, Literal

import numpy as np

from mimi_lsp import tracing
from mimi_lsp.domain import SearchHit, Span, SymbolInfo
from mimi_lsp.index.database import is_corruption
from mimi_lsp.index.hits import hit_lines, search_hit
from mimi_lsp.index.indexer import FolderIndex
from mimi_lsp.index.ranking import (
    DEFAULT_FUSION,
    Fusion,
    fuse,
    fuzzy_score,
    subsequence_pattern,
)
from mimi_lsp.index.store import ChunkRow
from mimi_lsp.index.workers import StoreThreads
from mimi_lsp.inference.embedding import Embedder, query_prefix
from mimi_lsp.languages import PROSE, normalize_language
from mimi_lsp.tasks import TaskRunner

log = logging.getLogger(__name__)

Mode = Literal["hybrid", "bm25", "vector"]
MODES = ("hybrid", "bm25", "vector")
_DEFINITION_KINDS = ("class", "interface", "struct", "trait", "function", "method", "type", "enum")


class Searcher:
    """``mimi.search`` and ``workspace/symbol`` over the open folders."""

    def __init__(
        self,
        folders: dict[str, FolderIndex],
        threads: StoreThreads,
        embedder: Callable[[], Embedder | None],
        on_damaged: Callable[[FolderIndex, BaseException], None],
        run: TaskRunner,
        fusion: Fusion = DEFAULT_FUSION,
    ) -> None:
        self._folders = folders
        self._threads = threads
        self._embedder = embedder
        self._on_damaged = on_damaged
        self._run = run
        self.fusion = fusion
        self._query_cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self.query_cache_size = 256
        self._load_task: asyncio.Task[None] | None = None

    def clear_cache(self) -> None:
        """Forget cached query vectors (the embedding model changed)."""
        self._query_cache.clear()

    async def close(self) -> None:
        if self._load_task is not None:
            self._load_task.cancel()
            try:
                await self._load_task
            except BaseException:
                pass

    # ------------------------------------------------------------------ query vectors

    async def _query_vector(self, query: str, wait: bool) -> np.ndarray | None:
        embedder = self._embedder()
        if embedder is None:
            return None
        cached = self._query_cache.get(query)
        if cached is not None:
            self._query_cache.move_to_end(query)
            return cached
        if not embedder.ready and not wait:
            # Hybrid search answers with BM25 alone until the model has loaded (seconds).
            if self._load_task is None or self._load_task.done():
                self._load_task = self._run(embedder.load(), name="mimi-embed-load")
            return None
        try:
            vectors = await embedder.embed([query_prefix(embedder.name) + query])
        except Exception as exc:
            log.warning("query embedding failed: %s", exc)
            return None
        vec = np.asarray(vectors[0], dtype=np.float32)
        self._query_cache[query] = vec
        while len(self._query_cache) > self.query_cache_size:
            self._query_cache.popitem(last=False)
        return vec

    # ------------------------------------------------------------------ search

    async def search(
        self,
        query: str,
        k: int = 10,
        mode: str = "hybrid",
        paths: list[str] | None = None,
        language: str | None = None,
    ) -> list[SearchHit]:
        """The ``k`` chunks best matching ``query`` (see ``_search``), traced as ``search``
        with ``search.bm25``, ``search.query_embedding``, ``search.vector`` and
        ``search.fusion`` under it when tracing is on."""
        with tracing.span("search", mode=mode, k=k, folders=len(self._folders)) as span:
            hits = await self._search(query, k, mode, paths, language)
            span.set(hits=len(hits))
            return hits

    async def _search(
        self,
        query: str,
        k: int = 10,
        mode: str = "hybrid",
        paths: list[str] | None = None,
        language: str | None = None,
    ) -> list[SearchHit]:
        """The ``k`` chunks best matching ``query`` across all folders.

        BM25 runs on a reader thread while the query embeds (SQLite and the model both release
        the GIL); the vector search starts on the other reader thread as soon as the query is
        embedded, next to BM25's tail; then one reader call per search scores BM25's
        candidates on the dense signal too (so fusion compares every candidate on both), fuses,
        ranks, drops duplicates and fetches the text of the ``k`` hits only.
        """
        if mode not in MODES:
            raise ValueError(f"unknown search mode {mode!r}")
        query = query.strip()
        folders = [f for f in self._folders.values() if f.opened]
        if not query or not folders or k <= 0:
            return []
        pool_size = max(50, k * 5)
        fusion = self.fusion
        trace = tracing.context()  # the parent of the spans timed on reader threads
        lang = normalize_language(language) if language else None
        filters = {f.root: _filters(f, paths, lang) for f in folders}

        def sparse_in(folder: FolderIndex) -> list[tuple[int, float]]:
            where, params = filters[folder.root]
            if where is None:
                return []
            started = time.time_ns()
            match = folder.store.fts_match(query)
            weights = (fusion.symbol_column, 1.0, 1.0)
            found = folder.store.bm25(match, pool_size * 4, where, params, weights) if match else []
            tracing.record("search.bm25", started, time.time_ns(), trace, candidates=len(found))
            return found

        def dense_in(folder: FolderIndex, qvec: np.ndarray) -> dict[int, float]:
            where, params = filters[folder.root]
            if where is None:
                return {}
            started = time.time_ns()
            found = dict(
                folder.store.knn(qvec, pool_size, where, params, best_share=fusion.dense_best)
            )
            tracing.record("search.vector", started, time.time_ns(), trace, candidates=len(found))
            return found

        sparse_jobs = None
        if mode != "vector":
            sparse_jobs = asyncio.gather(
                *(self._threads.read(sparse_in, f) for f in folders), return_exceptions=True
            )
        qvec = None
        if mode != "bm25":
            with tracing.span("search.query_embedding", cached=query in self._query_cache) as q:
                qvec = await self._query_vector(query, wait=mode == "vector")
                q.set(ready=qvec is not None)
        if qvec is None and mode == "vector":
            return []
        dense_jobs = None
        if qvec is not None:
            dense_jobs = asyncio.gather(
                *(self._threads.read(dense_in, f, qvec) for f in folders), return_exceptions=True
            )
        no_sparse: list[Any] = [[] for _ in folders]
        sparse_results: list[Any] = (
            list(await sparse_jobs) if sparse_jobs is not None else no_sparse
        )
        dense_results: list[Any] = (
            list(await dense_jobs) if dense_jobs is not None else [{} for _ in folders]
        )
        sparse_of: dict[str, list[tuple[int, float]]] = {}
        dense_of: dict[str, dict[int, float]] = {}
        for folder, sparse, dense in zip(folders, sparse_results, dense_results, strict=True):
            failed = next((r for r in (sparse, dense) if isinstance(r, BaseException)), None)
            if failed is not None:
                log.warning("search in %s failed: %s", folder.root, failed)
                if is_corruption(failed):
                    self._on_damaged(folder, failed)
                continue
            sparse_of[folder.root], dense_of[folder.root] = sparse, dense
        ranking = partial(
            self._rank,
            sparse_of,
            dense_of,
            qvec if mode == "hybrid" else None,
            mode,
            pool_size,
            trace=trace,
        )
        return await self._threads.read(ranking, k)

    def _rank(
        self,
        sparse_of: dict[str, list[tuple[int, float]]],
        dense_of: dict[str, dict[int, float]],
        qvec: np.ndarray | None,
        mode: str,
        pool_size: int,
        k: int,
        trace: Any = None,
    ) -> list[SearchHit]:
        """Fuse the folders' BM25 and vector candidates and return the best ``k`` as hits.

        Runs on a reader thread. Given the query vector (hybrid), BM25's candidates that the
        vector search did not return get their dense scores first.
        """
        started = time.time_ns()
        sparse_all: list[tuple[tuple[str, int], float]] = []
        dense_all: dict[tuple[str, int], float] = {}
        for root, sparse in sparse_of.items():
            dense = dense_of[root]
            missing = [cid for cid, _ in sparse[:pool_size] if cid not in dense]
            if qvec is not None and missing and root in self._folders:
                try:
                    store = self._folders[root].store
                    dense = {**dense, **store.dense_scores(qvec, missing, self.fusion.dense_best)}
                except Exception as exc:
                    log.warning("search in %s failed: %s", root, exc)
            sparse_all += [((root, cid), s) for cid, s in sparse]
            dense_all.update({(root, cid): s for cid, s in dense.items()})
        sparse_all.sort(key=lambda kv: kv[1], reverse=True)
        dense_ranked = sorted(dense_all.items(), key=lambda kv: kv[1], reverse=True)
        if mode == "bm25":
            # Relative to the query's best match: 0-1 like the other modes' scores.
            top = sparse_all[0][1] if sparse_all and sparse_all[0][1] > 0 else 1.0
            ranked = [(key, s / top) for key, s in sparse_all[:pool_size]]
        elif mode == "vector":
            ranked = dense_ranked[:pool_size]
        else:
            ranked = fuse(sparse_all, dense_ranked, self.fusion, pool_size)
        tracing.record(
            "search.fusion",
            started,
            time.time_ns(),
            trace,
            sparse=len(sparse_all),
            dense=len(dense_ranked),
            ranked=len(ranked),
        )
        return self._hits(ranked, k, mode)

    def _hits(
        self, ranked: list[tuple[tuple[str, int], float]], k: int, mode: str
    ) -> list[SearchHit]:
        """The best ``k`` of ``ranked`` as hits, after the prose and anonymous-code penalties
        and, in hybrid mode, the prior against tiny definitions.

        Runs on a reader thread: rows without text for the ranking, then the text of the
        chosen chunks only. Scores come out between 0 and 1, higher is better.
        """
        by_folder: dict[str, list[int]] = {}
        for (root, cid), _ in ranked:
            by_folder.setdefault(root, []).append(cid)
        folders = {root: self._folders[root] for root in by_folder if root in self._folders}
        rows_all: dict[tuple[str, int], tuple[FolderIndex, ChunkRow]] = {}
        for root, folder in folders.items():
            ids = by_folder[root]
            try:
                meta = folder.store.chunk_rows(ids, False)
            except Exception as exc:
                log.warning("search in %s failed: %s", root, exc)
                continue
            for cid, row in meta.items():
                rows_all[(root, cid)] = (folder, row)
        fusion = self.fusion
        scored = []
        for key, score in ranked:
            if key not in rows_all:
                continue
            row = rows_all[key][1]
            if row.language in PROSE:
                score *= fusion.prose_penalty
            elif row.symbol is None:
                score *= fusion.code_penalty
            if mode == "hybrid":
                start, end = hit_lines(row)
                if end - start < 2:
                    score *= fusion.tiny_penalty
            scored.append((key, score))
        ceiling = fusion.ceiling if mode == "hybrid" else 1.0
        scored.sort(key=lambda kv: kv[1], reverse=True)
        chosen: list[tuple[tuple[str, int], float]] = []
        seen: set[tuple[str, int, int]] = set()
        for key, score in scored:
            folder, row = rows_all[key]
            ident = (folder.abs(row.path), *hit_lines(row))
            if ident in seen:
                # Another window of the same definition, or a file that nested workspace
                # folders index twice.
                continue
            seen.add(ident)
            chosen.append((key, score))
            if len(chosen) >= k:
                break
        texts: dict[tuple[str, int], ChunkRow] = {}
        for root in {key[0] for key, _ in chosen}:
            ids = [key[1] for key, _ in chosen if key[0] == root]
            for cid, found in folders[root].store.chunk_rows(ids).items():
                texts[(root, cid)] = found
        out = []
        for key, score in chosen:
            folder = rows_all[key][0]
            if key not in texts:
                continue  # deleted since it was ranked
            row = texts[key]
            shown = min(1.0, max(0.0, score / ceiling))
            out.append(search_hit(folder.abs(row.path), row, shown, folder.store))
        return out

    # ------------------------------------------------------------------ symbols

    async def symbols(self, query: str, limit: int = 50) -> list[SymbolInfo]:
        """Definitions whose name fuzzily matches ``query`` (prefix, camel humps, subsequence)."""
        query = query.strip()
        folders = [f for f in self._folders.values() if f.opened]
        if not query or not folders:
            return []
        pattern = subsequence_pattern(query)

        def fetch(folder: FolderIndex) -> list[Any]:
            return folder.store.symbols_like(pattern, 5_000)

        results = await asyncio.gather(
            *(self._threads.read(fetch, f) for f in folders), return_exceptions=True
        )
        scored: list[tuple[float, SymbolInfo]] = []
        for folder, rows in zip(folders, results, strict=True):
            if isinstance(rows, BaseException):
                log.warning("symbol lookup in %s failed: %s", folder.root, rows)
                continue
            for row in rows:
                score = fuzzy_score(query, row.name)
                if score <= 0:
                    continue
                if row.kind in _DEFINITION_KINDS:
                    score += 2
                if row.language in PROSE:
                    score -= 5
                info = SymbolInfo(
                    name=row.name,
                    kind=row.kind,
                    path=folder.abs(row.path),
                    span=Span(row.start_line, row.start_col, row.end_line, row.end_col),
                    container=row.container,
                )
                scored.append((score, info))
        scored.sort(key=lambda si: (-si[0], len(si[1].name), si[1].path, si[1].span.start_line))
        return [info for _, info in scored[:limit]]


# ------------------------------------------------------------------------------------------
# Filters


def _filters(
    folder: FolderIndex, paths: list[str] | None, language: str | None
) -> tuple[str | None, list[Any]]:
    """SQL condition (on ``f`` = files) for path globs and language; None: nothing can match."""
    clauses: list[str] = []
    params: list[Any] = []
    if language:
        clauses.append("f.language = ?")
        params.append(language)
    if paths:
        globs: list[str] = []
        for pattern in paths:
            if os.path.isabs(pattern):
                rel = folder.rel(pattern.rstrip("*").rstrip("/") or "/")
                if rel is None:
                    continue
                rest = pattern[len(folder.root) :].lstrip("/")
                globs.append(glob_to_sql(rest or "*"))
            else:
                globs.append(glob_to_sql(pattern))
        if not globs:
            return None, []
        clauses.append("(" + " OR ".join("f.path GLOB ?" for _ in globs) + ")")
        params += globs
    return " AND ".join(clauses), params


def glob_to_sql(pattern: str) -> str:
    """A user path glob as a SQLite GLOB over folder-relative paths.

    ``*.py`` matches at any depth, ``src`` or ``src/`` means everything below ``src``,
    ``**`` is accepted (SQLite's ``*`` already crosses ``/``).
    """
    p = pattern.strip().replace("\\", "/")
    while p.startswith("./"):
        p = p[2:]
    p = p.replace("**/", "*").replace("/**", "/*").replace("**", "*")
    if not p or p == "/":
        return "*"
    if not any(ch in p for ch in "*?["):
        return p.rstrip("/") + "*" if p.endswith("/") or "." not in p.rsplit("/", 1)[-1] else p
    if "/" not in p:
        return "*" + p if not p.startswith("*") else p
    return p
