"""Writing one file's rows: chunks, their BM25 text, symbols and reused vectors, as a diff.

Called by ``IndexStore.write_files`` inside its transaction. A re-indexed file usually changed
in one definition, so only chunks whose content changed are written: every chunk row keeps a
key over everything its FTS5 row and vectors are made of (``row_key``); a new chunk with the
key of an old one keeps that row, its FTS5 row and its vector, and only its lines are updated
when they moved. Rewriting all of a file's rows was most of a re-index's cost (a 167-chunk
file: 1,525 statements, ~2,000 rows changed and ~0.9 MB of WAL per save).

``chunks_fts`` is contentless without ``contentless_delete``: SQLite 3.50's contentless-delete
tables never take a deleted row out of BM25's statistics (row count, average length), so every
re-index drifted the scores away from those of a fresh index. Rows are deleted with FTS5's
``'delete'`` command instead, which needs the text the row was inserted with: it is rebuilt
from the chunk's stored text and names (``fts_row``), so an index whose rows were made by other
rules is re-chunked (``FTS_ROWS_VERSION``).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from mimi_lsp.index.chunker import Chunk, Definition
from mimi_lsp.index.fts import FTS_TOKENIZE
from mimi_lsp.index.text import content_hash, embed_text, fts_text, path_words

BATCH = 500
"""Ids per ``IN (...)`` list."""


def fts_names(chunk: Chunk) -> str:
    """The words of a chunk's FTS5 ``symbol`` column: its container and definitions' names."""
    return " ".join(dict.fromkeys((chunk.container or "", *chunk.names))).strip()


def fts_row(chunk_id: int, names: str, path: str, text: str) -> tuple[int, str, str, str]:
    """A chunk's FTS5 row (rowid, symbol, path, body): names and code identifier-split."""
    return chunk_id, fts_text(names) if names else "", _path_text(path), fts_text(text)


@functools.lru_cache(maxsize=256)
def _path_text(path: str) -> str:
    return fts_text(path_words(path))


_PROBE = ("HTTPServer_v2 getResponse_code", "src/a-b/c_d.py",
          "class HTTPServer_v2(Base):\n    def getResponse_code(self, x2y):  # naïve 42\n")  # fmt: skip
FTS_ROWS_VERSION = "1:" + content_hash("\x1f".join((FTS_TOKENIZE, *fts_row(1, *_PROBE)[1:])))
"""What ``fts_row`` makes of a probe, and the tokenizer, as a version: an index whose FTS5 rows
were made by other rules (``text.fts_text``, ``path_words``) is re-chunked rather than sent
'delete' commands it would misapply. Bump the prefix for a change the probe cannot show."""


def row_key(embed_hash: str, names: str, text: str) -> str:
    """A chunk row's key: its vectors' content hash, its FTS5 names and its whole text.

    Two chunks of a file with the same key have the same FTS5 row and the same vectors; only
    their lines can differ.
    """
    return content_hash(f"{embed_hash}\x1f{names}\x1f{text}")


def _batches(ids: Sequence[int]) -> list[tuple[str, list[int]]]:
    """``ids`` cut into (placeholders, ids) pairs for ``IN (...)`` lists."""
    return [
        (",".join("?" * len(ids[i : i + BATCH])), list(ids[i : i + BATCH]))
        for i in range(0, len(ids), BATCH)
    ]


def delete_chunks(conn: Any, ids: Sequence[int]) -> int:
    """Delete these chunks with their FTS5 and vector rows; returns the vec_bits rows deleted."""
    deleted = 0
    for marks, part in _batches(ids):
        old = conn.execute(
            "SELECT c.id, c.names, f.path, c.text FROM chunks c JOIN files f ON f.id = c.file_id"
            f" WHERE c.id IN ({marks})",
            part,
        ).fetchall()
        conn.executemany(
            "INSERT INTO chunks_fts(chunks_fts, rowid, symbol, path, body)"
            " VALUES ('delete', ?, ?, ?, ?)",
            [fts_row(*row) for row in old],
        )
        cur = conn.execute(f"DELETE FROM vec_bits WHERE chunk_id IN ({marks})", part)
        deleted += cur.rowcount or 0
        conn.execute(f"DELETE FROM chunks WHERE id IN ({marks})", part)
    return deleted


def write_chunks(
    conn: Any, file_id: int, rel: str, chunks: Sequence[Chunk], fresh: bool
) -> tuple[list[tuple[int, str]], int]:
    """Bring the chunks of file ``file_id`` (at ``rel``) in step with ``chunks`` (``fresh``:
    it has none yet).

    Returns (id, content hash) of the chunks inserted (they may reuse known vectors) and the
    number of vec_bits rows deleted.
    """
    old: dict[str, list[tuple[int, list[int | None]]]] = {}
    if not fresh:
        for cid, key, *lines in conn.execute(
            "SELECT id, key, start_line, end_line, focus_start, focus_end FROM chunks"
            " WHERE file_id=? ORDER BY id",
            (file_id,),
        ):
            old.setdefault(key, []).append((cid, lines))
    moved: list[tuple[int, int, int | None, int | None, int]] = []
    new: list[tuple[Chunk, str, str, str]] = []
    for chunk in chunks:
        h = content_hash(embed_text(rel, chunk))
        names = fts_names(chunk)
        key = row_key(h, names, chunk.text)
        same = old.get(key)
        if same:
            cid, lines = same.pop(0)
            now = [chunk.start_line, chunk.end_line, chunk.focus_start, chunk.focus_end]
            if lines != now:
                moved.append((chunk.start_line, chunk.end_line, chunk.focus_start,
                              chunk.focus_end, cid))  # fmt: skip
            continue
        new.append((chunk, h, names, key))
    gone = [cid for rows in old.values() for cid, _ in rows]
    vec_deleted = delete_chunks(conn, gone) if gone else 0
    if moved:
        conn.executemany(
            "UPDATE chunks SET start_line=?, end_line=?, focus_start=?, focus_end=? WHERE id=?",
            moved,
        )
    if not new:
        return [], vec_deleted
    # Ids assigned here so every table is written with one executemany.
    next_id = (conn.execute("SELECT max(id) FROM chunks").fetchone()[0] or 0) + 1
    chunk_rows = []
    fts_rows = []
    inserted: list[tuple[int, str]] = []
    for chunk_id, (chunk, h, names, key) in enumerate(new, next_id):
        chunk_rows.append(
            (chunk_id, file_id, chunk.start_line, chunk.end_line, chunk.symbol, chunk.kind,
             chunk.container, chunk.focus_start, chunk.focus_end, chunk.signature, h, chunk.text,
             names, key)
        )  # fmt: skip
        fts_rows.append(fts_row(chunk_id, names, rel, chunk.text))
        inserted.append((chunk_id, h))
    conn.executemany(
        "INSERT INTO chunks(id, file_id, start_line, end_line, symbol, kind, container,"
        " focus_start, focus_end, signature, hash, text, names, key)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        chunk_rows,
    )
    conn.executemany("INSERT INTO chunks_fts(rowid, symbol, path, body) VALUES (?,?,?,?)", fts_rows)
    return inserted, vec_deleted


def write_symbols(conn: Any, file_id: int, definitions: Sequence[Definition], fresh: bool) -> None:
    """Bring the symbols of file ``file_id`` in step with ``definitions``: unchanged rows stay,
    moved ones get their new positions, the rest are deleted or inserted."""
    old: dict[tuple[str, str, str | None], list[tuple[int, tuple[int, ...]]]] = {}
    if not fresh:
        for sid, name, kind, container, *pos in conn.execute(
            "SELECT id, name, kind, container, start_line, start_col, end_line, end_col,"
            " name_line, name_col FROM symbols WHERE file_id=? ORDER BY id",
            (file_id,),
        ):
            old.setdefault((name, kind, container), []).append((sid, tuple(pos)))
    moved = []
    new = []
    for d in definitions:
        pos = (d.start_line, d.start_col, d.end_line, d.end_col, d.name_line, d.name_col)
        same = old.get((d.name, d.kind, d.container))
        if same:
            sid, was = same.pop(0)
            if was != pos:
                moved.append((*pos, sid))
            continue
        new.append((file_id, d.name, d.name.lower(), d.kind, d.container, *pos))
    gone = [sid for rows in old.values() for sid, _ in rows]
    for marks, part in _batches(gone):
        conn.execute(f"DELETE FROM symbols WHERE id IN ({marks})", part)
    if moved:
        conn.executemany(
            "UPDATE symbols SET start_line=?, start_col=?, end_line=?, end_col=?, name_line=?,"
            " name_col=? WHERE id=?",
            moved,
        )
    if new:
        conn.executemany(
            "INSERT INTO symbols(file_id, name, name_lower, kind, container, start_line,"
            " start_col, end_line, end_col, name_line, name_col) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            new,
        )
