"""The SQLite file of one workspace folder: connections, schema, integrity and recovery.

The indexer writes through one writer connection (one thread); search and completion context
read through per-thread connections (WAL lets them read while the writer writes). CPython's own
``sqlite3`` cannot load extensions here, so connections come from ``sqlean`` (an
extension-capable build with FTS5) and load ``sqlite-vec``. Every update runs in one
transaction, so killing the process at any moment leaves a consistent index; a file that fails
to open or to check is moved aside and rebuilt (the index is a cache).

Tables: ``files`` (path, content hash, mtime, size), ``chunks``, ``chunks_fts`` (FTS5,
contentless, identifier-split text, porter stemming; rows are deleted with FTS5's 'delete'
command and their original text, rebuilt by ``rows``), ``symbols``, ``vectors`` (float32 by
content hash, one row per distinct chunk content holding one vector per embedded text of the
chunk; unchanged chunks, renamed files and branch switches never re-embed), ``vec_bits`` (one
sign-bit row per chunk with a vector, keyed by chunk id, with a write sequence number) and
``term_stats`` (document frequencies of the most common terms).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from typing import Any

from mimi_lsp.index.fts import FTS_TOKENIZE
from mimi_lsp.index.rows import FTS_ROWS_VERSION

log = logging.getLogger(__name__)

SCHEMA_VERSION = 4
ALWAYS_CHECK_BYTES = 128 * 1024 * 1024
"""Databases up to this size get ``PRAGMA quick_check`` at every open (~12 ms per MB)."""


class CorruptIndex(Exception):
    """The database file is damaged; the caller rebuilds it."""


_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS files (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL UNIQUE,
    language TEXT,
    hash TEXT NOT NULL,
    mtime REAL NOT NULL,
    size INTEGER NOT NULL,
    overlay INTEGER NOT NULL DEFAULT 0,
    skipped TEXT
);
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY,
    file_id INTEGER NOT NULL,
    start_line INTEGER NOT NULL,
    end_line INTEGER NOT NULL,
    symbol TEXT,
    kind TEXT NOT NULL,
    container TEXT,
    focus_start INTEGER,
    focus_end INTEGER,
    signature TEXT,
    hash TEXT NOT NULL,
    text TEXT NOT NULL,
    names TEXT NOT NULL,
    key TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_file ON chunks(file_id);
CREATE INDEX IF NOT EXISTS chunks_hash ON chunks(hash);
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(
    symbol, path, body, content='',
    tokenize="{FTS_TOKENIZE}"
);
CREATE TABLE IF NOT EXISTS symbols (
    id INTEGER PRIMARY KEY,
    file_id INTEGER NOT NULL,
    name TEXT NOT NULL,
    name_lower TEXT NOT NULL,
    kind TEXT NOT NULL,
    container TEXT,
    start_line INTEGER NOT NULL,
    start_col INTEGER NOT NULL,
    end_line INTEGER NOT NULL,
    end_col INTEGER NOT NULL,
    name_line INTEGER NOT NULL,
    name_col INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS symbols_file ON symbols(file_id);
CREATE INDEX IF NOT EXISTS symbols_name ON symbols(name_lower);
CREATE INDEX IF NOT EXISTS files_skipped ON files(skipped);
CREATE TABLE IF NOT EXISTS vectors (hash TEXT PRIMARY KEY, vecs BLOB NOT NULL, bits BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS vec_bits (
    chunk_id INTEGER PRIMARY KEY,
    bits BLOB NOT NULL,
    seq INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS vec_bits_seq ON vec_bits(seq);
CREATE TABLE IF NOT EXISTS term_stats (term TEXT PRIMARY KEY, df INTEGER NOT NULL) WITHOUT ROWID;
"""
WAL_AUTOCHECKPOINT_PAGES = 10_000
"""The writer checkpoints the WAL by itself only past ~40 MB (bulk writes). The index service
checkpoints when its queue drains (``checkpoint``), so commits on the edit path do not pay for
one: SQLite's default 1,000 pages put +15 ms on every fifth single-file re-index at 100k
chunks (p95 46 -> 22 ms without)."""


def connect(path: str) -> Any:
    """An extension-capable SQLite connection with sqlite-vec loaded, WAL and sane pragmas."""
    import sqlean
    import sqlite_vec

    conn = sqlean.connect(path, timeout=10.0, isolation_level=None, check_same_thread=False)
    conn.enable_load_extension(True)
    sqlite_vec.load(conn)
    conn.enable_load_extension(False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA busy_timeout=10000")
    conn.execute("PRAGMA temp_store=MEMORY")
    conn.execute("PRAGMA cache_size=-16000")
    return conn


def is_corruption(exc: BaseException) -> bool:
    """Whether a SQLite error means the file is damaged (vs. busy or misuse)."""
    text = str(exc).lower()
    return any(
        marker in text
        for marker in ("malformed", "not a database", "corrupt", "disk image", "file is encrypted")
    )


class Database:
    """One folder's database file: the writer connection, per-thread readers, open and rebuild."""

    def __init__(self, path: str, root: str) -> None:
        self.path = path
        self.root = root
        self._writer: Any = None
        self._local = threading.local()
        self._generation = 0
        self._readers: list[Any] = []
        self._readers_lock = threading.Lock()
        self.recovered: str | None = None
        """Set when a damaged database was moved aside and rebuilt (a message for the user)."""

    def open(self, *, check: bool | None = None) -> None:
        """Open (creating or migrating); a damaged file is moved aside and rebuilt."""
        os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
        try:
            self._open(check)
        except Exception as exc:
            if not (is_corruption(exc) or isinstance(exc, CorruptIndex)):
                raise
            self.rebuild(str(exc))

    def _open(self, check: bool | None) -> None:
        conn = connect(self.path)
        try:
            version = self._schema_version(conn)
            clean = self._meta(conn, "clean") in (None, "1")
            # Damage at rest (a bad disk, a sync tool) happens after clean shutdowns too: check
            # every database up to a size where the check costs about a second.
            small = os.path.getsize(self.path) <= ALWAYS_CHECK_BYTES
            if check or (check is None and (not clean or small)):
                row = conn.execute("PRAGMA quick_check").fetchone()
                if row is None or row[0] != "ok":
                    detail = (
                        " ".join(str(row[0]).replace("*** in database main ***", "").split())
                        if row
                        else "?"
                    )
                    raise CorruptIndex(f"integrity check failed: {detail[:160]}")
            if version not in (None, SCHEMA_VERSION):
                self._migrate(conn, version)
            elif version is not None and self._meta(conn, "fts_rows") != FTS_ROWS_VERSION:
                self._reset_rows(conn)  # FTS5 rows of other text could not be deleted
            conn.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT_PAGES}")
            conn.executescript(_SCHEMA)
            conn.execute("INSERT OR REPLACE INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
            conn.execute("INSERT OR REPLACE INTO meta VALUES ('root', ?)", (self.root,))
            conn.execute("INSERT OR REPLACE INTO meta VALUES ('fts_rows', ?)", (FTS_ROWS_VERSION,))
            conn.execute("INSERT OR REPLACE INTO meta VALUES ('clean', '0')")
            self._opened(conn)
        except Exception:
            conn.close()
            raise
        self._writer = conn
        self._generation += 1

    def _schema_version(self, conn: Any) -> int | None:
        has_meta = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type='table' AND name='meta'"
        ).fetchone()
        if not has_meta:
            return None
        value = self._meta(conn, "schema")
        return int(value) if value and value.isdigit() else None

    def _migrate(self, conn: Any, version: int | None) -> None:
        """Bring an older schema up to date; an unknown (newer) one is rebuilt from scratch."""
        if version == 3:
            # Chunk rows gained their FTS5 names and keys, and chunks_fts lost
            # contentless_delete (see ``rows``): files are re-chunked, vectors stay.
            self._reset_rows(conn)
            return
        # Any other version is rebuilt (the index is a cache).
        log.info("index schema %s -> %s: rebuilding %s", version, SCHEMA_VERSION, self.path)
        self._drop_all(conn)

    def _reset_rows(self, conn: Any) -> None:
        """Drop every row made from files' text (chunks, FTS5, symbols, vector keys) so the
        next scan re-chunks every file; stored vectors are kept and reused by content hash."""
        log.info("index %s: re-chunking every file (vectors are kept)", self.path)
        for table in ("chunks", "chunks_fts", "symbols", "vec_bits", "term_stats"):
            conn.execute(f"DROP TABLE IF EXISTS {table}")
        if conn.execute("SELECT 1 FROM sqlite_master WHERE name='files'").fetchone():
            conn.execute("UPDATE files SET hash='', mtime=0")
        conn.execute("DELETE FROM meta WHERE key IN ('stats_epoch', 'stats_chunks')")
        conn.execute("INSERT OR REPLACE INTO meta VALUES ('vec_reset', ?)", (f"{time.time_ns()}",))

    def _drop_all(self, conn: Any) -> None:
        rows = conn.execute(
            "SELECT type, name FROM sqlite_master WHERE type IN ('table') AND name NOT LIKE 'sqlite_%'"
        ).fetchall()
        for _, name in rows:
            if name.startswith(("chunks_fts_", "vec_bits_")):
                continue  # shadow tables go with their virtual table
            conn.execute(f'DROP TABLE IF EXISTS "{name}"')

    def rebuild(self, reason: str) -> None:
        """Move the damaged file aside (``.corrupt-<time>``) and start an empty one."""
        log.warning("index database %s is damaged (%s): rebuilding", self.path, reason)
        self.close()
        stamp = time.strftime("%Y%m%d-%H%M%S")
        for suffix in ("", "-wal", "-shm"):
            src = self.path + suffix
            if os.path.exists(src):
                try:
                    os.replace(src, f"{self.path}.corrupt-{stamp}{suffix}")
                except OSError:
                    os.remove(src)
        self.recovered = f"The index for {self.root} was damaged ({reason}); it is being rebuilt."
        self._open(False)

    def close(self, clean: bool = True) -> None:
        """Close connections; mark a clean shutdown so the next open skips the check."""
        if self._writer is not None:
            try:
                if clean:
                    self._writer.execute("INSERT OR REPLACE INTO meta VALUES ('clean', '1')")
                    self._writer.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except Exception:
                log.debug("closing index failed", exc_info=True)
            try:
                self._writer.close()
            except Exception:
                pass
            self._writer = None
        with self._readers_lock:
            readers, self._readers = self._readers, []
        for conn in readers:
            with contextlib.suppress(Exception):
                conn.close()
        self._generation += 1

    @staticmethod
    def _meta(conn: Any, key: str) -> str | None:
        try:
            row = conn.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        except Exception as exc:
            if is_corruption(exc):
                raise
            return None
        return row[0] if row else None

    @property
    def writer(self) -> Any:
        if self._writer is None:
            raise RuntimeError("index store is closed")
        return self._writer

    def reader(self) -> Any:
        """This thread's read connection (reopened after a rebuild)."""
        conn = getattr(self._local, "conn", None)
        if conn is None or getattr(self._local, "generation", -1) != self._generation:
            if conn is not None:
                try:
                    conn.close()
                except Exception:
                    pass
            conn = connect(self.path)
            conn.execute("PRAGMA query_only=1")
            self._local.conn = conn
            self._local.generation = self._generation
            with self._readers_lock:
                self._readers.append(conn)
        return conn

    def checkpoint(self) -> None:
        """Copy committed WAL pages into the database (when idle; never blocks readers)."""
        self.writer.execute("PRAGMA wal_checkpoint(PASSIVE)")

    def _opened(self, conn: Any) -> None:
        """Hook: a database was just opened or rebuilt on ``conn`` (before it becomes the writer)."""
