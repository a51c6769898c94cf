"""Positions, ranges and client capabilities between ``lsprotocol`` and the domain.

Protocol columns are in the negotiated position encoding (UTF-16 unless the client asked for
UTF-8 or UTF-32); domain columns are code points. ``PositionCodec`` (``session.py``) does the
arithmetic; everything here only picks the line and builds the protocol objects.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lsprotocol import types

from mimi_lsp.domain import DocumentSnapshot, Span
from mimi_lsp.session import ClientSupport, PositionCodec


def range_json(rng: types.Range) -> dict[str, Any]:
    """A protocol range as plain JSON data (for command arguments and action data)."""
    return {
        "start": {"line": rng.start.line, "character": rng.start.character},
        "end": {"line": rng.end.line, "character": rng.end.character},
    }


def position_codec(encoding: Any) -> PositionCodec:
    """The codec for a negotiated ``PositionEncodingKind`` (UTF-16 when none)."""
    value = getattr(encoding, "value", encoding) or "utf-16"
    return PositionCodec(str(value))


def position_to_col(
    snapshot: DocumentSnapshot, position: types.Position, codec: PositionCodec
) -> tuple[int, int]:
    """(line, code-point column) for a protocol position, clamped to the document."""
    line = min(max(position.line, 0), len(snapshot.lines) - 1)
    if position.line >= len(snapshot.lines):
        return line, len(snapshot.line_text(line))
    return line, codec.to_col(snapshot.lines[line], max(position.character, 0))


def col_to_position(
    lines: Sequence[str], line: int, col: int, codec: PositionCodec
) -> types.Position:
    """The protocol position of a code-point column (past the last line: column as given)."""
    text = lines[line] if line < len(lines) else ""
    return types.Position(line=line, character=codec.from_col(text, col))


def span_to_range(lines: Sequence[str], span: Span, codec: PositionCodec) -> types.Range:
    return types.Range(
        start=col_to_position(lines, span.start_line, span.start_col, codec),
        end=col_to_position(lines, span.end_line, span.end_col, codec),
    )


def range_to_span(
    snapshot: DocumentSnapshot | None, rng: types.Range, codec: PositionCodec
) -> Span:
    """A protocol range as a code-point span of ``snapshot`` (columns as-is without one)."""
    if snapshot is None:
        s, e = rng.start, rng.end
        return Span(s.line, s.character, e.line, e.character)
    sl, sc = position_to_col(snapshot, rng.start, codec)
    el, ec = position_to_col(snapshot, rng.end, codec)
    return Span(sl, sc, el, ec)


def line_end_range(
    snapshot: DocumentSnapshot, first: int, last: int, codec: PositionCodec
) -> types.Range:
    """Whole lines ``first..last``: from the first's start to the end of the last's text."""
    return span_to_range(snapshot.lines, Span(first, 0, last, len(snapshot.line_text(last))), codec)


def client_support(caps: types.ClientCapabilities | None) -> ClientSupport:
    """What the client can do, read once from its capabilities."""
    if caps is None:
        return ClientSupport()
    text_doc = caps.text_document
    workspace = caps.workspace
    ws_edit = workspace.workspace_edit if workspace else None
    ops = (
        [str(getattr(o, "value", o)) for o in (ws_edit.resource_operations or [])]
        if ws_edit
        else []
    )
    # Neovim applies documentChanges but declares only resourceOperations: resource
    # operations exist only inside documentChanges, so they imply it.
    doc_changes = bool(ws_edit and (ws_edit.document_changes or ops))
    code_action = text_doc.code_action if text_doc else None
    watched = workspace.did_change_watched_files if workspace else None
    return ClientSupport(
        inline_completion=bool(text_doc and text_doc.inline_completion is not None),
        document_changes=doc_changes,
        create_files=doc_changes and "create" in ops,
        change_annotations=bool(
            doc_changes and ws_edit and ws_edit.change_annotation_support is not None
        ),
        work_done_progress=bool(caps.window and caps.window.work_done_progress),
        code_action_resolve=bool(
            code_action
            and code_action.data_support
            and code_action.resolve_support
            and "edit" in code_action.resolve_support.properties
        ),
        configuration=bool(workspace and workspace.configuration),
        watched_files_registration=bool(watched and watched.dynamic_registration),
    )
