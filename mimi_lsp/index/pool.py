"""Open and recently edited buffers as a small in-memory BM25 pool for completion context.

The workspace index (FTS5) answers search; this pool answers "which lines in the files the user
is working on look like the code around the cursor", within the completion engine's ~20 ms
context budget. ``rank-bm25`` fits here: a few thousand line windows (p95 ~20 ms at 10k per
FIELD-NOTES, far less at this size), rebuilt off the event loop when buffers change, queried
in well under a millisecond per hundred windows.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from dataclasses import dataclass

from mimi_lsp.index.store import STOPWORDS, split_identifier

WINDOW_LINES = 12
STRIDE = 6
MAX_DOCS = 20
MAX_LINES_PER_DOC = 4_000
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


class BufferPool:
    """The last ``MAX_DOCS`` buffers the user had open, as overlapping line windows."""

    def __init__(self, max_docs: int = MAX_DOCS) -> None:
        self.max_docs = max_docs
        self._docs: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()
        self._dirty = False
        self._windows: list[Window] = []
        self._bm25: object | None = None

    def update(self, path: str, text: str) -> None:
        """Remember the newest text of ``path`` (most recent last)."""
        with self._lock:
            self._docs[path] = text
            self._docs.move_to_end(path)
            while len(self._docs) > self.max_docs:
                self._docs.popitem(last=False)
            self._dirty = True

    def forget(self, path: str) -> None:
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
        for path, text in docs:
            lines = text.splitlines(keepends=True)[:MAX_LINES_PER_DOC]
            for start in range(0, max(1, len(lines) - WINDOW_LINES + STRIDE), STRIDE):
                body = "".join(lines[start : start + WINDOW_LINES])
                if body.strip():
                    windows.append(Window(path, start, body))
        corpus = [tokens(w.text) for w in windows]
        bm25 = None
        if windows and any(corpus):
            from rank_bm25 import BM25Okapi

            bm25 = BM25Okapi([c or ["_"] for c in corpus])
        self._windows, self._bm25 = windows, bm25

    def similar(self, text: str, exclude: str | None, k: int = 2, min_shared: int = 3) -> list[tuple[Window, float]]:
        """The ``k`` windows most like ``text`` outside ``exclude`` (the current file).

        BM25 orders the windows; a window must also share ``min_shared`` distinct words with
        the query (BM25 scores mean little in a pool of a handful of buffers).
        """
        bm25, windows = self._bm25, self._windows
        query = tokens(text)
        if bm25 is None or not query:
            return []
        wanted = set(query)
        scores = bm25.get_scores(query)  # type: ignore[attr-defined]
        order = sorted(range(len(windows)), key=lambda i: scores[i], reverse=True)
        out: list[tuple[Window, float]] = []
        used: set[tuple[str, int]] = set()
        for i in order[: 20 * k]:
            if len(out) >= k:
                break
            w = windows[i]
            if w.path == exclude or any(p == w.path and abs(s - w.start_line) < WINDOW_LINES for p, s in used):
                continue
            if len(wanted & set(tokens(w.text))) < min_shared:
                continue
            used.add((w.path, w.start_line))
            out.append((w, float(scores[i])))
        return out
