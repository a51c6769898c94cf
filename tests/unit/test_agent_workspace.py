"""Workspace confinement: every path a model names stays inside the workspace folders."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mimi_lsp.agent.workspace import FileNotFound, Workspace
from mimi_lsp.errors import OutsideWorkspace


@pytest.fixture
def tree(tmp_path: Path) -> tuple[Path, Path]:
    root = tmp_path / "project"
    (root / "src").mkdir(parents=True)
    (root / "src" / "app.py").write_text("def main():\n    return 1\n")
    (root / ".gitignore").write_text("generated/\n*.log\n")
    (root / "generated").mkdir()
    (root / "generated" / "big.py").write_text("x = 1\n")
    (root / "debug.log").write_text("log\n")
    outside = tmp_path / "secrets"
    outside.mkdir()
    (outside / "id_rsa").write_text("PRIVATE KEY\n")
    return root, outside


def ws(root: Path) -> Workspace:
    return Workspace(lambda: [str(root)])


def test_relative_path_resolves_inside(tree: tuple[Path, Path]) -> None:
    """A relative path names a file under the workspace folder."""
    root, _ = tree
    assert ws(root).resolve("src/app.py") == os.path.realpath(root / "src" / "app.py")


def test_absolute_path_inside_is_accepted(tree: tuple[Path, Path]) -> None:
    """An absolute path inside the workspace is fine (models often use them)."""
    root, _ = tree
    path = str(root / "src" / "app.py")
    assert ws(root).resolve(path) == os.path.realpath(path)


@pytest.mark.parametrize(
    "name",
    [
        "../secrets/id_rsa",
        "src/../../secrets/id_rsa",
        "..\\secrets\\id_rsa",
        "..%2fsecrets%2fid_rsa",
        "%2e%2e/secrets/id_rsa",
        "~/.ssh/id_rsa",
        "~root/.ssh/id_rsa",
        "/etc/passwd",
        "C:\\Windows\\system.ini",
        "\\\\server\\share\\x",
        "file:///etc/passwd",
        "src/app.py\x00.txt",
        "",
    ],
)
def test_escapes_are_refused(tree: tuple[Path, Path], name: str) -> None:
    """Traversal, home, absolute, encoded, Windows and NUL tricks raise OutsideWorkspace."""
    root, _ = tree
    with pytest.raises(OutsideWorkspace):
        ws(root).resolve(name)


def test_symlink_pointing_outside_is_refused(tree: tuple[Path, Path]) -> None:
    """A symlink inside the workspace whose target is outside cannot be read through."""
    root, outside = tree
    os.symlink(outside, root / "link")
    with pytest.raises(OutsideWorkspace, match="link"):
        ws(root).read("link/id_rsa")
    os.symlink(outside / "id_rsa", root / "key")
    with pytest.raises(OutsideWorkspace):
        ws(root).read("key")


def test_symlink_inside_is_followed(tree: tuple[Path, Path]) -> None:
    """A symlink to another place inside the workspace works."""
    root, _ = tree
    os.symlink(root / "src", root / "alias")
    assert ws(root).read("alias/app.py").text.startswith("def main")


def test_missing_file_is_a_clear_error(tree: tuple[Path, Path]) -> None:
    """Reading a file that does not exist names it."""
    root, _ = tree
    with pytest.raises(FileNotFound, match="nope.py"):
        ws(root).read("src/nope.py")


def test_no_folder_refuses_everything(tmp_path: Path) -> None:
    """Without a workspace folder nothing can be resolved."""
    with pytest.raises(OutsideWorkspace):
        Workspace(lambda: []).resolve("x.py")


def test_listing_skips_ignored_and_vendored(tree: tuple[Path, Path]) -> None:
    """list_files honours .gitignore and never descends into .git or node_modules."""
    root, _ = tree
    (root / "node_modules").mkdir()
    (root / "node_modules" / "dep.js").write_text("x\n")
    files, cut = ws(root).list_files()
    assert "src/app.py" in files
    assert not any(f.startswith(("generated", "node_modules")) or f.endswith(".log") for f in files)
    assert cut is False


def test_grep_fallback_finds_identifiers(tree: tuple[Path, Path]) -> None:
    """Without an index, search greps the workspace for the query's words."""
    root, _ = tree
    hits = ws(root).grep("where is main defined")
    assert hits and hits[0].path.endswith("app.py")


def test_symbol_scan_finds_definitions(tree: tuple[Path, Path]) -> None:
    """Without an index, find_symbol scans for definitions by name."""
    root, _ = tree
    found = ws(root).scan_symbols("main")
    assert [(s.name, s.kind, s.span.start_line) for s in found] == [("main", "function", 0)]


def test_multi_root_folder_prefix(tmp_path: Path) -> None:
    """With several folders, '<folder>/path' addresses that folder."""
    a, b = tmp_path / "a", tmp_path / "b"
    (a).mkdir()
    (b).mkdir()
    (b / "x.py").write_text("x = 1\n")
    w = Workspace(lambda: [str(a), str(b)])
    assert w.resolve("b/x.py") == os.path.realpath(b / "x.py")
    assert w.resolve("x.py") == os.path.realpath(b / "x.py")
    assert w.relative(os.path.realpath(b / "x.py")) == "b/x.py"
