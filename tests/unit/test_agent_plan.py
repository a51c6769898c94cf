"""Edit plans: search/replace semantics, staleness, rebase, minimal text changes."""

from __future__ import annotations

from pathlib import Path

import pytest

from mimi_lsp.agent.plan import (
    EditFailed,
    EditPlan,
    Replace,
    StalePlan,
    apply_replace,
    text_changes,
)
from mimi_lsp.agent.workspace import Workspace
from mimi_lsp.domain import Span
from mimi_lsp.session import TextBuffer


def test_exact_block_replaces_once() -> None:
    """A search text found exactly once is replaced."""
    assert apply_replace("a = 1\nb = 2\n", Replace("b = 2\n", "b = 3\n")) == "a = 1\nb = 3\n"


def test_ambiguous_block_is_refused() -> None:
    """A search text found twice asks for more context."""
    with pytest.raises(EditFailed, match="2 places"):
        apply_replace("x\nx\n", Replace("x\n", "y\n"))


def test_missing_block_is_refused() -> None:
    """A search text not in the file tells the model to re-read."""
    with pytest.raises(EditFailed, match="not found"):
        apply_replace("x\n", Replace("z\n", "y\n"))


def test_indentation_slip_is_tolerated() -> None:
    """A block quoted with the wrong indentation still applies, re-indented."""
    text = "class A:\n    def f(self):\n        return 1\n"
    out = apply_replace(
        text, Replace("def f(self):\n    return 1\n", "def f(self):\n    return 2\n")
    )
    assert out == "class A:\n    def f(self):\n        return 2\n"


def make(
    tmp_path: Path, files: dict[str, str], open_docs: dict[str, TextBuffer] | None = None
) -> EditPlan:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    docs = open_docs or {}
    ws = Workspace(
        lambda: [str(tmp_path)], lambda path: docs[path].snapshot() if path in docs else None
    )
    return EditPlan(ws)


def test_reads_see_planned_text(tmp_path: Path) -> None:
    """After an edit, the plan's view of the file shows the new text; the disk is untouched."""
    plan = make(tmp_path, {"a.py": "x = 1\n"})
    plan.edit("a.py", [Replace("x = 1", "x = 2")])
    assert plan.current_text(str(tmp_path / "a.py")).text == "x = 2\n"
    assert (tmp_path / "a.py").read_text() == "x = 1\n"


def test_create_refuses_existing_file(tmp_path: Path) -> None:
    """create_file on an existing file is an error that points to edit."""
    plan = make(tmp_path, {"a.py": "x\n"})
    with pytest.raises(EditFailed, match="use edit"):
        plan.create("a.py", "y\n")


def test_edit_of_missing_file_points_to_create(tmp_path: Path) -> None:
    """edit on a file that does not exist points to create_file."""
    plan = make(tmp_path, {})
    with pytest.raises(EditFailed, match="create_file"):
        plan.edit("new.py", [Replace("a", "b")])


def test_writes_into_git_are_refused(tmp_path: Path) -> None:
    """The agent cannot write VCS metadata (hooks would run code)."""
    plan = make(tmp_path, {".git/hooks/pre-commit": "#!/bin/sh\n"})
    with pytest.raises(EditFailed, match="version-control"):
        plan.create(".git/hooks/post-checkout", "rm -rf /\n")


def test_unrelated_change_is_rebased(tmp_path: Path) -> None:
    """A document edited elsewhere since planning gets the same edit re-applied."""
    path = str((tmp_path / "a.py").resolve())
    buf = TextBuffer("file://" + path, "python", 1, "a = 1\nb = 2\n")
    plan = make(tmp_path, {"a.py": "a = 1\nb = 2\n"}, {path: buf})
    plan.edit("a.py", [Replace("b = 2", "b = 3")])
    buf.replace_all("a = 100\nb = 2\n")
    buf.version = 2
    assert plan.refresh() == ["a.py"]
    change = plan.changes_list[0]
    assert (change.base_version, change.new_text) == (2, "a = 100\nb = 3\n")


def test_conflicting_change_is_stale(tmp_path: Path) -> None:
    """A document whose edited lines changed since planning refuses the plan."""
    path = str((tmp_path / "a.py").resolve())
    buf = TextBuffer("file://" + path, "python", 1, "b = 2\n")
    plan = make(tmp_path, {"a.py": "b = 2\n"}, {path: buf})
    plan.edit("a.py", [Replace("b = 2", "b = 3")])
    buf.replace_all("b = 5\n")
    buf.version = 2
    with pytest.raises(StalePlan, match="a.py"):
        plan.refresh()


def test_text_changes_are_minimal_line_ranges() -> None:
    """Only the changed lines are replaced, with spans in the old text."""
    changes = text_changes("a\nb\nc\n", "a\nB\nc\nd\n")
    assert [(c.span, c.text) for c in changes] == [
        (Span(1, 0, 2, 0), "B\n"),
        (Span(3, 0, 3, 0), "d\n"),
    ]


def test_text_changes_at_end_without_newline() -> None:
    """A last line without a newline is replaced up to its end."""
    changes = text_changes("a\nb", "a\nc")
    assert [(c.span, c.text) for c in changes] == [(Span(1, 0, 1, 1), "c")]


def test_text_changes_reproduce_the_new_text() -> None:
    """Applying the changes to the old text yields the new text."""
    old, new = "x\ny\nz", "w\nx\nz\nq\n"
    buf = TextBuffer("file:///t", "python", 1, old)
    from mimi_lsp.session import PositionCodec

    for c in reversed(text_changes(old, new)):
        buf.apply(
            (c.span.start_line, c.span.start_col),
            (c.span.end_line, c.span.end_col),
            c.text,
            PositionCodec(),
        )
    assert buf.text == new
