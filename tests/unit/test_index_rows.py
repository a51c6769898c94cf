"""Re-indexing a file writes only what changed, and leaves the rows a fresh index would hold."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mimi_lsp.index.database import connect
from mimi_lsp.index.indexer import FolderIndex
from mimi_lsp.index.store import IndexStore
from mimi_lsp.index.text import fts_query
from mimi_lsp.inference.embedding import FakeEmbedder
from mimi_lsp.settings import IndexSettings

FUNCS = {
    "alpha": "def alpha(x):\n    return parse_header(x)\n",
    "beta": "def beta(items):\n    total = 0\n    for item in items:\n        total += item\n    return total\n",
    "gamma": "def gamma():\n    return 'gamma payload'\n",
    "klass": "class Reader:\n    def read_block(self, n):\n        return self.fh.read(n)\n\n"
    "    def close_reader(self):\n        self.fh.close()\n",
}
TERMS = ["parse header", "total items", "gamma payload", "read block", "close reader", "zeta"]


def _folder(root: Path, cache: Path) -> FolderIndex:
    folder = FolderIndex(str(root), IndexSettings(cache_dir=str(cache)))
    folder.open()
    folder.scan()
    return folder


def _embed(folder: FolderIndex) -> None:
    embedder = FakeEmbedder(dim=64)
    folder.store.set_embedder(embedder.name)
    for h, texts, _ in folder.store.pending_embeddings(1000):
        folder.store.add_vectors([(h, [embedder.vector(t) for t in texts])])


def _rows(folder: FolderIndex) -> dict[str, Any]:
    """Everything search and symbols read, without row ids."""
    conn = folder.store.writer
    chunks = conn.execute(
        "SELECT start_line, end_line, symbol, kind, container, focus_start, focus_end,"
        " signature, hash, key, text FROM chunks ORDER BY start_line, end_line"
    ).fetchall()
    symbols = conn.execute(
        "SELECT name, kind, container, start_line, start_col, end_line, end_col, name_line,"
        " name_col FROM symbols ORDER BY start_line, name"
    ).fetchall()
    lines = dict(conn.execute("SELECT id, start_line FROM chunks").fetchall())
    found = {
        term: sorted((lines[cid], round(score, 9)) for cid, score in
                     folder.store.bm25(fts_query(term) or "", 50))
        for term in TERMS
    }  # fmt: skip
    with_vector = conn.execute(
        "SELECT c.start_line, v.bits FROM chunks c JOIN vec_bits v ON v.chunk_id = c.id"
        " ORDER BY c.start_line"
    ).fetchall()
    return {"chunks": chunks, "symbols": symbols, "bm25": found, "vectors": with_vector}


def test_an_edit_rewrites_only_the_changed_definition(tmp_path: Path) -> None:
    """Changing one function writes one FTS5 row; the others keep their rows, moved ones their
    ids with new lines, and their vectors."""
    root = tmp_path / "ws"
    root.mkdir()
    path = root / "m.py"
    path.write_text("\n\n".join(FUNCS[n] for n in ("alpha", "beta", "gamma")))
    folder = _folder(root, tmp_path / "cache")
    _embed(folder)
    conn = folder.store.writer
    before = dict(conn.execute("SELECT symbol, id FROM chunks").fetchall())
    gamma_line = conn.execute("SELECT start_line FROM chunks WHERE symbol='gamma'").fetchone()[0]
    changed = FUNCS["beta"].replace("return total", "total *= 2\n    return total")
    path.write_text("\n\n".join((FUNCS["alpha"], changed, FUNCS["gamma"])))
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    assert folder.update(["m.py"]) == 1
    conn.set_trace_callback(None)
    after = dict(conn.execute("SELECT symbol, id FROM chunks").fetchall())
    moved = conn.execute("SELECT start_line FROM chunks WHERE symbol='gamma'").fetchone()[0]
    vectors = {r[0] for r in conn.execute("SELECT chunk_id FROM vec_bits")}
    found = folder.store.bm25(fts_query("total") or "", 5)
    folder.close()
    assert after["alpha"] == before["alpha"] and after["gamma"] == before["gamma"]
    assert after["beta"] != before["beta"] and moved == gamma_line + 1
    assert {before["alpha"], before["gamma"]} <= vectors and before["beta"] not in vectors
    fts = [s for s in statements if s.startswith("INSERT INTO chunks_fts")]
    assert len(fts) == 2 and sum("'delete'" in s for s in fts) == 1
    assert [cid for cid, _ in found] == [after["beta"]]


def test_edits_leave_the_rows_a_fresh_index_holds(tmp_path: Path) -> None:
    """After each edit (add, change, move, duplicate, rename, delete) the rows, BM25 scores,
    symbols and vectors equal those of a fresh index of the same text."""
    root = tmp_path / "ws"
    root.mkdir()
    path = root / "m.py"
    versions = [
        ["alpha", "beta", "gamma"],
        ["alpha", "beta", "gamma", "klass"],
        ["klass", "alpha", "beta", "gamma"],  # moved
        ["klass", "alpha", "alpha", "beta", "gamma"],  # the same text twice
        ["klass", "alpha", "beta", "gamma:zeta"],  # renamed
        ["klass", "beta", "gamma"],  # deleted
        ["klass:close", "beta", "gamma"],  # a method changed inside its class
        [],
        ["beta"],
    ]

    def text(names: list[str]) -> str:
        out = []
        for name in names:
            base, _, change = name.partition(":")
            body = FUNCS[base]
            if change == "zeta":
                body = body.replace("def gamma", "def zeta")
            elif change == "close":
                body = body.replace("self.fh.close()", "self.fh.close()\n        self.fh = None")
            out.append(body)
        return "\n\n".join(out)

    path.write_text(text(versions[0]))
    live = _folder(root, tmp_path / "cache")
    _embed(live)
    for i, names in enumerate(versions[1:]):
        path.write_text(text(names))
        live.update(["m.py"])
        _embed(live)
        fresh = _folder(root, tmp_path / f"fresh{i}")
        _embed(fresh)
        assert _rows(live) == _rows(fresh), names
        fresh.close()
    live.close()


@pytest.mark.parametrize(("key", "value"), [("schema", "3"), ("fts_rows", "0:older-rules")])
def test_an_index_of_other_fts_rows_is_rechunked_and_keeps_its_vectors(
    tmp_path: Path, key: str, value: str
) -> None:
    """An index of schema 3 (contentless-delete FTS5), or one whose FTS5 rows were made by
    other text rules, re-chunks every file on open; its vectors stay and are reused, so
    nothing is embedded again."""
    root = tmp_path / "ws"
    root.mkdir()
    (root / "m.py").write_text("\n\n".join(FUNCS.values()))
    folder = _folder(root, tmp_path / "cache")
    _embed(folder)
    db = folder.store.path
    folder.close()
    conn = connect(db)
    conn.execute("UPDATE meta SET value=? WHERE key=?", (value, key))
    conn.close()
    store = IndexStore(db, str(root))
    store.open()
    chunks, vectors = store.writer.execute(
        "SELECT (SELECT count(*) FROM chunks), (SELECT count(*) FROM vectors)"
    ).fetchone()
    store.close()
    assert chunks == 0 and vectors == 6
    folder = _folder(root, tmp_path / "cache")
    pending = folder.store.pending_embeddings(100)
    fresh = _folder(root, tmp_path / "fresh")
    _embed(fresh)
    assert not pending and _rows(folder) == _rows(fresh)
    folder.close()
    fresh.close()
