"""The folder a ``mimi-lsp web`` page edits: list, read and save, confined to that folder.

Sits behind the HTTP file endpoints of ``web/app.py``; the browser never sees a filesystem
path, only paths relative to the root written with ``/``. Every path from the page goes through
``WorkspaceFiles.resolve``, which refuses ``..``, absolute and Windows-style paths, backslashes,
NUL bytes, percent-encoded text (a second decoding must never be able to create ``..``), and
anything whose real path (symlinks followed) lies outside the root. Listings skip what git
would ignore (``.gitignore`` files along the path, plus a few always-ignored folders).
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pathspec

from mimi_lsp.errors import FileNotFound, MimiError, OutsideWorkspace

ALWAYS_IGNORED = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        "node_modules",
        "__pycache__",
        ".venv",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        ".DS_Store",
    }
)
MAX_FILE_BYTES = 5_000_000
MAX_LISTED_FILES = 20_000

_PERCENT = re.compile(r"%[0-9A-Fa-f]{2}")
_DRIVE = re.compile(r"^[A-Za-z]:")


class FileProblem(MimiError):
    """A file that exists but cannot be edited here (binary, too large, not UTF-8, a folder)."""

    status = 415


class SaveConflict(MimiError):
    """The file changed on disk since the page read it."""

    status = 409

    def __init__(self, message: str, *, mtime_ns: int, fix: str = "") -> None:
        super().__init__(message, fix=fix)
        self.mtime_ns = mtime_ns


@dataclass(frozen=True, slots=True)
class Entry:
    """One row of a folder listing."""

    name: str
    path: str
    kind: str  # "file" | "dir"
    size: int | None = None


@dataclass(frozen=True, slots=True)
class FileContent:
    """A text file as read from disk; ``mtime_ns`` comes back on save to detect conflicts."""

    path: str
    text: str
    mtime_ns: int
    size: int


class WorkspaceFiles:
    """List, read and save files under one root folder, refusing anything outside it."""

    def __init__(
        self, root: str | os.PathLike[str], *, max_file_bytes: int = MAX_FILE_BYTES
    ) -> None:
        self.root = Path(root).resolve(strict=True)
        if not self.root.is_dir():
            raise NotADirectoryError(str(root))
        self.max_file_bytes = max_file_bytes
        self._ignore_cache: dict[Path, tuple[float, pathspec.GitIgnoreSpec | None]] = {}

    # ------------------------------------------------------------------ paths

    def check_relative(self, rel: str) -> list[str]:
        """The segments of a page-supplied path, or ``OutsideWorkspace`` if it could escape."""
        if not isinstance(rel, str):
            raise OutsideWorkspace("path must be a string")
        if "\x00" in rel or "\\" in rel:
            raise OutsideWorkspace("path contains a backslash or NUL byte")
        if rel.startswith("/") or _DRIVE.match(rel):
            raise OutsideWorkspace("absolute paths are refused; use a path relative to the folder")
        if _PERCENT.search(rel):
            raise OutsideWorkspace("percent-encoded paths are refused")
        parts = [p for p in rel.split("/") if p != ""]
        if any(p in (".", "..") for p in parts):
            raise OutsideWorkspace("'.' and '..' are refused in paths")
        return parts

    def resolve(self, rel: str) -> Path:
        """The real path of ``rel`` (symlinks followed), guaranteed to lie inside the root."""
        parts = self.check_relative(rel)
        candidate = self.root.joinpath(*parts)
        real = Path(os.path.realpath(candidate))
        if real != self.root and not real.is_relative_to(self.root):
            raise OutsideWorkspace(f"{rel} points outside the folder")
        return real

    def relative(self, path: Path) -> str:
        """The page-side path of a path inside the root."""
        return path.relative_to(self.root).as_posix()

    def uri(self, rel: str) -> str:
        """The file:// URI the language server sees for ``rel`` (the lexical path, not real)."""
        parts = self.check_relative(rel)
        return self.root.joinpath(*parts).as_uri()

    # ------------------------------------------------------------------ ignores

    def _spec(self, folder: Path) -> pathspec.GitIgnoreSpec | None:
        gitignore = folder / ".gitignore"
        try:
            mtime = gitignore.stat().st_mtime
        except OSError:
            self._ignore_cache.pop(folder, None)
            return None
        cached = self._ignore_cache.get(folder)
        if cached is not None and cached[0] == mtime:
            return cached[1]
        try:
            lines = gitignore.read_text(encoding="utf-8", errors="replace").splitlines()
            spec: pathspec.GitIgnoreSpec | None = pathspec.GitIgnoreSpec.from_lines(lines)
        except Exception:
            spec = None
        self._ignore_cache[folder] = (mtime, spec)
        return spec

    def is_ignored(self, parts: list[str], is_dir: bool) -> bool:
        """Whether git would ignore the path (checked against every .gitignore above it)."""
        if any(p in ALWAYS_IGNORED for p in parts):
            return True
        for depth in range(len(parts)):
            spec = self._spec(self.root.joinpath(*parts[:depth]))
            if spec is None:
                continue
            tail = "/".join(parts[depth:]) + ("/" if is_dir else "")
            if spec.match_file(tail):
                return True
        return False

    # ------------------------------------------------------------------ listing

    def list_dir(self, rel: str = "") -> list[Entry]:
        """One folder's visible entries, folders first, each sorted by name."""
        parts = self.check_relative(rel)
        folder = self.resolve(rel)
        if not folder.is_dir():
            raise FileNotFound(f"{rel or '.'} is not a folder")
        entries: list[Entry] = []
        with os.scandir(folder) as it:
            for item in it:
                entry = self._entry(parts, item)
                if entry is not None:
                    entries.append(entry)
        entries.sort(key=lambda e: (e.kind != "dir", e.name.lower(), e.name))
        return entries

    def _entry(self, parts: list[str], item: os.DirEntry[str]) -> Entry | None:
        child = [*parts, item.name]
        try:
            if item.is_symlink():
                real = Path(os.path.realpath(item.path))
                if not real.is_relative_to(self.root):
                    return None  # a link leading out of the folder is not shown
                st = real.stat()
            else:
                st = item.stat()
        except OSError:
            return None
        is_dir = stat.S_ISDIR(st.st_mode)
        if not is_dir and not stat.S_ISREG(st.st_mode):
            return None
        if self.is_ignored(child, is_dir):
            return None
        return Entry(
            name=item.name,
            path="/".join(child),
            kind="dir" if is_dir else "file",
            size=None if is_dir else st.st_size,
        )

    def all_files(self, limit: int = MAX_LISTED_FILES) -> tuple[list[str], bool]:
        """Every visible file (for quick open), at most ``limit``; and whether it was cut."""
        out: list[str] = []
        stack = [""]
        while stack:
            rel = stack.pop()
            try:
                entries = self.list_dir(rel)
            except (OSError, MimiError):
                continue
            for entry in entries:
                if entry.kind == "dir":
                    stack.append(entry.path)
                else:
                    out.append(entry.path)
                    if len(out) >= limit:
                        return sorted(out), True
        return sorted(out), False

    # ------------------------------------------------------------------ read / save

    def read(self, rel: str) -> FileContent:
        """A UTF-8 text file's content; refuses folders, binaries and very large files."""
        try:
            return self._read(rel)
        except OSError as exc:  # a file used as a folder, a name too long, no permission
            raise _os_problem(rel, exc) from None

    def _read(self, rel: str) -> FileContent:
        path = self.resolve(rel)
        try:
            st = path.stat()
        except (FileNotFoundError, NotADirectoryError):
            raise FileNotFound(f"{rel} does not exist") from None
        if stat.S_ISDIR(st.st_mode):
            raise FileProblem(f"{rel} is a folder")
        if st.st_size > self.max_file_bytes:
            raise FileProblem(
                f"{rel} is {st.st_size // 1_000_000} MB; the web editor opens files up to "
                f"{self.max_file_bytes // 1_000_000} MB"
            )
        data = path.read_bytes()
        if b"\x00" in data[:8192]:
            raise FileProblem(f"{rel} looks like a binary file")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise FileProblem(f"{rel} is not UTF-8 text") from None
        return FileContent(path=rel, text=text, mtime_ns=st.st_mtime_ns, size=len(data))

    def write(self, rel: str, text: str, *, expected_mtime_ns: int | None = None) -> FileContent:
        """Save ``text`` atomically (creating folders as needed); ``SaveConflict`` if the file
        changed on disk since ``expected_mtime_ns``."""
        try:
            return self._write(rel, text, expected_mtime_ns)
        except OSError as exc:
            raise _os_problem(rel, exc) from None

    def _write(self, rel: str, text: str, expected_mtime_ns: int | None) -> FileContent:
        parts = self.check_relative(rel)
        if not parts:
            raise FileProblem("cannot write the folder itself")
        path = self.resolve(rel)
        data = text.encode("utf-8")
        if len(data) > self.max_file_bytes:
            raise FileProblem(f"{rel} would be larger than {self.max_file_bytes // 1_000_000} MB")
        try:
            st: os.stat_result | None = path.stat()
        except (FileNotFoundError, NotADirectoryError):
            st = None
        if st is not None and stat.S_ISDIR(st.st_mode):
            raise FileProblem(f"{rel} is a folder")
        if expected_mtime_ns is not None and st is not None and st.st_mtime_ns != expected_mtime_ns:
            raise SaveConflict(
                f"{rel} changed on disk since it was opened",
                mtime_ns=st.st_mtime_ns,
                fix="Reload it, or save again to overwrite.",
            )
        # Create missing folders one by one, re-checking each against the root.
        parent = path.parent
        if not parent.exists():
            parent.mkdir(parents=True, exist_ok=True)
            if not Path(os.path.realpath(parent)).is_relative_to(self.root):
                raise OutsideWorkspace(f"{rel} points outside the folder")
        fd, tmp = tempfile.mkstemp(dir=parent, prefix=f".{path.name}.", suffix=".mimi-tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            if st is not None:
                os.chmod(tmp, stat.S_IMODE(st.st_mode))
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        new = path.stat()
        return FileContent(path=rel, text=text, mtime_ns=new.st_mtime_ns, size=len(data))


def _os_problem(rel: str, exc: OSError) -> MimiError:
    """An operating-system refusal as an answer the page can show (never an HTTP 500)."""
    if isinstance(exc, (FileNotFoundError, NotADirectoryError)):
        return FileNotFound(f"{rel} does not exist (a part of the path is not a folder)")
    return FileProblem(f"{rel}: {exc.strerror or type(exc).__name__}")
