"""Index results for the protocol: search hits, workspace symbols, ``mimi/indexStatus``.

Hits and symbols carry code-point spans in files that may or may not be open; ``LineSource``
reads each file's lines once (the open buffer first, then the disk) to map them into the
negotiated position encoding.
"""

from __future__ import annotations

from typing import Any

from lsprotocol import types

from mimi_lsp.convert.positions import range_json, span_to_range
from mimi_lsp.domain import IndexStatus, SearchHit, Span, SymbolInfo
from mimi_lsp.session import Session, split_lines
from mimi_lsp.uris import path_to_uri

MAX_LINE_SOURCE_BYTES = 32_000_000

SYMBOL_KINDS: dict[str, types.SymbolKind] = {
    "function": types.SymbolKind.Function,
    "method": types.SymbolKind.Method,
    "constructor": types.SymbolKind.Constructor,
    "class": types.SymbolKind.Class,
    "struct": types.SymbolKind.Struct,
    "interface": types.SymbolKind.Interface,
    "trait": types.SymbolKind.Interface,
    "impl": types.SymbolKind.Class,
    "enum": types.SymbolKind.Enum,
    "module": types.SymbolKind.Module,
    "namespace": types.SymbolKind.Namespace,
    "type": types.SymbolKind.TypeParameter,
    "constant": types.SymbolKind.Constant,
    "variable": types.SymbolKind.Variable,
    "property": types.SymbolKind.Property,
    "macro": types.SymbolKind.Function,
    "section": types.SymbolKind.String,
}


class LineSource:
    """Line texts for position conversion: open buffers first, then the disk (cached)."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._cache: dict[str, tuple[str, ...]] = {}

    def lines(self, path: str) -> tuple[str, ...]:
        cached = self._cache.get(path)
        if cached is not None:
            return cached
        snap = self.session.snapshot(path_to_uri(path))
        if snap is not None:
            lines = snap.lines
        else:
            # Imported here: the protocol side does not load the index before it is used.
            from mimi_lsp.index.ignore import read_regular

            try:  # a FIFO swapped in under an indexed name must not block the server
                data, _ = read_regular(path, MAX_LINE_SOURCE_BYTES)
                lines = tuple(split_lines(data.decode("utf-8", errors="replace")))
            except OSError:
                lines = ()
        self._cache[path] = lines
        return lines

    def range(self, path: str, span: Span) -> types.Range:
        if span.start_col == 0 and span.end_col == 0:
            return types.Range(
                start=types.Position(line=span.start_line, character=0),
                end=types.Position(line=span.end_line, character=0),
            )
        lines = self.lines(path)
        if span.end_line >= len(lines):
            lines = tuple(lines) + ("",) * (span.end_line + 1 - len(lines))
        return span_to_range(lines, span, self.session.codec)


def hit_json(hit: SearchHit, lines: LineSource) -> dict[str, Any]:
    """A search hit as ``mimi.search`` returns it."""
    out: dict[str, Any] = {
        "uri": path_to_uri(hit.path),
        "range": range_json(lines.range(hit.path, hit.span)),
        "score": hit.score,
        "preview": hit.preview,
    }
    if hit.symbol:
        out["symbol"] = hit.symbol
    if hit.kind:
        out["kind"] = hit.kind
    if hit.language:
        out["language"] = hit.language
    return out


def symbol_information(info: SymbolInfo, lines: LineSource) -> types.SymbolInformation:
    return types.SymbolInformation(
        name=info.name,
        kind=SYMBOL_KINDS.get(info.kind, types.SymbolKind.Variable),
        location=types.Location(
            uri=path_to_uri(info.path), range=lines.range(info.path, info.span)
        ),
        container_name=info.container,
    )


def status_payload(status: IndexStatus) -> dict[str, Any] | None:
    """``mimi/indexStatus`` params for an ``IndexStatus`` (None for 'idle')."""
    if status.state == "idle":
        return None
    payload: dict[str, Any] = {
        "state": status.state,
        "files": status.files,
        "chunks": status.chunks,
        "embedded": status.embedded,
    }
    if status.message:
        payload["message"] = status.message
    return payload
