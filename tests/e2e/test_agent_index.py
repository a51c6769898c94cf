"""The agent and chat on the real workspace index (SQLite FTS5, no embedding model)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types

from tests.e2e.test_agent_edit import agent_edit, call, copy_repo, scripted
from tests.lsp_harness import start_session
from tests.standins.ollama import OllamaStandin


@pytest.fixture
def model() -> Iterator[OllamaStandin]:
    """The Ollama stand-in as the agent's model."""
    with OllamaStandin() as server:
        yield server


def with_index(settings: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    settings["index"] = {"enabled": True, "embeddings": False, "cacheDir": str(tmp_path / "cache")}
    return settings


async def index_ready(client: Any) -> None:
    def ready() -> bool:
        return any(
            m == "mimi/indexStatus"
            and (p.get("state") if isinstance(p, dict) else getattr(p, "state", None)) == "ready"
            for m, p in client.notifications
        )

    async with asyncio.timeout(30):
        while not ready():
            await client.wait_for_notification("mimi/indexStatus")


async def test_agent_search_and_find_symbol_use_the_index(
    tmp_path: Path, model: OllamaStandin
) -> None:
    """search returns index chunks (with symbols) and find_symbol the indexed definitions."""
    root = copy_repo(tmp_path)
    turns = [
        call("search", query="discount price"),
        call("find_symbol", name="Inventory"),
        "Looked around.",
    ]
    async with start_session(
        root=root, settings=with_index(scripted(model, *turns), tmp_path)
    ) as client:
        await index_ready(client)
        result = await agent_edit(client, instruction="where are discounts applied?")
    assert [s["ok"] for s in result["steps"]] == [True, True]
    tool_results = [
        m["content"] for m in model.calls("/api/chat")[-1].body["messages"] if m["role"] == "tool"
    ]
    assert "shop/pricing.py" in tool_results[0] and "apply_discount" in tool_results[0]
    assert "class Inventory at shop/inventory.py:8" in tool_results[1]


async def test_chat_context_comes_from_the_index(tmp_path: Path, model: OllamaStandin) -> None:
    """The chat's search hits come from the index."""
    root = copy_repo(tmp_path)
    async with start_session(
        root=root, settings=with_index(scripted(model, "ok"), tmp_path)
    ) as client:
        await index_ready(client)
        await client.workspace_execute_command_async(
            types.ExecuteCommandParams(
                command="mimi.chat", arguments=[{"chatId": "c", "message": "how is stock reserved"}]
            )
        )
    prompt = model.calls("/api/chat")[-1].body["messages"][-1]["content"]
    assert "search result shop/inventory.py" in prompt
