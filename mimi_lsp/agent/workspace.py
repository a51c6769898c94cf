"""The workspace as the agent, chat and MCP server see it: confined paths, files, fallbacks.

Every path a model names goes through ``Workspace.resolve`` before anything touches the disk:
relative paths are taken from a workspace folder; ``..`` escapes, absolute paths outside every
folder, ``~``, URL-encoded and Windows-style tricks (``..%2f``, ``..\\``, ``C:\\``, UNC), NUL
bytes and symlinks whose target lies outside are refused with ``OutsideWorkspace``. Reads
prefer the editor's open buffer (its unsaved text and version) over the disk.

When the index service is missing or disabled, ``search`` falls back to a bounded grep and
``find_symbol`` to a regex scan, so the agent and chat keep working. Nothing here imports
pygls or lsprotocol.
"""

from __future__ import annotations

import asyncio
import fnmatch
import os
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from mimi_lsp.domain import DocumentSnapshot, SearchHit, Span, SymbolInfo
from mimi_lsp.errors import FileNotFound, MimiError, OutsideWorkspace
from mimi_lsp.uris import path_to_uri, uri_to_path

SKIP_DIRS = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        "node_modules",
        ".venv",
        "venv",
        "__pycache__",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        ".tox",
        "dist",
        "build",
        "target",
        ".artifacts",
        ".idea",
        ".vscode-test",
        ".next",
        ".cache",
    }
)
"""Directories never listed or searched (generated, vendored or VCS data)."""

MAX_READ_BYTES = 2_000_000
VCS_DIRS = frozenset({".git", ".hg", ".svn"})
EDITOR_CONFIG_DIRS = frozenset({".vscode", ".idea", ".zed", ".helix", ".fleet", ".nvim"})
"""Folders of editor settings (``mimi.agent.*`` lives there), tasks and launch scripts."""
EDITOR_CONFIG_FILES = frozenset({".envrc", ".nvim.lua", ".nvimrc", ".exrc", ".lazy.lua"})
"""Files that editors or shells run when the folder is opened."""
_DRIVE_RE = re.compile(r"^[A-Za-z]:[\\/]|^[A-Za-z]:$")


@dataclass(frozen=True, slots=True)
class FileText:
    """A file's text as the agent sees it: the open buffer when there is one."""

    path: str
    text: str
    version: int | None
    """The editor's version when the file is open; None when read from disk."""
    mtime_ns: int | None = None


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


class Workspace:
    """Confined access to the workspace folders, the open documents and the index.

    ``folders`` and ``snapshot`` (path -> open document) are callables so the view follows
    the live session: folders can be added or removed while the server runs, documents
    opened and edited.
    """

    def __init__(
        self,
        folders: Callable[[], Sequence[str]],
        snapshot: Callable[[str], DocumentSnapshot | None] = lambda path: None,
        *,
        index: Callable[[], Any] = lambda: None,
        exclude: Sequence[str] = (),
        max_file_bytes: int = 1_000_000,
    ) -> None:
        self._folders = folders
        self._snapshot = snapshot
        self._index = index
        self.exclude = tuple(exclude)
        self.max_file_bytes = max_file_bytes

    # ------------------------------------------------------------------ folders and paths

    @property
    def folders(self) -> list[str]:
        """Workspace folders as real (symlink-free) absolute paths."""
        out = []
        for folder in self._folders():
            real = os.path.realpath(uri_to_path(folder) if "://" in folder else folder)
            if real not in out:
                out.append(real)
        return out

    def resolve(self, name: str, *, must_exist: bool = False) -> str:
        """The real absolute path for ``name`` if it lies inside a workspace folder.

        Raises ``OutsideWorkspace`` (with a message fit for a model's tool result) otherwise.
        """
        folders = self.folders
        if not folders:
            raise OutsideWorkspace("no workspace folder is open", fix="Open a folder first.")
        raw = (name or "").strip()
        if not raw:
            raise OutsideWorkspace("empty path")
        if "\x00" in raw:
            raise OutsideWorkspace(f"path {raw!r} contains a NUL byte")
        if raw.startswith("file:"):
            raw = uri_to_path(raw)
        elif "%" in raw and unquote(raw) != raw:
            # A literal '%2e%2e' is a valid file name, but no model needs one: an encoded
            # path is far more likely an attempt to slip '..' or '/' past the checks.
            raise OutsideWorkspace(f"URL-encoded path {name!r} refused; use a plain relative path")
        if raw.startswith("~"):
            raise OutsideWorkspace(f"home-relative path {name!r} is outside the workspace")
        if raw.startswith("\\\\") or _DRIVE_RE.match(raw):
            raise OutsideWorkspace(f"Windows path {name!r} is outside the workspace")
        raw = raw.replace("\\", "/")
        candidates: list[str]
        if os.path.isabs(raw):
            candidates = [os.path.normpath(raw)]
        else:
            parts = [p for p in raw.split("/") if p not in ("", ".")]
            if ".." in parts:
                raise OutsideWorkspace(
                    f"path {name!r} climbs out with '..'; use a path inside the workspace"
                )
            rel = "/".join(parts)
            candidates = [os.path.join(f, rel) for f in folders]
            # With several folders, "<folder name>/rest" addresses that folder.
            if len(folders) > 1 and parts:
                for f in folders:
                    if os.path.basename(f) == parts[0]:
                        candidates.insert(0, os.path.join(f, *parts[1:]))
        for candidate in candidates:
            real = self._real(candidate)
            if not any(_inside(real, f) for f in folders):
                if os.path.islink(candidate) or real != os.path.normpath(candidate):
                    raise OutsideWorkspace(f"{name!r} is a link that points outside the workspace")
                raise OutsideWorkspace(f"{name!r} is outside the workspace")
            if os.path.exists(real):
                return real
        real = self._real(candidates[0])
        if not any(_inside(real, f) for f in folders):
            raise OutsideWorkspace(f"{name!r} is outside the workspace")
        if must_exist:
            raise FileNotFound(f"no such file: {self.relative(real)}")
        return real

    @staticmethod
    def _real(path: str) -> str:
        """``realpath`` that also resolves the existing parent of a path to be created."""
        return os.path.realpath(path)

    def relative(self, path: str) -> str:
        """``path`` relative to its workspace folder (prefixed by the folder name when several)."""
        folders = self.folders
        for folder in folders:
            if _inside(path, folder):
                rel = os.path.relpath(path, folder)
                if len(folders) > 1:
                    rel = os.path.join(os.path.basename(folder), rel)
                return rel.replace(os.sep, "/")
        return path

    def write_refusal(self, path: str) -> str | None:
        """Why the agent may not write ``path`` (None when it may).

        VCS metadata, and files that configure the editor or run code when a folder is opened:
        a prompt-injected model must not be able to turn on ``agent.allowShell``, register an
        MCP command, or plant a hook, even as an edit the user might accept without reading.
        """
        parts = Path(self.relative(path)).parts
        if any(part in VCS_DIRS for part in parts):
            return "is version-control metadata"
        if any(part in EDITOR_CONFIG_DIRS for part in parts[:-1]) or (
            parts and parts[-1] in EDITOR_CONFIG_FILES
        ):
            return "configures the editor or the agent itself; the agent may not change it"
        return None

    def is_writable_path(self, path: str) -> bool:
        """No writes into VCS metadata or editor/agent configuration (``write_refusal``)."""
        return self.write_refusal(path) is None

    def uri(self, path: str) -> str:
        """The editor's URI for an open document (its spelling), else a ``file://`` URI."""
        snap = self.open_snapshot(path)
        return snap.uri if snap is not None else path_to_uri(path)

    # ------------------------------------------------------------------ reading

    def open_snapshot(self, path: str) -> DocumentSnapshot | None:
        """The editor's buffer for ``path`` when it is open."""
        return self._snapshot(path)

    def read(self, name: str) -> FileText:
        """The text of a file inside the workspace: the open buffer, else the disk."""
        path = self.resolve(name, must_exist=False)
        snap = self.open_snapshot(path)
        if snap is not None:
            return FileText(path, snap.text, snap.version)
        if not os.path.isfile(path):
            if os.path.isdir(path):
                raise FileNotFound(f"{self.relative(path)} is a directory; use list_files")
            raise FileNotFound(f"no such file: {self.relative(path)}")
        stat = os.stat(path)
        if stat.st_size > MAX_READ_BYTES:
            raise MimiError(f"{self.relative(path)} is too large to read ({stat.st_size} bytes)")
        data = Path(path).read_bytes()
        if b"\x00" in data[:8192]:
            raise MimiError(f"{self.relative(path)} is a binary file")
        return FileText(path, data.decode("utf-8", errors="replace"), None, stat.st_mtime_ns)

    # ------------------------------------------------------------------ listing

    def _excluded(self, rel: str) -> bool:
        return any(
            fnmatch.fnmatch(rel, pat) or fnmatch.fnmatch(os.path.basename(rel), pat)
            for pat in self.exclude
        )

    def _gitignore(self, folder: str) -> list[str]:
        try:
            lines = Path(folder, ".gitignore").read_text(errors="replace").splitlines()
        except OSError:
            return []
        return [
            line.strip().rstrip("/")
            for line in lines
            if line.strip() and not line.startswith(("#", "!"))
        ]

    def iter_files(self, under: str | None = None, *, limit: int = 20_000) -> Iterator[str]:
        """Absolute paths of workspace files (skipping VCS, vendored and ignored folders)."""
        roots = [self.resolve(under, must_exist=True)] if under else self.folders
        count = 0
        for root in roots:
            folder = next((f for f in self.folders if _inside(root, f)), root)
            ignored = self._gitignore(folder)
            if os.path.isfile(root):
                yield root
                count += 1
                continue
            for dirpath, dirnames, filenames in os.walk(root):
                rel_dir = os.path.relpath(dirpath, folder)
                dirnames[:] = sorted(
                    d
                    for d in dirnames
                    if d not in SKIP_DIRS
                    and not _ignored(os.path.normpath(os.path.join(rel_dir, d)), d, ignored)
                    and not self._excluded(os.path.normpath(os.path.join(rel_dir, d)))
                )
                for fname in sorted(filenames):
                    rel = os.path.normpath(os.path.join(rel_dir, fname))
                    if _ignored(rel, fname, ignored) or self._excluded(rel):
                        continue
                    full = os.path.join(dirpath, fname)
                    if os.path.islink(full) and not _inside(os.path.realpath(full), folder):
                        continue
                    yield full
                    count += 1
                    if count >= limit:
                        return

    def list_files(
        self, under: str | None = None, pattern: str | None = None, limit: int = 300
    ) -> tuple[list[str], bool]:
        """Relative paths (optionally matching a glob), and whether the list was cut."""
        out: list[str] = []
        for path in self.iter_files(under):
            rel = self.relative(path)
            if pattern and not (
                fnmatch.fnmatch(rel, pattern) or fnmatch.fnmatch(os.path.basename(rel), pattern)
            ):
                continue
            out.append(rel)
            if len(out) > limit:
                return out[:limit], True
        return out, False

    # ------------------------------------------------------------------ search

    @property
    def index(self) -> Any:
        return self._index()

    async def search(
        self, query: str, k: int = 8, *, paths: Sequence[str] | None = None
    ) -> list[SearchHit]:
        """Hybrid search through the index; a bounded grep when there is no index."""
        index = self.index
        if index is not None:
            try:
                hits = await index.search(
                    query, k=k, mode="hybrid", paths=list(paths) if paths else None
                )
                return [h for h in hits if self._contains(h.path)]
            except Exception:
                pass  # fall through to grep: a broken index must not break the agent
        return await asyncio.to_thread(self.grep, query, k)

    async def symbols(self, query: str, limit: int = 20) -> list[SymbolInfo]:
        """Symbol definitions matching ``query``: the index, else a regex scan."""
        index = self.index
        if index is not None:
            try:
                found = await index.symbols(query, limit=limit)
                return [s for s in found if self._contains(s.path)]
            except Exception:
                pass
        return await asyncio.to_thread(self.scan_symbols, query, limit)

    def _contains(self, path: str) -> bool:
        real = os.path.realpath(path)
        return any(_inside(real, f) for f in self.folders)

    def _text_of(self, path: str) -> str | None:
        snap = self.open_snapshot(path)
        if snap is not None:
            return snap.text
        try:
            if os.path.getsize(path) > self.max_file_bytes:
                return None
            data = Path(path).read_bytes()
        except OSError:
            return None
        if b"\x00" in data[:4096]:
            return None
        return data.decode("utf-8", errors="replace")

    def grep(
        self, query: str, k: int = 8, *, budget_s: float = 2.0, max_files: int = 5_000
    ) -> list[SearchHit]:
        """Lines scored by how many query words they contain (identifier parts count)."""
        words = _query_words(query)
        if not words:
            return []
        pattern = re.compile("|".join(re.escape(w) for w in words), re.IGNORECASE)
        deadline = time.monotonic() + budget_s
        scored: list[tuple[float, str, int, list[str]]] = []
        for n, path in enumerate(self.iter_files()):
            if n >= max_files or time.monotonic() > deadline:
                break
            text = self._text_of(path)
            if not text:
                continue
            lines = text.splitlines()
            best: tuple[float, int] | None = None
            in_file: set[str] = set()
            matches = 0
            for i, line in enumerate(lines):
                found = {m.group(0).lower() for m in pattern.finditer(line)}
                if not found:
                    continue
                in_file |= found
                matches += len(found)
                score = len(found) + 0.1 * min(len(line.strip()), 40) / 40
                if best is None or score > best[0]:
                    best = (score, i)
            if best is not None:
                # The best line, then how many of the query's words the file has at all.
                score = best[0] + 0.5 * len(in_file) + 0.02 * min(matches, 10)
                scored.append((score, path, best[1], lines))
        scored.sort(key=lambda t: (-t[0], t[1]))
        hits = []
        for score, path, at, lines in scored[:k]:
            start, end = max(0, at - 2), min(len(lines) - 1, at + 2)
            preview = "\n".join(lines[start : end + 1])
            hits.append(
                SearchHit(
                    path=path,
                    span=Span(start, 0, end, len(lines[end])),
                    score=round(score, 3),
                    preview=preview,
                )
            )
        return hits

    def scan_symbols(
        self, query: str, limit: int = 20, *, budget_s: float = 2.0
    ) -> list[SymbolInfo]:
        """Definitions whose name contains ``query`` (case-insensitive), exact names first."""
        needle = query.strip().lower()
        if not needle:
            return []
        deadline = time.monotonic() + budget_s
        found: list[SymbolInfo] = []
        for path in self.iter_files():
            if time.monotonic() > deadline:
                break
            text = self._text_of(path)
            if not text or needle not in text.lower():
                continue
            for i, line in enumerate(text.splitlines()):
                m = _DEF_RE.match(line)
                if m is None:
                    continue
                name = m.group("name")
                if needle in name.lower():
                    col = m.start("name")
                    found.append(
                        SymbolInfo(
                            name=name,
                            kind=_KIND.get(m.group("kw"), "symbol"),
                            path=path,
                            span=Span(i, col, i, col + len(name)),
                        )
                    )
        found.sort(key=lambda s: (s.name.lower() != needle, len(s.name), s.path))
        return found[:limit]


_DEF_RE = re.compile(
    r"^\s*(?:export\s+)?(?:default\s+)?(?:pub(?:\([^)]*\))?\s+)?(?:async\s+)?"
    r"(?P<kw>def|class|function|fn|func|struct|enum|trait|interface|type|const|let|var|impl)\s+"
    r"(?:\([^)]*\)\s*)?(?P<name>[A-Za-z_$][\w$]*)"
)
_KIND = {
    "def": "function",
    "function": "function",
    "fn": "function",
    "func": "function",
    "class": "class",
    "struct": "struct",
    "enum": "enum",
    "trait": "interface",
    "interface": "interface",
    "type": "type",
    "const": "constant",
    "let": "variable",
    "var": "variable",
    "impl": "class",
}
_WORD_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|\d+")
_STOP = frozenset(
    "a an the of to in on for and or is are be it this that with how what where which do does "
    "i me my we you can should would from by as at use used".split()
)


def _query_words(query: str) -> list[str]:
    words: list[str] = []
    for word in _WORD_RE.findall(query):
        if word.lower() in _STOP or len(word) < 2:
            continue
        if word.lower() not in (w.lower() for w in words):
            words.append(word)
    return words[:12]


def _ignored(rel: str, name: str, patterns: Sequence[str]) -> bool:
    rel = rel.replace(os.sep, "/")
    for pat in patterns:
        p = pat.lstrip("/")
        if fnmatch.fnmatch(name, p) or fnmatch.fnmatch(rel, p) or rel.startswith(p + "/"):
            return True
    return False
