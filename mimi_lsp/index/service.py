"""The index service: one per ``Services``, spanning every workspace folder (multi-root).

Feeds ``mimi.search``, ``workspace/symbol``, completion context, chat, the agent and the MCP
server. A facade over the parts, each in its own module: the store threads and the two
background workers (``workers``: scans and file events on one, embeddings on the other), search
and symbols (``search``), completion context (``context``) and the status users see
(``status``). Nothing here blocks the event loop or ``initialize``.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging
import os
from collections.abc import Callable, Sequence
from typing import Any

from mimi_lsp.domain import (
    CompletionRequest,
    ContextSnippet,
    DocumentSnapshot,
    IndexStatus,
    SearchHit,
    SymbolInfo,
)
from mimi_lsp.errors import MimiError
from mimi_lsp.index.context import CompletionContext
from mimi_lsp.index.ignore import IGNORE_FILES
from mimi_lsp.index.indexer import FolderIndex
from mimi_lsp.index.pool import BufferPool
from mimi_lsp.index.ranking import DEFAULT_FUSION, Fusion
from mimi_lsp.index.search import MODES, Mode, Searcher
from mimi_lsp.index.status import IndexEvent, Listener, StatusBoard
from mimi_lsp.index.workers import EmbedWorker, ScanWorker, StoreThreads
from mimi_lsp.inference.base import Backend
from mimi_lsp.inference.embedding import Embedder
from mimi_lsp.inference.factory import create_embedder
from mimi_lsp.settings import BackendSettings, Settings
from mimi_lsp.tasks import TaskRunner, run_task
from mimi_lsp.uris import uri_to_path

__all__ = ["MODES", "IndexEvent", "IndexService", "Listener", "Mode"]

log = logging.getLogger(__name__)

OVERLAY_DEBOUNCE_S = 0.3
LAZY_OVERLAY_CHARS = 256_000
"""Buffers over this are re-indexed only after a longer pause (``LAZY_DEBOUNCE_S``): chunking a
big buffer at every short pause costs more than its fresh symbols are worth."""
LAZY_DEBOUNCE_S = 3.0
RELEASE_DELAY_S = 5.0
OVERLAY_BUDGET_FILES = 16
"""Unsaved text the index holds for all buffers together, in largest files (16 MB with the
default ``index.maxFileBytes``). Past it, the buffers changed longest ago are indexed from the
disk again (their saved text); a buffer over ``maxFileBytes`` is never overlaid, as a file that
size on disk is never indexed."""


class IndexService:
    """Search, symbols and completion context over every workspace folder."""

    def __init__(
        self,
        settings: Settings,
        *,
        backend_for: Callable[[BackendSettings], Backend] | None = None,
        embedder: Embedder | None = None,
        snapshot: Callable[[str], DocumentSnapshot | None] | None = None,
        listeners: list[Listener] | None = None,
        fusion: Fusion = DEFAULT_FUSION,
        run: TaskRunner = run_task,
    ) -> None:
        self.settings = settings
        self._run = run
        self._backend_for = backend_for
        self._snapshot = snapshot
        self.embedder: Embedder | None = embedder
        if self.embedder is None and settings.index.embeddings:
            self.embedder = _create_embedder(settings, backend_for)
        self.folders: dict[str, FolderIndex] = {}
        self.board = StatusBoard(listeners)
        self.threads = StoreThreads()
        self.scans = ScanWorker(
            self.folders, self.threads, self.board, self._current_embedder, self._embed_soon, run
        )
        self.embeds = EmbedWorker(
            self.folders, self.threads, self.board, self._current_embedder, self.scans, run
        )
        self.searcher = Searcher(
            self.folders, self.threads, self._current_embedder, self.scans.rebuild_soon, run, fusion
        )
        self.context = CompletionContext(self.folders, self.threads, run)
        self._debounce: dict[str, asyncio.TimerHandle] = {}
        self._overlaid: dict[tuple[str, str], int] = {}
        """(folder root, rel) -> chars of every overlay, least recently changed first."""
        self._too_big: set[str] = set()
        self._release: asyncio.TimerHandle | None = None
        self._closed = False

    def _current_embedder(self) -> Embedder | None:
        return self.embedder

    def _embed_soon(self) -> None:
        self.embeds.wake()

    def _start(self) -> None:
        self.scans.start()
        self.embeds.start()

    # ------------------------------------------------------------------ status

    @property
    def listeners(self) -> list[Listener]:
        return self.board.listeners

    @property
    def pool(self) -> BufferPool:
        """Recently edited buffers, for similar-code context."""
        return self.context.pool

    def on_event(self, listener: Listener) -> None:
        """``listener(event)`` on every status change and progress step."""
        self.board.listeners.append(listener)

    def status(self) -> IndexStatus:
        return self.board.status()

    def status_dict(self) -> dict[str, Any]:
        """The index part of ``mimi.status``."""
        return self.board.as_dict(
            self.folders.values(), self.embedder.name if self.embedder else None
        )

    async def _refresh_counts(self) -> None:
        await self.board.refresh_counts(self.folders.values(), self.threads.read)

    # ------------------------------------------------------------------ folders

    async def set_folders(self, folders: list[str]) -> None:
        """Index exactly these folders (added ones are opened and scanned, removed ones closed)."""
        self._start()
        wanted = _existing_folders(folders)
        for root in [r for r in self.folders if r not in wanted]:
            folder = self.folders.pop(root)
            self.scans.forget(root)
            await self.threads.write(folder.close)
        for root in wanted:
            if root in self.folders:
                continue
            self.folders[root] = FolderIndex(root, self.settings.index)
            self.scans.request_scan(root)
        await self._refresh_counts()
        self.scans.kick()

    async def wait_idle(self) -> IndexStatus:
        """Wait until every queued scan and update is written (not embeddings)."""
        self._start()
        await self.scans.wait_idle()
        return self.status()

    async def wait_embedded(self, max_wait_s: float | None = None) -> IndexStatus:
        """Wait until every chunk has a vector (or embeddings failed)."""
        await self.wait_idle()
        await self.embeds.wait_embedded(max_wait_s)
        await self._refresh_counts()
        return self.status()

    async def reindex(self) -> IndexStatus:
        """Re-read every file of every folder (content hashes, not mtimes) and wait for it."""
        self._start()
        for root in self.folders:
            self.scans.request_scan(root, force=True)
        self.scans.kick()
        return await self.wait_idle()

    # ------------------------------------------------------------------ queries

    async def search(
        self,
        query: str,
        k: int = 10,
        mode: str = "hybrid",
        paths: list[str] | None = None,
        language: str | None = None,
    ) -> list[SearchHit]:
        """The ``k`` definitions (or code windows) best matching ``query`` across all folders."""
        return await self.searcher.search(query, k, mode, paths, language)

    async def symbols(self, query: str, limit: int = 50) -> list[SymbolInfo]:
        """Definitions whose name fuzzily matches ``query`` (prefix, camel humps, subsequence)."""
        return await self.searcher.symbols(query, limit)

    async def completion_context(self, request: CompletionRequest) -> list[ContextSnippet]:
        """Definitions of identifiers near the cursor and similar code from recent buffers."""
        return await self.context.for_request(request)

    # ------------------------------------------------------------------ live updates

    def document_changed(self, uri: str) -> None:
        """A buffer opened, changed or closed: overlay its text after a short debounce."""
        if self._closed or self._snapshot is None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        handle = self._debounce.pop(uri, None)
        if handle is not None:
            handle.cancel()
        snap = self._snapshot(uri)
        lazy = snap is not None and snap.size > LAZY_OVERLAY_CHARS
        delay = LAZY_DEBOUNCE_S if lazy else OVERLAY_DEBOUNCE_S
        self._debounce[uri] = loop.call_later(delay, self._flush_document, uri)

    def _flush_document(self, uri: str) -> None:
        self._debounce.pop(uri, None)
        snap = self._snapshot(uri) if self._snapshot is not None else None
        self.overlay(uri, snap.text if snap is not None else None)

    def overlay(self, uri: str, text: str | None) -> None:
        """Unsaved buffer text for ``uri`` (None: closed, the disk is the truth again)."""
        if self._closed or not uri.startswith("file:"):
            return
        path = uri_to_path(uri)
        self.context.buffer_changed(path, text)
        if text is not None and len(text) > self.settings.index.max_file_bytes:
            if uri not in self._too_big:
                self._too_big.add(uri)
                log.info(
                    "%s: %d characters, over mimi.index.maxFileBytes; its unsaved text is not "
                    "indexed",
                    os.path.basename(path),
                    len(text),
                )
            text = None  # the disk decides, as for any file (a file that big is skipped too)
        elif text is None and uri in self._too_big:
            self._too_big.discard(uri)
            self._release_memory_soon()
        for folder in self.folders.values():
            rel = folder.rel(path)
            if not rel or not folder.wanted(rel):
                continue
            key = (folder.root, rel)
            self._overlaid.pop(key, None)
            if text is None:
                if folder.overlays.pop(rel, None) is None:
                    continue
                self._release_memory_soon()
            else:
                folder.overlays[rel] = text
                self._overlaid[key] = len(text)
            self.scans.request_update(folder.root, rel)
        self._keep_overlays_in_budget()
        self.scans.kick()

    def _keep_overlays_in_budget(self) -> None:
        """Drop the overlays changed longest ago until all fit the overlay budget."""
        budget = OVERLAY_BUDGET_FILES * self.settings.index.max_file_bytes
        total = sum(self._overlaid.values())
        while total > budget and len(self._overlaid) > 1:
            (root, rel), chars = next(iter(self._overlaid.items()))
            del self._overlaid[(root, rel)]
            total -= chars
            folder = self.folders.get(root)
            if folder is not None and folder.overlays.pop(rel, None) is not None:
                log.debug("%s: unsaved text dropped from the index (overlay budget)", rel)
                self.scans.request_update(root, rel)
                self._release_memory_soon()

    def _release_memory_soon(self) -> None:
        """Hand freed heap back to the system once the index has re-read what overlays held:
        glibc keeps it otherwise (measured: 30 closed 0.7 MB buffers held ~30 MB more)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        if self._release is not None:
            self._release.cancel()
        self._release = loop.call_later(
            RELEASE_DELAY_S,
            lambda: self._run(asyncio.to_thread(trim_heap), name="index-release-memory"),
        )

    def file_saved(self, path: str) -> None:
        """A file was saved: re-read it from disk."""
        self.files_changed([path])

    def files_changed(self, paths: Sequence[str]) -> None:
        """Files created, changed or deleted on disk (watched-file events, saves)."""
        for path in paths:
            if not os.path.exists(path):
                self.context.file_deleted(path)
            for folder in self.folders.values():
                rel = folder.rel(path)
                if rel is None:
                    continue
                if rel == "" or os.path.basename(rel) in IGNORE_FILES:
                    folder.rules.invalidate()
                    self.scans.request_scan(folder.root)
                    continue
                self.scans.request_update(folder.root, rel)
        self.scans.kick()

    # ------------------------------------------------------------------ settings and shutdown

    async def apply_settings(self, settings: Settings) -> None:
        """Adopt new settings; a changed index or embedding configuration reopens every folder."""
        old = self.settings
        self.settings = settings
        if old.index == settings.index and old.embedding == settings.embedding:
            return
        roots = list(self.folders)
        if old.embedding != settings.embedding or old.index.embeddings != settings.index.embeddings:
            self.embedder = None
            self.searcher.clear_cache()
            self.board.embed_error = None
            if settings.index.embeddings:
                self.embedder = _create_embedder(settings, self._backend_for)
        await self.set_folders([])
        await self.set_folders(roots)

    async def aclose(self) -> None:
        """Stop background work and close every database cleanly."""
        if self._closed:
            return
        self._closed = True
        for handle in self._debounce.values():
            handle.cancel()
        if self._release is not None:
            self._release.cancel()
        await self.scans.close()
        await self.embeds.close()
        await self.context.close()
        await self.searcher.close()
        for folder in list(self.folders.values()):
            try:
                await self.threads.write(folder.close)
            except Exception:
                pass
        self.folders.clear()
        self.threads.shutdown()


def trim_heap() -> None:
    """``malloc_trim(0)``: return free heap pages to the system (glibc only; else nothing)."""
    global _LIBC
    if _LIBC is None:
        try:
            _LIBC = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            _LIBC.malloc_trim.argtypes = [ctypes.c_size_t]
        except (OSError, AttributeError):
            _LIBC = False
    if _LIBC:
        _LIBC.malloc_trim(0)


_LIBC: Any = None


def _create_embedder(
    settings: Settings, backend_for: Callable[[BackendSettings], Backend] | None
) -> Embedder | None:
    try:
        return create_embedder(settings.embedding, backend_for)
    except MimiError as exc:
        log.warning("embeddings disabled: %s", exc.user_message())
        return None


def _existing_folders(folders: Sequence[str]) -> list[str]:
    """Absolute paths of the folders that exist, without trailing separators."""
    return [os.path.abspath(f).rstrip("/\\") or "/" for f in folders if f and os.path.isdir(f)]
