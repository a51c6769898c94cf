"""What a search hit shows: one definition's range, name and preview, from a ranked chunk.

Every chunk of a definition knows the definition's lines (``focus_*``, see ``chunker``), so a
hit on any part of a big function points at the whole function, and a hit on a class head at
the class's declaration. Code outside any definition is a window of its own lines: named after
the class or function it sits in (statements in a class body), or not named at all (module
code, config files), so clients label it with its path and first line.
"""

from __future__ import annotations

from mimi_lsp.domain import SearchHit, Span
from mimi_lsp.index.store import ChunkRow, IndexStore
from mimi_lsp.languages import language_for_path

PREVIEW_LINES = 8
PREVIEW_CHARS = 600


def hit_lines(row: ChunkRow) -> tuple[int, int]:
    """First and last line a hit on ``row`` points at."""
    if row.focus_start is not None and row.focus_end is not None:
        return row.focus_start, row.focus_end
    return row.start_line, row.end_line


def hit_label(row: ChunkRow) -> tuple[str | None, str | None]:
    """(name, kind) of a hit: ``Class.method`` for a member, the enclosing definition for
    anonymous code inside one, nothing for code outside every definition."""
    if row.symbol is None:
        return (row.container, None) if row.container else (None, None)
    name = f"{row.container}.{row.symbol}" if row.container else row.symbol
    return name, row.kind


def search_hit(path: str, row: ChunkRow, score: float, store: IndexStore) -> SearchHit:
    """The hit for ``row`` at ``path``: its definition's lines, name and first lines."""
    start, end = hit_lines(row)
    lines = row.text.splitlines()
    if row.start_line <= start <= row.end_line:
        head = lines[start - row.start_line : start - row.start_line + PREVIEW_LINES]
    else:
        # A later window of a big definition: the preview starts where the definition does.
        text = store.definition_text(row.path, start, min(end, start + PREVIEW_LINES - 1))
        head = (text or "").splitlines() or lines[:PREVIEW_LINES]
    preview = "\n".join(head)
    if len(preview) > PREVIEW_CHARS:
        preview = preview[:PREVIEW_CHARS].rstrip() + "…"
    if end <= row.end_line and end >= row.start_line:
        last = lines[end - row.start_line] if end - row.start_line < len(lines) else ""
    else:
        tail = store.definition_text(row.path, end, end)
        last = (tail or "").rstrip("\r\n")
    symbol, kind = hit_label(row)
    return SearchHit(
        path=path,
        span=Span(start, 0, end, len(last)),
        score=round(float(score), 6),
        preview=preview,
        symbol=symbol,
        kind=kind,
        language=row.language or language_for_path(path),
    )
