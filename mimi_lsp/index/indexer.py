"""Keeping one workspace folder's store in step with its files and unsaved buffers.

``FolderIndex`` is driven by the index service on its writer thread (everything here is
synchronous and blocking). A scan walks the folder, skips files whose size and mtime are
unchanged, re-chunks files whose content hash changed, and writes in groups of files per
transaction (grouped inserts are ~10x faster than interleaved ones; each group is atomic, so a
killed scan resumes where it stopped). Single-file updates (save, watched-file events, unsaved
buffer overlays) go through ``update``. Unsaved text wins over the disk while a buffer is open.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from mimi_lsp.index.cache_dir import db_path_for
from mimi_lsp.index.chunker import CHUNKER_VERSION, chunk_file
from mimi_lsp.index.ignore import (
    IGNORE_FILES,
    IgnoreRules,
    decode,
    read_regular,
    skip_reason,
    walk_folder,
)
from mimi_lsp.index.store import FileData, IndexStore
from mimi_lsp.index.text import bytes_hash
from mimi_lsp.languages import language_for_path
from mimi_lsp.settings import IndexSettings

log = logging.getLogger(__name__)

BATCH_FILES = 64
Progress = Callable[[int, int], None]


@dataclass(slots=True)
class ScanResult:
    files: int = 0
    changed: int = 0
    deleted: int = 0


class FolderIndex:
    """The index of one workspace folder: its store, ignore rules and live overlays."""

    def __init__(self, root: str, settings: IndexSettings) -> None:
        self.root = os.path.abspath(root).rstrip("/\\") or "/"
        self.settings = settings
        self.store = IndexStore(db_path_for(self.root, settings.cache_dir), self.root)
        self.rules = IgnoreRules(self.root, settings.exclude)
        self.overlays: dict[str, str] = {}
        """folder-relative path -> unsaved buffer text."""
        self.opened = False
        self.error: str | None = None

    # -------------------------------------------------------------- paths

    def rel(self, path: str) -> str | None:
        """``path`` relative to this folder (``/``-separated), None when outside it."""
        absolute = os.path.abspath(path)
        if absolute == self.root:
            return ""
        prefix = self.root if self.root.endswith(os.sep) else self.root + os.sep
        if not absolute.startswith(prefix):
            return None
        return absolute[len(prefix) :].replace(os.sep, "/")

    def abs(self, rel: str) -> str:
        return os.path.join(self.root, *rel.split("/"))

    def wanted(self, rel: str) -> bool:
        """Whether ``rel`` is a file this folder indexes (language known, not ignored)."""
        return bool(rel) and language_for_path(rel) is not None and not self.rules.ignored(rel)

    # -------------------------------------------------------------- lifecycle

    def open(self) -> None:
        self.store.open()
        conn = self.store.writer
        row = conn.execute("SELECT value FROM meta WHERE key='chunker'").fetchone()
        if row is None or row[0] != CHUNKER_VERSION:
            # New chunk boundaries: re-chunk every file (vectors of unchanged chunks are reused).
            conn.execute("UPDATE files SET hash='', mtime=0")
            conn.execute("INSERT OR REPLACE INTO meta VALUES ('chunker', ?)", (CHUNKER_VERSION,))
        self.opened = True

    def close(self) -> None:
        self.opened = False
        self.store.close()

    # -------------------------------------------------------------- building rows

    def prepare(self, rel: str, data: bytes, mtime: float, *, overlay: bool = False) -> FileData:
        """Chunk one file's contents (bytes from disk or an encoded buffer)."""
        language = language_for_path(rel)
        digest = bytes_hash(data)
        reason = skip_reason(data, rel)
        fd = FileData(rel, language, digest, mtime, len(data), overlay=overlay, skipped=reason)
        if reason is None:
            chunked = chunk_file(decode(data), language)
            fd.chunks, fd.definitions = chunked.chunks, chunked.definitions
        return fd

    def _read(self, rel: str) -> tuple[bytes, float] | None:
        # No links (the walk does not follow them either); a FIFO or device is refused by the
        # type of what was opened, never waited on.
        try:
            data, st = read_regular(self.abs(rel), self.settings.max_file_bytes, follow_links=False)
        except OSError:
            return None
        return data, st.st_mtime

    # -------------------------------------------------------------- scans

    def scan(self, progress: Progress | None = None, *, force: bool = False,
             cancelled: Callable[[], bool] = lambda: False) -> ScanResult:  # fmt: skip
        """Bring the store in step with the folder; ``force`` re-reads every file's content."""
        walked = {
            w.rel: w for w in walk_folder(self.root, self.rules, self.settings.max_file_bytes)
        }
        states = self.store.file_states()
        deleted = [p for p in states if p not in walked and p not in self.overlays]
        todo = []
        for rel, w in walked.items():
            state = states.get(rel)
            if rel in self.overlays:
                if state is None or not state[3]:
                    todo.append(rel)
                continue
            if force or state is None or state[3] or state[1] != w.mtime or state[2] != w.size:
                todo.append(rel)
        result = ScanResult(files=len(walked), deleted=len(deleted))
        total = len(todo)
        if progress:
            progress(0, total)
        if deleted:
            self.store.write_files([], deleted)
        batch: list[FileData] = []
        done = 0
        for rel in todo:
            if cancelled():
                break
            fd = self._prepare_current(rel, states.get(rel))
            done += 1
            if fd is not None:
                batch.append(fd)
            if len(batch) >= BATCH_FILES or sum(len(b.chunks) for b in batch) > 2_000:
                self.store.write_files(batch)
                result.changed += len(batch)
                batch = []
                if progress:
                    progress(done, total)
        if batch:
            self.store.write_files(batch)
            result.changed += len(batch)
        if result.changed or result.deleted:
            self.store.refresh_term_stats(only_if_stale=True)
            self.store.checkpoint()
        if progress:
            progress(done, total)
        return result

    def _prepare_current(
        self, rel: str, state: tuple[str, float, int, bool] | None
    ) -> FileData | None:
        """What ``rel`` should hold now: the unsaved buffer if open, else the disk."""
        overlay = self.overlays.get(rel)
        if overlay is not None:
            return self.prepare(rel, overlay.encode("utf-8", "surrogatepass"), 0.0, overlay=True)
        read = self._read(rel)
        if read is None:
            return None
        data, mtime = read
        fd = self.prepare_if_changed(rel, data, mtime, state)
        return fd

    def prepare_if_changed(
        self, rel: str, data: bytes, mtime: float, state: tuple[str, float, int, bool] | None
    ) -> FileData | None:
        digest = bytes_hash(data)
        if state is not None and state[0] == digest and not state[3]:
            # Same content, new mtime (touch, checkout): keep chunks and vectors.
            self.store.writer.execute(
                "UPDATE files SET mtime=?, size=? WHERE path=?", (mtime, len(data), rel)
            )
            return None
        return self.prepare(rel, data, mtime)

    # -------------------------------------------------------------- single files

    def update(self, rels: Iterable[str]) -> int:
        """Re-index these files from their buffer or the disk (deleted ones are dropped).

        Looks files up one by one through the path index (never a scan of every file's state)
        and writes all of them in one transaction.
        """
        write: list[FileData] = []
        deleted: list[str] = []
        for rel in dict.fromkeys(rels):
            if any(
                rel.endswith(name) and (rel == name or rel.endswith("/" + name))
                for name in IGNORE_FILES
            ):
                self.rules.invalidate()
                continue
            state = self.store.file_state(rel)
            if rel in self.overlays:
                text = self.overlays[rel]
                data = text.encode("utf-8", "surrogatepass")
                if state is not None and state[0] == bytes_hash(data):
                    continue
                write.append(self.prepare(rel, data, 0.0, overlay=True))
                continue
            if state is None and not os.path.lexists(self.abs(rel)):
                self.store.delete_prefix(rel)  # maybe a deleted directory
                continue
            if not self.wanted(rel):
                if state is not None:
                    deleted.append(rel)
                continue
            read = self._read(rel)
            if read is None:
                if state is not None:
                    deleted.append(rel)
                continue
            fd = self.prepare_if_changed(rel, read[0], read[1], state)
            if fd is not None:
                write.append(fd)
        if write or deleted:
            self.store.write_files(write, deleted)
        return len(write) + len(deleted)
