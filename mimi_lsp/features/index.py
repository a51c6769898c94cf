"""The index over LSP: mimi.search, mimi.reindex, workspace/symbol, progress, file events.

Thin handlers around ``services.index`` (``index/service.py``): they validate arguments,
call the service and convert paths and spans to URIs and ranges in the negotiated position
encoding. Index events become ``mimi/indexStatus`` notifications and, for clients that
support it, ``$/progress`` with percentages. ``textDocument/didSave`` and
``workspace/didChangeWatchedFiles`` (registered dynamically once the client is initialized)
keep the index live; unsaved buffers reach it through the session's change listeners.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from typing import Any, Literal

from lsprotocol import types
from pydantic import Field

from mimi_lsp.convert import span_to_range
from mimi_lsp.domain import SearchHit, Span, SymbolInfo
from mimi_lsp.features._args import CommandArgs, parse_args
from mimi_lsp.session import split_lines
from mimi_lsp.uris import path_to_uri, uri_to_path

log = logging.getLogger(__name__)

INDEX_DISABLED = "The index is disabled (mimi.index.enabled is false)."

SYMBOL_KINDS: dict[str, types.SymbolKind] = {
    "function": types.SymbolKind.Function,
    "method": types.SymbolKind.Method,
    "constructor": types.SymbolKind.Constructor,
    "class": types.SymbolKind.Class,
    "struct": types.SymbolKind.Struct,
    "interface": types.SymbolKind.Interface,
    "trait": types.SymbolKind.Interface,
    "impl": types.SymbolKind.Class,
    "enum": types.SymbolKind.Enum,
    "module": types.SymbolKind.Module,
    "namespace": types.SymbolKind.Namespace,
    "type": types.SymbolKind.TypeParameter,
    "constant": types.SymbolKind.Constant,
    "variable": types.SymbolKind.Variable,
    "property": types.SymbolKind.Property,
    "macro": types.SymbolKind.Function,
    "section": types.SymbolKind.String,
}


class SearchArgs(CommandArgs):
    """Arguments of ``mimi.search``."""

    query: str = Field(min_length=1, max_length=2_000)
    k: int = Field(default=10, ge=1, le=200)
    mode: Literal["hybrid", "bm25", "vector"] = "hybrid"
    paths: list[str] | None = None
    language: str | None = None


class LineSource:
    """Line texts for position conversion: open buffers first, then the disk (cached)."""

    def __init__(self, server: Any) -> None:
        self.server = server
        self._cache: dict[str, tuple[str, ...]] = {}

    def lines(self, path: str) -> tuple[str, ...]:
        cached = self._cache.get(path)
        if cached is not None:
            return cached
        uri = path_to_uri(path)
        snap = self.server.services.session.snapshot(uri)
        if snap is not None:
            lines = snap.lines
        else:
            try:
                with open(path, encoding="utf-8", errors="replace", newline="") as fh:
                    lines = tuple(split_lines(fh.read()))
            except OSError:
                lines = ()
        self._cache[path] = lines
        return lines

    def range(self, path: str, span: Span) -> types.Range:
        codec = self.server.services.session.codec
        if span.start_col == 0 and span.end_col == 0:
            return types.Range(
                start=types.Position(line=span.start_line, character=0),
                end=types.Position(line=span.end_line, character=0),
            )
        lines = self.lines(path)
        if span.end_line >= len(lines):
            lines = tuple(lines) + ("",) * (span.end_line + 1 - len(lines))
        return span_to_range(lines, span, codec)


def hit_json(hit: SearchHit, lines: LineSource) -> dict[str, Any]:
    """A search hit as ``mimi.search`` returns it."""
    rng = lines.range(hit.path, hit.span)
    out: dict[str, Any] = {
        "uri": path_to_uri(hit.path),
        "range": {
            "start": {"line": rng.start.line, "character": rng.start.character},
            "end": {"line": rng.end.line, "character": rng.end.character},
        },
        "score": hit.score,
        "preview": hit.preview,
    }
    if hit.symbol:
        out["symbol"] = hit.symbol
    if hit.kind:
        out["kind"] = hit.kind
    if hit.language:
        out["language"] = hit.language
    return out


def symbol_information(info: SymbolInfo, lines: LineSource) -> types.SymbolInformation:
    return types.SymbolInformation(
        name=info.name,
        kind=SYMBOL_KINDS.get(info.kind, types.SymbolKind.Variable),
        location=types.Location(
            uri=path_to_uri(info.path), range=lines.range(info.path, info.span)
        ),
        container_name=info.container,
    )


def status_payload(status: Any) -> dict[str, Any] | None:
    """``mimi/indexStatus`` params for an ``IndexStatus`` (None for 'idle')."""
    if status.state == "idle":
        return None
    payload: dict[str, Any] = {
        "state": status.state,
        "files": status.files,
        "chunks": status.chunks,
        "embedded": status.embedded,
    }
    if status.message:
        payload["message"] = status.message
    return payload


class ProgressReporter:
    """Turns index events into ``mimi/indexStatus`` and ``$/progress``, in order."""

    def __init__(self, server: Any) -> None:
        self.server = server
        self.queue: asyncio.Queue[Any] = asyncio.Queue()
        self.task: asyncio.Task[Any] | None = None
        self.tokens: dict[str, str] = {}
        self.counter = itertools.count(1)
        self.last_status: dict[str, Any] | None = None

    def supports_progress(self) -> bool:
        caps = self.server.client_capabilities
        window = getattr(caps, "window", None)
        return bool(window is not None and window.work_done_progress)

    def push(self, event: Any) -> None:
        self.queue.put_nowait(event)
        if self.task is None or self.task.done():
            try:
                self.task = self.server.run_task(self.run(), name="mimi-index-progress")
            except RuntimeError:
                pass  # no loop (server shutting down)

    async def run(self) -> None:
        while not self.queue.empty():
            event = self.queue.get_nowait()
            try:
                await self.handle(event)
            except Exception:
                log.debug("index progress failed", exc_info=True)

    async def handle(self, event: Any) -> None:
        if event.kind in ("status", "end"):
            payload = status_payload(event.status)
            if payload is not None and payload != self.last_status:
                self.last_status = payload
                self.server.protocol.notify("mimi/indexStatus", payload)
        if event.kind == "status" or not self.supports_progress():
            return
        progress = self.server.work_done_progress
        if event.kind == "begin":
            token = f"mimi-{event.task}-{next(self.counter)}"
            try:
                await asyncio.wait_for(progress.create_async(token), 5)
            except Exception:
                log.debug("window/workDoneProgress/create refused", exc_info=True)
                return
            self.tokens[event.task] = token
            progress.begin(
                token,
                types.WorkDoneProgressBegin(
                    title=f"mimi: {event.title}", percentage=0, cancellable=False
                ),
            )
            return
        current = self.tokens.get(event.task)
        if current is None:
            return
        token = current
        if event.kind == "report":
            progress.report(
                token,
                types.WorkDoneProgressReport(
                    percentage=event.percentage, message=event.message or None
                ),
            )
        elif event.kind == "end":
            del self.tokens[event.task]
            progress.end(token, types.WorkDoneProgressEnd(message=event.message or "done"))


def register(server: Any) -> None:
    services = server.services
    reporter = ProgressReporter(server)
    services.on_index_event(reporter.push)

    @server.command("mimi.search")
    async def search(*args: Any) -> dict[str, Any]:
        parsed = parse_args(SearchArgs, args, "mimi.search")
        index = services.index
        if index is None:
            return {"hits": [], "message": INDEX_DISABLED}
        hits = await index.search(
            parsed.query, parsed.k, parsed.mode, parsed.paths, parsed.language
        )
        lines = LineSource(server)
        return {"hits": [hit_json(h, lines) for h in hits]}

    @server.command("mimi.reindex")
    async def reindex(*args: Any) -> dict[str, Any]:
        index = services.index
        if index is None:
            return {"files": 0, "chunks": 0, "message": INDEX_DISABLED}
        status = await index.reindex()
        out: dict[str, Any] = {
            "files": status.files,
            "chunks": status.chunks,
            "state": status.state,
        }
        if status.message:
            out["message"] = status.message
        return out

    @server.feature(types.WORKSPACE_SYMBOL, types.WorkspaceSymbolOptions())
    async def workspace_symbol(
        params: types.WorkspaceSymbolParams,
    ) -> list[types.SymbolInformation]:
        index = services.index
        if index is None:
            return []
        found = await index.symbols(params.query, limit=100)
        lines = LineSource(server)
        return [symbol_information(info, lines) for info in found]

    @server.feature(types.TEXT_DOCUMENT_DID_SAVE, types.SaveOptions(include_text=False))
    def did_save(params: types.DidSaveTextDocumentParams) -> None:
        if services.index is not None:
            services.index.file_saved(uri_to_path(params.text_document.uri))

    @server.feature(types.WORKSPACE_DID_CHANGE_WATCHED_FILES)
    def did_change_watched_files(params: types.DidChangeWatchedFilesParams) -> None:
        if services.index is not None:
            services.index.files_changed([uri_to_path(c.uri) for c in params.changes])

    async def register_watchers() -> None:
        caps = server.client_capabilities
        workspace = getattr(caps, "workspace", None)
        watched = getattr(workspace, "did_change_watched_files", None)
        if services.index is None or watched is None or not watched.dynamic_registration:
            return
        await server.client_register_capability_async(
            types.RegistrationParams(
                registrations=[
                    types.Registration(
                        id="mimi-index-watcher",
                        method=types.WORKSPACE_DID_CHANGE_WATCHED_FILES,
                        register_options=types.DidChangeWatchedFilesRegistrationOptions(
                            watchers=[types.FileSystemWatcher(glob_pattern="**/*")]
                        ),
                    )
                ]
            )
        )

    hooks = server.__dict__.setdefault("initialized_hooks", [])
    hooks.append(register_watchers)
