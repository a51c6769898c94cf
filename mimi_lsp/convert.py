"""Conversions between domain dataclasses and ``lsprotocol`` types (positions in the
negotiated encoding, UTF-16 unless the client asked otherwise)."""

from __future__ import annotations

from collections.abc import Sequence

from lsprotocol import types

from mimi_lsp.domain import CompletionItem, DocumentSnapshot, Span
from mimi_lsp.session import PositionCodec


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
    text = lines[line] if line < len(lines) else ""
    return types.Position(line=line, character=codec.from_col(text, col))


def span_to_range(lines: Sequence[str], span: Span, codec: PositionCodec) -> types.Range:
    return types.Range(
        start=col_to_position(lines, span.start_line, span.start_col, codec),
        end=col_to_position(lines, span.end_line, span.end_col, codec),
    )


def plain_span_to_range(span: Span) -> types.Range:
    """For files that are not open: columns are taken as-is (ASCII is the common case)."""
    return types.Range(
        start=types.Position(line=span.start_line, character=span.start_col),
        end=types.Position(line=span.end_line, character=span.end_col),
    )


def inline_item(
    snapshot: DocumentSnapshot, item: CompletionItem, codec: PositionCodec
) -> types.InlineCompletionItem:
    """Ghost text; with a range when it replaces text after the cursor."""
    rng = None
    if item.replace_end_col is not None:
        rng = types.Range(
            start=col_to_position(snapshot.lines, item.line, item.col, codec),
            end=col_to_position(snapshot.lines, item.line, item.replace_end_col, codec),
        )
    return types.InlineCompletionItem(insert_text=item.insert_text, range=rng)


def completion_fallback_item(
    snapshot: DocumentSnapshot, item: CompletionItem, codec: PositionCodec
) -> types.CompletionItem:
    """The one AI item of the completion-menu fallback, inserted through a ``textEdit``."""
    line_text = snapshot.line_text(item.line)
    start = col_to_position(snapshot.lines, item.line, item.col, codec)
    end_col = item.replace_end_col if item.replace_end_col is not None else item.col
    end = col_to_position(snapshot.lines, item.line, end_col, codec)
    first_line = item.insert_text.splitlines()[0] if item.insert_text else ""
    # Editors filter menu items by the word before the cursor: start the edit there so the
    # item survives filtering, and prefix the insert text with that word.
    word_start = item.col
    while word_start > 0 and (
        line_text[word_start - 1].isalnum() or line_text[word_start - 1] == "_"
    ):
        word_start -= 1
    word = line_text[word_start : item.col]
    if word:
        start = col_to_position(snapshot.lines, item.line, word_start, codec)
    label = (word + first_line).strip() or first_line
    return types.CompletionItem(
        label=label[:80],
        kind=types.CompletionItemKind.Text,
        detail="mimi",
        documentation=types.MarkupContent(
            kind=types.MarkupKind.Markdown,
            value=f"```{snapshot.language_id}\n{item.insert_text}\n```",
        ),
        filter_text=word + item.insert_text,
        sort_text="0",
        text_edit=types.TextEdit(
            range=types.Range(start=start, end=end), new_text=word + item.insert_text
        ),
        insert_text_format=types.InsertTextFormat.PlainText,
        preselect=True,
    )
