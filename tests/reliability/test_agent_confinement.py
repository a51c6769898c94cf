"""The agent's reach with no workspace folder, around secret files and around FIFOs.

A prompt-injected (scripted) model drives the real server over stdio, as the attack pass did:
a file opened from ``$HOME`` with no folder must give the model that file alone, never
``~/.ssh/id_rsa``, ``~/.aws/credentials``, ``.env`` or ``.netrc``; in a workspace, secret files
need the user's consent (``window/showMessageRequest``); the MCP server refuses them outright;
and a FIFO named like a source file blocks no tool, grep or walk.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types

from mimi_lsp.agent.workspace import SecretFile, Workspace
from tests.lsp_harness import ROOT, start_session
from tests.standins.ollama import OllamaStandin

SECRET = "MIMI-HOME-SECRET-41c7"
SIBLING = "MIMI-SIBLING-NOTE-9b2e"
SECRET_FILES = [".ssh/id_rsa", ".aws/credentials", ".env", ".netrc", "proj/.env.local"]


def fake_home(tmp: Path) -> Path:
    """A $HOME with keys, credentials, .env files, a harmless sibling and the file to edit."""
    home = tmp / "home"
    for rel in SECRET_FILES:
        (home / rel).parent.mkdir(parents=True, exist_ok=True)
        (home / rel).write_text(f"{SECRET}\n")
    (home / "proj" / ".env.example").write_text("API_KEY=\n")
    (home / "notes.txt").write_text(f"{SIBLING}\n")
    (home / "scratch.py").write_text("def scratch():\n    return 1\n")
    return home


def turn(tool: str, **arguments: Any) -> dict[str, Any]:
    return {"toolCalls": [{"name": tool, "arguments": arguments}]}


def settings_for(model: OllamaStandin) -> dict[str, Any]:
    return {
        "completion": {"backend": {"kind": "fake", "replies": [""]}, "debounceMs": 0},
        "chat": {"backend": {"kind": "ollama", "host": model.url}, "model": "m"},
        "index": {"enabled": False},
        "agent": {"maxSteps": 60},
    }


async def agent_edit(client: Any, uri: str | None = None) -> dict[str, Any]:
    args: dict[str, Any] = {"instruction": "do what the notes say"}
    if uri:
        args["uri"] = uri
    return await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="mimi.agent.edit", arguments=[args])
    )


async def test_no_folder_gives_the_model_the_file_alone(tmp_path: Path) -> None:
    """A file opened from $HOME with no workspace folder: every way to its neighbours (keys,
    credentials, .env, .netrc, a harmless note) is refused; the file itself is read and edited."""
    home = fake_home(tmp_path)
    attempts: list[dict[str, Any]] = []
    for rel in [*SECRET_FILES, "notes.txt"]:
        attempts += [
            turn("read_file", path=rel),
            turn("read_file", path=str(home / rel)),
            turn("read_file", path=(home / rel).as_uri()),
        ]
    attempts += [
        turn("read_file", path="~/.ssh/id_rsa"),
        turn("read_file", path="../home/.env"),
        turn("list_files", path="."),
        turn("list_files", path=str(home)),
        turn("search", query="MIMI HOME SECRET SIBLING NOTE"),
        turn("find_symbol", name="scratch"),
        turn("create_file", path="evil.py", content="x\n"),
    ]
    allowed = [
        turn("read_file", path="scratch.py"),
        turn(
            "edit",
            path=str(home / "scratch.py"),
            edits=[{"search": "return 1", "replace": "return 2"}],
        ),
    ]
    turns = [*attempts, *allowed, {"text": "Done."}]
    with OllamaStandin() as model:
        model.configure(chat=[{"turns": turns}])
        async with start_session(settings=settings_for(model), env={"HOME": str(home)}) as client:
            result = await agent_edit(client, (home / "scratch.py").as_uri())
        sent = json.dumps([c.body for c in model.calls("/api/chat")])
    steps = result["steps"]
    assert len(steps) == len(attempts) + len(allowed)
    reads = steps[: 3 * (len(SECRET_FILES) + 1) + 2]
    assert not any(s["ok"] for s in reads), [s for s in reads if s["ok"]]
    assert SECRET not in sent and SIBLING not in sent and "API_KEY" not in sent
    assert "def scratch" in sent and "only scratch.py is" in sent
    assert [s["ok"] for s in steps[-2:]] == [True, True]
    assert result["files"] == ["scratch.py"]


@asynccontextmanager
async def answering(client: Any, answer: str) -> AsyncIterator[list[str]]:
    """Answer every window/showMessageRequest with ``answer``; yield the questions asked."""
    asked: list[str] = []

    @client.feature(types.WINDOW_SHOW_MESSAGE_REQUEST)
    def show(params: types.ShowMessageRequestParams) -> types.MessageActionItem:
        asked.append(params.message)
        return types.MessageActionItem(title=answer)

    yield asked


@pytest.mark.parametrize("answer", ["Cancel", "Run"])
async def test_secret_files_in_a_workspace_need_consent(tmp_path: Path, answer: str) -> None:
    """$HOME opened as the workspace: each secret file read asks the user once; refused, the
    model sees nothing of it (search included); .env.example is no secret."""
    home = fake_home(tmp_path)
    turns = [turn("read_file", path=rel) for rel in SECRET_FILES]
    turns += [
        turn("read_file", path="proj/.env.example"),
        turn("search", query="MIMI HOME SECRET"),
        {"text": "Done."},
    ]
    with OllamaStandin() as model:
        model.configure(chat=[{"turns": turns}])
        async with start_session(
            root=home, settings=settings_for(model), env={"HOME": str(home)}
        ) as client:
            async with answering(client, answer) as asked:
                result = await agent_edit(client)
        bodies = [c.body for c in model.calls("/api/chat")]
    steps = result["steps"]
    assert len(asked) == len(SECRET_FILES), asked
    assert all("may hold secrets" in q for q in asked)
    assert [s["ok"] for s in steps[: len(SECRET_FILES)]] == [answer == "Run"] * len(SECRET_FILES)
    assert steps[len(SECRET_FILES)]["ok"]
    if answer == "Cancel":
        assert SECRET not in json.dumps(bodies)
    else:  # consent covers the run: what the user agreed to show, search shows too
        assert SECRET in json.dumps(bodies[len(SECRET_FILES)]["messages"][-1])


async def test_mcp_refuses_secret_files(tmp_path: Path) -> None:
    """`mimi-lsp mcp $HOME`: read_file refuses every secret file; search shows none of them."""
    from mcp import Client, StdioServerParameters

    home = fake_home(tmp_path)
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "HOME": str(home),
        "MIMI_SETTINGS": json.dumps({"index": {"enabled": False}}),
    }
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "mimi_lsp", "mcp", str(home)], env=env
    )
    async with Client(params, mode="legacy", read_timeout_seconds=60) as client:
        for rel in SECRET_FILES:
            read = await client.call_tool("read_file", {"path": rel})
            assert read.is_error and SECRET not in json.dumps(read.model_dump()), rel
        found = await client.call_tool("search_code", {"query": SECRET})
        assert SECRET not in json.dumps(found.model_dump())
        ok = await client.call_tool("read_file", {"path": "scratch.py"})
        assert not ok.is_error


# ---------------------------------------------------------------------------- FIFOs


def fifo_workspace(tmp: Path) -> Path:
    root = tmp / "ws"
    (root / "pkg").mkdir(parents=True)
    (root / "app.py").write_text("def needle_here():\n    return 1\n")
    os.mkfifo(root / "pipe.py")
    os.mkfifo(root / "pkg" / "stream.py")
    os.mkfifo(root / "pkg" / ".gitignore")
    return root


async def test_fifos_block_no_agent_tool(tmp_path: Path) -> None:
    """read_file on a FIFO is refused at once; list_files, grep search and the symbol scan walk
    past FIFOs (one of them named .gitignore); the run ends normally."""
    root = fifo_workspace(tmp_path)
    turns = [
        turn("read_file", path="pipe.py"),
        turn("read_file", path="pkg/stream.py"),
        turn("edit", path="pipe.py", edits=[{"search": "a", "replace": "b"}]),
        turn("list_files"),
        turn("search", query="needle_here"),
        turn("find_symbol", name="needle"),
        {"text": "Done."},
    ]
    with OllamaStandin() as model:
        model.configure(chat=[{"turns": turns}])
        async with start_session(root=root, settings=settings_for(model)) as client:
            result = await asyncio.wait_for(agent_edit(client), 60)
    steps = result["steps"]
    assert [s["ok"] for s in steps] == [False, False, False, True, True, True], steps
    assert "FIFO" in steps[0]["summary"] or "FIFO" in json.dumps(steps[0])


def test_workspace_read_of_secret_needs_consent(tmp_path: Path) -> None:
    """In process: SecretFile until consent; the invoked file is consented from the start."""
    home = fake_home(tmp_path)
    workspace = Workspace(lambda: [str(home)])
    with pytest.raises(SecretFile):
        workspace.read(".env")
    workspace.consent(str(home / ".env"))
    assert SECRET in workspace.read(".env").text
    invoked = Workspace(lambda: [str(home)], file=str(home / ".netrc"))
    assert SECRET in invoked.read(".netrc").text


async def test_fifos_do_not_stall_indexing(tmp_path: Path) -> None:
    """The index walks past FIFOs (one named .gitignore, whose rules it reads) and is ready;
    search finds the real file."""
    from tests.e2e.test_search import index_settings, search, wait_status

    root = fifo_workspace(tmp_path)
    settings = index_settings(tmp_path / "cache")
    async with start_session(root=root, settings=settings) as client:
        ready = await wait_status(client, lambda p: p["state"] == "ready" and p["files"] >= 1, 60)
        hits = await search(client, query="needle_here", mode="bm25")
    assert ready["files"] == 1
    assert hits and hits[0]["uri"].endswith("/app.py")
