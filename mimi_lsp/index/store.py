"""One SQLite file per workspace folder: files, chunks, BM25, vectors and symbols.

The indexer writes here (one writer thread); search and completion context read through
per-thread connections (WAL lets them read while the writer writes). CPython's own ``sqlite3``
cannot load extensions here, so the connection comes from ``sqlean`` (an extension-capable
build with FTS5) and loads ``sqlite-vec``.

Tables: ``files`` (path, content hash, mtime, size), ``chunks``, ``chunks_fts`` (FTS5,
contentless, identifier-split text, porter stemming), ``symbols``, ``vectors`` (float32 by
content hash, so unchanged chunks, renamed files and branch switches never re-embed) and
``vec_bits`` (sqlite-vec ``bit[dim]`` for a Hamming coarse search, re-ranked with the floats).
Every update runs in one transaction, so killing the process at any moment leaves a
consistent index; a file that fails to open or to check is moved aside and rebuilt.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mimi_lsp.index.chunker import Chunk, Definition

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
ALWAYS_CHECK_BYTES = 128 * 1024 * 1024
"""Databases up to this size get ``PRAGMA quick_check`` at every open (~12 ms per MB)."""


class CorruptIndex(Exception):
    """The database file is damaged; the caller rebuilds it."""


def default_cache_dir() -> str:
    """Per-user cache folder for index databases."""
    base = os.environ.get("XDG_CACHE_HOME")
    if not base:
        if os.name == "nt":
            base = os.environ.get("LOCALAPPDATA") or os.path.expanduser("~\\AppData\\Local")
        elif os.uname().sysname == "Darwin":
            base = os.path.expanduser("~/Library/Caches")
        else:
            base = os.path.expanduser("~/.cache")
    return os.path.join(base, "mimi-lsp", "index")


def db_path_for(root: str, cache_dir: str | None) -> str:
    """The database of workspace folder ``root``: ``<cache>/<sha of real path>.sqlite``."""
    key = hashlib.sha256(os.path.realpath(root).encode("utf-8", "surrogatepass")).hexdigest()[:20]
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", os.path.basename(root.rstrip("/\\")) or "root")[:40]
    return os.path.join(os.path.expanduser(cache_dir or default_cache_dir()), f"{name}-{key}.sqlite")


# ------------------------------------------------------------------------------------------
# Text for BM25: identifiers split (camelCase, snake_case) next to the whole identifier

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_CAMEL = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")
STOPWORDS = frozenset(
    "a an and are as at be by for from has have how i if in into is it its of on or that the "
    "this to was we were what when where which who why will with do does did can should would "
    "there their them then than these those our you your all any".split()
)


def split_identifier(token: str) -> list[str]:
    """``getHTTPResponse_code`` -> ``['get', 'http', 'response', 'code']``."""
    parts: list[str] = []
    for piece in token.split("_"):
        if piece:
            parts += [p.lower() for p in _CAMEL.findall(piece)]
    return parts


def fts_text(text: str) -> str:
    """``text`` plus the parts of its compound identifiers, for the FTS5 index."""
    extra: dict[str, None] = {}
    for token in set(_IDENT.findall(text)):
        parts = split_identifier(token)
        if len(parts) > 1:
            for part in parts:
                extra[part] = None
    return text + "\n" + " ".join(extra) if extra else text


def query_terms(query: str) -> list[str]:
    """Lower-case search terms of a natural-language or identifier query (no stopwords)."""
    terms: dict[str, None] = {}
    for token in re.findall(r"[A-Za-z_][A-Za-z0-9_]*|[0-9]+", query):
        lowered = token.lower()
        parts = split_identifier(token)
        if len(parts) > 1 or "_" in token:
            terms[lowered] = None
        for part in parts or [lowered]:
            if part not in STOPWORDS and len(part) > 1:
                terms[part] = None
    if not terms:
        for token in re.findall(r"\w+", query.lower()):
            terms[token] = None
    return list(terms)


def fts_query(query: str) -> str | None:
    """An FTS5 OR query for ``query`` (None when it has no usable term)."""
    terms = query_terms(query)
    if not terms:
        return None
    return " OR ".join('"' + t.replace('"', '""') + '"' for t in terms[:32])


# ------------------------------------------------------------------------------------------
# Rows


@dataclass(slots=True)
class FileData:
    """A file's new contents, ready to write (produced by the indexer)."""

    rel: str
    language: str | None
    hash: str
    mtime: float
    size: int
    chunks: list[Chunk] = field(default_factory=list)
    definitions: list[Definition] = field(default_factory=list)
    overlay: bool = False
    """The text came from an unsaved editor buffer, not the disk."""
    skipped: str | None = None
    """Why the file has no chunks (binary, generated, ...); kept so rescans skip it cheaply."""


@dataclass(frozen=True, slots=True)
class ChunkRow:
    id: int
    path: str
    language: str | None
    start_line: int
    end_line: int
    symbol: str | None
    kind: str
    container: str | None
    text: str
    focus_start: int | None = None
    focus_end: int | None = None


@dataclass(frozen=True, slots=True)
class SymbolRow:
    name: str
    kind: str
    container: str | None
    path: str
    start_line: int
    start_col: int
    end_line: int
    end_col: int
    language: str | None


def embed_text(rel: str, chunk: Chunk) -> str:
    """What a chunk's vector is computed from: path, qualified symbol, then the code."""
    head = rel
    if chunk.symbol:
        symbol = f"{chunk.container}.{chunk.symbol}" if chunk.container else chunk.symbol
        head += f" {chunk.kind} {symbol}"
    return f"{head}\n{chunk.text}"


def content_hash(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def bytes_hash(data: bytes) -> str:
    """Hash of a file's raw contents (the key that decides whether to re-chunk)."""
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def quantize(vectors: np.ndarray) -> np.ndarray:
    """Binary quantisation (sign bits), one packed byte row per vector."""
    return np.packbits(vectors > 0, axis=-1)


_SCHEMA = """
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
    hash TEXT NOT NULL,
    text TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_file ON chunks(file_id);
CREATE INDEX IF NOT EXISTS chunks_hash ON chunks(hash);
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(
    symbol, path, body, content='', contentless_delete=1,
    tokenize="porter unicode61 tokenchars '_'"
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
CREATE TABLE IF NOT EXISTS vectors (hash TEXT PRIMARY KEY, vec BLOB NOT NULL);
"""

# Column weights for bm25(): symbol names, path, body.
BM25_WEIGHTS = (4.0, 1.5, 1.0)


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


class IndexStore:
    """The database of one workspace folder."""

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
        self.dim: int | None = None
        self.embedder: str | None = None

    # -------------------------------------------------------------- opening

    def open(self, *, check: bool | None = None) -> None:
        """Open (creating or migrating); a damaged file is moved aside and rebuilt."""
        os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
        try:
            self._open(check)
        except Exception as exc:
            if not (is_corruption(exc) or isinstance(exc, CorruptIndex)):
                raise
            self._rebuild(str(exc))

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
                    detail = " ".join(str(row[0]).replace("*** in database main ***", "").split()) if row else "?"
                    raise CorruptIndex(f"integrity check failed: {detail[:160]}")
            if version not in (None, SCHEMA_VERSION):
                self._migrate(conn, version)
            conn.executescript(_SCHEMA)
            conn.execute("INSERT OR REPLACE INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
            conn.execute("INSERT OR REPLACE INTO meta VALUES ('root', ?)", (self.root,))
            conn.execute("INSERT OR REPLACE INTO meta VALUES ('clean', '0')")
            self.embedder = self._meta(conn, "embedder")
            dim = self._meta(conn, "dim")
            self.dim = int(dim) if dim else None
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
        # Version 1 is the first schema: any other version is rebuilt (the index is a cache).
        log.info("index schema %s -> %s: rebuilding %s", version, SCHEMA_VERSION, self.path)
        self._drop_all(conn)

    def _drop_all(self, conn: Any) -> None:
        rows = conn.execute(
            "SELECT type, name FROM sqlite_master WHERE type IN ('table') AND name NOT LIKE 'sqlite_%'"
        ).fetchall()
        for _, name in rows:
            if name.startswith(("chunks_fts_", "vec_bits_")):
                continue  # shadow tables go with their virtual table
            conn.execute(f'DROP TABLE IF EXISTS "{name}"')

    def _rebuild(self, reason: str) -> None:
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

    # -------------------------------------------------------------- writing

    def file_states(self) -> dict[str, tuple[str, float, int, bool]]:
        """path -> (hash, mtime, size, overlay) of every indexed file."""
        rows = self.writer.execute("SELECT path, hash, mtime, size, overlay FROM files")
        return {r[0]: (r[1], r[2], r[3], bool(r[4])) for r in rows}

    def set_embedder(self, name: str | None) -> None:
        """Record the embedding model; vectors of another model are dropped."""
        if name == self.embedder:
            return
        conn = self.writer
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute("DELETE FROM vectors")
            conn.execute("DROP TABLE IF EXISTS vec_bits")
            conn.execute("INSERT OR REPLACE INTO meta VALUES ('embedder', ?)", (name or "",))
            conn.execute("DELETE FROM meta WHERE key='dim'")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        self.embedder = name
        self.dim = None

    def _delete_file_rows(self, conn: Any, file_id: int) -> None:
        ids = [r[0] for r in conn.execute("SELECT id FROM chunks WHERE file_id=?", (file_id,))]
        if ids:
            marks = ",".join("?" * len(ids))
            conn.execute(f"DELETE FROM chunks_fts WHERE rowid IN ({marks})", ids)
            if self.dim is not None:
                conn.execute(f"DELETE FROM vec_bits WHERE rowid IN ({marks})", ids)
        conn.execute("DELETE FROM chunks WHERE file_id=?", (file_id,))
        conn.execute("DELETE FROM symbols WHERE file_id=?", (file_id,))

    def write_files(self, files: Sequence[FileData], deleted: Iterable[str] = ()) -> None:
        """Replace the rows of ``files`` and drop ``deleted`` paths, in one transaction."""
        conn = self.writer
        conn.execute("BEGIN IMMEDIATE")
        try:
            for rel in deleted:
                row = conn.execute("SELECT id FROM files WHERE path=?", (rel,)).fetchone()
                if row is not None:
                    self._delete_file_rows(conn, row[0])
                    conn.execute("DELETE FROM files WHERE id=?", (row[0],))
            for data in files:
                self._write_file(conn, data)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def _write_file(self, conn: Any, data: FileData) -> None:
        row = conn.execute("SELECT id FROM files WHERE path=?", (data.rel,)).fetchone()
        if row is not None:
            file_id = row[0]
            self._delete_file_rows(conn, file_id)
            conn.execute(
                "UPDATE files SET language=?, hash=?, mtime=?, size=?, overlay=?, skipped=? WHERE id=?",
                (data.language, data.hash, data.mtime, data.size, int(data.overlay), data.skipped, file_id),
            )
        else:
            cur = conn.execute(
                "INSERT INTO files(path, language, hash, mtime, size, overlay, skipped) VALUES (?,?,?,?,?,?,?)",
                (data.rel, data.language, data.hash, data.mtime, data.size, int(data.overlay), data.skipped),
            )
            file_id = cur.lastrowid
        fts_rows = []
        reuse: list[tuple[int, str]] = []
        for chunk in data.chunks:
            etext = embed_text(data.rel, chunk)
            h = content_hash(etext)
            cur = conn.execute(
                "INSERT INTO chunks(file_id, start_line, end_line, symbol, kind, container,"
                " focus_start, focus_end, hash, text) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (file_id, chunk.start_line, chunk.end_line, chunk.symbol, chunk.kind,
                 chunk.container, chunk.focus_start, chunk.focus_end, h, chunk.text),
            )  # fmt: skip
            chunk_id = cur.lastrowid
            names = " ".join(chunk.names)
            fts_rows.append(
                (chunk_id, fts_text(names) if names else "", fts_text(_path_words(data.rel)), fts_text(chunk.text))
            )
            reuse.append((chunk_id, h))
        conn.executemany(
            "INSERT INTO chunks_fts(rowid, symbol, path, body) VALUES (?,?,?,?)", fts_rows
        )
        conn.executemany(
            "INSERT INTO symbols(file_id, name, name_lower, kind, container, start_line, start_col,"
            " end_line, end_col, name_line, name_col) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            [
                (file_id, d.name, d.name.lower(), d.kind, d.container, d.start_line, d.start_col,
                 d.end_line, d.end_col, d.name_line, d.name_col)
                for d in data.definitions
            ],
        )  # fmt: skip
        if self.dim is not None and reuse:
            # Chunks whose content was embedded before (unchanged, moved, other branch).
            known = self._known_vectors(conn, [h for _, h in reuse])
            rows = [(cid, known[h]) for cid, h in reuse if h in known]
            if rows:
                conn.executemany(
                    "INSERT INTO vec_bits(rowid, embedding) VALUES (?, vec_bit(?))", rows
                )

    def _known_vectors(self, conn: Any, hashes: list[str]) -> dict[str, bytes]:
        out: dict[str, bytes] = {}
        for i in range(0, len(hashes), 500):
            part = hashes[i : i + 500]
            marks = ",".join("?" * len(part))
            for h, blob in conn.execute(
                f"SELECT hash, vec FROM vectors WHERE hash IN ({marks})", part
            ):
                vec = np.frombuffer(blob, dtype=np.float32)
                out[h] = quantize(vec).tobytes()
        return out

    def delete_prefix(self, rel_dir: str) -> list[str]:
        """Drop every file under folder ``rel_dir`` (a deleted directory); returns their paths."""
        like = rel_dir.rstrip("/").replace("%", r"\%").replace("_", r"\_") + "/%"
        paths = [r[0] for r in self.writer.execute(
            "SELECT path FROM files WHERE path LIKE ? ESCAPE '\\'", (like,)
        )]  # fmt: skip
        if paths:
            self.write_files([], paths)
        return paths

    def pending_embeddings(self, limit: int) -> list[tuple[str, str, ChunkRow]]:
        """Up to ``limit`` (hash, embed text, row) of chunks without a vector, distinct hashes."""
        conn = self.writer
        rows = conn.execute(
            "SELECT c.id, f.path, f.language, c.start_line, c.end_line, c.symbol, c.kind,"
            " c.container, c.text, c.hash FROM chunks c JOIN files f ON f.id = c.file_id"
            " WHERE NOT EXISTS (SELECT 1 FROM vectors v WHERE v.hash = c.hash)"
            " ORDER BY c.id LIMIT ?",
            (limit * 2,),
        ).fetchall()
        out: list[tuple[str, str, ChunkRow]] = []
        seen: set[str] = set()
        for r in rows:
            if r[9] in seen:
                continue
            seen.add(r[9])
            row = ChunkRow(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8])
            chunk = Chunk(row.start_line, row.end_line, row.text, row.symbol, row.kind, row.container)
            out.append((r[9], embed_text(row.path, chunk), row))
            if len(out) >= limit:
                break
        return out

    def add_vectors(self, items: Sequence[tuple[str, Sequence[float]]]) -> int:
        """Store vectors by content hash and index every chunk carrying that hash."""
        if not items:
            return 0
        matrix = np.asarray([v for _, v in items], dtype=np.float32)
        dim = int(matrix.shape[1])
        conn = self.writer
        conn.execute("BEGIN IMMEDIATE")
        try:
            if self.dim is None:
                if dim % 8:
                    raise ValueError(f"embedding dimension {dim} is not a multiple of 8")
                conn.execute(f"CREATE VIRTUAL TABLE IF NOT EXISTS vec_bits USING vec0(embedding bit[{dim}])")
                conn.execute("INSERT OR REPLACE INTO meta VALUES ('dim', ?)", (str(dim),))
            elif dim != self.dim:
                raise ValueError(f"embedding dimension changed from {self.dim} to {dim}")
            bits = quantize(matrix)
            conn.executemany(
                "INSERT OR REPLACE INTO vectors(hash, vec) VALUES (?, ?)",
                [(h, matrix[i].tobytes()) for i, (h, _) in enumerate(items)],
            )
            by_hash = {h: bits[i].tobytes() for i, (h, _) in enumerate(items)}
            rows: list[tuple[int, bytes]] = []
            hashes = list(by_hash)
            for i in range(0, len(hashes), 500):
                part = hashes[i : i + 500]
                marks = ",".join("?" * len(part))
                for cid, h in conn.execute(
                    f"SELECT id, hash FROM chunks WHERE hash IN ({marks}) ORDER BY id", part
                ):
                    rows.append((cid, by_hash[h]))
            if rows:
                ids = [cid for cid, _ in rows]
                for i in range(0, len(ids), 500):
                    batch = ids[i : i + 500]
                    conn.execute(
                        f"DELETE FROM vec_bits WHERE rowid IN ({','.join('?' * len(batch))})", batch
                    )
                conn.executemany("INSERT INTO vec_bits(rowid, embedding) VALUES (?, vec_bit(?))", rows)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        self.dim = dim
        return len(rows)

    def prune_vectors(self) -> int:
        """Forget vectors no chunk uses any more (after big deletions)."""
        cur = self.writer.execute(
            "DELETE FROM vectors WHERE hash NOT IN (SELECT hash FROM chunks)"
        )
        return cur.rowcount or 0

    # -------------------------------------------------------------- reading

    def counts(self) -> tuple[int, int, int]:
        """(files with chunks, chunks, chunks with a vector)."""
        conn = self.reader()
        files = conn.execute("SELECT count(*) FROM files WHERE skipped IS NULL").fetchone()[0]
        chunks = conn.execute("SELECT count(*) FROM chunks").fetchone()[0]
        embedded = 0
        if self._has_vec(conn):
            embedded = conn.execute("SELECT count(*) FROM vec_bits").fetchone()[0]
        return files, chunks, embedded

    def _has_vec(self, conn: Any) -> bool:
        return bool(conn.execute(
            "SELECT 1 FROM sqlite_master WHERE name='vec_bits'"
        ).fetchone())  # fmt: skip

    def bm25(
        self, query: str, limit: int, where: str = "", params: Sequence[Any] = ()
    ) -> list[tuple[int, float]]:
        """(chunk id, score > 0) best first, for an FTS5 query, optionally filtered."""
        conn = self.reader()
        w = BM25_WEIGHTS
        if where:
            sql = (
                f"SELECT chunks_fts.rowid, bm25(chunks_fts, {w[0]}, {w[1]}, {w[2]}) AS s"
                " FROM chunks_fts JOIN chunks c ON c.id = chunks_fts.rowid"
                " JOIN files f ON f.id = c.file_id"
                f" WHERE chunks_fts MATCH ? AND {where} ORDER BY s LIMIT ?"
            )
        else:
            sql = (
                f"SELECT rowid, bm25(chunks_fts, {w[0]}, {w[1]}, {w[2]}) AS s FROM chunks_fts"
                " WHERE chunks_fts MATCH ? ORDER BY s LIMIT ?"
            )
        rows = conn.execute(sql, (query, *params, limit)).fetchall()
        return [(r[0], -r[1]) for r in rows]

    def knn(
        self,
        query: np.ndarray,
        limit: int,
        where: str = "",
        params: Sequence[Any] = (),
        candidates: int = 200,
    ) -> list[tuple[int, float]]:
        """(chunk id, cosine) best first: Hamming coarse search, float re-rank."""
        conn = self.reader()
        if self.dim is None or not self._has_vec(conn) or query.shape[0] != self.dim:
            return []
        bits = quantize(query).tobytes()
        k = max(candidates, limit)
        if where:
            k = min(4096, k * 8)
        ids = [r[0] for r in conn.execute(
            "SELECT rowid FROM vec_bits WHERE embedding MATCH vec_bit(?) AND k = ?", (bits, k)
        )]  # fmt: skip
        if not ids:
            return []
        marks = ",".join("?" * len(ids))
        sql = (
            "SELECT c.id, v.vec FROM chunks c JOIN vectors v ON v.hash = c.hash"
            f" JOIN files f ON f.id = c.file_id WHERE c.id IN ({marks})"
        )
        args: list[Any] = list(ids)
        if where:
            sql += f" AND {where}"
            args += list(params)
        rows = conn.execute(sql, args).fetchall()
        if where and len(rows) < limit:
            rows = self._filtered_vectors(conn, where, params, 20_000) or rows
        if not rows:
            return []
        matrix = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(len(rows), -1)
        sims = matrix @ query
        order = np.argsort(-sims)[:limit]
        return [(rows[i][0], float(sims[i])) for i in order]

    def _filtered_vectors(
        self, conn: Any, where: str, params: Sequence[Any], cap: int
    ) -> list[tuple[int, bytes]]:
        """Every vector passing a filter (exact search over a small filtered set)."""
        rows = conn.execute(
            "SELECT c.id, v.vec FROM chunks c JOIN vectors v ON v.hash = c.hash"
            f" JOIN files f ON f.id = c.file_id WHERE {where} LIMIT ?",
            (*params, cap + 1),
        ).fetchall()
        return rows if len(rows) <= cap else []

    def chunk_rows(self, ids: Sequence[int]) -> dict[int, ChunkRow]:
        if not ids:
            return {}
        conn = self.reader()
        marks = ",".join("?" * len(ids))
        rows = conn.execute(
            "SELECT c.id, f.path, f.language, c.start_line, c.end_line, c.symbol, c.kind,"
            " c.container, c.text, c.focus_start, c.focus_end FROM chunks c"
            f" JOIN files f ON f.id = c.file_id WHERE c.id IN ({marks})",
            list(ids),
        ).fetchall()
        return {r[0]: ChunkRow(*r) for r in rows}

    def symbols_like(self, pattern: str, limit: int) -> list[SymbolRow]:
        """Symbols whose lower-cased name matches a LIKE pattern."""
        conn = self.reader()
        rows = conn.execute(
            "SELECT s.name, s.kind, s.container, f.path, s.start_line, s.start_col, s.end_line,"
            " s.end_col, f.language FROM symbols s JOIN files f ON f.id = s.file_id"
            " WHERE s.name_lower LIKE ? ESCAPE '\\' LIMIT ?",
            (pattern, limit),
        ).fetchall()
        return [SymbolRow(*r) for r in rows]

    def symbols_named(self, names: Sequence[str], limit: int) -> list[SymbolRow]:
        """Symbols with exactly one of ``names`` (case-sensitive), for completion context."""
        if not names:
            return []
        conn = self.reader()
        marks = ",".join("?" * len(names))
        rows = conn.execute(
            "SELECT s.name, s.kind, s.container, f.path, s.start_line, s.start_col, s.end_line,"
            " s.end_col, f.language FROM symbols s JOIN files f ON f.id = s.file_id"
            f" WHERE s.name_lower IN ({marks}) LIMIT ?",
            ([n.lower() for n in names] + [limit]),
        ).fetchall()
        return [SymbolRow(*r) for r in rows if r[0] in names]

    def definitions_in(self, path: str, start_line: int, end_line: int) -> list[tuple[str, str, str | None, int, int]]:
        """(name, kind, container, start, end) of definitions within lines of a file."""
        conn = self.reader()
        rows = conn.execute(
            "SELECT s.name, s.kind, s.container, s.start_line, s.end_line FROM symbols s"
            " JOIN files f ON f.id = s.file_id WHERE f.path = ? AND s.start_line >= ?"
            " AND s.end_line <= ? ORDER BY s.start_line",
            (path, start_line, end_line),
        ).fetchall()
        return [tuple(r) for r in rows]  # type: ignore[misc]

    def definition_text(self, path: str, start_line: int, end_line: int) -> str | None:
        """The source lines of a definition, from the chunk(s) covering it."""
        conn = self.reader()
        rows = conn.execute(
            "SELECT c.start_line, c.text FROM chunks c JOIN files f ON f.id = c.file_id"
            " WHERE f.path = ? AND c.end_line >= ? AND c.start_line <= ? ORDER BY c.start_line",
            (path, start_line, end_line),
        ).fetchall()
        out: list[str] = []
        line_no = None
        for chunk_start, text in rows:
            lines = text.splitlines(keepends=True)
            for i, line in enumerate(lines):
                n = chunk_start + i
                if start_line <= n <= end_line and (line_no is None or n > line_no):
                    out.append(line)
                    line_no = n
        return "".join(out) if out else None


def _path_words(rel: str) -> str:
    return " ".join(re.split(r"[/\\.\-]+", rel))
