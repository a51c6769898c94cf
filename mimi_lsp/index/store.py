"""One SQLite file per workspace folder: files, chunks, BM25, vectors and symbols.

The indexer writes here (one writer thread); search and completion context read through
per-thread connections (WAL lets them read while the writer writes). CPython's own ``sqlite3``
cannot load extensions here, so the connection comes from ``sqlean`` (an extension-capable
build with FTS5) and loads ``sqlite-vec``.

Tables: ``files`` (path, content hash, mtime, size), ``chunks``, ``chunks_fts`` (FTS5,
contentless, identifier-split text, porter stemming), ``symbols``, ``vectors`` (float32 by
content hash, one row per distinct chunk content holding one vector per embedded text of the
chunk, see ``embed_texts``; unchanged chunks, renamed files and branch switches never
re-embed), ``vec_bits`` (one sign-bit row per chunk with a vector, keyed by chunk id, with a
write sequence number) and ``term_stats`` (document frequencies of the most common terms).
Every update runs in one transaction, so killing the process at any moment leaves a
consistent index; a file that fails to open or to check is moved aside and rebuilt.

Search speed at 100k chunks (``benchmarks/search_latency.py``): FTS5 ``bm25()`` costs a few
microseconds per *matching* row, so one common word ("return", 60k rows) cost 200 ms; queries
score only rows matching their rarer terms (``fts_match``), with the common ones still counted
in the score. sqlite-vec's ``vec0`` ``bit[384]`` k-NN grows with k (110k rows: 3.4 ms for
k=10, 8.1 ms for k=50, 36.8 ms for k=256, the candidates the float re-rank needs), so the
Hamming coarse search runs in numpy over an in-memory copy of ``vec_bits`` (``CoarseIndex``,
~4 ms at any k, refreshed incrementally by sequence number) and re-ranks 256 candidates with
the float vectors.
"""

from __future__ import annotations

import contextlib
import functools
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

SCHEMA_VERSION = 3
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
    return os.path.join(
        os.path.expanduser(cache_dir or default_cache_dir()), f"{name}-{key}.sqlite"
    )


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
    return list(_split_cached(token))


@functools.lru_cache(maxsize=1 << 16)
def _split_cached(token: str) -> tuple[str, ...]:
    parts: list[str] = []
    for piece in token.split("_"):
        if piece:
            parts += [p.lower() for p in _CAMEL.findall(piece)]
    return tuple(parts)


def fts_text(text: str) -> str:
    """``text`` plus the parts of its compound identifiers, for the FTS5 index."""
    extra: dict[str, None] = {}
    for token in set(_IDENT.findall(text)):
        parts = _split_cached(token)
        if len(parts) > 1:
            extra.update(dict.fromkeys(parts))
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


def _quoted(term: str) -> str:
    return '"' + term.replace('"', '""') + '"'


def fts_query(query: str) -> str | None:
    """An FTS5 OR query for ``query`` (None when it has no usable term)."""
    terms = query_terms(query)[:32]
    return " OR ".join(map(_quoted, terms)) if terms else None


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


HEAD_CHARS = 400
"""Code embedded per chunk: MiniLM reads 256 word pieces at most, and a short head scored better
than the whole chunk in the eval (a signature plus ~10 lines carries what the chunk is for)."""


def embed_header(rel: str, symbol: str | None, kind: str, container: str | None) -> str:
    """``path kind Container.name``: where the code lives and what it defines."""
    if not symbol:
        return rel
    return f"{rel} {kind} {container}.{symbol}" if container else f"{rel} {kind} {symbol}"


def _head(text: str, limit: int = HEAD_CHARS) -> str:
    out: list[str] = []
    size = 0
    for line in text.splitlines(keepends=True):
        if out and size + len(line) > limit:
            break
        out.append(line)
        size += len(line)
    return "".join(out)[: limit * 2]


def embed_texts(
    rel: str, text: str, symbol: str | None, kind: str, container: str | None, signature: str | None
) -> list[str]:
    """The texts a chunk is embedded as; its dense score is the max and mean of their cosines.

    The header plus the name's words and the definitions' signatures (a short, name-heavy text
    that matches "what does this do" questions well), and the header plus the head of the code.
    In the eval this pair beat one vector of the whole chunk by ~0.05 MRR@10.
    """
    header = embed_header(rel, symbol, kind, container)
    texts = []
    if signature:
        # The name's words as well ("get member" for getmember): +0.014 dense MRR@10.
        words = " ".join(split_identifier(symbol or ""))
        texts.append(f"{header} ({words})\n{signature}" if words else f"{header}\n{signature}")
    texts.append(f"{header}\n{_head(text)}")
    return texts


def embed_text(rel: str, chunk: Chunk) -> str:
    """All texts of a chunk in one string (what its content hash covers)."""
    return "\n\x1f".join(
        embed_texts(rel, chunk.text, chunk.symbol, chunk.kind, chunk.container, chunk.signature)
    )


def content_hash(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def bytes_hash(data: bytes) -> str:
    """Hash of a file's raw contents (the key that decides whether to re-chunk)."""
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def quantize(vectors: np.ndarray) -> np.ndarray:
    """Binary quantisation (sign bits), one packed byte row per vector."""
    return np.packbits(vectors > 0, axis=-1)


def coarse_bits(parts: np.ndarray) -> bytes:
    """The sign bits of a chunk's mean vector (its key in the coarse search)."""
    mean = parts.mean(axis=0) if parts.ndim == 2 else parts
    return quantize(mean).tobytes()


_M1, _M2, _M4, _H01 = (np.uint64(m) for m in (0x5555555555555555, 0x3333333333333333,
                                               0x0F0F0F0F0F0F0F0F, 0x0101010101010101))  # fmt: skip
_ONE, _TWO, _FOUR, _TOP = np.uint64(1), np.uint64(2), np.uint64(4), np.uint64(56)


def _words64(bits: np.ndarray) -> np.ndarray:
    """Packed sign bits (uint8 rows) as uint64 words, zero-padded (zeros add no distance)."""
    pad = -bits.shape[-1] % 8
    if pad:
        bits = np.pad(bits, [(0, 0)] * (bits.ndim - 1) + [(0, pad)])
    return np.ascontiguousarray(bits).view(np.uint64)


def _add_popcount(acc: np.ndarray, v: np.ndarray, tmp: np.ndarray) -> None:
    """``acc += popcount(v)`` per uint64, clobbering ``v`` (SWAR bit counting, in place).

    numpy 1.26 has no ``bitwise_count``; this is 2.5x faster than a 16-bit lookup table
    (2.3 vs 5.8 ms for 110k x 384 bits here) and allocates nothing per word.
    """
    np.right_shift(v, _ONE, out=tmp)
    tmp &= _M1
    v -= tmp
    np.right_shift(v, _TWO, out=tmp)
    tmp &= _M2
    v &= _M2
    v += tmp
    np.right_shift(v, _FOUR, out=tmp)
    v += tmp
    v &= _M4
    v *= _H01
    v >>= _TOP
    acc += v


class CoarseIndex:
    """An in-memory copy of ``vec_bits`` for a numpy Hamming search (shared by reader threads).

    Rows arrive by sequence number, so a refresh reads only what was written since the last
    one. Rows of deleted chunks linger until enough of them pile up for a full reload; the
    re-rank joins ``chunks`` and drops them.
    """

    RELOAD_DEAD_SHARE = 0.25

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.ids = np.zeros(0, dtype=np.int64)
        self.words = np.zeros((0, 0), dtype=np.uint64)
        """Bits as 64-bit words, transposed ([words, rows]) so each pass is contiguous."""
        self.seq = -1
        self.deleted = 0
        self.reset = ""

    def refresh(self, conn: Any) -> None:
        """Catch up with the database (cheap when nothing changed)."""
        meta = dict(conn.execute(
            "SELECT key, value FROM meta WHERE key IN ('vec_seq', 'vec_deleted', 'vec_reset')"
        ).fetchall())  # fmt: skip
        seq = int(meta.get("vec_seq") or 0)
        deleted = int(meta.get("vec_deleted") or 0)
        reset = meta.get("vec_reset") or ""
        if reset != self.reset or (deleted - self.deleted) > self.RELOAD_DEAD_SHARE * max(
            64, len(self.ids)
        ):
            self._load(conn, "SELECT rowid, bits FROM vec_bits", ())
            self.seq, self.deleted, self.reset = seq, deleted, reset
        elif seq > self.seq:
            self._append(conn, "SELECT rowid, bits FROM vec_bits WHERE seq > ?", (self.seq,))
            self.seq = seq

    def _rows(self, conn: Any, sql: str, args: tuple[Any, ...]) -> tuple[np.ndarray, np.ndarray]:
        try:
            rows = conn.execute(sql, args).fetchall()
        except Exception as exc:
            if "no such table" in str(exc):
                rows = []
            else:
                raise
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        if not rows:
            return ids, np.zeros((0, 0), dtype=np.uint64)
        blob = b"".join(r[1] for r in rows)
        width = len(rows[0][1])
        if len(blob) != width * len(rows):
            raise CorruptIndex("vec_bits rows of mixed widths")
        bits = np.frombuffer(blob, dtype=np.uint8).reshape(len(rows), width)
        return ids, np.ascontiguousarray(_words64(bits).T)

    def _load(self, conn: Any, sql: str, args: tuple[Any, ...]) -> None:
        self.ids, self.words = self._rows(conn, sql, args)

    def _append(self, conn: Any, sql: str, args: tuple[Any, ...]) -> None:
        ids, words = self._rows(conn, sql, args)
        if not len(ids):
            return
        if not len(self.ids) or self.words.shape[0] != words.shape[0]:
            self.ids, self.words = ids, words
            return
        self.ids = np.concatenate([self.ids, ids])
        self.words = np.concatenate([self.words, words], axis=1)

    def search(self, query_bits: bytes, count: int, allowed: np.ndarray | None = None) -> list[int]:
        """Chunk ids of the ``count`` rows nearest in Hamming distance (duplicates removed)."""
        ids, words = self.ids, self.words
        n = len(ids)
        if not n:
            return []
        q = _words64(np.frombuffer(query_bits, dtype=np.uint8))
        if q.shape[0] != words.shape[0]:
            return []
        dist = np.zeros(n, dtype=np.uint64)
        v = np.empty(n, dtype=np.uint64)
        tmp = np.empty(n, dtype=np.uint64)
        for j in range(words.shape[0]):
            np.bitwise_xor(words[j], q[j], out=v)
            _add_popcount(dist, v, tmp)
        if allowed is not None:
            dist[~np.isin(ids, allowed)] = np.iinfo(np.uint64).max
        if count < len(ids):
            top = np.argpartition(dist, count)[:count]
        else:
            top = np.arange(len(ids))
        top = top[np.argsort(dist[top], kind="stable")]
        if allowed is not None:
            top = top[dist[top] != np.iinfo(np.uint64).max]
        return list(dict.fromkeys(ids[top].tolist()))


FTS_TOKENIZE = "porter unicode61 tokenchars '_'"
"""The FTS5 tokenizer of ``chunks_fts`` (also used to stem query terms, see ``_stems``)."""

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
    text TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_file ON chunks(file_id);
CREATE INDEX IF NOT EXISTS chunks_hash ON chunks(hash);
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(
    symbol, path, body, content='', contentless_delete=1,
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

# Column weights for bm25(): symbol names (with the class), path, body. Tuned on the eval's
# dev split: 8/1/1 beat the 4/1.5/1 of the first version by ~0.01 MRR@10.
BM25_WEIGHTS = (8.0, 1.0, 1.0)

POSTINGS_BUDGET = 4_000
"""Rows a BM25 query may score: terms join the match, rarest first, while their document
frequencies add up to this; the rest only add to the score of rows already matched. At 110k
chunks 6,000 kept 91% of exact BM25's top 10 in 10.1/19.2 ms (p50/p95), 4,000 90% in
8.5/16.0 ms, 3,000 89% in 7.8/15.3 ms."""
WAL_AUTOCHECKPOINT_PAGES = 10_000
"""The writer checkpoints the WAL by itself only past ~40 MB (bulk writes). The index service
checkpoints when its queue drains (``checkpoint``), so commits on the edit path do not pay for
one: SQLite's default 1,000 pages put +15 ms on every fifth single-file re-index at 100k
chunks (p95 46 -> 22 ms without)."""
STATS_MIN_CHUNKS = 5_000
"""Smaller indexes keep no term statistics: their exact OR queries are fast anyway."""
STATS_MIN_DF = 1_000
"""Terms in at least this many chunks are kept in ``term_stats`` (below it, pruning never
triggers, so small indexes always run the exact OR query)."""


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
        self._coarse = CoarseIndex()
        self._stats: tuple[str, dict[str, int], int] | None = None

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
                    detail = (
                        " ".join(str(row[0]).replace("*** in database main ***", "").split())
                        if row
                        else "?"
                    )
                    raise CorruptIndex(f"integrity check failed: {detail[:160]}")
            if version not in (None, SCHEMA_VERSION):
                self._migrate(conn, version)
            conn.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT_PAGES}")
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
        # A rebuilt or reopened file starts its sequence numbers afresh.
        self._coarse = CoarseIndex()
        self._stats = None

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

    def checkpoint(self) -> None:
        """Copy committed WAL pages into the database (when idle; never blocks readers)."""
        self.writer.execute("PRAGMA wal_checkpoint(PASSIVE)")

    # -------------------------------------------------------------- writing

    def file_states(self) -> dict[str, tuple[str, float, int, bool]]:
        """path -> (hash, mtime, size, overlay) of every indexed file (full scans only)."""
        rows = self.writer.execute("SELECT path, hash, mtime, size, overlay FROM files")
        return {r[0]: (r[1], r[2], r[3], bool(r[4])) for r in rows}

    def file_state(self, rel: str) -> tuple[str, float, int, bool] | None:
        """(hash, mtime, size, overlay) of one indexed file, by its unique path index."""
        row = self.writer.execute(
            "SELECT hash, mtime, size, overlay FROM files WHERE path=?", (rel,)
        ).fetchone()
        return (row[0], row[1], row[2], bool(row[3])) if row else None

    def set_embedder(self, name: str | None) -> None:
        """Record the embedding model; vectors of another model are dropped."""
        if name == self.embedder:
            return
        conn = self.writer
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute("DELETE FROM vectors")
            conn.execute("DELETE FROM vec_bits")
            conn.execute("INSERT OR REPLACE INTO meta VALUES ('embedder', ?)", (name or "",))
            conn.execute(
                "INSERT OR REPLACE INTO meta VALUES ('vec_reset', ?)", (f"{time.time_ns()}",)
            )
            conn.execute("DELETE FROM meta WHERE key='dim'")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        self.embedder = name
        self.dim = None

    # Every transaction that adds vec_bits rows stamps them with the next sequence number and
    # counts the rows it deletes, so readers' coarse indexes can catch up incrementally.

    def _next_seq(self, conn: Any) -> int:
        row = conn.execute("SELECT value FROM meta WHERE key='vec_seq'").fetchone()
        seq = int(row[0]) + 1 if row and row[0] else 1
        conn.execute("INSERT OR REPLACE INTO meta VALUES ('vec_seq', ?)", (str(seq),))
        return seq

    def _count_deleted(self, conn: Any, n: int) -> None:
        if n:
            conn.execute(
                "INSERT INTO meta VALUES ('vec_deleted', ?) ON CONFLICT(key) DO UPDATE"
                " SET value = CAST(value AS INTEGER) + excluded.value",
                (str(n),),
            )

    def _delete_file_rows(self, conn: Any, file_id: int) -> None:
        ids = [r[0] for r in conn.execute("SELECT id FROM chunks WHERE file_id=?", (file_id,))]
        if ids:
            marks = ",".join("?" * len(ids))
            conn.execute(f"DELETE FROM chunks_fts WHERE rowid IN ({marks})", ids)
            cur = conn.execute(f"DELETE FROM vec_bits WHERE chunk_id IN ({marks})", ids)
            self._count_deleted(conn, cur.rowcount or 0)
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
            reused = False
            for data in files:
                reused = self._write_file(conn, data) or reused
            if reused:
                conn.execute("UPDATE vec_bits SET seq=? WHERE seq=0", (self._next_seq(conn),))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def _write_file(self, conn: Any, data: FileData) -> bool:
        """Write one file's rows; True when chunks reused known vectors (vec_bits rows, seq 0)."""
        row = conn.execute("SELECT id FROM files WHERE path=?", (data.rel,)).fetchone()
        if row is not None:
            file_id = row[0]
            self._delete_file_rows(conn, file_id)
            conn.execute(
                "UPDATE files SET language=?, hash=?, mtime=?, size=?, overlay=?, skipped=? WHERE id=?",
                (
                    data.language,
                    data.hash,
                    data.mtime,
                    data.size,
                    int(data.overlay),
                    data.skipped,
                    file_id,
                ),
            )
        else:
            cur = conn.execute(
                "INSERT INTO files(path, language, hash, mtime, size, overlay, skipped) VALUES (?,?,?,?,?,?,?)",
                (
                    data.rel,
                    data.language,
                    data.hash,
                    data.mtime,
                    data.size,
                    int(data.overlay),
                    data.skipped,
                ),
            )
            file_id = cur.lastrowid
        fts_rows = []
        chunk_rows = []
        reuse: list[tuple[int, str]] = []
        path_text = fts_text(_path_words(data.rel))
        # Ids assigned here so every table is written with one executemany.
        next_id = (conn.execute("SELECT max(id) FROM chunks").fetchone()[0] or 0) + 1
        for chunk_id, chunk in enumerate(data.chunks, next_id):
            h = content_hash(embed_text(data.rel, chunk))
            chunk_rows.append(
                (chunk_id, file_id, chunk.start_line, chunk.end_line, chunk.symbol, chunk.kind,
                 chunk.container, chunk.focus_start, chunk.focus_end, chunk.signature, h, chunk.text)
            )  # fmt: skip
            names = " ".join(dict.fromkeys((chunk.container or "", *chunk.names))).strip()
            fts_rows.append(
                (chunk_id, fts_text(names) if names else "", path_text, fts_text(chunk.text))
            )
            reuse.append((chunk_id, h))
        conn.executemany(
            "INSERT INTO chunks(id, file_id, start_line, end_line, symbol, kind, container,"
            " focus_start, focus_end, signature, hash, text) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            chunk_rows,
        )
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
            known = self._known_bits(conn, [h for _, h in reuse])
            rows = [(cid, known[h]) for cid, h in reuse if h in known]
            if rows:
                conn.executemany("INSERT INTO vec_bits(chunk_id, bits, seq) VALUES (?, ?, 0)", rows)
                return True
        return False

    def _known_bits(self, conn: Any, hashes: list[str]) -> dict[str, bytes]:
        out: dict[str, bytes] = {}
        for i in range(0, len(hashes), 500):
            part = hashes[i : i + 500]
            marks = ",".join("?" * len(part))
            for h, bits in conn.execute(
                f"SELECT hash, bits FROM vectors WHERE hash IN ({marks})", part
            ):
                out[h] = bits
        return out

    def _parts(self, blob: bytes) -> np.ndarray:
        vecs = np.frombuffer(blob, dtype=np.float32)
        dim = self.dim or vecs.shape[0]
        return vecs.reshape(-1, dim)

    def delete_prefix(self, rel_dir: str) -> list[str]:
        """Drop every file under folder ``rel_dir`` (a deleted directory); returns their paths."""
        like = rel_dir.rstrip("/").replace("%", r"\%").replace("_", r"\_") + "/%"
        paths = [r[0] for r in self.writer.execute(
            "SELECT path FROM files WHERE path LIKE ? ESCAPE '\\'", (like,)
        )]  # fmt: skip
        if paths:
            self.write_files([], paths)
        return paths

    def pending_embeddings(self, limit: int) -> list[tuple[str, list[str], ChunkRow]]:
        """Up to ``limit`` (hash, texts to embed, row) of chunks without vectors, distinct hashes."""
        conn = self.writer
        rows = conn.execute(
            "SELECT c.id, f.path, f.language, c.start_line, c.end_line, c.symbol, c.kind,"
            " c.container, c.text, c.hash, c.signature FROM chunks c JOIN files f ON f.id = c.file_id"
            " WHERE NOT EXISTS (SELECT 1 FROM vectors v WHERE v.hash = c.hash)"
            " ORDER BY c.id LIMIT ?",
            (limit * 2,),
        ).fetchall()
        out: list[tuple[str, list[str], ChunkRow]] = []
        seen: set[str] = set()
        for r in rows:
            if r[9] in seen:
                continue
            seen.add(r[9])
            row = ChunkRow(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8])
            out.append(
                (
                    r[9],
                    embed_texts(row.path, row.text, row.symbol, row.kind, row.container, r[10]),
                    row,
                )
            )
            if len(out) >= limit:
                break
        return out

    def add_vectors(self, items: Sequence[tuple[str, Any]]) -> int:
        """Store each chunk content's vectors (one per embedded text) and index its chunks."""
        if not items:
            return 0
        mats = [np.asarray(v, dtype=np.float32) for _, v in items]
        mats = [m.reshape(1, -1) if m.ndim == 1 else m for m in mats]
        dim = int(mats[0].shape[1])
        if any(m.shape[1] != dim for m in mats):
            raise ValueError("embeddings of different dimensions in one batch")
        conn = self.writer
        conn.execute("BEGIN IMMEDIATE")
        try:
            if self.dim is None:
                if dim % 16:
                    raise ValueError(f"embedding dimension {dim} is not a multiple of 16")
                conn.execute("INSERT OR REPLACE INTO meta VALUES ('dim', ?)", (str(dim),))
            elif dim != self.dim:
                raise ValueError(f"embedding dimension changed from {self.dim} to {dim}")
            by_hash = {h: coarse_bits(m) for (h, _), m in zip(items, mats, strict=True)}
            conn.executemany(
                "INSERT OR REPLACE INTO vectors(hash, vecs, bits) VALUES (?, ?, ?)",
                [(h, m.tobytes(), by_hash[h]) for (h, _), m in zip(items, mats, strict=True)],
            )
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
                seq = self._next_seq(conn)
                ids = [cid for cid, _ in rows]
                for i in range(0, len(ids), 500):
                    batch = ids[i : i + 500]
                    cur = conn.execute(
                        f"DELETE FROM vec_bits WHERE chunk_id IN ({','.join('?' * len(batch))})",
                        batch,
                    )
                    self._count_deleted(conn, cur.rowcount or 0)
                conn.executemany(
                    "INSERT INTO vec_bits(chunk_id, bits, seq) VALUES (?, ?, ?)",
                    [(cid, bits, seq) for cid, bits in rows],
                )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        self.dim = dim
        return len(rows)

    def prune_vectors(self) -> int:
        """Forget vectors no chunk uses any more (after big deletions)."""
        cur = self.writer.execute("DELETE FROM vectors WHERE hash NOT IN (SELECT hash FROM chunks)")
        return cur.rowcount or 0

    def refresh_term_stats(self, only_if_stale: bool = False) -> int:
        """Recount the document frequency of common terms (after a scan; ~1 s at 100k chunks).

        ``only_if_stale``: only on an index of ``STATS_MIN_CHUNKS`` or more whose chunk count
        moved by a tenth since the last count (returns -1 when nothing was done).
        """
        conn = self.writer
        chunks = conn.execute("SELECT count(*) FROM chunks").fetchone()[0]
        if only_if_stale:
            counted = int(self._meta(conn, "stats_chunks") or 0)
            if chunks < STATS_MIN_CHUNKS or abs(chunks - counted) < 0.1 * max(counted, 1):
                return -1
        conn.execute(
            "CREATE VIRTUAL TABLE IF NOT EXISTS temp.fts_vocab USING fts5vocab(main, chunks_fts, 'row')"
        )
        rows = conn.execute(
            "SELECT term, doc FROM temp.fts_vocab WHERE doc >= ?", (STATS_MIN_DF,)
        ).fetchall()
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute("DELETE FROM term_stats")
            conn.executemany("INSERT INTO term_stats(term, df) VALUES (?, ?)", rows)
            conn.execute(
                "INSERT OR REPLACE INTO meta VALUES ('stats_epoch', ?)", (f"{time.time_ns()}",)
            )
            conn.execute("INSERT OR REPLACE INTO meta VALUES ('stats_chunks', ?)", (str(chunks),))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return len(rows)

    # -------------------------------------------------------------- reading

    def counts(self) -> tuple[int, int, int]:
        """(files with chunks, chunks, chunks with a vector)."""
        conn = self.reader()
        files = conn.execute("SELECT count(*) FROM files WHERE skipped IS NULL").fetchone()[0]
        chunks = conn.execute("SELECT count(*) FROM chunks").fetchone()[0]
        embedded = conn.execute("SELECT count(*) FROM vec_bits").fetchone()[0]
        return files, chunks, embedded

    def warm(self) -> None:
        """Load the coarse vector index and the common-term table (a reader thread)."""
        conn = self.reader()
        with self._coarse.lock:
            self._coarse.refresh(conn)
        self._common_terms(conn)

    def _common_terms(self, conn: Any) -> tuple[dict[str, int], int]:
        """Stemmed term -> document frequency of the common terms, and the chunks counted then.

        Cached per stats epoch.
        """
        epoch = self._meta(conn, "stats_epoch") or ""
        cached = self._stats
        if cached is None or cached[0] != epoch:
            table = (
                dict(conn.execute("SELECT term, df FROM term_stats").fetchall()) if epoch else {}
            )
            counted = int(self._meta(conn, "stats_chunks") or 0) if epoch else 0
            cached = self._stats = (epoch, table, counted)
        return cached[1], cached[2]

    def fts_match(self, query: str) -> str | None:
        """The FTS5 query for ``query``: an OR of its terms, pruned on big indexes.

        Terms join the match rarest first while their document frequencies fit
        ``POSTINGS_BUDGET``; the common rest go in a second clause that only scores
        (``(rare) AND (rare OR common)``), like a common-terms query. Terms in more than half
        the chunks are left out: FTS5's ``bm25()`` gives them an IDF of 1e-6, so they change
        no ranking, and reading their postings cost ~2 ms a query at 110k chunks. When even
        the rarest term alone is over the budget ("get"), it must be in the symbol's name:
        scoring every body that mentions it cost up to 70 ms.
        """
        terms = query_terms(query)[:32]
        if not terms:
            return None
        common, counted = self._common_terms(self.reader())
        quoted = {t: _quoted(t) for t in terms}
        if not common:
            return " OR ".join(quoted.values())
        stems = _stems(terms)
        df = {t: common.get(stems.get(t, t), 0) for t in terms}
        rare: list[str] = []
        total = 0
        for term in sorted(terms, key=lambda t: df[t]):
            if rare and total + df[term] > POSTINGS_BUDGET:
                break
            rare.append(term)
            total += df[term]
        rest = [t for t in terms if t not in rare and df[t] * 2 <= counted]
        match = " OR ".join(quoted[t] for t in rare)
        if total > POSTINGS_BUDGET:
            match = f"{{symbol}} : ({match})"
        if not rest:
            return match
        return f"({match}) AND ({match} OR {' OR '.join(quoted[t] for t in rest)})"

    def bm25(
        self, match: str, limit: int, where: str = "", params: Sequence[Any] = ()
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
        rows = conn.execute(sql, (match, *params, limit)).fetchall()
        return [(r[0], -r[1]) for r in rows]

    def knn(
        self,
        query: np.ndarray,
        limit: int,
        where: str = "",
        params: Sequence[Any] = (),
        candidates: int = 256,
    ) -> list[tuple[int, float]]:
        """(chunk id, dense score) best first: Hamming coarse search, float re-rank."""
        conn = self.reader()
        if self.dim is None:
            self.dim = int(self._meta(conn, "dim") or 0) or None
        if self.dim is None or query.shape[0] != self.dim:
            return []
        allowed = None
        if where:
            allowed = np.fromiter(
                (
                    r[0]
                    for r in conn.execute(
                        f"SELECT c.id FROM chunks c JOIN files f ON f.id = c.file_id WHERE {where}",
                        params,
                    )
                ),  # fmt: skip
                dtype=np.int64,
            )
            if not len(allowed):
                return []
        with self._coarse.lock:
            self._coarse.refresh(conn)
        ids = self._coarse.search(coarse_bits(query), max(candidates, limit), allowed)
        scores = self.dense_scores(query, ids)
        return sorted(scores.items(), key=lambda kv: kv[1], reverse=True)[:limit]

    def dense_scores(self, query: np.ndarray, ids: Sequence[int]) -> dict[int, float]:
        """Dense score of each chunk with vectors: the mean of its best and its average cosine."""
        if not ids or self.dim is None or query.shape[0] != self.dim:
            return {}
        conn = self.reader()
        ids = list(ids)
        chunk_ids: list[int] = []
        blobs: list[bytes] = []
        for i in range(0, len(ids), 500):
            part = ids[i : i + 500]
            for cid, blob in conn.execute(
                "SELECT c.id, v.vecs FROM chunks c JOIN vectors v ON v.hash = c.hash"
                f" WHERE c.id IN ({','.join('?' * len(part))})",
                part,
            ):
                chunk_ids.append(cid)
                blobs.append(blob)
        if not blobs:
            return {}
        # One matrix product for every part of every chunk, then a max and a mean per chunk.
        counts = np.fromiter((len(b) for b in blobs), dtype=np.int64, count=len(blobs)) // (
            4 * self.dim
        )
        sims = np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(-1, self.dim) @ query
        starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
        best = np.maximum.reduceat(sims, starts)
        mean = np.add.reduceat(sims, starts) / counts
        scores = (best + mean) / 2
        return dict(zip(chunk_ids, scores.tolist(), strict=True))

    def chunk_rows(self, ids: Sequence[int], text: bool = True) -> dict[int, ChunkRow]:
        """Rows of these chunks (``text=False``: without their text, for ranking)."""
        if not ids:
            return {}
        conn = self.reader()
        marks = ",".join("?" * len(ids))
        body = "c.text" if text else "''"
        rows = conn.execute(
            "SELECT c.id, f.path, f.language, c.start_line, c.end_line, c.symbol, c.kind,"
            f" c.container, {body}, c.focus_start, c.focus_end FROM chunks c"
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

    def definitions_in(
        self, path: str, start_line: int, end_line: int
    ) -> list[tuple[str, str, str | None, int, int]]:
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


_tokenizer = threading.local()


def _stems(terms: Sequence[str]) -> dict[str, str]:
    """Each term as FTS5's porter tokenizer stores it (to look up its document frequency)."""
    conn = getattr(_tokenizer, "conn", None)
    if conn is None:
        import sqlean

        conn = sqlean.connect(":memory:", isolation_level=None, check_same_thread=False)
        conn.execute(f'CREATE VIRTUAL TABLE q USING fts5(x, tokenize="{FTS_TOKENIZE}")')
        conn.execute("CREATE VIRTUAL TABLE q_vocab USING fts5vocab(q, 'instance')")
        _tokenizer.conn = conn
    conn.execute("DELETE FROM q")
    conn.executemany("INSERT INTO q(rowid, x) VALUES (?, ?)", list(enumerate(terms)))
    out: dict[str, str] = {}
    for doc, term in conn.execute("SELECT doc, term FROM q_vocab ORDER BY doc, offset"):
        out.setdefault(terms[doc], term)
    return out
