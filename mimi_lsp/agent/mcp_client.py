"""Tools of external MCP servers for the agent (``settings.agent.mcpServers``).

Each configured server (``name -> {command, args?, env?, cwd?}``) is started over stdio with the
``mcp`` SDK for the length of one agent run (entered on the run's ``AsyncExitStack``, so a
cancelled run closes them too). Its tools join the run's toolbox as ``<name>__<tool>`` (OpenAI
and Ollama accept ``[A-Za-z0-9_-]{1,64}``), described with the server's own schema. A server
that fails to start is logged and skipped; the run goes on without it. These are tools the user
chose to install: their results reach the model like any other tool result, and they cannot
write to the workspace except through the agent's own reviewed edits.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
from typing import Any

from mimi_lsp.agent.tools import Tool, Toolbox, ToolResult
from mimi_lsp.domain import ToolSpec

log = logging.getLogger(__name__)

START_TIMEOUT_S = 20.0
CALL_TIMEOUT_S = 60.0


def tool_name(server: str, tool: str) -> str:
    """``<server>__<tool>`` with characters models accept, at most 64 long."""
    clean = re.sub(r"[^A-Za-z0-9_-]", "_", f"{server}__{tool}")
    return clean[:64]


def _text_of(result: Any) -> str:
    parts = [c.text for c in (result.content or []) if getattr(c, "text", None)]
    if parts:
        return "\n".join(parts)
    structured = getattr(result, "structured_content", None)
    return json.dumps(structured) if structured is not None else "(no output)"


async def connect_mcp_tools(
    stack: contextlib.AsyncExitStack, servers: dict[str, dict[str, Any]], box: Toolbox
) -> list[str]:
    """Start every configured server on ``stack`` and add its tools to ``box``.

    Returns the names of the servers that could not be used.
    """
    import anyio
    from mcp import Client, StdioServerParameters

    failed: list[str] = []
    for name, conf in servers.items():
        command = conf.get("command") if isinstance(conf, dict) else None
        if not isinstance(command, str) or not command:
            log.warning("MCP server %r has no command; skipped", name)
            failed.append(name)
            continue
        params = StdioServerParameters(
            command=command,
            args=[str(a) for a in conf.get("args") or []],
            env={str(k): str(v) for k, v in (conf.get("env") or {}).items()} or None,
            cwd=conf.get("cwd"),
        )
        try:
            # The client's task groups live on ``stack``: only the listing gets a scope here
            # (a scope around the enter would be exited before the client's own scopes).
            client = await stack.enter_async_context(
                Client(params, read_timeout_seconds=START_TIMEOUT_S)
            )
            with anyio.fail_after(START_TIMEOUT_S):
                listing = await client.list_tools()
        except Exception as exc:  # a broken server must not break the run
            log.warning("MCP server %r could not be started: %s", name, exc)
            failed.append(name)
            continue
        for tool in listing.tools:
            box.add(_tool(name, client, tool))
        log.info("MCP server %r: %d tools", name, len(listing.tools))
    return failed


def _tool(server: str, client: Any, tool: Any) -> Tool:
    remote = tool.name

    async def run(args: dict[str, Any]) -> ToolResult:
        result = await client.call_tool(remote, args, read_timeout_seconds=CALL_TIMEOUT_S)
        text = _text_of(result)
        if result.is_error:
            return ToolResult(f"error: {text}", ok=False, summary=f"{server}.{remote} failed")
        return ToolResult(text, summary=f"{server}.{remote}")

    schema = tool.input_schema if isinstance(tool.input_schema, dict) else {"type": "object"}
    description = f"[{server}] {tool.description or remote}"
    return Tool(ToolSpec(tool_name(server, remote), description, schema), run)
