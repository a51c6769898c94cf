"""Where an agent task applies: the function around the cursor, and where its tests go.

The function comes from the tree-sitter chunker's definitions (the same the index and search
see), so every language with a grammar gets it, nested functions and decorators included.
LSP-free.
"""

from __future__ import annotations

import os

from mimi_lsp.domain import DocumentSnapshot
from mimi_lsp.languages import normalize_language

FUNCTION_KINDS = frozenset({"function", "method", "constructor"})


def enclosing_function(snapshot: DocumentSnapshot, line: int) -> tuple[str, int, int] | None:
    """(name, first line, last line) of the innermost function around ``line``, or None."""
    from mimi_lsp.index.chunker import chunk_file  # tree-sitter and the index: on first use

    language = normalize_language(snapshot.language_id) if snapshot.language_id else None
    if not language:
        return None
    found = None
    for d in chunk_file(snapshot.text, language).definitions:
        if d.kind in FUNCTION_KINDS and d.start_line <= line <= d.end_line:
            if found is None or d.start_line >= found.start_line:
                found = d
    return None if found is None else (found.name, found.start_line, found.end_line)


def where_tests_go(path: str, language: str, folders: list[str]) -> str:
    """Where tests for ``path`` live by the usual convention of its language."""
    folder = next(
        (f for f in folders if path.startswith(f.rstrip(os.sep) + os.sep)), os.path.dirname(path)
    )
    stem, ext = os.path.splitext(os.path.basename(path))
    if language == "python" or ext == ".py":
        tests_dir = os.path.join(folder, "tests")
        if os.path.isdir(tests_dir):
            return os.path.join(tests_dir, f"test_{stem}.py")
        return os.path.join(os.path.dirname(path), f"test_{stem}.py")
    if ext == ".go":
        return os.path.join(os.path.dirname(path), f"{stem}_test.go")
    if ext in (".js", ".ts", ".jsx", ".tsx", ".mjs"):
        return os.path.join(os.path.dirname(path), f"{stem}.test{ext}")
    return path  # e.g. Rust: tests live in the same file
