"""`mimi-lsp web` over HTTP and WebSocket: the real process, real aiohttp clients.

Token on every request, Origin and Host checks on the WebSocket, the file endpoints, and the
WebSocket↔stdio bridge giving each connection its own language server.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.web.conftest import WebServer, fake_web_settings, make_project, start_web


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebServer]:
    folder = make_project(tmp_path_factory.mktemp("websrv") / "proj")
    with start_web(folder, fake_web_settings()) as web:
        yield web


def auth(server: WebServer) -> dict[str, str]:
    return {"Authorization": f"token {server.token}"}


def ws_url(server: WebServer) -> str:
    return server.base.replace("http://", "ws://") + "lsp"


async def lsp_request(
    ws: aiohttp.ClientWebSocketResponse, msg_id: int, method: str, params: Any
) -> Any:
    """Send a request over the socket; skip notifications until its answer arrives."""
    await ws.send_str(
        json.dumps({"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params})
    )
    while True:
        msg = await asyncio.wait_for(ws.receive(), 20)
        assert msg.type == aiohttp.WSMsgType.TEXT, msg
        data = json.loads(msg.data)
        if data.get("id") == msg_id and "method" not in data:
            return data
        if "method" in data and "id" in data:  # a server request: answer with null
            await ws.send_str(json.dumps({"jsonrpc": "2.0", "id": data["id"], "result": None}))


async def initialize(ws: aiohttp.ClientWebSocketResponse, root: str) -> dict[str, Any]:
    caps = {"textDocument": {"inlineCompletion": {}}, "window": {"workDoneProgress": False}}
    answer = await lsp_request(
        ws, 1, "initialize", {"processId": None, "rootUri": root, "capabilities": caps}
    )
    await ws.send_str(json.dumps({"jsonrpc": "2.0", "method": "initialized", "params": {}}))
    return answer


async def ghost_text(ws: aiohttp.ClientWebSocketResponse, uri: str) -> list[str]:
    text = "def mul(a, b):\n    return \n"
    await ws.send_str(
        json.dumps(
            {
                "jsonrpc": "2.0",
                "method": "textDocument/didOpen",
                "params": {
                    "textDocument": {"uri": uri, "languageId": "python", "version": 1, "text": text}
                },
            }
        )
    )
    answer = await lsp_request(
        ws,
        2,
        "textDocument/inlineCompletion",
        {
            "textDocument": {"uri": uri},
            "position": {"line": 1, "character": 11},
            "context": {"triggerKind": 1},
        },
    )
    return [item["insertText"] for item in answer["result"]["items"]]


def children_of(pid: int) -> set[int]:
    """Direct child processes (Linux /proc)."""
    out: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        children = (task / "children").read_text().split()
        out.update(int(c) for c in children)
    return out


# ---------------------------------------------------------------------------- token


async def test_every_route_needs_the_token(server: WebServer) -> None:
    """The page, the API and the WebSocket answer 401 without the token."""
    async with aiohttp.ClientSession() as http:
        for path in ("", "api/info", "api/tree", "api/file?path=calc.py", "assets/x.js", "lsp"):
            async with http.get(server.base + path) as response:
                assert response.status == 401, path


async def test_wrong_token_is_401(server: WebServer) -> None:
    """A wrong token is as good as none."""
    async with aiohttp.ClientSession() as http:
        async with http.get(server.base + "api/info", headers={"Authorization": "token nope"}) as r:
            assert r.status == 401
        async with http.get(server.base + "?token=nope") as r:
            assert r.status == 401


async def test_token_in_url_becomes_a_cookie(server: WebServer) -> None:
    """The printed URL sets an HttpOnly SameSite=Strict cookie and redirects without the token."""
    # unsafe=True: aiohttp's jar otherwise drops cookies of IP-address hosts like 127.0.0.1.
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.get(server.url, allow_redirects=False) as response:
            assert response.status == 302
            assert response.headers["Location"] == "/"
            cookie = response.headers["Set-Cookie"]
            assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
        async with http.get(server.base + "api/info") as response:
            assert response.status == 200
            info = await response.json()
    assert info["name"] == "proj"
    assert info["rootUri"].startswith("file:///")


async def test_page_has_security_headers(server: WebServer) -> None:
    """Pages carry a Content-Security-Policy and nosniff."""
    async with aiohttp.ClientSession() as http:
        async with http.get(server.base, headers=auth(server)) as response:
            assert response.status == 200
            assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
            assert response.headers["X-Content-Type-Options"] == "nosniff"


async def test_foreign_host_header_is_refused(server: WebServer) -> None:
    """A Host that is not loopback (DNS rebinding) is refused even with the token."""
    async with aiohttp.ClientSession() as http:
        headers = {**auth(server), "Host": f"evil.example:{server.port}"}
        async with http.get(server.base + "api/info", headers=headers) as response:
            assert response.status == 403


# ---------------------------------------------------------------------------- websocket


async def test_websocket_with_foreign_origin_is_refused(server: WebServer) -> None:
    """A WebSocket from another origin is refused even with a valid token."""
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.WSServerHandshakeError) as info:
            await http.ws_connect(
                ws_url(server), headers={**auth(server), "Origin": "http://evil.example"}
            )
    assert info.value.status == 403


async def test_websocket_with_bad_token_is_refused(server: WebServer) -> None:
    """A WebSocket with a wrong token is refused, from the right origin too."""
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.WSServerHandshakeError) as info:
            await http.ws_connect(
                ws_url(server),
                headers={"Authorization": "token wrong", "Origin": server.base.rstrip("/")},
            )
    assert info.value.status == 401


async def test_websocket_carries_lsp_to_a_real_server(server: WebServer) -> None:
    """Over the socket: initialize advertises inline completion; ghost text comes back."""
    async with aiohttp.ClientSession() as http:
        async with http.get(server.base + "api/info", headers=auth(server)) as r:
            info = await r.json()
        async with http.ws_connect(
            ws_url(server), headers={**auth(server), "Origin": server.base.rstrip("/")}
        ) as ws:
            answer = await initialize(ws, info["rootUri"])
            assert answer["result"]["capabilities"]["inlineCompletionProvider"] is not None
            items = await ghost_text(ws, info["rootUri"] + "/calc.py")
    assert items == ["a * b"]


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc")
async def test_each_connection_gets_its_own_server_process(server: WebServer) -> None:
    """Two sockets at once run two server processes; closing one ends its process."""
    web_pid = server.process.pid
    before = children_of(web_pid)
    async with aiohttp.ClientSession() as http:
        async with http.get(server.base + "api/info", headers=auth(server)) as r:
            root = (await r.json())["rootUri"]
        first = await http.ws_connect(ws_url(server), headers=auth(server))
        second = await http.ws_connect(ws_url(server), headers=auth(server))
        await initialize(first, root)
        await initialize(second, root)
        both = children_of(web_pid)
        assert len(both) >= len(before) + 1  # the spare becomes a session; another spare starts
        assert await ghost_text(first, root + "/calc.py") == ["a * b"]
        assert await ghost_text(second, root + "/calc.py") == ["a * b"]
        await first.close()
        await second.close()
        for _ in range(100):
            if len(children_of(web_pid)) <= len(before):
                break
            await asyncio.sleep(0.05)
    assert len(children_of(web_pid)) <= len(before)


# ---------------------------------------------------------------------------- files


async def test_tree_read_and_save(server: WebServer, tmp_path: Path) -> None:
    """List the folder, read a file, save it back; a stale save is a 409 conflict."""
    async with aiohttp.ClientSession(headers=auth(server)) as http:
        async with http.get(server.base + "api/tree") as r:
            tree = await r.json()
        assert {e["path"] for e in tree["entries"]} == {"pkg", ".gitignore", "calc.py", "README.md"}
        async with http.get(server.base + "api/file", params={"path": "README.md"}) as r:
            readme = await r.json()
        assert readme["text"].startswith("# demo")
        async with http.put(
            server.base + "api/file",
            params={"path": "README.md"},
            json={"text": "# changed\n", "mtime": readme["mtime"]},
        ) as r:
            assert r.status == 200
            saved = await r.json()
        async with http.put(
            server.base + "api/file",
            params={"path": "README.md"},
            json={"text": "# stale\n", "mtime": readme["mtime"]},
        ) as r:
            assert r.status == 409
            conflict = await r.json()
    assert conflict["mtime"] == saved["mtime"]
    async with aiohttp.ClientSession(headers=auth(server)) as http:
        async with http.get(server.base + "api/file", params={"path": "README.md"}) as r:
            assert (await r.json())["text"] == "# changed\n"


@pytest.mark.parametrize(
    "path",
    ["../outside.txt", "/etc/passwd", "%2e%2e/outside.txt", "..\\outside.txt", "secret-link.txt"],
)
async def test_file_endpoints_refuse_paths_outside(server: WebServer, path: str) -> None:
    """Read and save both answer 403 for paths that leave the folder."""
    async with aiohttp.ClientSession(headers=auth(server)) as http:
        async with http.get(server.base + "api/file", params={"path": path}) as r:
            assert r.status == 403
            assert "error" in await r.json()
        async with http.put(
            server.base + "api/file", params={"path": path}, json={"text": "x"}
        ) as r:
            assert r.status == 403


async def test_health_reports_the_fake_backend_ok(server: WebServer) -> None:
    """/api/health probes the configured backend before any completion."""
    async with aiohttp.ClientSession(headers=auth(server)) as http:
        async with http.get(server.base + "api/health") as r:
            health = await r.json()
    assert health["completion"]["state"] == "ok"
    assert health["completion"]["kind"] == "fake"


async def test_missing_ollama_is_reported_plainly(tmp_path: Path) -> None:
    """With the default Ollama backend and nothing listening, the page still opens and the
    health endpoint says the backend is unavailable, with a message."""
    folder = make_project(tmp_path / "proj")
    env = {"OLLAMA_HOST": "127.0.0.1:9", "MIMI_SETTINGS": ""}
    with start_web(folder, None, env=env) as web:
        async with aiohttp.ClientSession(headers={"Authorization": f"token {web.token}"}) as http:
            async with http.get(web.base) as r:
                assert r.status == 200
            async with http.get(web.base + "api/health") as r:
                health = await r.json()
    assert health["completion"]["state"] in ("unavailable", "error")
    assert health["completion"]["kind"] == "ollama"
    assert health["completion"].get("message")


def test_bad_settings_json_is_a_clear_error(tmp_path: Path) -> None:
    """--settings that is not JSON stops with a message instead of a traceback."""
    import subprocess
    import sys

    from tests.lsp_harness import ROOT

    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mimi_lsp",
            "web",
            str(tmp_path),
            "--no-browser",
            "--settings",
            "{nope",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=30,
    )
    assert result.returncode == 2
    assert "--settings" in result.stderr
    assert "Traceback" not in result.stderr


async def test_missing_ok_answers_for_files_not_on_disk_yet(server: WebServer) -> None:
    """With missing=ok a file an edit will create reads as {exists: false}; outside stays 403."""
    async with aiohttp.ClientSession(headers=auth(server)) as http:
        params = {"path": "new/module.py", "missing": "ok"}
        async with http.get(server.base + "api/file", params=params) as r:
            assert r.status == 200
            body = await r.json()
        async with http.get(
            server.base + "api/file", params={"path": "../x", "missing": "ok"}
        ) as r:
            assert r.status == 403
    assert body["exists"] is False
    assert body["uri"].endswith("/new/module.py")
