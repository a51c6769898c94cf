"""The structured-text fallback for models without native tool calling.

Such models get the tool list in the system prompt (``describe_tools``) and answer with
``<tool_call>{"name": ..., "arguments": {...}}</tool_call>`` blocks (the Hermes/Qwen form many
instruct models already know) and, for edits, Aider-style search/replace blocks::

    path/to/file.py
    <<<<<<< SEARCH
    old lines
    =======
    new lines
    >>>>>>> REPLACE

``parse_tool_calls`` turns both into ``ToolCall``s. It also runs on replies of native-tool
models, which sometimes fall back to text on their own.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from mimi_lsp.domain import ToolCall, ToolSpec

_TAG_RE = re.compile(r"<tool_call>\s*(\{.*?\})\s*</tool_call>", re.DOTALL)
_FENCED_JSON_RE = re.compile(r"```(?:json|tool_call|tool)?\s*\n(\{.*?\})\s*\n```", re.DOTALL)
_SR_RE = re.compile(
    r"(?:^|\n)(?:```[\w+-]*\n)?(?P<path>[^\n<>=`]+?)\s*\n(?:```[\w+-]*\n)?"
    r"<<<<<<<\s*SEARCH\s*\n(?P<search>.*?)(?:^|\n)=======\s*\n(?P<replace>.*?)(?:^|\n)>>>>>>>\s*REPLACE",
    re.DOTALL | re.MULTILINE,
)


def describe_tools(tools: Iterable[ToolSpec]) -> str:
    """Tool instructions for the system prompt of a model without native tools."""
    lines = [
        "You can call tools. To call one, answer with one or more blocks exactly like:",
        '<tool_call>{"name": "read_file", "arguments": {"path": "src/app.py"}}</tool_call>',
        "and nothing after them; the results come back in the next message.",
        "To change files you may also write search/replace blocks:",
        "path/to/file.py\n<<<<<<< SEARCH\nexact old lines\n=======\nnew lines\n>>>>>>> REPLACE",
        "When you are done, answer in plain text without tool calls.",
        "",
        "Tools:",
    ]
    for spec in tools:
        props = spec.parameters.get("properties", {})
        required = set(spec.parameters.get("required", []))
        args = ", ".join(
            f"{name}{'' if name in required else '?'}: {p.get('type', 'any')}"
            for name, p in props.items()
        )
        lines.append(f"- {spec.name}({args}): {spec.description}")
    return "\n".join(lines)


def _call_from_obj(obj: object, n: int, known: set[str] | None) -> ToolCall | None:
    if not isinstance(obj, dict):
        return None
    fn: dict[str, Any] = obj["function"] if isinstance(obj.get("function"), dict) else {}
    name = obj.get("name") or fn.get("name")
    if not isinstance(name, str) or (known is not None and name not in known):
        return None
    args = obj.get("arguments", obj.get("parameters", fn.get("arguments")))
    if isinstance(args, str):
        try:
            args = json.loads(args)
        except json.JSONDecodeError:
            return None
    if not isinstance(args, dict):
        args = {}
    return ToolCall(id=f"text-{n}", name=name, arguments=args)


def parse_tool_calls(text: str, known: set[str] | None = None) -> list[ToolCall]:
    """Tool calls written as text: ``<tool_call>`` JSON, fenced JSON, search/replace blocks."""
    calls: list[ToolCall] = []
    for m in _TAG_RE.finditer(text):
        try:
            obj = json.loads(m.group(1))
        except json.JSONDecodeError:
            continue
        if (call := _call_from_obj(obj, len(calls), known)) is not None:
            calls.append(call)
    if not calls:
        for m in _FENCED_JSON_RE.finditer(text):
            try:
                obj = json.loads(m.group(1))
            except json.JSONDecodeError:
                continue
            # Only an object shaped exactly like a call: prose with a JSON example stays prose.
            if isinstance(obj, dict) and set(obj) <= {"name", "arguments", "parameters"}:
                if (call := _call_from_obj(obj, len(calls), known)) is not None:
                    calls.append(call)
    edits: dict[str, list[dict[str, str]]] = {}
    for m in _SR_RE.finditer(text):
        path = m.group("path").strip().strip("`*").strip()
        if path.lower().startswith(("file:", "path:")):
            path = path.split(":", 1)[1].strip()
        search = m.group("search")
        replace = m.group("replace")
        edits.setdefault(path, []).append(
            {"search": _with_eol(search), "replace": _with_eol(replace)}
        )
    for path, blocks in edits.items():
        if len(blocks) == 1 and blocks[0]["search"] == "":
            calls.append(
                ToolCall(
                    f"text-{len(calls)}",
                    "create_file",
                    {"path": path, "content": blocks[0]["replace"]},
                )
            )
        else:
            calls.append(ToolCall(f"text-{len(calls)}", "edit", {"path": path, "edits": blocks}))
    return calls


def _with_eol(block: str) -> str:
    return block + "\n" if block and not block.endswith("\n") else block


def strip_tool_text(text: str) -> str:
    """The prose of a reply without its tool-call and search/replace blocks."""
    text = _TAG_RE.sub("", text)
    text = _SR_RE.sub("", text)
    return text.strip()
