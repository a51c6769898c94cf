"""What a predictor returns, what it reads, and the checks every prediction passes.

A ``NextEdit`` replaces ``span`` of one document version with ``text``. Predictors read a
``PredictionContext``: the document at the cursor, the workspace's edit history, and the other
open documents (newest viewed first). ``undoes`` says whether a prediction would take back one
of the user's own recent edits (such predictions are dropped and counted: the reversal ratio).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from mimi_lsp.domain import DocumentSnapshot, Span
from mimi_lsp.next_edit.history import Edit, EditHistory
from mimi_lsp.next_edit.syntax import SyntaxCache


@dataclass(frozen=True, slots=True)
class NextEdit:
    """Replace ``span`` (code points) of ``uri`` at ``version`` with ``text``."""

    uri: str
    version: int
    span: Span
    text: str
    source: str
    """Which predictor made it: 'rename', 'siblings' or 'model'."""
    id: str = ""


@dataclass(slots=True)
class PredictionContext:
    """Everything a predictor may read for one request."""

    snapshot: DocumentSnapshot
    line: int
    col: int
    history: EditHistory
    open_documents: Callable[[], list[DocumentSnapshot]]
    """Other open documents, most recently viewed first."""
    syntax: SyntaxCache
    _snapshots: dict[str, DocumentSnapshot | None] = field(default_factory=dict)

    def snapshot_of(self, uri: str) -> DocumentSnapshot | None:
        """The current snapshot of an open document (the request's own for its uri)."""
        if uri == self.snapshot.uri:
            return self.snapshot
        if uri not in self._snapshots:
            self._snapshots[uri] = next((s for s in self.open_documents() if s.uri == uri), None)
        return self._snapshots[uri]

    def last_edit(self) -> Edit | None:
        """The newest edit of the workspace, if it is still in its document as recorded."""
        edit = self.history.last()
        if edit is None:
            return None
        snapshot = self.snapshot_of(edit.uri)
        if snapshot is None or not edit.still_applies(snapshot):
            return None
        return edit


def trimmed(line: int, col: int, old: str, new: str) -> tuple[int, int, str, str]:
    """The same replacement without the text ``old`` and ``new`` share at both ends."""
    start = 0
    limit = min(len(old), len(new))
    while start < limit and old[start] == new[start]:
        start += 1
    end = 0
    while end < limit - start and old[len(old) - 1 - end] == new[len(new) - 1 - end]:
        end += 1
    head = old[:start]
    breaks = head.count("\n")
    if breaks:
        line, col = line + breaks, start - head.rfind("\n") - 1
    else:
        col += start
    return line, col, old[start : len(old) - end], new[start : len(new) - end]


def undoes(edit: NextEdit, snapshot: DocumentSnapshot, recent: list[Edit]) -> bool:
    """Whether applying ``edit`` would restore text one of the ``recent`` edits replaced."""
    if edit.span.start_line != edit.span.end_line:
        return False
    line = edit.span.start_line
    if line >= len(snapshot.lines):
        return False
    current = snapshot.line_text(line)[edit.span.start_col : edit.span.end_col]
    mine = trimmed(line, edit.span.start_col, current, edit.text)
    for past in recent:
        if past.uri != edit.uri or not past.single_line or past.line != line:
            continue
        # The inverse of the past edit, in today's coordinates: ``new`` back to ``old``.
        if trimmed(past.line, past.col, past.new, past.old) == mine:
            return True
    return False
