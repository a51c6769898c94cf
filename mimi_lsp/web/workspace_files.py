"""The folder a ``mimi-lsp web`` page edits: list, read and save, confined to that folder.

Sits behind the HTTP file endpoints of ``web/app.py``; the browser never sees a filesystem
path, only paths relative to the root written with ``/``. Every path from the page goes through
``WorkspaceFiles.resolve``, which refuses ``..``, absolute and Windows-style paths, backslashes,
NUL bytes, percent-encoded text (a second decoding must never be able to create ``..``), and
anything whose real path (symlinks followed) lies outside the root, and paths too long for
any file system (400). Listings skip what the one ignore engine of ``index/ignore.py`` skips
(every ignore file along the path, ``!`` negations included, plus VCS and dependency folders);
quick open walks with its walker (links never followed, so a link loop cannot trap it). Reads go
through ``read_regular``: a FIFO or device named like a file is refused, never waited on. Saves
are atomic and new files get the mode the umask gives, like any editor's.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

from mimi_lsp.errors import FileNotFound, MimiError, OutsideWorkspace
from mimi_lsp.index.ignore import (
    TREE_IGNORES,
    FileTooLarge,
    IgnoreRules,
    NotRegularFile,
    file_kind,
    read_regular,
    walk_files,
)

MAX_FILE_BYTES = 5_000_000
MAX_LISTED_FILES = 20_000
MAX_PATH_BYTES = 4_096
"""Longest page-supplied path (Linux's PATH_MAX); one name at most 255 bytes (NAME_MAX)."""
MAX_NAME_BYTES = 255
IGNORE_RECHECK_S = 1.0

_PERCENT = re.compile(r"%[0-9A-Fa-f]{2}")
_DRIVE = re.compile(r"^[A-Za-z]:")


class FileProblem(MimiError):
    """A file that exists but cannot be edited here (binary, too large, not UTF-8, a folder)."""

    status = 415


class BadPath(MimiError):
    """A path no file system could hold (too long, not encodable): a malformed request."""

    status = 400


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
        self.rules = IgnoreRules(str(self.root), defaults=TREE_IGNORES, recheck_s=IGNORE_RECHECK_S)

    # ------------------------------------------------------------------ paths

    def check_relative(self, rel: str) -> list[str]:
        """The segments of a page-supplied path, or ``OutsideWorkspace`` if it could escape."""
        if not isinstance(rel, str):
            raise OutsideWorkspace("path must be a string")
        try:
            size = len(rel.encode("utf-8"))
        except UnicodeEncodeError:
            raise BadPath("path is not valid text (lone surrogate)") from None
        if size > MAX_PATH_BYTES:
            raise BadPath(f"path is {size} bytes long; the limit is {MAX_PATH_BYTES}")
        if "\x00" in rel or "\\" in rel:
            raise OutsideWorkspace("path contains a backslash or NUL byte")
        if rel.startswith("/") or _DRIVE.match(rel):
            raise OutsideWorkspace("absolute paths are refused; use a path relative to the folder")
        if _PERCENT.search(rel):
            raise OutsideWorkspace("percent-encoded paths are refused")
        parts = [p for p in rel.split("/") if p != ""]
        if any(p in (".", "..") for p in parts):
            raise OutsideWorkspace("'.' and '..' are refused in paths")
        if any(len(p.encode("utf-8")) > MAX_NAME_BYTES for p in parts):
            raise BadPath(f"a name in the path is longer than {MAX_NAME_BYTES} bytes")
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

    def is_ignored(self, parts: list[str], is_dir: bool) -> bool:
        """Whether the tree hides the path (ignore files along it, VCS and dependency folders)."""
        return self.rules.ignored("/".join(parts), is_dir)

    # ------------------------------------------------------------------ listing

    def list_dir(self, rel: str = "") -> list[Entry]:
        """One folder's visible entries, folders first, each sorted by name."""
        try:
            return self._list_dir(rel)
        except OSError as exc:  # no permission, a name the file system refuses
            raise _os_problem(rel, exc) from None

    def _list_dir(self, rel: str) -> list[Entry]:
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
        """Every visible file (for quick open), at most ``limit``; and whether it was cut.

        The one walker of ``index/ignore.py``: links are not followed, so ``a/back -> ..``
        cannot make it loop (the tree still shows such a link, one level at a time).
        """
        walked = walk_files(str(self.root), self.rules)
        out = [w.rel for w in itertools.islice(walked, limit + 1)]
        return sorted(out[:limit]), len(out) > limit

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
            data, st = read_regular(path, self.max_file_bytes)
        except (FileNotFoundError, NotADirectoryError):
            raise FileNotFound(f"{rel} does not exist") from None
        except NotRegularFile as exc:
            raise FileProblem(
                f"{rel or '.'} is a {exc.kind}, not a file the editor can open"
            ) from None
        except FileTooLarge as exc:
            raise FileProblem(
                f"{rel} is {exc.size // 1_000_000} MB; the web editor opens files up to "
                f"{self.max_file_bytes // 1_000_000} MB"
            ) from None
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
        if st is not None and not stat.S_ISREG(st.st_mode):
            raise FileProblem(f"{rel} is a {file_kind(st.st_mode)}, not a file the editor can save")
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
        tmp = parent / f".{path.name}.{secrets.token_hex(4)}.mimi-tmp"
        # 0o666 through the umask, as any editor creates a file (mkstemp would give 0600).
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666)
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
