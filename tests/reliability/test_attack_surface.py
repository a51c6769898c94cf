"""Path confinement on every surface that takes a file path, with one table of attacks.

``..``, absolute, URL-encoded (once and twice), symlinked (file, folder, nested), Windows
(backslash, drive, UNC), home-relative, ``file:`` URI and NUL-byte spellings are tried against
the agent's tools (in-process, then through the real server and a scripted model), the web
file endpoints (a real ``mimi-lsp web``) and the MCP tools (a real ``mimi-lsp mcp``). Each must
be refused, leak nothing of the secret next door, and write nothing outside.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from lsprotocol import types

from mimi_lsp.agent.plan import EditPlan
from mimi_lsp.agent.tools import workspace_tools
from mimi_lsp.agent.workspace import Workspace
from mimi_lsp.domain import ToolCall
from tests.lsp_harness import ROOT, start_session
from tests.reliability.attacks import SECRET, Tree, attack_tree, attacks
from tests.standins.ollama import OllamaStandin
from tests.web.conftest import WebServer, start_web

NAMES = [name for name, _ in attacks(Tree(Path("/r"), Path("/o")))]


def outside_snapshot(tree: Tree) -> dict[str, str]:
    """Every file under the outside folder and its text (to prove nothing was written)."""
    return {
        str(p.relative_to(tree.outside)): p.read_text()
        for p in sorted(tree.outside.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def tree(tmp_path: Path) -> Tree:
    return attack_tree(tmp_path)


def path_of(tree: Tree, name: str) -> str:
    return dict(attacks(tree))[name]


# ---------------------------------------------------------------------------- agent tools


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("tool", ["read_file", "list_files", "edit", "create_file"])
async def test_agent_tools_refuse(tree: Tree, tool: str, name: str) -> None:
    """Every agent tool refuses every attack spelling, and nothing outside changes."""
    workspace = Workspace(lambda: [str(tree.root)])
    plan = EditPlan(workspace)
    box = workspace_tools(workspace, plan)
    before = outside_snapshot(tree)
    path = path_of(tree, name)
    args: dict[str, Any] = {"path": path}
    if tool == "edit":
        args["edits"] = [{"search": SECRET, "replace": "pwned"}]
    elif tool == "create_file":
        args["content"] = "pwned\n"
    result = await box.call(ToolCall(id="1", name=tool, arguments=args))
    if tool == "list_files" and result.ok:
        # Listing a name that resolves inside (e.g. '~' as a plain folder name) is harmless
        # only if nothing from outside shows up.
        assert "secret" not in result.content
    else:
        assert not result.ok, result.content
    assert SECRET not in result.content
    assert not plan.files or all(str(tree.outside) not in p for p in plan.files)
    assert outside_snapshot(tree) == before


def turn(name: str, **arguments: Any) -> dict[str, Any]:
    return {"toolCalls": [{"name": name, "arguments": arguments}]}


async def test_agent_run_through_the_server_leaks_nothing(tree: Tree) -> None:
    """A model calling read/list/edit/create with every attack gets refusals only; nothing
    secret reaches the model, the result, or an applied edit."""
    table = attacks(tree)
    turns = [turn("read_file", path=p) for _, p in table]
    turns += [turn("list_files", path=p) for _, p in table[:6]]
    turns += [turn("create_file", path=p, content="pwned\n") for _, p in table[:6]]
    turns += [turn("edit", path="link_file.txt", edits=[{"search": "MIMI", "replace": "x"}])]
    turns.append({"text": "I could not read anything outside."})
    before = outside_snapshot(tree)
    with OllamaStandin() as model:
        model.configure(chat=[{"turns": turns}])
        settings = {
            "completion": {"backend": {"kind": "fake", "replies": [""]}, "debounceMs": 0},
            "chat": {"backend": {"kind": "ollama", "host": model.url}, "model": "m"},
            "index": {"enabled": False},
            "agent": {"maxSteps": 100},
        }
        async with start_session(
            root=tree.root, settings=settings, env={"HOME": str(tree.outside)}
        ) as client:
            result = await client.workspace_execute_command_async(
                types.ExecuteCommandParams(
                    command="mimi.agent.edit", arguments=[{"instruction": "read the secret"}]
                )
            )
            applied = list(client.applied_edits)
        sent = json.dumps([c.body for c in model.calls("/api/chat")])
    assert len(result["steps"]) == len(turns) - 1
    refused = [s for s in result["steps"] if s["tool"] != "list_files"]
    assert refused and not any(s["ok"] for s in refused), [s for s in refused if s["ok"]]
    assert SECRET not in sent and SECRET not in json.dumps(result)
    assert applied == [] and result["applied"] is False
    assert outside_snapshot(tree) == before


async def test_chat_context_cannot_name_a_file_outside(tree: Tree) -> None:
    """mimi.chat / mimi.explain with a uri outside the workspace add nothing of it."""
    with OllamaStandin() as model:
        model.configure(chat=["Nothing to see."])
        settings = {
            "completion": {"backend": {"kind": "fake", "replies": [""]}, "debounceMs": 0},
            "chat": {"backend": {"kind": "ollama", "host": model.url}, "model": "m"},
            "index": {"enabled": False},
        }
        rng = {"start": {"line": 0, "character": 0}, "end": {"line": 1, "character": 0}}
        async with start_session(root=tree.root, settings=settings) as client:
            for uri in [
                (tree.outside / "secret.txt").as_uri(),
                (tree.root / "link_file.txt").as_uri(),
            ]:
                for command, args in [
                    (
                        "mimi.chat",
                        {
                            "chatId": "c",
                            "message": "what is in this file?",
                            "uri": uri,
                            "range": rng,
                        },
                    ),
                    ("mimi.explain", {"uri": uri, "range": rng, "chatId": "c"}),
                ]:
                    answer = await client.workspace_execute_command_async(
                        types.ExecuteCommandParams(command=command, arguments=[args])
                    )
                    assert SECRET not in json.dumps(answer)
        sent = json.dumps([c.body for c in model.calls("/api/chat")])
    assert model.calls("/api/chat") and SECRET not in sent


# ---------------------------------------------------------------------------- web endpoints


@pytest.fixture(scope="module")
def web_tree(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[WebServer, Tree]]:
    tree = attack_tree(tmp_path_factory.mktemp("attack-web"))
    settings = {
        "completion": {"backend": {"kind": "fake", "replies": ["x"]}},
        "index": {"enabled": False},
    }
    with start_web(tree.root, settings, "--no-spare", env={"HOME": str(tree.outside)}) as web:
        yield web, tree


async def _web(server: WebServer, method: str, url: str, **kwargs: Any) -> tuple[int, str]:
    headers = {"Authorization": f"token {server.token}"}
    async with aiohttp.ClientSession() as http:
        async with http.request(
            method, server.base.rstrip("/") + url, headers=headers, **kwargs
        ) as r:
            return r.status, await r.text()


@pytest.mark.parametrize("name", NAMES)
async def test_web_file_endpoints_refuse(web_tree: tuple[WebServer, Tree], name: str) -> None:
    """Read, save and list refuse every attack (403/4xx), leak nothing, write nothing outside."""
    server, tree = web_tree
    path = path_of(tree, name)
    before = outside_snapshot(tree)
    for method, route, body in [
        ("GET", "/api/file", None),
        ("PUT", "/api/file", {"text": "pwned\n"}),
        ("GET", "/api/tree", None),
    ]:
        status, text = await _web(server, method, route, params={"path": path}, json=body)
        assert SECRET not in text
        if name in ("home", "file-uri") and status in (200, 404):
            # '~' and 'file:' are ordinary folder names to the web page: a save lands inside.
            if status == 200 and method == "PUT":
                saved = json.loads(text)["uri"]
                assert saved.startswith(tree.root.as_uri() + "/"), saved
            continue
        assert status in (400, 403, 404, 415), (method, route, status, text)
    assert outside_snapshot(tree) == before


@pytest.mark.parametrize(
    "raw",
    [
        "%2e%2e%2foutside%2fsecret.txt",
        "%252e%252e%252foutside%252fsecret.txt",
        "..%5coutside%5csecret.txt",
        "link_out%2fsecret.txt",
        "%2fetc%2fpasswd",
    ],
)
async def test_web_refuses_raw_encoded_query_strings(
    web_tree: tuple[WebServer, Tree], raw: str
) -> None:
    """Query strings encoded by hand (decoded once by the server) are refused too."""
    server, _ = web_tree
    status, text = await _web(server, "GET", f"/api/file?path={raw}")
    assert status in (403, 404) and SECRET not in text


async def test_web_static_route_cannot_climb_out(web_tree: tuple[WebServer, Tree]) -> None:
    """The static assets route does not serve files above its folder."""
    server, _ = web_tree
    for raw in ["/assets/../../../../etc/passwd", "/assets/%2e%2e/%2e%2e/%2e%2e/etc/passwd"]:
        status, text = await _web(server, "GET", raw)
        assert status in (403, 404) and "root:" not in text


# ---------------------------------------------------------------------------- MCP tools


@asynccontextmanager
async def mcp_session(tree: Tree) -> AsyncIterator[Any]:
    from mcp import Client, StdioServerParameters

    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "HOME": str(tree.outside),
        "MIMI_SETTINGS": json.dumps({"index": {"enabled": False}}),
    }
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "mimi_lsp", "mcp", str(tree.root)], env=env
    )
    async with Client(params, mode="legacy", read_timeout_seconds=60) as client:
        yield client


async def test_mcp_tools_refuse(tmp_path: Path) -> None:
    """read_file and list_files refuse every attack; search and symbols see only the workspace."""
    tree = attack_tree(tmp_path)
    outcomes: dict[str, Any] = {}
    async with mcp_session(tree) as client:
        for name, path in attacks(tree):
            read = await client.call_tool("read_file", {"path": path})
            listed = await client.call_tool("list_files", {"path": path})
            outcomes[name] = (read.is_error, listed.is_error)
            text = json.dumps([c.model_dump() for c in read.content + listed.content])
            assert SECRET not in text, name
        searched = await client.call_tool("search_code", {"query": SECRET})
        symbols = await client.call_tool("find_symbol", {"name": "secret"})
        everything = await client.call_tool("list_files", {})
    assert all(read for read, _ in outcomes.values()), outcomes
    assert all(listed for name, (_, listed) in outcomes.items() if name != "home"), outcomes
    for result in (searched, symbols, everything):
        assert SECRET not in json.dumps([c.model_dump() for c in result.content])
    assert "secret.txt" not in everything.content[0].text
