"""The workspace as the agent, chat and MCP server see it: confined paths, files, fallbacks.

Every path a model names goes through ``Workspace.resolve`` before anything touches the disk:
relative paths are taken from a workspace folder; ``..`` escapes, absolute paths outside every
folder, ``~``, URL-encoded and Windows-style tricks (``..%2f``, ``..\\``, ``C:\\``, UNC), NUL
bytes and symlinks whose target lies outside are refused with ``OutsideWorkspace``. With no
workspace folder open, only the file the user invoked the agent on is reachable (never its
folder: a file opened from ``$HOME`` must not open ``~/.ssh`` to a prompt-injected model).
Well-known secret files (``secret_files.py``) raise ``SecretFile`` until the user consents, and
never appear in search results. Reads prefer the editor's open buffer (its unsaved text and
version) over the disk, and go through ``read_regular`` (a FIFO cannot block a thread).
Listings walk with the index's walker and ignore rules (``index/ignore.py``), so the agent
sees the files search sees.

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

from mimi_lsp.agent.secret_files import is_secret
from mimi_lsp.domain import DocumentSnapshot, SearchHit, Span, SymbolInfo
from mimi_lsp.errors import FileNotFound, MimiError, OutsideWorkspace
from mimi_lsp.index.ignore import (
    FileTooLarge,
    IgnoreRules,
    NotRegularFile,
    read_regular,
    walk_files,
)
from mimi_lsp.uris import path_to_uri, uri_to_path

MAX_READ_BYTES = 2_000_000
VCS_DIRS = frozenset({".git", ".hg", ".svn"})
EDITOR_CONFIG_DIRS = frozenset({".vscode", ".idea", ".zed", ".helix", ".fleet", ".nvim"})
"""Folders of editor settings (``mimi.agent.*`` lives there), tasks and launch scripts."""
EDITOR_CONFIG_FILES = frozenset({".envrc", ".nvim.lua", ".nvimrc", ".exrc", ".lazy.lua"})
"""Files that editors or shells run when the folder is opened."""
_DRIVE_RE = re.compile(r"^[A-Za-z]:[\\/]|^[A-Za-z]:$")


class SecretFile(MimiError):
    """A well-known secret file (keys, credentials, ``.env``) the user has not agreed to show."""

    def __init__(self, path: str, rel: str) -> None:
        super().__init__(
            f"{rel} may hold secrets (keys, passwords, tokens); it is not shown to the model "
            "without the user's consent",
            fix="Ask the user to paste the part you need, or to open the file and invoke the "
            "agent on it.",
        )
        self.path = path
        self.rel = rel


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
        file: str | None = None,
    ) -> None:
        """``file`` is the document the user invoked the agent (or chat) on: readable even when
        it is a secret file (the user chose it), and, with no workspace folder open, the only
        file there is."""
        self._folders = folders
        self._snapshot = snapshot
        self._index = index
        self.exclude = tuple(exclude)
        self.max_file_bytes = max_file_bytes
        self.file = os.path.realpath(uri_to_path(file) if "://" in file else file) if file else None
        self._consented: set[str] = {self.file} if self.file else set()
        self._rules: dict[str, IgnoreRules] = {}

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
            return self._resolve_lone(name, must_exist=must_exist)
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

    def _resolve_lone(self, name: str, *, must_exist: bool) -> str:
        """With no workspace folder, the invoked file is the whole workspace: its own name, its
        absolute path or its URI name it; nothing else (not even its folder) is reachable."""
        if self.file is None:
            raise OutsideWorkspace("no workspace folder is open", fix="Open a folder first.")
        raw = (name or "").strip()
        if raw.startswith("file:"):
            raw = uri_to_path(raw)
        base = os.path.basename(self.file)
        if raw.lstrip("./") == base or (os.path.isabs(raw) and self._real(raw) == self.file):
            if must_exist and not os.path.exists(self.file):
                raise FileNotFound(f"no such file: {base}")
            return self.file
        raise OutsideWorkspace(
            f"{name!r} is not available: no workspace folder is open, so only {base} is",
            fix=f"Open the folder of {base} as a workspace folder to let the agent see other files.",
        )

    @staticmethod
    def _real(path: str) -> str:
        """``realpath`` that also resolves the existing parent of a path to be created."""
        return os.path.realpath(path)

    def relative(self, path: str) -> str:
        """``path`` relative to its workspace folder (prefixed by the folder name when several)."""
        folders = self.folders
        if not folders and path == self.file:
            return os.path.basename(path)
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

    def consent(self, path: str) -> None:
        """The user agreed to show the secret file ``path`` to the model (for this run)."""
        self._consented.add(os.path.realpath(path))

    def check_secret(self, path: str) -> None:
        """``SecretFile`` for a well-known secret file the user has not consented to."""
        if path not in self._consented and is_secret(path):
            raise SecretFile(path, self.relative(path))

    def read(self, name: str) -> FileText:
        """The text of a file inside the workspace: the open buffer, else the disk."""
        path = self.resolve(name, must_exist=False)
        self.check_secret(path)
        snap = self.open_snapshot(path)
        if snap is not None:
            return FileText(path, snap.text, snap.version)
        rel = self.relative(path)
        try:
            data, st = read_regular(path, MAX_READ_BYTES)
        except (FileNotFoundError, NotADirectoryError):
            raise FileNotFound(f"no such file: {rel}") from None
        except NotRegularFile as exc:
            if exc.kind == "folder":
                raise FileNotFound(f"{rel} is a directory; use list_files") from None
            raise MimiError(f"{rel} is a {exc.kind}, not a file that can be read") from None
        except FileTooLarge as exc:
            raise MimiError(f"{rel} is too large to read ({exc.size} bytes)") from None
        except OSError as exc:
            raise MimiError(f"{rel} cannot be read: {exc.strerror or exc}") from None
        if b"\x00" in data[:8192]:
            raise MimiError(f"{rel} is a binary file")
        return FileText(path, data.decode("utf-8", errors="replace"), None, st.st_mtime_ns)

    # ------------------------------------------------------------------ listing

    def _rules_for(self, folder: str) -> IgnoreRules:
        rules = self._rules.get(folder)
        if rules is None:
            rules = self._rules[folder] = IgnoreRules(folder, self.exclude)
        return rules

    def iter_files(self, under: str | None = None, *, limit: int = 20_000) -> Iterator[str]:
        """Absolute paths of workspace files, walked and filtered as the index does (ignore
        files with negations, VCS, vendored and build folders, ``mimi.index.exclude``); links
        are not followed and only regular files come back."""
        folders = self.folders
        if not folders:
            if self.file is not None and (under is None or self.resolve(under) == self.file):
                yield self.file
            return
        roots = [self.resolve(under, must_exist=True)] if under else folders
        count = 0
        for root in roots:
            folder = next((f for f in folders if _inside(root, f)), root)
            if os.path.isfile(root):
                yield root
                count += 1
                continue
            rel = os.path.relpath(root, folder).replace(os.sep, "/")
            walked = walk_files(folder, self._rules_for(folder), under="" if rel == "." else rel)
            for file in walked:
                yield os.path.join(folder, *file.rel.split("/"))
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
        """Inside the workspace and no secret file: what search may show the model."""
        real = os.path.realpath(path)
        folders = self.folders
        inside = any(_inside(real, f) for f in folders) if folders else real == self.file
        return inside and (real in self._consented or not is_secret(real))

    def _text_of(self, path: str) -> str | None:
        if not self._contains(path):
            return None
        snap = self.open_snapshot(path)
        if snap is not None:
            return snap.text
        try:
            data, _ = read_regular(path, self.max_file_bytes)
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
