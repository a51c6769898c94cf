"""Edit plans: what the agent wants to change, kept in memory until the editor confirms.

The agent never writes to disk. Its ``edit`` (search/replace blocks) and ``create_file`` tool
calls land in an ``EditPlan``: per file, the text it was read from (and the editor's version
when open), the operations, and the resulting text. Reads during the run see the planned text.

Before the plan leaves the server, ``refresh`` compares every base with the live document:
unchanged files pass; changed ones are *rebased* (the same search/replace operations re-applied
to the new text) when every operation still matches exactly once, and refused otherwise. A
plan never clobbers text the user typed meanwhile. ``changes`` turns each file into minimal
line-range replacements for a ``WorkspaceEdit`` (built in ``features/``).
"""

from __future__ import annotations

import difflib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from mimi_lsp.agent.workspace import FileText, Workspace
from mimi_lsp.domain import Span
from mimi_lsp.errors import MimiError
from mimi_lsp.index.ignore import read_regular
from mimi_lsp.session import split_lines


class EditFailed(MimiError):
    """A search/replace block does not apply; the message tells the model how to fix it."""


class StalePlan(MimiError):
    """A file changed since the plan was made and the plan cannot be rebased onto it."""


@dataclass(frozen=True, slots=True)
class Replace:
    """One search/replace block; an empty ``search`` on an empty file sets its content."""

    search: str
    replace: str


@dataclass(slots=True)
class FileChange:
    """The planned change of one file."""

    path: str
    base_text: str
    base_version: int | None
    """Editor version of the base when the file was open; None when it came from disk."""
    new_text: str
    created: bool = False
    base_mtime_ns: int | None = None
    ops: list[Replace] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return self.created or self.new_text != self.base_text


@dataclass(frozen=True, slots=True)
class TextChange:
    """Replace ``span`` (line/column pairs in code points) with ``text``."""

    span: Span
    text: str


def apply_replace(text: str, op: Replace) -> str:
    """Apply one search/replace block to ``text``: exact, then whitespace-tolerant, match once."""
    search, replace = op.search, op.replace
    if search == "":
        if text.strip():
            raise EditFailed("empty search text on a non-empty file; quote the lines to replace")
        return replace
    count = text.count(search)
    if count == 1:
        return text.replace(search, replace, 1)
    if count > 1:
        raise EditFailed(
            f"the search text matches {count} places; include more surrounding lines so it is unique"
        )
    # Models often get trailing whitespace or the indentation of the whole block wrong.
    fuzzy = _fuzzy_replace(text, search, replace)
    if fuzzy is not None:
        return fuzzy
    raise EditFailed(
        "the search text was not found; read_file the current text and copy the lines exactly"
    )


def _fuzzy_replace(text: str, search: str, replace: str) -> str | None:
    lines = text.splitlines(keepends=True)
    want = [line.strip() for line in search.strip("\n").splitlines()]
    if not want or not any(want):
        return None
    n = len(want)
    matches = [
        i for i in range(len(lines) - n + 1) if [line.strip() for line in lines[i : i + n]] == want
    ]
    if len(matches) != 1:
        return None
    i = matches[0]
    # Re-indent the replacement by the difference between the file's and the model's indent.
    old_first = next((line for line in lines[i : i + n] if line.strip()), "")
    search_first = next((line for line in search.strip("\n").splitlines() if line.strip()), "")
    file_indent = old_first[: len(old_first) - len(old_first.lstrip())]
    model_indent = search_first[: len(search_first) - len(search_first.lstrip())]
    eol = "\r\n" if lines[i].endswith("\r\n") else "\n"
    new_lines = []
    for line in replace.strip("\n").splitlines():
        if line.startswith(model_indent):
            line = file_indent + line[len(model_indent) :]
        new_lines.append(line.rstrip() + eol if line.strip() else eol)
    tail_had_eol = lines[i + n - 1].endswith(("\n", "\r"))
    block = "".join(new_lines)
    if not tail_had_eol:
        block = block.rstrip("\r\n")
    return "".join(lines[:i]) + block + "".join(lines[i + n :])


class EditPlan:
    """The files an agent run changes or creates, with their bases for the staleness check."""

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self.files: dict[str, FileChange] = {}

    # ------------------------------------------------------------------ reading through the plan

    def current_text(self, path: str) -> FileText:
        """The planned text of a file when the plan touches it, else the live one."""
        change = self.files.get(path)
        if change is not None:
            return FileText(path, change.new_text, change.base_version)
        return self.workspace.read(path)

    # ------------------------------------------------------------------ building

    def edit(self, name: str, ops: list[Replace]) -> FileChange:
        """Apply search/replace blocks to a workspace file (all or nothing)."""
        path = self.workspace.resolve(name)
        if (refusal := self.workspace.write_refusal(path)) is not None:
            raise EditFailed(f"{self.workspace.relative(path)} {refusal}")
        change = self.files.get(path)
        if change is None:
            if not os.path.exists(path) and self.workspace.open_snapshot(path) is None:
                raise EditFailed(
                    f"no such file: {self.workspace.relative(path)}; use create_file for new files"
                )
            live = self.workspace.read(path)
            change = FileChange(
                path, live.text, live.version, live.text, base_mtime_ns=live.mtime_ns
            )
        text = change.new_text
        for n, op in enumerate(ops, 1):
            try:
                text = apply_replace(text, op)
            except EditFailed as exc:
                prefix = f"block {n} of {len(ops)}: " if len(ops) > 1 else ""
                raise EditFailed(
                    f"{self.workspace.relative(path)}: {prefix}{exc.message}"
                ) from None
        change.new_text = text
        change.ops.extend(ops)
        self.files[path] = change
        return change

    def create(self, name: str, content: str, *, overwrite: bool = False) -> FileChange:
        """Plan a new file (an existing one only with ``overwrite``, as a full replacement)."""
        path = self.workspace.resolve(name)
        if (refusal := self.workspace.write_refusal(path)) is not None:
            raise EditFailed(f"{self.workspace.relative(path)} {refusal}")
        exists = os.path.exists(path) or self.workspace.open_snapshot(path) is not None
        planned = self.files.get(path)
        if planned is not None and planned.created:
            planned.new_text = content
            return planned
        if exists:
            if not overwrite:
                raise EditFailed(
                    f"{self.workspace.relative(path)} already exists; use edit to change it"
                )
            live = self.workspace.read(path)
            change = FileChange(path, live.text, live.version, content, base_mtime_ns=live.mtime_ns)
            change.ops.append(Replace(live.text, content))
        else:
            if os.path.isdir(os.path.dirname(path)) is False and not _under_folder(
                self.workspace, path
            ):
                raise EditFailed(f"cannot create {self.workspace.relative(path)}")
            change = FileChange(path, "", None, content, created=True)
        self.files[path] = change
        return change

    # ------------------------------------------------------------------ checking

    @property
    def changes_list(self) -> list[FileChange]:
        return [c for c in self.files.values() if c.changed]

    def refresh(self) -> list[str]:
        """Check every base against the live file; rebase or raise ``StalePlan``.

        Returns the relative paths that were rebased onto newer text.
        """
        rebased: list[str] = []
        stale: list[str] = []
        for change in self.changes_list:
            rel = self.workspace.relative(change.path)
            if change.created:
                if os.path.exists(change.path) or self.workspace.open_snapshot(change.path):
                    stale.append(f"{rel} (created meanwhile)")
                continue
            try:
                live = self.workspace.read(change.path)
            except MimiError:
                stale.append(f"{rel} (deleted meanwhile)")
                continue
            if live.text == change.base_text:
                # Same text: adopt the live version (e.g. the file was opened meanwhile).
                change.base_version = live.version
                continue
            text = live.text
            try:
                for op in change.ops:
                    text = apply_replace(text, op)
            except EditFailed:
                stale.append(rel)
                continue
            change.base_text, change.base_version, change.new_text = live.text, live.version, text
            change.base_mtime_ns = live.mtime_ns
            rebased.append(rel)
        if stale:
            raise StalePlan(
                "changed since Mimi planned the edit: " + ", ".join(stale),
                fix="Run the action again on the current text.",
            )
        return rebased

    def is_current(self, change: FileChange) -> bool:
        """True when the live document still has the base version/text of ``change``."""
        if change.created:
            return not os.path.exists(change.path)
        snap = self.workspace.open_snapshot(change.path)
        if snap is not None:
            return snap.version == change.base_version and snap.text == change.base_text
        try:
            data, _ = read_regular(change.path, len(change.base_text.encode()) + 1)
        except OSError:
            return False  # gone, grown, or no longer a regular file (a FIFO cannot block us)
        return data.decode("utf-8", errors="replace") == change.base_text

    # ------------------------------------------------------------------ output

    def write(self) -> list[str]:
        """Write the plan to disk (the CLI, benchmarks and MCP; editors go through LSP)."""
        written = []
        for change in self.changes_list:
            Path(change.path).parent.mkdir(parents=True, exist_ok=True)
            Path(change.path).write_text(change.new_text)
            written.append(self.workspace.relative(change.path))
        return written

    def diff(self, context: int = 2) -> str:
        """A unified diff of the whole plan, for summaries and confirmations."""
        out: list[str] = []
        for change in self.changes_list:
            rel = self.workspace.relative(change.path)
            out.extend(
                difflib.unified_diff(
                    change.base_text.splitlines(keepends=True),
                    change.new_text.splitlines(keepends=True),
                    fromfile="/dev/null" if change.created else f"a/{rel}",
                    tofile=f"b/{rel}",
                    n=context,
                )
            )
        return "".join(line if line.endswith("\n") else line + "\n" for line in out)


def _under_folder(workspace: Workspace, path: str) -> bool:
    return any(path.startswith(f.rstrip(os.sep) + os.sep) for f in workspace.folders)


def text_changes(old: str, new: str) -> list[TextChange]:
    """Minimal line-range replacements turning ``old`` into ``new`` (non-overlapping, in order)."""
    a = split_lines(old)
    b = split_lines(new)
    out: list[TextChange] = []
    matcher = difflib.SequenceMatcher(a=a, b=b, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        text = "".join(b[j1:j2])
        if i2 < len(a):
            span = Span(i1, 0, i2, 0)
        else:
            last = len(a) - 1
            span = Span(
                min(i1, last), 0 if i1 <= last else len(a[last].rstrip("\r\n")), last, len(a[last])
            )
        out.append(TextChange(span, text))
    return out


_FENCE_RE = re.compile(r"^```[\w+-]*\n|\n```\s*$")


def strip_fences(text: str) -> str:
    """Drop a Markdown code fence around file content (models add them to create_file)."""
    if text.startswith("```"):
        return _FENCE_RE.sub("", text)
    return text
