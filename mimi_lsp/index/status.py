"""The index's state as users see it: one ``IndexStatus`` and the events that announce it.

The workers report here (a scan begins, a batch of vectors lands, indexing failed); listeners get
an ``IndexEvent`` for every status change and progress step, which the LSP layer turns into
``mimi/indexStatus`` and ``$/progress``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

from mimi_lsp.domain import IndexStatus
from mimi_lsp.index.indexer import FolderIndex

log = logging.getLogger(__name__)

State = Literal["idle", "indexing", "ready", "error"]


@dataclass(frozen=True, slots=True)
class IndexEvent:
    """A status change or progress step, for ``mimi/indexStatus`` and ``$/progress``."""

    status: IndexStatus
    kind: Literal["status", "begin", "report", "end"] = "status"
    task: str = "index"
    """'index' (chunking, BM25) or 'embed' (vectors)."""
    title: str = ""
    percentage: int | None = None
    message: str = ""


Listener = Callable[[IndexEvent], None]


class StatusBoard:
    """The index's state, counts and messages, and the listeners told of every change."""

    def __init__(self, listeners: list[Listener] | None = None) -> None:
        self.listeners: list[Listener] = listeners if listeners is not None else []
        self.state: State = "idle"
        self.message = ""
        self.counts = (0, 0, 0)
        """(files, chunks, chunks with a vector) over every open folder."""
        self.embed_error: str | None = None
        """Why vectors are missing (shown while no other message is)."""
        self.notice: str | None = None
        """A one-off message (e.g. a damaged index was rebuilt) for the next 'ready'."""

    def status(self) -> IndexStatus:
        files, chunks, embedded = self.counts
        message = self.message
        if not message and self.embed_error:
            message = self.embed_error
        return IndexStatus(self.state, files, chunks, embedded, message)

    def emit(self, event: IndexEvent) -> None:
        for listener in list(self.listeners):
            try:
                listener(event)
            except Exception:
                log.exception("index listener failed")

    def progress(
        self,
        kind: Literal["status", "begin", "report", "end"],
        task: str,
        title: str,
        percentage: int | None = None,
        message: str = "",
    ) -> None:
        """Emit a progress step of ``task`` with the current status."""
        self.emit(IndexEvent(self.status(), kind, task, title, percentage, message))

    def announce(self) -> None:
        """Emit the current status (listeners drop repeats)."""
        self.emit(IndexEvent(self.status()))

    def set_state(self, state: State, message: str = "") -> None:
        changed = (state, message) != (self.state, self.message)
        self.state, self.message = state, message
        if changed:
            self.announce()

    async def refresh_counts(
        self,
        folders: Iterable[FolderIndex],
        read: Callable[[Callable[[], tuple[int, int, int]]], Awaitable[tuple[int, int, int]]],
    ) -> None:
        """Recount files, chunks and vectors of the open ``folders`` (on a reader thread)."""
        total = [0, 0, 0]
        for folder in list(folders):
            if not folder.opened:
                continue
            try:
                counts = await read(folder.store.counts)
            except Exception:
                log.debug("counting failed", exc_info=True)
                continue
            for i in range(3):
                total[i] += counts[i]
        self.counts = (total[0], total[1], total[2])

    def as_dict(self, folders: Iterable[FolderIndex], embedder: str | None) -> dict[str, Any]:
        """The index part of ``mimi.status``."""
        st = self.status()
        return {
            "state": st.state,
            "files": st.files,
            "chunks": st.chunks,
            "embedded": st.embedded,
            "message": st.message,
            "folders": [
                {"path": f.root, "database": f.store.path, "error": f.error} for f in folders
            ],
            "embedder": embedder,
        }
