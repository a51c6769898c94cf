"""The index's background work: the store threads, the scan worker and the embedding worker.

Nothing here blocks the event loop. Each folder's SQLite store is written on one writer thread
and read on a small reader pool (``StoreThreads``). Scans, overlays of unsaved buffers and file
events are queued to one background worker (``ScanWorker``); embeddings are computed by a
second background loop in batches (``EmbedWorker``), so BM25 search works as soon as chunks are
written and vector search joins in as embeddings land. Both report to the ``StatusBoard``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, TypeVar

from mimi_lsp.errors import MimiError
from mimi_lsp.index.database import is_corruption
from mimi_lsp.index.indexer import FolderIndex
from mimi_lsp.index.status import StatusBoard
from mimi_lsp.inference.embedding import Embedder, document_prefix
from mimi_lsp.tasks import TaskRunner

log = logging.getLogger(__name__)

T = TypeVar("T")

EMBED_BATCH = 32


class StoreThreads:
    """One writer thread and two reader threads shared by every folder's store."""

    def __init__(self) -> None:
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="mimi-index-write")
        self._reader = ThreadPoolExecutor(2, thread_name_prefix="mimi-index-read")

    async def write(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._writer, partial(fn, *args))

    async def read(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._reader, partial(fn, *args))

    def shutdown(self) -> None:
        self._writer.shutdown(wait=False)
        self._reader.shutdown(wait=False)


class ScanWorker:
    """Scans folders and re-indexes changed files, one job at a time, on the writer thread."""

    def __init__(
        self,
        folders: dict[str, FolderIndex],
        threads: StoreThreads,
        board: StatusBoard,
        embedder: Callable[[], Embedder | None],
        on_idle: Callable[[], None],
        run: TaskRunner,
    ) -> None:
        self._folders = folders
        self._threads = threads
        self._board = board
        self._embedder = embedder
        self._on_idle = on_idle
        self._run = run
        self._scans: dict[str, bool] = {}
        """root -> force, folders waiting for a scan."""
        self._updates: dict[str, set[str]] = {}
        """root -> folder-relative paths to re-index."""
        self._wake: asyncio.Event | None = None
        self._idle: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self.closed = False

    # ------------------------------------------------------------------ the queue

    def start(self) -> None:
        """Start the worker on the running loop (idempotent)."""
        if self._wake is None:
            self._wake = asyncio.Event()
            self._idle = asyncio.Event()
            self._idle.set()
            self._task = self._run(self._work(), name="mimi-index")

    def request_scan(self, root: str, force: bool = False) -> None:
        """Queue a scan of ``root`` (``force``: re-read every file, not only changed ones)."""
        self._scans[root] = force or self._scans.get(root, False)

    def request_update(self, root: str, rel: str) -> None:
        """Queue a re-index of one folder-relative path."""
        self._updates.setdefault(root, set()).add(rel)

    def forget(self, root: str) -> None:
        """Drop the queued work of a folder that is being closed."""
        self._scans.pop(root, None)
        self._updates.pop(root, None)

    def kick(self) -> None:
        """Wake the worker for what was queued."""
        if self._wake is None:
            return
        if self._idle is not None and (self._scans or self._updates):
            self._idle.clear()
        self._wake.set()

    async def wait_idle(self) -> None:
        """Wait until every queued scan and update is written (not embeddings)."""
        self.start()
        assert self._idle is not None
        await self._idle.wait()

    async def close(self) -> None:
        self.closed = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task

    # ------------------------------------------------------------------ the worker

    async def _work(self) -> None:
        assert self._wake is not None and self._idle is not None
        board = self._board
        while not self.closed:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self._drain()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.exception("indexing failed")
                board.set_state("error", f"Indexing failed: {exc}")
            if not self._scans and not self._updates:
                await self.checkpoint()
                await board.refresh_counts(self._folders.values(), self._threads.read)
                if board.state != "error" and self._folders:
                    # A one-off notice (e.g. a damaged index was rebuilt) rides on one status.
                    board.state, board.message, board.notice = "ready", board.notice or "", None
                board.announce()  # listeners drop repeats
                self._idle.set()
                self._on_idle()

    async def checkpoint(self) -> None:
        """WAL maintenance once the queue is empty, off the path of each re-index."""
        for folder in list(self._folders.values()):
            if folder.opened:
                try:
                    await self._threads.write(folder.store.checkpoint)
                except Exception as exc:
                    log.debug("checkpoint of %s failed: %s", folder.root, exc)

    async def _drain(self) -> None:
        while self._scans or self._updates:
            if self._scans:
                root, force = next(iter(self._scans.items()))
                del self._scans[root]
                folder = self._folders.get(root)
                if folder is not None:
                    await self._scan(folder, force)
                continue
            root, rels = next(iter(self._updates.items()))
            del self._updates[root]
            folder = self._folders.get(root)
            if folder is not None and folder.opened and rels:
                try:
                    await self._threads.write(folder.update, sorted(rels))
                except Exception as exc:
                    await self.handle_store_error(folder, exc)

    async def _open(self, folder: FolderIndex) -> bool:
        if folder.opened:
            return True
        try:
            await self._threads.write(folder.open)
            embedder = self._embedder()
            if embedder is not None:
                await self._threads.write(folder.store.set_embedder, embedder.name)
        except Exception as exc:
            folder.error = f"Cannot open the index for {folder.root}: {exc}"
            log.error("%s", folder.error)
            self._board.set_state("error", folder.error)
            return False
        folder.error = None
        if folder.store.recovered:
            self._board.set_state("indexing", folder.store.recovered)
        return True

    async def _scan(self, folder: FolderIndex, force: bool) -> None:
        board = self._board
        started = time.perf_counter()
        board.set_state("indexing", board.message if board.state == "indexing" else "")
        if not await self._open(folder):
            return
        title = f"Indexing {os.path.basename(folder.root) or folder.root}"
        loop = asyncio.get_running_loop()
        last = [0.0, -1]
        board.progress("begin", "index", title, 0)

        def progress(done: int, total: int) -> None:
            pct = 100 if total == 0 else int(done * 100 / total)
            now = time.monotonic()
            if pct != last[1] and (now - last[0] > 0.1 or pct == 100):
                last[0], last[1] = now, pct
                loop.call_soon_threadsafe(
                    board.progress, "report", "index", title, pct, f"{done}/{total} files"
                )

        try:
            result = await self._threads.write(
                partial(folder.scan, progress, force=force, cancelled=lambda: self.closed)
            )
        except Exception as exc:
            await self.handle_store_error(folder, exc)
            board.progress("end", "index", title, None, "failed")
            return
        await board.refresh_counts(self._folders.values(), self._threads.read)
        message = folder.store.recovered or ""
        folder.store.recovered = None
        log.info(
            "indexed %s: %d files, %d changed, %d deleted in %.0f ms",
            folder.root, result.files, result.changed, result.deleted,
            (time.perf_counter() - started) * 1000,
        )  # fmt: skip
        board.progress("end", "index", title, 100, message)
        if message:
            board.notice = message
        # Load the in-memory search structures now rather than on the first query (~0.2 s at
        # 100k chunks).
        self._run(self._threads.read(folder.store.warm), name="mimi-index-warm")

    async def handle_store_error(self, folder: FolderIndex, exc: BaseException) -> None:
        """A damaged database is rebuilt and rescanned; any other failure is reported."""
        if is_corruption(exc):
            log.warning("index for %s is damaged (%s): rebuilding", folder.root, exc)
            try:
                await self._threads.write(folder.store.rebuild, str(exc))
                self._scans[folder.root] = True
                self._board.set_state("indexing", folder.store.recovered or "")
                return
            except Exception as again:
                exc = again
        folder.error = f"Indexing {folder.root} failed: {exc}"
        log.error("%s", folder.error, exc_info=exc)
        self._board.set_state("error", folder.error)

    def rebuild_soon(self, folder: FolderIndex, exc: BaseException) -> None:
        """A reader found ``folder``'s database damaged: rebuild it in the background."""
        if self._wake is None:
            return
        self._run(self.handle_store_error(folder, exc), name="mimi-index-rebuild")


class EmbedWorker:
    """Fills in the vectors of chunks that have none, in batches, whenever it is woken."""

    def __init__(
        self,
        folders: dict[str, FolderIndex],
        threads: StoreThreads,
        board: StatusBoard,
        embedder: Callable[[], Embedder | None],
        scans: ScanWorker,
        run: TaskRunner,
    ) -> None:
        self._folders = folders
        self._threads = threads
        self._board = board
        self._embedder = embedder
        self._scans = scans
        self._run = run
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self.closed = False

    def start(self) -> None:
        """Start the loop on the running loop (idempotent)."""
        if self._wake is None:
            self._wake = asyncio.Event()
            self._task = self._run(self._loop(), name="mimi-embed")

    def wake(self) -> None:
        if self._wake is not None:
            self._wake.set()

    async def wait_embedded(self, max_wait_s: float | None = None) -> None:
        """Wait until every chunk has a vector, embeddings failed, or ``max_wait_s`` passed."""
        deadline = None if max_wait_s is None else time.monotonic() + max_wait_s
        while self._embedder() is not None and not self._board.embed_error:
            pending = 0
            for folder in list(self._folders.values()):
                if folder.opened:
                    pending += len(await self._threads.write(folder.store.pending_embeddings, 1))
            if not pending:
                break
            if deadline is not None and time.monotonic() > deadline:
                break
            self.start()
            self.wake()
            await asyncio.sleep(0.05)

    async def close(self) -> None:
        self.closed = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task

    async def _loop(self) -> None:
        assert self._wake is not None
        while not self.closed:
            await self._wake.wait()
            self._wake.clear()
            if self._embedder() is None:
                continue
            try:
                await self._embed_pending()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                message = exc.user_message() if isinstance(exc, MimiError) else str(exc)
                self._board.embed_error = (
                    f"Embeddings unavailable (keyword search still works): {message}"
                )
                log.warning("%s", self._board.embed_error)
                self._board.announce()

    async def _embed_pending(self) -> None:
        embedder = self._embedder()
        assert embedder is not None
        board = self._board
        began = False
        done = 0
        prefix = document_prefix(embedder.name)
        await board.refresh_counts(self._folders.values(), self._threads.read)
        total_missing = max(0, board.counts[1] - board.counts[2])
        try:
            for folder in list(self._folders.values()):
                while (
                    folder.opened and not self.closed and self._folders.get(folder.root) is folder
                ):
                    batch = await self._threads.write(folder.store.pending_embeddings, EMBED_BATCH)
                    if not batch:
                        break
                    if not began:
                        began = True
                        board.progress("begin", "embed", "Embedding code", 0)
                    flat = [prefix + text for _, texts, _ in batch for text in texts]
                    vectors = iter(await embedder.embed(flat))
                    items = [(h, [next(vectors) for _ in texts]) for h, texts, _ in batch]
                    try:
                        await self._threads.write(folder.store.add_vectors, items)
                    except Exception as exc:
                        if is_corruption(exc):
                            await self._scans.handle_store_error(folder, exc)
                            break
                        raise
                    done += len(batch)
                    board.embed_error = None
                    pct = min(99, int(done * 100 / max(total_missing, done, 1)))
                    board.progress("report", "embed", "Embedding code", pct,
                                   f"{done}/{max(total_missing, done)} chunks")  # fmt: skip
        finally:
            if began:
                await self._scans.checkpoint()
                await board.refresh_counts(self._folders.values(), self._threads.read)
                board.progress("end", "embed", "Embedding code", 100)
                board.announce()
