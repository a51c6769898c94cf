"""The index over LSP: mimi.search, mimi.reindex, workspace/symbol, progress, file events.

Thin handlers around ``services.index`` (``index/service.py``): they validate arguments, call
the service and convert paths and spans to URIs and ranges (``convert/index.py``). Index events
become ``mimi/indexStatus`` notifications and, for clients that support it, ``$/progress`` with
percentages. ``textDocument/didSave`` and ``workspace/didChangeWatchedFiles`` (registered
dynamically once the client is initialized) keep the index live; unsaved buffers reach it
through the session's change listeners.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any, Literal

from lsprotocol import types
from pydantic import Field

from mimi_lsp.convert.index import LineSource, hit_json, status_payload, symbol_information
from mimi_lsp.features._args import CommandArgs, parse_args
from mimi_lsp.features.progress import WorkProgress
from mimi_lsp.language_server import MimiServer
from mimi_lsp.uris import uri_to_path

if TYPE_CHECKING:
    from mimi_lsp.index.status import IndexEvent  # the index loads after initialize

log = logging.getLogger(__name__)

INDEX_DISABLED = "The index is disabled (mimi.index.enabled is false)."


class SearchArgs(CommandArgs):
    """Arguments of ``mimi.search``."""

    query: str = Field(min_length=1, max_length=2_000)
    k: int = Field(default=10, ge=1, le=200)
    mode: Literal["hybrid", "bm25", "vector"] = "hybrid"
    paths: list[str] | None = None
    language: str | None = None


class ProgressReporter:
    """Turns index events into ``mimi/indexStatus`` and ``$/progress``, in order."""

    def __init__(self, server: MimiServer) -> None:
        self.server = server
        self.queue: asyncio.Queue[IndexEvent] = asyncio.Queue()
        self.task: asyncio.Task[Any] | None = None
        self.reports: dict[str, WorkProgress] = {}
        self.last_status: dict[str, Any] | None = None

    def push(self, event: IndexEvent) -> None:
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

    async def handle(self, event: IndexEvent) -> None:
        if event.kind in ("status", "end"):
            payload = status_payload(event.status)
            if payload is not None and payload != self.last_status:
                self.last_status = payload
                self.server.protocol.notify("mimi/indexStatus", payload)
        if event.kind == "begin":
            started = WorkProgress(self.server, event.task)
            if await started.begin(f"mimi: {event.title}", percentage=0):
                self.reports[event.task] = started
        elif event.kind == "report" and (running := self.reports.get(event.task)) is not None:
            running.report(event.message or None, event.percentage)
        elif event.kind == "end" and (ended := self.reports.pop(event.task, None)) is not None:
            ended.end(event.message or "done")


async def search(server: MimiServer, *args: Any) -> dict[str, Any]:
    parsed = parse_args(SearchArgs, args, "mimi.search")
    index = server.services.index
    if index is None:
        return {"hits": [], "message": INDEX_DISABLED}
    hits = await index.search(parsed.query, parsed.k, parsed.mode, parsed.paths, parsed.language)
    lines = LineSource(server.session)
    return {"hits": [hit_json(h, lines) for h in hits]}


async def reindex(server: MimiServer) -> dict[str, Any]:
    index = server.services.index
    if index is None:
        return {"files": 0, "chunks": 0, "message": INDEX_DISABLED}
    status = await index.reindex()
    out: dict[str, Any] = {"files": status.files, "chunks": status.chunks, "state": status.state}
    if status.message:
        out["message"] = status.message
    return out


async def workspace_symbol(
    server: MimiServer, params: types.WorkspaceSymbolParams
) -> list[types.SymbolInformation]:
    index = server.services.index
    if index is None:
        return []
    found = await index.symbols(params.query, limit=100)
    lines = LineSource(server.session)
    return [symbol_information(info, lines) for info in found]


async def register_watchers(server: MimiServer) -> None:
    """Ask the client to report file changes (when it can register watchers dynamically)."""
    if server.services.index is None or not server.session.client.watched_files_registration:
        return
    watcher = types.FileSystemWatcher(glob_pattern="**/*")
    await server.client_register_capability_async(
        types.RegistrationParams(
            registrations=[
                types.Registration(
                    id="mimi-index-watcher",
                    method=types.WORKSPACE_DID_CHANGE_WATCHED_FILES,
                    register_options=types.DidChangeWatchedFilesRegistrationOptions(
                        watchers=[watcher]
                    ),
                )
            ]
        )
    )


def register(server: MimiServer) -> None:
    services = server.services
    services.on_index_event(ProgressReporter(server).push)
    server.on_initialized(lambda: register_watchers(server))

    @server.command("mimi.search")
    async def mimi_search(*args: Any) -> dict[str, Any]:
        return await search(server, *args)

    @server.command("mimi.reindex")
    async def mimi_reindex(*args: Any) -> dict[str, Any]:
        return await reindex(server)

    @server.feature(types.WORKSPACE_SYMBOL, types.WorkspaceSymbolOptions())
    async def symbols(params: types.WorkspaceSymbolParams) -> list[types.SymbolInformation]:
        return await workspace_symbol(server, params)

    @server.feature(types.TEXT_DOCUMENT_DID_SAVE, types.SaveOptions(include_text=False))
    def did_save(params: types.DidSaveTextDocumentParams) -> None:
        if services.index is not None:
            services.index.file_saved(uri_to_path(params.text_document.uri))

    @server.feature(types.WORKSPACE_DID_CHANGE_WATCHED_FILES)
    def did_change_watched_files(params: types.DidChangeWatchedFilesParams) -> None:
        if services.index is not None:
            services.index.files_changed([uri_to_path(c.uri) for c in params.changes])
