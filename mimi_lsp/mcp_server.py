"""``mimi-lsp mcp [PATH]``: the workspace tools over the Model Context Protocol (stdio).

Other agents (Claude Desktop, Continue, Cursor, …) get the same confined tools the built-in
agent uses, from the same ``Services`` (settings from ``MIMI_SETTINGS``, the same per-user
index database as the language server): ``search_code`` (hybrid index; a bounded grep when
the index is disabled), ``read_file``, ``list_files``, ``find_symbol`` and ``index_status``.
Read-only: there is no write or shell tool here. Paths outside PATH are refused exactly as
for the agent. Nothing here imports pygls or lsprotocol; stdout carries only MCP frames.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any

from mimi_lsp import __version__
from mimi_lsp.agent.tools import workspace_tools
from mimi_lsp.agent.workspace import Workspace
from mimi_lsp.domain import ToolCall
from mimi_lsp.errors import MimiError

log = logging.getLogger(__name__)

FIRST_SEARCH_WAIT_S = 15.0
"""A fresh server waits this long for the first index scan before answering a search."""


def build_server(services: Any, workspace: Workspace) -> Any:
    """An ``MCPServer`` whose tools read ``workspace`` through ``services``."""
    from mcp.server.mcpserver import MCPServer
    from mcp.server.mcpserver.exceptions import ToolError

    folders = ", ".join(workspace.folders) or "(none)"
    server = MCPServer(
        "mimi-lsp",
        version=__version__,
        instructions=(
            f"Code search and read-only access to the workspace at {folders}. Start with "
            "search_code or find_symbol, then read_file for the lines you need."
        ),
    )
    tools = workspace_tools(workspace, None)

    async def run_tool(name: str, arguments: dict[str, Any]) -> str:
        result = await tools.call(ToolCall(id=name, name=name, arguments=arguments))
        if not result.ok:
            raise ToolError(result.content.removeprefix("error: "))
        return result.content

    async def index_ready() -> Any:
        index = getattr(services, "index", None)
        if index is None:
            return None
        if index.status().state == "indexing" or index.status().files == 0:
            try:
                await asyncio.wait_for(index.wait_idle(), FIRST_SEARCH_WAIT_S)
            except TimeoutError:
                pass
        return index

    @server.tool()
    async def search_code(query: str, k: int = 10, mode: str = "hybrid") -> dict[str, Any]:
        """Search the codebase; mode is 'hybrid' (default), 'bm25' (keywords) or 'vector' (meaning)."""
        if mode not in ("hybrid", "bm25", "vector"):
            raise ToolError("mode must be 'hybrid', 'bm25' or 'vector'")
        k = max(1, min(int(k), 50))
        index = await index_ready()
        try:
            if index is not None:
                hits = await index.search(query, k=k, mode=mode)
            else:
                hits = await asyncio.to_thread(workspace.grep, query, k)
        except MimiError as exc:
            raise ToolError(exc.user_message()) from exc
        return {
            "hits": [
                {
                    "path": _rel(workspace, h.path),
                    "uri": workspace.uri(h.path),
                    "startLine": h.span.start_line + 1,
                    "endLine": h.span.end_line + 1,
                    "score": round(float(h.score), 4),
                    "symbol": h.symbol,
                    "preview": h.preview,
                }
                for h in hits
            ]
        }

    @server.tool()
    async def read_file(path: str, start_line: int = 1, end_line: int | None = None) -> str:
        """Read a workspace file with line numbers (at most 400 lines per call)."""
        args: dict[str, Any] = {"path": path, "start_line": start_line}
        if end_line is not None:
            args["end_line"] = end_line
        return await run_tool("read_file", args)

    @server.tool()
    async def list_files(path: str = "", pattern: str = "") -> str:
        """List workspace files, optionally under a folder or matching a glob like '*.py'."""
        return await run_tool("list_files", {"path": path, "pattern": pattern})

    @server.tool()
    async def find_symbol(name: str, limit: int = 20) -> dict[str, Any]:
        """Where functions, classes and other symbols are defined, by (part of) their name."""
        await index_ready()
        found = await workspace.symbols(name, limit=max(1, min(int(limit), 100)))
        return {
            "symbols": [
                {
                    "name": s.name,
                    "kind": s.kind,
                    "path": _rel(workspace, s.path),
                    "line": s.span.start_line + 1,
                    "container": s.container,
                }
                for s in found
            ]
        }

    @server.tool()
    async def index_status() -> dict[str, Any]:
        """The index: state ('indexing', 'ready', 'error', 'disabled'), files and chunks."""
        index = getattr(services, "index", None)
        if index is None:
            return {
                "state": "disabled",
                "files": 0,
                "chunks": 0,
                "folders": workspace.folders,
                "message": "index disabled: search_code greps the workspace",
            }
        st = index.status()
        return {
            "state": st.state,
            "files": st.files,
            "chunks": st.chunks,
            "embedded": st.embedded,
            "folders": workspace.folders,
            "message": st.message,
        }

    return server


def _rel(workspace: Workspace, path: str) -> str:
    return workspace.relative(os.path.realpath(path))


async def serve(root: str) -> None:
    """Serve MCP over stdio for the folder ``root`` (a real path) until stdin closes."""
    from mimi_lsp.services import Services

    services = Services()
    services.workspace_folders = [root]
    workspace = services.agent.workspace()
    services.start_index()
    server = build_server(services, workspace)
    try:
        await server.run_stdio_async()
    finally:
        await services.aclose()


def main(
    path: str | None,
    log_level: str = "warning",
    log_file: str | None = None,
    log_format: str = "text",
) -> int:
    """Entry point of ``mimi-lsp mcp``."""
    from mimi_lsp.log import setup_logging

    setup_logging(log_level, log_file, log_format)
    folder = path or os.getcwd()
    if not os.path.isdir(folder):
        logging.getLogger(__name__).error("not a folder: %s", folder)
        return 2
    asyncio.run(serve(os.path.realpath(folder)))
    return 0
