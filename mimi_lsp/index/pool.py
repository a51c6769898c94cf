"""Open buffers as a small in-memory BM25 pool for completion context.

The workspace index (FTS5) answers search; this pool answers "which lines in the files the user
is working on look like the code around the cursor", within the completion engine's ~20 ms
context budget. Okapi BM25 over a few thousand line windows, rebuilt off the event loop when
buffers change. Scoring walks precomputed posting weights with numpy: ``rank-bm25``'s
``get_scores`` loops over every window for every query word in Python and took 70 ms for 1,270
windows and 24 words here, far over the budget; this takes well under a millisecond.
"""

from __future__ import annotations

import math
import re
import threading
from collections import Counter, OrderedDict
from dataclasses import dataclass

import numpy as np

from mimi_lsp.index.text import STOPWORDS, split_identifier

WINDOW_LINES = 12
STRIDE = 6
MAX_DOCS = 20
MAX_LINES_PER_DOC = 4_000
MAX_WINDOWS = 3_000
"""Scoring is O(query words x windows): cap the pool (newest buffers first)."""
MAX_QUERY_WORDS = 24
MIN_SHARED = 3
"""A window must share this many distinct words with the code before the cursor..."""
MIN_RELEVANCE = 0.4
"""...and this share of the query's IDF mass (common words like ``list`` or ``value`` weigh
little): unrelated open files that happen to share a few words stay out of the prompt."""
_TOKEN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def tokens(text: str) -> list[str]:
    """Identifier parts, lower-cased, for BM25 over code."""
    out: list[str] = []
    for token in _TOKEN.findall(text):
        parts = split_identifier(token)
        if len(parts) > 1:
            out.append(token.lower())
        out += [p for p in parts if p not in STOPWORDS]
    return out


@dataclass(frozen=True, slots=True)
class Window:
    path: str
    start_line: int
    text: str
    words: frozenset[str] = frozenset()


class BufferPool:
    """The last ``MAX_DOCS`` buffers the user has open, as overlapping line windows.

    A buffer leaves the pool when it is closed or its file is deleted (``forget``): snippets of
    code the user put away, or that no longer exists, only distract the model.
    """

    def __init__(self, max_docs: int = MAX_DOCS) -> None:
        self.max_docs = max_docs
        self._docs: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()
        self._dirty = False
        self._windows: list[Window] = []
        self._postings: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._idf: dict[str, float] = {}

    def update(self, path: str, text: str) -> None:
        """Remember the newest text of ``path`` (most recent last)."""
        with self._lock:
            self._docs[path] = text
            self._docs.move_to_end(path)
            while len(self._docs) > self.max_docs:
                self._docs.popitem(last=False)
            self._dirty = True

    def forget(self, path: str) -> None:
        """Drop ``path`` (closed or deleted)."""
        with self._lock:
            if self._docs.pop(path, None) is not None:
                self._dirty = True

    @property
    def dirty(self) -> bool:
        return self._dirty

    def rebuild(self) -> None:
        """Re-window every buffer and rebuild BM25 (call off the event loop)."""
        with self._lock:
            docs = list(self._docs.items())
            self._dirty = False
        windows: list[Window] = []
        corpus: list[list[str]] = []
        for path, text in reversed(docs):  # newest first, so the cap drops the oldest
            lines = text.splitlines(keepends=True)[:MAX_LINES_PER_DOC]
            for start in range(0, max(1, len(lines) - WINDOW_LINES + STRIDE), STRIDE):
                body = "".join(lines[start : start + WINDOW_LINES])
                if body.strip() and len(windows) < MAX_WINDOWS:
                    words = tokens(body)
                    windows.append(Window(path, start, body, frozenset(words)))
                    corpus.append(words)
        postings, idf = _postings(corpus)
        self._windows, self._postings, self._idf = windows, postings, idf

    def similar(
        self,
        text: str,
        exclude: str | None,
        k: int = 2,
        min_shared: int = MIN_SHARED,
        min_relevance: float = MIN_RELEVANCE,
    ) -> list[tuple[Window, float]]:
        """The ``k`` windows most like ``text`` outside ``exclude`` (the current file).

        BM25 orders the windows; a window must also share ``min_shared`` distinct words with
        the query and cover ``min_relevance`` of the query's IDF mass (BM25 scores mean little
        in a pool of a handful of buffers, and every file shares some words with every other).
        """
        postings, windows, idf = self._postings, self._windows, self._idf
        # The words nearest the cursor matter most: keep the last distinct ones.
        query = list(dict.fromkeys(reversed(tokens(text))))[:MAX_QUERY_WORDS]
        if not windows or not query:
            return []
        wanted = set(query)
        # Query words no window holds count at the highest IDF: they are the rarest of all.
        top_idf = max(idf.values(), default=1.0)
        mass = sum(idf.get(word, top_idf) for word in wanted)
        scores = np.zeros(len(windows), dtype=np.float32)
        for word in query:
            hit = postings.get(word)
            if hit is not None:
                scores[hit[0]] += hit[1]
        top = np.argsort(-scores)[: 20 * k]
        order = [int(i) for i in top if scores[i] > 0]
        out: list[tuple[Window, float]] = []
        used: set[tuple[str, int]] = set()
        for i in order:
            if len(out) >= k:
                break
            w = windows[i]
            if w.path == exclude or any(
                p == w.path and abs(s - w.start_line) < WINDOW_LINES for p, s in used
            ):
                continue
            shared = wanted & w.words
            if len(shared) < min_shared:
                continue
            if sum(idf.get(word, 0.0) for word in shared) < min_relevance * mass:
                continue
            used.add((w.path, w.start_line))
            out.append((w, float(scores[i])))
        return out


def _postings(
    corpus: list[list[str]], k1: float = 1.5, b: float = 0.75
) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], dict[str, float]]:
    """word -> (window indices, Okapi BM25 weight of the word in each window); word -> IDF."""
    if not corpus:
        return {}, {}
    lengths = [len(words) for words in corpus]
    avgdl = (sum(lengths) / len(lengths)) or 1.0
    n = len(corpus)
    raw: dict[str, tuple[list[int], list[float]]] = {}
    for i, words in enumerate(corpus):
        norm = k1 * (1 - b + b * lengths[i] / avgdl)
        for word, tf in Counter(words).items():
            entry = raw.setdefault(word, ([], []))
            entry[0].append(i)
            entry[1].append(tf * (k1 + 1) / (tf + norm))
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    idfs: dict[str, float] = {}
    for word, (idx, weights) in raw.items():
        idf = math.log((n - len(idx) + 0.5) / (len(idx) + 0.5) + 1.0)
        idfs[word] = idf
        out[word] = (np.asarray(idx, dtype=np.int32), np.asarray(weights, dtype=np.float32) * idf)
    return out, idfs
