"""Completion context from the index: definitions of the identifiers near the cursor, and
similar code from recently edited buffers (the open-buffer ``pool``).

The completion engine asks through ``IndexService.completion_context``; lookups run on a reader
thread and return small ``ContextSnippet``s clipped to ``CONTEXT_CHARS``.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

from mimi_lsp.domain import CompletionRequest, ContextSnippet
from mimi_lsp.index.indexer import FolderIndex
from mimi_lsp.index.pool import BufferPool
from mimi_lsp.index.workers import StoreThreads
from mimi_lsp.tasks import TaskRunner
from mimi_lsp.uris import uri_to_path

CONTEXT_DEFINITIONS = 3
CONTEXT_SIMILAR = 2
CONTEXT_CHARS = 768
LAST_ANSWERS = 32
"""Files whose last context answer is kept for reuse."""
_PARTIAL_WORD = re.compile(r"[A-Za-z0-9_]*$")
_KEYWORDS = frozenset(
    "self cls this super true false none null nil undefined return if else elif for while in "
    "def class function fn func let var const import from export default new delete typeof "
    "async await yield try except catch finally raise throw with as pass break continue and or "
    "not is lambda public private protected static void int str bool float string struct enum "
    "impl pub use mod match case switch package interface type extends implements print len "
    "range list dict set tuple object end then do local require module".split()
)
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]{2,}")


class CompletionContext:
    """Context snippets for a completion request, and upkeep of the open-buffer pool."""

    def __init__(
        self, folders: dict[str, FolderIndex], threads: StoreThreads, run: TaskRunner
    ) -> None:
        self._folders = folders
        self._threads = threads
        self._run = run
        self.pool = BufferPool()
        self._pool_task: asyncio.Task[None] | None = None
        self.closed = False
        self._last: dict[str, tuple[tuple[Any, ...], list[ContextSnippet]]] = {}
        """Per file, the last request's key and snippets (reused while the key holds)."""
        self._generation = 0
        """Bumped when a file leaves the pool or the disk: no reused answer may still hold it."""

    def buffer_changed(self, path: str, text: str | None) -> None:
        """An open buffer's text for the similar-code pool (None: closed, it leaves the pool)."""
        if text is not None:
            self.pool.update(path, text)
        else:
            self.pool.forget(path)
            self._generation += 1
            self._last.pop(path, None)
        self._schedule_pool_rebuild()

    def file_deleted(self, path: str) -> None:
        """A file is gone from disk: its code never reaches a prompt again."""
        self.pool.forget(path)
        self._generation += 1
        self._schedule_pool_rebuild()

    async def close(self) -> None:
        self.closed = True
        if self._pool_task is not None:
            self._pool_task.cancel()
            try:
                await self._pool_task
            except BaseException:
                pass

    async def for_request(self, request: CompletionRequest) -> list[ContextSnippet]:
        """Definitions of identifiers near the cursor and similar code from recent buffers.

        The same while the user types in a line: what decides them is the lines above the
        cursor and the words already finished on its line, not the word being typed, and the
        last answer per file is reused while those stay the same. The prompt's start (where
        the snippets go) then stays the same between keystrokes, so a model server reuses it
        from its cache instead of evaluating the whole prompt again (issue 18).
        """
        snap = request.snapshot
        path = uri_to_path(snap.uri)
        start = max(0, request.line - 30)
        above = "".join(snap.lines[start : request.line])
        typed = snap.line_text(request.line)[: request.col]
        partial = _PARTIAL_WORD.search(typed)
        finished = typed[: partial.start()] if partial else typed
        folders = [f for f in self._folders.values() if f.opened]
        key = (self._generation, len(folders), start, above, tuple(_identifiers_near(finished)))
        last = self._last.get(path)
        if last is not None and last[0] == key:
            return list(last[1])
        # A name the current file defines itself is not looked up elsewhere: a same-named
        # definition in another file is another thing, and the model would copy it.
        local = _defined_names("".join(snap.lines))
        names = [name for name in _identifiers_near(above + finished) if name not in local]
        tail = "".join(snap.lines[max(0, request.line - 8) : request.line]) + finished

        def lookup() -> list[ContextSnippet]:
            out: list[ContextSnippet] = []
            if names and folders:
                found: list[tuple[int, FolderIndex, Any]] = []
                for folder in folders:
                    for row in folder.store.symbols_named(names, 50):
                        if folder.abs(row.path) == path:
                            continue  # already in the prompt
                        found.append((names.index(row.name), folder, row))
                found.sort(key=lambda t: (t[0], t[2].kind not in ("function", "method", "class")))
                used: set[str] = set()
                for _, folder, row in found:
                    if row.name in used or len(used) >= CONTEXT_DEFINITIONS:
                        continue
                    text = folder.store.definition_text(row.path, row.start_line, row.end_line)
                    if not text:
                        continue
                    used.add(row.name)
                    out.append(ContextSnippet(row.path, _clip(text), "definition"))
            for window, _ in self.pool.similar(tail, path, CONTEXT_SIMILAR):
                out.append(
                    ContextSnippet(self._display(window.path), _clip(window.text), "similar")
                )
            return out

        found = await self._threads.read(lookup)
        if self.pool.dirty:
            return found  # a rebuild is pending: the next keystroke asks again
        self._last.pop(path, None)  # re-inserted last: the oldest file goes first
        self._last[path] = (key, found)
        while len(self._last) > LAST_ANSWERS:
            del self._last[next(iter(self._last))]
        return list(found)

    def _display(self, path: str) -> str:
        for folder in self._folders.values():
            rel = folder.rel(path)
            if rel:
                return rel
        return path

    def _schedule_pool_rebuild(self) -> None:
        if self._pool_task is not None and not self._pool_task.done():
            return
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            self.pool.rebuild()
            return

        async def rebuild() -> None:
            while self.pool.dirty and not self.closed:
                await self._threads.read(self.pool.rebuild)

        self._pool_task = self._run(rebuild(), name="mimi-index-pool")


_DEFINITION = re.compile(
    r"\b(?:def|class|function|fn|func|interface|type|struct|enum|trait|module|macro)\s+"
    r"(?:\([^)]*\)\s*)?([A-Za-z_][A-Za-z0-9_]*)"
)


def _defined_names(text: str) -> set[str]:
    """Names of the functions, classes and types that ``text`` defines."""
    return set(_DEFINITION.findall(text))


def _identifiers_near(text: str) -> list[str]:
    """Identifiers in ``text``, nearest to its end first, keywords dropped."""
    seen: dict[str, None] = {}
    for name in reversed(_IDENT.findall(text)):
        if name.lower() not in _KEYWORDS and name not in seen:
            seen[name] = None
        if len(seen) >= 24:
            break
    return list(seen)


def _clip(text: str) -> str:
    if len(text) <= CONTEXT_CHARS:
        return text
    cut = text.rfind("\n", 0, CONTEXT_CHARS)
    return text[: cut + 1 if cut > 0 else CONTEXT_CHARS]
