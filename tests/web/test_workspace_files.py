"""The folder the web page edits: every path stays inside it (real files, real symlinks)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from mimi_lsp.errors import OutsideWorkspace
from mimi_lsp.web.workspace_files import FileNotFound, FileProblem, SaveConflict, WorkspaceFiles


@pytest.fixture
def files(project: Path) -> WorkspaceFiles:
    return WorkspaceFiles(project)


@pytest.mark.parametrize(
    "path",
    [
        "../outside.txt",
        "pkg/../../outside.txt",
        "pkg/..",
        "./calc.py",
        "/etc/passwd",
        "C:/Windows/win.ini",
        "c:calc.py",
        "..\\outside.txt",
        "pkg\\geometry.py",
        "%2e%2e/outside.txt",
        "%2E%2E%2Foutside.txt",
        "calc.py\x00.txt",
    ],
)
def test_escaping_paths_are_refused(files: WorkspaceFiles, path: str) -> None:
    """'..', absolute, drive-letter, backslash, percent-encoded and NUL paths are refused."""
    with pytest.raises(OutsideWorkspace):
        files.read(path)


def test_symlink_to_a_file_outside_is_refused(files: WorkspaceFiles) -> None:
    """A link inside the folder pointing at a file outside is refused."""
    with pytest.raises(OutsideWorkspace):
        files.read("secret-link.txt")


def test_symlinked_folder_outside_is_refused_for_read_and_write(files: WorkspaceFiles) -> None:
    """A folder link leading outside can neither be read through nor written through."""
    with pytest.raises(OutsideWorkspace):
        files.read("link-out/secret.txt")
    with pytest.raises(OutsideWorkspace):
        files.write("link-out/new.txt", "x")
    assert not (files.root.parent / "proj-outside" / "new.txt").exists()


def test_symlink_inside_the_folder_is_followed(files: WorkspaceFiles) -> None:
    """A link to another file of the folder reads that file."""
    (files.root / "alias.py").symlink_to(files.root / "calc.py")
    assert files.read("alias.py").text.startswith("def add")


def test_listing_hides_ignored_and_outside_entries(files: WorkspaceFiles) -> None:
    """.gitignore'd files, always-ignored folders and links leading out are not listed."""
    (files.root / ".git").mkdir()
    (files.root / "node_modules").mkdir()
    names = [e.name for e in files.list_dir("")]
    assert names == ["pkg", ".gitignore", "calc.py", "README.md"]


def test_listing_puts_folders_first(files: WorkspaceFiles) -> None:
    """Folders come before files, each sorted by name."""
    entries = files.list_dir("")
    kinds = [e.kind for e in entries]
    assert kinds == sorted(kinds, key=lambda k: k != "dir")
    assert files.list_dir("pkg")[0].path == "pkg/__init__.py"


def test_nested_gitignore_applies_below_its_folder(files: WorkspaceFiles) -> None:
    """A .gitignore in a subfolder hides matching files there."""
    (files.root / "pkg" / ".gitignore").write_text("*.tmp\n")
    (files.root / "pkg" / "scratch.tmp").write_text("x")
    assert "pkg/scratch.tmp" not in [e.path for e in files.list_dir("pkg")]


def test_all_files_lists_every_visible_file(files: WorkspaceFiles) -> None:
    """Quick open sees nested files but nothing ignored or outside."""
    paths, truncated = files.all_files()
    assert not truncated
    assert "pkg/geometry.py" in paths
    assert not any(p.startswith(("build/", "link-out")) or p.endswith(".log") for p in paths)


def test_binary_and_missing_files_are_explained(files: WorkspaceFiles) -> None:
    """A binary file is a FileProblem, a missing one FileNotFound."""
    (files.root / "image.bin").write_bytes(b"\x89PNG\x00\x01")
    with pytest.raises(FileProblem):
        files.read("image.bin")
    with pytest.raises(FileNotFound):
        files.read("nope.py")


def test_save_detects_a_change_on_disk(files: WorkspaceFiles) -> None:
    """Saving over a file that changed since it was read is a conflict."""
    content = files.read("calc.py")
    path = files.root / "calc.py"
    path.write_text("changed elsewhere\n")
    os.utime(path, ns=(content.mtime_ns + 1_000_000_000, content.mtime_ns + 1_000_000_000))
    with pytest.raises(SaveConflict):
        files.write("calc.py", "mine\n", expected_mtime_ns=content.mtime_ns)
    assert path.read_text() == "changed elsewhere\n"


def test_save_keeps_the_mode_and_creates_folders(files: WorkspaceFiles) -> None:
    """An executable stays executable; a new file in a new folder is created."""
    script = files.root / "run.sh"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    files.write("run.sh", "#!/bin/sh\necho hi\n")
    assert stat.S_IMODE(script.stat().st_mode) == 0o755
    files.write("new/dir/mod.py", "x = 1\n")
    assert (files.root / "new" / "dir" / "mod.py").read_text() == "x = 1\n"
