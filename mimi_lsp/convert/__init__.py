"""Every conversion between domain dataclasses and ``lsprotocol`` types, in one package.

``positions`` (positions, ranges, spans in the negotiated encoding; client capabilities),
``completion`` (ghost text items), ``edits`` (the one ``WorkspaceEdit`` builder for agent plans),
``index`` (search hits, symbols, index status). Only this package, ``protocol.py``,
``language_server.py`` and ``features/`` import ``lsprotocol``.
"""

from mimi_lsp.convert.completion import completion_fallback_item, inline_item
from mimi_lsp.convert.positions import (
    client_support,
    col_to_position,
    line_end_range,
    position_codec,
    position_to_col,
    range_json,
    range_to_span,
    span_to_range,
)

__all__ = [
    "client_support",
    "col_to_position",
    "completion_fallback_item",
    "inline_item",
    "line_end_range",
    "position_codec",
    "position_to_col",
    "range_to_span",
    "span_to_range",
    "range_json",
]
