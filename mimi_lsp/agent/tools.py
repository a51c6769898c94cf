"""The agent's tools: JSON-schema specs for the model and their confined implementations.

Read-only tools (``read_file``, ``list_files``, ``search``, ``find_symbol``) answer from the
workspace (open buffers first, then disk) and the index; the write tools (``edit``,
``create_file``) only add to the run's ``EditPlan``. Nothing here writes to disk or runs a
command: the optional ``shell`` tool exists only when ``agent.allowShell`` is set, and even
then each command needs the user's confirmation. Tools of external MCP servers are added by
``agent.mcp_client`` under ``<server>__<tool>`` names.

Every tool returns text for the model; failures come back as ``ToolResult(ok=False)`` with a
message the model can act on, never as exceptions that end the run.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from mimi_lsp.agent.plan import EditPlan, Replace, strip_fences
from mimi_lsp.agent.workspace import SecretFile, Workspace
from mimi_lsp.domain import ToolCall, ToolSpec
from mimi_lsp.errors import MimiError

log = logging.getLogger(__name__)

MAX_READ_LINES = 400
MAX_TOOL_OUTPUT = 16_000


@dataclass(frozen=True, slots=True)
class ToolResult:
    """What a tool call produced: text for the model, and what happened for progress/logs."""

    content: str
    ok: bool = True
    summary: str = ""
    sources: tuple[tuple[str, int, int], ...] = ()
    """(path, first line, last line) of workspace text the result showed (for citations)."""


ToolFn = Callable[[dict[str, Any]], Awaitable[ToolResult]]
Consent = Callable[[SecretFile], Awaitable[bool]]
"""Asks the user whether a secret file may be shown to the model (True: it may)."""


@dataclass(slots=True)
class Tool:
    spec: ToolSpec
    run: ToolFn
    writes: bool = False


@dataclass(slots=True)
class Toolbox:
    """The tools of one run, by name; ``consent`` asks before a secret file is shown."""

    tools: dict[str, Tool] = field(default_factory=dict)
    consent: Consent | None = None

    def add(self, tool: Tool) -> None:
        self.tools[tool.spec.name] = tool

    @property
    def specs(self) -> tuple[ToolSpec, ...]:
        return tuple(t.spec for t in self.tools.values())

    async def call(self, call: ToolCall) -> ToolResult:
        """Run one tool call; unknown tools, bad arguments and failures become tool errors."""
        tool = self.tools.get(call.name)
        if tool is None:
            known = ", ".join(sorted(self.tools))
            return ToolResult(
                f"error: unknown tool {call.name!r}; available: {known}",
                ok=False,
                summary=f"unknown tool {call.name}",
            )
        args = call.arguments
        if isinstance(args, str):
            try:
                args = json.loads(args)
            except json.JSONDecodeError:
                return ToolResult(
                    "error: arguments must be a JSON object",
                    ok=False,
                    summary=f"{call.name}: bad arguments",
                )
        if not isinstance(args, dict):
            return ToolResult(
                "error: arguments must be a JSON object",
                ok=False,
                summary=f"{call.name}: bad arguments",
            )
        try:
            result = await self._run(tool, args)
        except SecretFile as exc:
            return ToolResult(
                f"error: {exc.message}. {exc.fix}",
                ok=False,
                summary=f"{call.name}: {exc.rel} not shown (may hold secrets)",
            )
        except MimiError as exc:
            return ToolResult(
                f"error: {exc.message}", ok=False, summary=f"{call.name}: {exc.message}"
            )
        except (KeyError, TypeError, ValueError) as exc:
            return ToolResult(
                f"error: bad arguments for {call.name}: {exc}",
                ok=False,
                summary=f"{call.name}: bad arguments",
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a tool bug must not end the run
            log.exception("tool %s failed", call.name)
            return ToolResult(
                f"error: {call.name} failed: {exc}", ok=False, summary=f"{call.name} failed"
            )
        if len(result.content) > MAX_TOOL_OUTPUT:
            cut = result.content[:MAX_TOOL_OUTPUT]
            result = ToolResult(
                cut + "\n[output truncated]", result.ok, result.summary, result.sources
            )
        return result

    async def _run(self, tool: Tool, args: dict[str, Any]) -> ToolResult:
        """Run ``tool``; a secret file it touches needs the user's consent, then one retry."""
        try:
            return await tool.run(args)
        except SecretFile as exc:
            if self.consent is None or not await self.consent(exc):
                raise
        return await tool.run(args)


def _str(args: dict[str, Any], key: str, default: str | None = None) -> str:
    value = args.get(key, default)
    if value is None:
        raise KeyError(f"missing '{key}'")
    if not isinstance(value, str):
        value = str(value)
    return value


def _int(args: dict[str, Any], key: str, default: int | None = None) -> int | None:
    value = args.get(key, default)
    if value is None or value == "":
        return default
    return int(value)


def _numbered(text: str, start: int, end: int) -> tuple[str, int, int]:
    lines = text.splitlines()
    total = len(lines)
    start = max(1, start)
    end = min(total, end)
    width = len(str(end))
    body = "\n".join(f"{n:>{width}}| {lines[n - 1]}" for n in range(start, end + 1))
    return body, start, end


def workspace_tools(
    workspace: Workspace,
    plan: EditPlan | None,
    *,
    confirm: Callable[[str], Awaitable[bool]] | None = None,
    allow_shell: bool = False,
) -> Toolbox:
    """The built-in tools over ``workspace``; write tools only when a ``plan`` is given.

    ``confirm`` asks the user before a shell command runs and before a secret file is shown to
    the model; without it, secret files are refused.
    """

    async def consent(exc: SecretFile) -> bool:
        if confirm is None:
            return False
        question = (
            f"Mimi's agent wants to read {exc.rel}, which may hold secrets (keys, passwords, "
            "tokens). Run shows it to the model; Cancel refuses."
        )
        if not await confirm(question):
            return False
        workspace.consent(exc.path)
        return True

    box = Toolbox(consent=consent)

    async def read_file(args: dict[str, Any]) -> ToolResult:
        name = _str(args, "path")
        current = plan.current_text(workspace.resolve(name)) if plan else workspace.read(name)
        rel = workspace.relative(current.path)
        total = len(current.text.splitlines())
        start = _int(args, "start_line", 1) or 1
        end = _int(args, "end_line", None) or min(total, start + MAX_READ_LINES - 1)
        end = min(end, start + MAX_READ_LINES - 1)
        body, start, end = _numbered(current.text, start, end)
        more = f"\n[lines {end + 1}-{total} not shown; pass start_line]" if end < total else ""
        header = f'<file path="{rel}" lines="{start}-{end} of {total}">'
        return ToolResult(
            f"{header}\n{body}{more}\n</file>",
            summary=f"read {rel}",
            sources=((current.path, start - 1, max(start - 1, end - 1)),),
        )

    box.add(
        Tool(
            ToolSpec(
                "read_file",
                "Read a text file of the workspace with line numbers (at most 400 lines per call). "
                "Line numbers are for orientation only: never copy them into edits.",
                {
                    "type": "object",
                    "properties": {
                        "path": {
                            "type": "string",
                            "description": "Path relative to the workspace root.",
                        },
                        "start_line": {"type": "integer", "description": "First line (1-based)."},
                        "end_line": {"type": "integer", "description": "Last line (inclusive)."},
                    },
                    "required": ["path"],
                },
            ),
            read_file,
        )
    )

    async def list_files(args: dict[str, Any]) -> ToolResult:
        under = args.get("path") or None
        if under in (".", "./", "/"):
            under = None
        pattern = args.get("pattern") or None
        files, cut = await asyncio.to_thread(workspace.list_files, under, pattern)
        text = "\n".join(files) if files else "(no files)"
        if cut:
            text += "\n[more files not shown; narrow with path or pattern]"
        return ToolResult(text, summary=f"listed {len(files)} files")

    box.add(
        Tool(
            ToolSpec(
                "list_files",
                "List workspace files (relative paths), optionally under a folder or matching a glob.",
                {
                    "type": "object",
                    "properties": {
                        "path": {
                            "type": "string",
                            "description": "Folder to list (default: the whole workspace).",
                        },
                        "pattern": {
                            "type": "string",
                            "description": "Glob such as '*.py' or 'tests/*'.",
                        },
                    },
                },
            ),
            list_files,
        )
    )

    async def search(args: dict[str, Any]) -> ToolResult:
        query = _str(args, "query")
        k = min(max(_int(args, "k", 8) or 8, 1), 20)
        hits = await workspace.search(query, k)
        if not hits:
            return ToolResult("(no matches)", summary=f"search {query!r}: nothing")
        parts = []
        for hit in hits:
            rel = workspace.relative(hit.path)
            sym = f" {hit.symbol}" if hit.symbol else ""
            parts.append(
                f"{rel}:{hit.span.start_line + 1}-{hit.span.end_line + 1}{sym}\n{hit.preview}"
            )
        return ToolResult(
            "\n---\n".join(parts),
            summary=f"search {query!r}: {len(hits)} hits",
            sources=tuple((h.path, h.span.start_line, h.span.end_line) for h in hits),
        )

    box.add(
        Tool(
            ToolSpec(
                "search",
                "Search the codebase (hybrid keyword + semantic). Returns file:line ranges with previews.",
                {
                    "type": "object",
                    "properties": {
                        "query": {
                            "type": "string",
                            "description": "What to look for, in words or identifiers.",
                        },
                        "k": {
                            "type": "integer",
                            "description": "Number of results (default 8, max 20).",
                        },
                    },
                    "required": ["query"],
                },
            ),
            search,
        )
    )

    async def find_symbol(args: dict[str, Any]) -> ToolResult:
        name = _str(args, "name")
        found = await workspace.symbols(name, limit=20)
        if not found:
            return ToolResult(
                f"(no symbol matching {name!r})", summary=f"find_symbol {name}: nothing"
            )
        lines = [
            f"{s.kind} {s.name} at {workspace.relative(s.path)}:{s.span.start_line + 1}"
            + (f" (in {s.container})" if s.container else "")
            for s in found
        ]
        return ToolResult(
            "\n".join(lines),
            summary=f"find_symbol {name}: {len(found)}",
            sources=tuple((s.path, s.span.start_line, s.span.end_line) for s in found),
        )

    box.add(
        Tool(
            ToolSpec(
                "find_symbol",
                "Find where functions, classes and other symbols are defined, by (part of) their name.",
                {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string", "description": "Symbol name or part of it."},
                    },
                    "required": ["name"],
                },
            ),
            find_symbol,
        )
    )

    if plan is not None:

        async def edit(args: dict[str, Any]) -> ToolResult:
            name = _str(args, "path")
            raw = args.get("edits")
            if raw is None and "search" in args:
                raw = [{"search": args.get("search", ""), "replace": args.get("replace", "")}]
            if isinstance(raw, str):
                raw = json.loads(raw)
            if not isinstance(raw, list) or not raw:
                raise ValueError("'edits' must be a non-empty list of {search, replace}")
            ops = [Replace(str(e.get("search", "")), str(e.get("replace", ""))) for e in raw]
            change = plan.edit(name, ops)
            rel = workspace.relative(change.path)
            return ToolResult(
                f"ok: {len(ops)} block(s) applied to {rel} (planned; the user reviews "
                "all edits at the end)",
                summary=f"edit {rel}",
            )

        box.add(
            Tool(
                ToolSpec(
                    "edit",
                    "Change an existing file with search/replace blocks. Each 'search' must be copied "
                    "exactly from the current file (no line numbers) and match exactly one place; it "
                    "is replaced by 'replace'. Blocks apply in order, all or none.",
                    {
                        "type": "object",
                        "properties": {
                            "path": {"type": "string", "description": "File to change."},
                            "edits": {
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "properties": {
                                        "search": {
                                            "type": "string",
                                            "description": "Exact existing text.",
                                        },
                                        "replace": {"type": "string", "description": "New text."},
                                    },
                                    "required": ["search", "replace"],
                                },
                            },
                        },
                        "required": ["path", "edits"],
                    },
                ),
                edit,
                writes=True,
            )
        )

        async def create_file(args: dict[str, Any]) -> ToolResult:
            name = _str(args, "path")
            content = strip_fences(_str(args, "content", ""))
            if content and not content.endswith("\n"):
                content += "\n"
            change = plan.create(name, content)
            rel = workspace.relative(change.path)
            return ToolResult(
                f"ok: {rel} will be created ({len(content.splitlines())} lines)",
                summary=f"create {rel}",
            )

        box.add(
            Tool(
                ToolSpec(
                    "create_file",
                    "Create a new file with the given content (fails if it exists: use edit).",
                    {
                        "type": "object",
                        "properties": {
                            "path": {
                                "type": "string",
                                "description": "New file path, relative to the workspace.",
                            },
                            "content": {"type": "string", "description": "Full file content."},
                        },
                        "required": ["path", "content"],
                    },
                ),
                create_file,
                writes=True,
            )
        )

    if allow_shell:

        async def shell(args: dict[str, Any]) -> ToolResult:
            command = _str(args, "command")
            if confirm is not None and not await confirm(f"Mimi wants to run: {command}"):
                return ToolResult(
                    "error: the user declined to run this command",
                    ok=False,
                    summary="shell declined",
                )
            cwd = workspace.folders[0]
            proc = await asyncio.create_subprocess_exec(
                "/bin/sh",
                "-c",
                command,
                cwd=cwd,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                stdin=asyncio.subprocess.DEVNULL,
                env={k: v for k, v in os.environ.items() if "KEY" not in k and "TOKEN" not in k},
            )
            try:
                out, _ = await asyncio.wait_for(proc.communicate(), timeout=60)
            except TimeoutError:
                proc.kill()
                await proc.wait()
                return ToolResult(
                    "error: the command did not finish within 60 s",
                    ok=False,
                    summary="shell: timeout",
                )
            except asyncio.CancelledError:
                proc.kill()
                await proc.wait()
                raise
            text = out.decode("utf-8", errors="replace")[-MAX_TOOL_OUTPUT:]
            return ToolResult(
                f"exit code {proc.returncode}\n{text}",
                ok=proc.returncode == 0,
                summary=f"shell: {command[:40]} → {proc.returncode}",
            )

        box.add(
            Tool(
                ToolSpec(
                    "shell",
                    "Run a shell command in the workspace root (the user confirms each one).",
                    {
                        "type": "object",
                        "properties": {
                            "command": {"type": "string", "description": "The command line."},
                        },
                        "required": ["command"],
                    },
                ),
                shell,
            )
        )

    return box
