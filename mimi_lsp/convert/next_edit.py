"""Next-edit suggestions in the shape Copilot's language server uses (``copilotInlineEdit``)."""

from __future__ import annotations

from typing import Any

from mimi_lsp.convert.index import range_json
from mimi_lsp.convert.positions import span_to_range
from mimi_lsp.domain import DocumentSnapshot
from mimi_lsp.next_edit.edits import NextEdit
from mimi_lsp.session import PositionCodec


def inline_edit_json(
    edit: NextEdit, target: DocumentSnapshot, codec: PositionCodec, accept_command: str
) -> dict[str, Any]:
    """One ``{range, text, textDocument, command}`` of ``textDocument/copilotInlineEdit``."""
    return {
        "range": range_json(span_to_range(target.lines, edit.span, codec)),
        "text": edit.text,
        "textDocument": {"uri": edit.uri, "version": edit.version},
        "command": {
            "title": "Accept next edit",
            "command": accept_command,
            "arguments": [edit.id],
        },
    }
