"""The rows of one workspace folder's index: files, chunks, BM25 text, symbols and vectors.

The indexer writes here (``write_files``, one writer thread; see ``database`` for connections,
schema and recovery); search, symbols and completion context read (``bm25``, ``knn``,
``chunk_rows``, ``symbols_*``). Chunk text goes to FTS5 identifier-split (``text.fts_text``),
ranked with ``fts``; vectors are stored by content hash and searched with ``vectors``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mimi_lsp.index import fts
from mimi_lsp.index.chunker import Chunk, Definition
from mimi_lsp.index.database import Database
from mimi_lsp.index.rows import delete_chunks, write_chunks, write_symbols
from mimi_lsp.index.text import embed_texts, query_terms
from mimi_lsp.index.vectors import CoarseIndex, chunk_scores, coarse_bits

log = logging.getLogger(__name__)


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
    signature: str | None = None


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


class IndexStore(Database):
    """The index of one workspace folder (its database file, see ``Database``)."""

    def __init__(self, path: str, root: str) -> None:
        super().__init__(path, root)
        self.dim: int | None = None
        self.embedder: str | None = None
        self._coarse = CoarseIndex()
        self._stats: tuple[str, dict[str, int], int] | None = None

    def _opened(self, conn: Any) -> None:
        self.embedder = self._meta(conn, "embedder")
        dim = self._meta(conn, "dim")
        self.dim = int(dim) if dim else None
        # A rebuilt or reopened file starts its sequence numbers afresh.
        self._coarse = CoarseIndex()
        self._stats = None

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
        self._count_deleted(conn, delete_chunks(conn, ids))
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
        """Write one file's rows, as a diff against what it held (see ``rows``); True when
        inserted chunks reused known vectors (vec_bits rows, seq 0)."""
        row = conn.execute("SELECT id FROM files WHERE path=?", (data.rel,)).fetchone()
        state = (data.language, data.hash, data.mtime, data.size, int(data.overlay), data.skipped)
        if row is not None:
            file_id = row[0]
            conn.execute(
                "UPDATE files SET language=?, hash=?, mtime=?, size=?, overlay=?, skipped=?"
                " WHERE id=?",
                (*state, file_id),
            )
        else:
            file_id = conn.execute(
                "INSERT INTO files(path, language, hash, mtime, size, overlay, skipped)"
                " VALUES (?,?,?,?,?,?,?)",
                (data.rel, *state),
            ).lastrowid
        fresh = row is None
        inserted, vec_deleted = write_chunks(conn, file_id, data.rel, data.chunks, fresh)
        self._count_deleted(conn, vec_deleted)
        write_symbols(conn, file_id, data.definitions, fresh)
        if self.dim is not None and inserted:
            # Chunks whose content was embedded before (unchanged, moved, other branch).
            known = self._known_bits(conn, [h for _, h in inserted])
            reused = [(cid, known[h]) for cid, h in inserted if h in known]
            if reused:
                conn.executemany(
                    "INSERT INTO vec_bits(chunk_id, bits, seq) VALUES (?, ?, 0)", reused
                )
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

        ``only_if_stale``: only on an index of ``fts.STATS_MIN_CHUNKS`` or more whose chunk count
        moved by a tenth since the last count (returns -1 when nothing was done).
        """
        conn = self.writer
        chunks = conn.execute("SELECT count(*) FROM chunks").fetchone()[0]
        if only_if_stale:
            counted = int(self._meta(conn, "stats_chunks") or 0)
            if chunks < fts.STATS_MIN_CHUNKS or abs(chunks - counted) < 0.1 * max(counted, 1):
                return -1
        rows = fts.common_term_rows(conn)
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
        """The FTS5 query for ``query``: an OR of its terms, pruned on big indexes (see
        ``fts.prune_match``); None when it has no usable term."""
        terms = query_terms(query)[:32]
        if not terms:
            return None
        common, counted = self._common_terms(self.reader())
        return fts.prune_match(terms, common, counted)

    def bm25(
        self,
        match: str,
        limit: int,
        where: str = "",
        params: Sequence[Any] = (),
        weights: tuple[float, float, float] = fts.BM25_WEIGHTS,
    ) -> list[tuple[int, float]]:
        """(chunk id, score > 0) best first, for an FTS5 query, optionally filtered."""
        return fts.bm25_rows(self.reader(), match, limit, where, params, weights)

    def knn(
        self,
        query: np.ndarray,
        limit: int,
        where: str = "",
        params: Sequence[Any] = (),
        candidates: int = 256,
        best_share: float = 0.5,
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
        scores = self.dense_scores(query, ids, best_share)
        return sorted(scores.items(), key=lambda kv: kv[1], reverse=True)[:limit]

    def dense_scores(
        self, query: np.ndarray, ids: Sequence[int], best_share: float = 0.5
    ) -> dict[int, float]:
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
        scores = chunk_scores(blobs, self.dim, query, best_share)
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
            f" c.container, {body}, c.focus_start, c.focus_end, c.signature FROM chunks c"
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
