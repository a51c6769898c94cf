"""`mimi-lsp mcp PATH` end to end: the real process, driven by the real `mcp` client over stdio."""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from mcp import Client, StdioServerParameters

from tests.lsp_harness import ROOT

FIXTURE = ROOT / "tests" / "fixtures" / "agent_repo"


def copy_repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    shutil.copytree(FIXTURE, root, ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
    return root


@asynccontextmanager
async def mcp_session(root: Path, settings: dict[str, Any]) -> AsyncIterator[Client]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MIMI_SETTINGS": json.dumps(settings)}
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "mimi_lsp", "mcp", str(root)], env=env
    )
    async with Client(params, mode="legacy", read_timeout_seconds=60) as client:
        yield client


def indexed(tmp_path: Path) -> dict[str, Any]:
    """The real index (SQLite FTS5; no embedding model, to stay fast) in a temporary cache."""
    return {"index": {"enabled": True, "embeddings": False, "cacheDir": str(tmp_path / "cache")}}


async def test_tools_are_listed_with_schemas(tmp_path: Path) -> None:
    """The five tools are offered, each with a description and an input schema."""
    async with mcp_session(copy_repo(tmp_path), {"index": {"enabled": False}}) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
    assert set(tools) == {"search_code", "read_file", "list_files", "find_symbol", "index_status"}
    assert tools["search_code"].input_schema["required"] == ["query"]
    assert all(t.description for t in tools.values())


async def test_search_uses_the_index(tmp_path: Path) -> None:
    """search_code answers from the workspace index; index_status reports it ready."""
    root = copy_repo(tmp_path)
    async with mcp_session(root, indexed(tmp_path)) as client:
        result = await client.call_tool(
            "search_code", {"query": "apply_discount", "k": 5, "mode": "bm25"}
        )
        status = (await client.call_tool("index_status", {})).structured_content
    hits = result.structured_content["hits"]
    assert hits and hits[0]["path"] in {"shop/pricing.py", "shop/cart.py"}
    assert any(
        h["path"] == "shop/pricing.py" and "def apply_discount" in h["preview"] for h in hits
    )
    assert status["state"] == "ready" and status["files"] >= 5


async def test_read_list_and_find(tmp_path: Path) -> None:
    """read_file numbers lines, list_files filters by glob, find_symbol locates definitions."""
    root = copy_repo(tmp_path)
    async with mcp_session(root, indexed(tmp_path)) as client:
        read = await client.call_tool(
            "read_file", {"path": "shop/pricing.py", "start_line": 6, "end_line": 8}
        )
        listed = await client.call_tool("list_files", {"pattern": "*.py", "path": "shop"})
        found = await client.call_tool("find_symbol", {"name": "Inventory"})
    text = read.content[0].text
    assert '<file path="shop/pricing.py" lines="6-8' in text and "6| def apply_discount" in text
    assert listed.content[0].text.splitlines() == [
        "shop/__init__.py",
        "shop/cart.py",
        "shop/inventory.py",
        "shop/pricing.py",
    ]
    symbols = found.structured_content["symbols"]
    assert any(
        (s["name"], s["path"], s["line"]) == ("Inventory", "shop/inventory.py", 8) for s in symbols
    ), symbols


async def test_paths_outside_the_folder_are_errors(tmp_path: Path) -> None:
    """Traversal, absolute and home paths come back as tool errors, with nothing read."""
    root = copy_repo(tmp_path)
    (tmp_path / "secret.txt").write_text("TOP SECRET\n")
    async with mcp_session(root, {"index": {"enabled": False}}) as client:
        results = [
            await client.call_tool("read_file", {"path": p})
            for p in (
                "../secret.txt",
                str(tmp_path / "secret.txt"),
                "~/.ssh/id_rsa",
                "shop/%2e%2e/%2e%2e/secret.txt",
            )
        ]
        listing = await client.call_tool("list_files", {"path": ".."})
    assert all(r.is_error for r in results + [listing])
    assert "TOP SECRET" not in json.dumps([r.content[0].text for r in results])


async def test_without_index_search_greps(tmp_path: Path) -> None:
    """With the index disabled, search_code still finds code (bounded grep) and says why."""
    async with mcp_session(copy_repo(tmp_path), {"index": {"enabled": False}}) as client:
        hits = (
            await client.call_tool("search_code", {"query": "reserve stock"})
        ).structured_content["hits"]
        status = (await client.call_tool("index_status", {})).structured_content
    assert hits[0]["path"] == "shop/inventory.py"
    assert status["state"] == "disabled"
