"""External MCP servers as agent tools: `<server>__<tool>`, started per run from settings."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.test_agent_edit import agent_edit, call, copy_repo, scripted
from tests.lsp_harness import ROOT, start_session
from tests.standins.ollama import OllamaStandin


@pytest.fixture
def model() -> Iterator[OllamaStandin]:
    """The Ollama stand-in as the agent's model."""
    with OllamaStandin() as server:
        yield server


def docs_server(folder: Path) -> dict[str, object]:
    """Another `mimi-lsp mcp` process, over a second folder, as the external server 'docs'."""
    return {
        "command": sys.executable,
        "args": ["-m", "mimi_lsp", "mcp", str(folder)],
        "env": {
            "PYTHONPATH": str(ROOT),
            "MIMI_SETTINGS": json.dumps({"index": {"enabled": False}}),
        },
    }


async def test_agent_calls_tools_of_a_configured_mcp_server(
    tmp_path: Path, model: OllamaStandin
) -> None:
    """The model sees docs__* tools, calls one, and gets the other server's answer."""
    root = copy_repo(tmp_path)
    other = tmp_path / "style"
    other.mkdir()
    (other / "GUIDE.md").write_text("House style: prices are formatted with a currency code.\n")
    turns = [call("docs__read_file", path="GUIDE.md"), "The guide asks for currency codes."]
    settings = scripted(model, *turns, mcpServers={"docs": docs_server(other)})
    async with start_session(root=root, settings=settings) as client:
        result = await agent_edit(client, instruction="follow the house style")
    names = {t["function"]["name"] for t in model.calls("/api/chat")[0].body["tools"]}
    assert {"docs__search_code", "docs__read_file", "docs__list_files"} <= names
    assert result["steps"] == [{"tool": "docs__read_file", "summary": "docs.read_file", "ok": True}]
    tool_result = [m for m in model.calls("/api/chat")[1].body["messages"] if m["role"] == "tool"][
        0
    ]
    assert "prices are formatted with a currency code" in tool_result["content"]


async def test_broken_mcp_server_is_skipped(tmp_path: Path, model: OllamaStandin) -> None:
    """A server that cannot start is logged and left out; the run still works."""
    root = copy_repo(tmp_path)
    settings = scripted(
        model, "Nothing to do.", mcpServers={"bad": {"command": str(tmp_path / "missing")}}
    )
    async with start_session(root=root, settings=settings) as client:
        result = await agent_edit(client, instruction="x")
    assert result["summary"] == "Nothing to do."
    names = {t["function"]["name"] for t in model.calls("/api/chat")[0].body["tools"]}
    assert not any(n.startswith("bad__") for n in names)
