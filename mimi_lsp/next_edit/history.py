"""The edit history next-edit predictions start from, built from ``didChange`` alone.

Editors send no edit log, but every change the session applies is an edit: ``EditHistory``
hears each one (``Session.on_edit``) and coalesces keystrokes into meaningful edits, so typing a
word, deleting one or retyping it is one ``Edit`` (its text before and after, where, when).
A change that does not touch the edit being grown, or that spans lines, starts a new one. The
history is bounded (``max_edits`` per workspace folder) and also remembers which files the user
viewed most recently (opened, edited, asked about). Nothing here trusts its own past blindly:
``Edit.still_applies`` checks an edit against the current text before a predictor builds on it,
so history from a file that was reloaded or changed outside the session gives nothing.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from mimi_lsp.domain import DocumentSnapshot, TextChange
from mimi_lsp.uris import uri_to_path

log = logging.getLogger(__name__)

MAX_EDITS = 64
"""Edits kept per workspace folder."""
MAX_EDIT_CHARS = 20_000
"""A change larger than this (a paste, a reload) ends the file's history: nothing to learn."""
MAX_VIEWED = 20


@dataclass(slots=True)
class Edit:
    """A coalesced edit: ``old`` at (line, col) became ``new`` (code points, in the document as it
    was before the edit began). ``version`` is the document's version after its last change."""

    uri: str
    line: int
    col: int
    old: str
    new: str
    started: float
    updated: float
    version: int

    @property
    def end(self) -> tuple[int, int]:
        """Where ``new`` ends in the document after the edit."""
        return end_of(self.line, self.col, self.new)

    @property
    def single_line(self) -> bool:
        return "\n" not in self.old and "\n" not in self.new and "\r" not in self.new

    def still_applies(self, snapshot: DocumentSnapshot) -> bool:
        """Whether ``new`` is still where this edit put it in ``snapshot``."""
        if snapshot.uri != self.uri or self.line >= len(snapshot.lines):
            return False
        return text_at(snapshot.lines, self.line, self.col, len(self.new)) == self.new


def end_of(line: int, col: int, text: str) -> tuple[int, int]:
    """The position after ``text`` inserted at (line, col)."""
    breaks = text.count("\n")
    if not breaks:
        return line, col + len(text)
    return line + breaks, len(text) - text.rfind("\n") - 1


def offset_in(text: str, base: tuple[int, int], target: tuple[int, int]) -> int:
    """Offset of ``target`` in ``text``, which starts at position ``base`` (-1 if outside)."""
    if target < base:
        return -1
    if target[0] == base[0]:
        offset = target[1] - base[1]
    else:
        offset = 0
        for _ in range(target[0] - base[0]):
            nl = text.find("\n", offset)
            if nl < 0:
                return -1
            offset = nl + 1
        offset += target[1]
    return offset if offset <= len(text) else -1


def text_at(lines: Sequence[str], line: int, col: int, length: int) -> str:
    """``length`` characters of the document from (line, col)."""
    out = lines[line][col : col + length]
    i = line + 1
    while len(out) < length and i < len(lines):
        out += lines[i][: length - len(out)]
        i += 1
    return out


class EditHistory:
    """Recent edits of one workspace folder, oldest first, plus the files viewed lately."""

    def __init__(self, max_edits: int = MAX_EDITS, clock: Callable[[], float] = time.monotonic):
        self.edits: deque[Edit] = deque(maxlen=max_edits)
        self.viewed: OrderedDict[str, float] = OrderedDict()
        self._open: Edit | None = None
        """The edit still growing (the last one in ``edits``), if any."""
        self._clock = clock

    def record(self, uri: str, version: int, change: TextChange) -> Edit | None:
        """Add one applied change; returns the edit it became part of (None when ignored)."""
        now = self._clock()
        self.touch(uri, now)
        if change.old == change.new:
            return None
        if len(change.old) + len(change.new) > MAX_EDIT_CHARS:
            self.forget(uri)  # a reload or a big paste: older positions mean nothing now
            return None
        current = self._open
        if current is not None and current.uri == uri and (merged := _merge(current, change)):
            current.line, current.col, current.old, current.new = merged
            current.updated, current.version = now, version
            if current.old == current.new:  # typed and deleted again: nothing happened
                self.edits.pop()
                self._open = None
                return None
            return current
        edit = Edit(uri, change.line, change.col, change.old, change.new, now, now, version)
        self.edits.append(edit)
        self._open = edit if edit.single_line else None
        return edit

    def touch(self, uri: str, when: float | None = None) -> None:
        """``uri`` was viewed (opened, edited, asked about) now."""
        self.viewed[uri] = self._clock() if when is None else when
        self.viewed.move_to_end(uri)
        while len(self.viewed) > MAX_VIEWED:
            self.viewed.popitem(last=False)

    def forget(self, uri: str) -> None:
        """Drop every edit of ``uri`` (its text was replaced wholesale)."""
        kept = [e for e in self.edits if e.uri != uri]
        self.edits.clear()
        self.edits.extend(kept)
        if self._open is not None and self._open.uri == uri:
            self._open = None

    def close_open_edit(self) -> None:
        """The edit being grown is complete (e.g. a suggestion was just shown for it)."""
        self._open = None

    def last(self, uri: str | None = None) -> Edit | None:
        """The newest edit (of ``uri`` when given)."""
        for edit in reversed(self.edits):
            if uri is None or edit.uri == uri:
                return edit
        return None

    def of(self, uri: str) -> list[Edit]:
        """Edits of ``uri``, oldest first."""
        return [e for e in self.edits if e.uri == uri]

    def recently_viewed(self, exclude: str | None = None) -> list[str]:
        """Viewed files, most recent first."""
        return [u for u in reversed(self.viewed) if u != exclude]


def _merge(edit: Edit, change: TextChange) -> tuple[int, int, str, str] | None:
    """``edit`` grown by ``change`` when the change touches it on the same line, else None."""
    if "\n" in change.old or "\n" in change.new or "\r" in change.new:
        return None
    start = (edit.line, edit.col)
    end = edit.end
    c_start = (change.line, change.col)
    c_end = (change.line, change.col + len(change.old))
    if c_start[0] != edit.line or c_end < start or c_start > end:
        return None
    # Both lie on one line: plain column arithmetic.
    a = change.col - edit.col  # change start relative to the edit's text (may be < 0)
    b = a + len(change.old)  # change end relative to it (may be > len(new))
    new = edit.new
    left = change.old[: max(0, -a)]  # text before the edit that the change also replaced
    right = change.old[len(change.old) - max(0, b - len(new)) :] if b > len(new) else ""
    old = left + edit.old + right
    tail = new[b:] if b <= len(new) else ""
    return edit.line, min(edit.col, change.col), old, new[: max(a, 0)] + change.new + tail


class Histories:
    """One ``EditHistory`` per workspace folder (files outside every folder share one)."""

    def __init__(self, folders: Callable[[], Sequence[str]], max_edits: int = MAX_EDITS) -> None:
        self._folders = folders
        self._max_edits = max_edits
        self._by_folder: dict[str, EditHistory] = {}

    def folder_of(self, uri: str) -> str:
        try:
            path = uri_to_path(uri)
        except Exception:
            return ""
        best = ""
        for folder in self._folders():
            root = folder.rstrip("/")
            if (path == root or path.startswith(root + "/")) and len(root) > len(best):
                best = root
        return best

    def for_uri(self, uri: str) -> EditHistory:
        key = self.folder_of(uri)
        history = self._by_folder.get(key)
        if history is None:
            history = self._by_folder[key] = EditHistory(self._max_edits)
        return history
