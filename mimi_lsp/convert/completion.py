"""Ghost text as ``InlineCompletionItem`` and as the completion-menu fallback item."""

from __future__ import annotations

from lsprotocol import types

from mimi_lsp.convert.positions import col_to_position
from mimi_lsp.domain import CompletionItem, DocumentSnapshot
from mimi_lsp.session import PositionCodec


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
