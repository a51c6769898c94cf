"""The web IDE's terminal (`mimi-lsp web --terminal`): a real shell on a real PTY behind the
page's token and Origin checks, driven over the real WebSocket with aiohttp."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from mimi_lsp.web.terminal import OUTPUT_BURST, OUTPUT_RATE, OUTPUT_WINDOW
from tests.web.conftest import WebServer, fake_web_settings, make_project, start_web
from tests.web.test_web_server import ghost_text, initialize, ws_url

pytestmark = pytest.mark.skipif(os.name != "posix", reason="PTYs are POSIX")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebServer]:
    folder = make_project(tmp_path_factory.mktemp("webterm") / "proj")
    with start_web(folder, fake_web_settings(), "--terminal", env={"SHELL": "/bin/bash"}) as web:
        yield web


def term_url(server: WebServer, **query: str) -> str:
    base = server.base.replace("http://", "ws://") + "terminal"
    return base + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


class Shell:
    """One terminal connection: send keys, read the screen's bytes, acknowledge them."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.seen = b""
        self.received_bytes = 0
        self.exit: dict[str, Any] | None = None

    async def type(self, text: str) -> None:
        await self.ws.send_str(json.dumps({"type": "input", "data": text}))

    async def until(self, needle: bytes, within_s: float = 40) -> bytes:
        deadline = time.monotonic() + within_s
        while needle not in self.seen:
            msg = await asyncio.wait_for(self.ws.receive(), max(0.1, deadline - time.monotonic()))
            if msg.type == aiohttp.WSMsgType.BINARY:
                self.seen += msg.data
                await self.ws.send_str(json.dumps({"type": "ack", "bytes": len(msg.data)}))
            elif msg.type == aiohttp.WSMsgType.TEXT:
                self.exit = json.loads(msg.data)
            else:
                raise AssertionError(f"socket closed before {needle!r}: {self.seen[-500:]!r}")
        return self.seen


async def open_shell(session: aiohttp.ClientSession, server: WebServer) -> Shell:
    ws = await session.ws_connect(
        term_url(server, cols="100", rows="30"),
        headers={"Authorization": f"token {server.token}", "Origin": server.base.rstrip("/")},
    )
    return Shell(ws)


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


async def test_echo_runs_in_the_workspace_folder(
    server: WebServer, session: aiohttp.ClientSession
) -> None:
    """A real shell: `echo` prints, and it starts in the workspace folder."""
    shell = await open_shell(session, server)
    await shell.type("echo mimi-$((6*7)); pwd\r")
    screen = await shell.until(b"mimi-42")
    await shell.until(b"/proj\r\n")
    assert b"mimi-42" in screen
    await shell.ws.close()


async def test_exit_ends_the_session(server: WebServer, session: aiohttp.ClientSession) -> None:
    """`exit 3` ends the shell: the page gets its exit code and the socket closes."""
    shell = await open_shell(session, server)
    await shell.type("exit 3\r")
    msg = None
    for _ in range(50):
        msg = await asyncio.wait_for(shell.ws.receive(), 10)
        if msg.type == aiohttp.WSMsgType.TEXT:
            assert json.loads(msg.data) == {"type": "exit", "code": 3}
        if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
            break
    assert msg is not None and msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)


async def test_closing_the_socket_kills_the_shell_and_its_children(
    server: WebServer, session: aiohttp.ClientSession
) -> None:
    """Closing the tab (the socket) hangs up the shell and kills what it started."""
    shell = await open_shell(session, server)
    await shell.type("sleep 600 & echo pids-$$-$!-$((40+2))end\r")
    screen = await shell.until(b"-42end")
    pids = [int(p) for p in screen.split(b"pids-")[-1].split(b"-42end")[0].split(b"-")]
    await shell.ws.close()
    deadline = time.monotonic() + 10
    while any(_running(p) for p in pids):
        assert time.monotonic() < deadline, f"still running: {pids}"
        await asyncio.sleep(0.05)


def _running(pid: int) -> bool:
    """Whether ``pid`` is alive and not a zombie (Linux /proc)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[1].split()[0]
    except OSError:
        return False
    return state != b"Z"


async def test_foreign_origin_and_missing_token_are_refused(
    server: WebServer, session: aiohttp.ClientSession
) -> None:
    """Another site's page, or no token: no shell."""
    headers = {"Authorization": f"token {server.token}", "Origin": "http://evil.example"}
    with pytest.raises(aiohttp.WSServerHandshakeError) as foreign:
        await session.ws_connect(term_url(server), headers=headers)
    assert foreign.value.status == 403
    with pytest.raises(aiohttp.WSServerHandshakeError) as anonymous:
        await session.ws_connect(term_url(server), headers={"Origin": server.base.rstrip("/")})
    assert anonymous.value.status == 401


async def test_runaway_output_is_rate_limited_and_the_editor_still_answers(
    server: WebServer, session: aiohttp.ClientSession
) -> None:
    """`yes` floods the terminal: the page gets at most the output rate, and ghost text over
    the LSP socket of the same server still arrives meanwhile."""
    shell = await open_shell(session, server)
    await shell.type("yes mimi-flood\r")
    await shell.until(b"mimi-flood\r\nmimi-flood")
    start = time.monotonic()
    async with session.ws_connect(
        ws_url(server), headers={"Authorization": f"token {server.token}"}
    ) as lsp:
        await initialize(lsp, "file:///proj")
        reader = asyncio.ensure_future(_drain(shell))
        try:
            items = await asyncio.wait_for(ghost_text(lsp, "file:///proj/calc.py"), 60)
        finally:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
    elapsed = time.monotonic() - start
    assert items, "no ghost text while the terminal was flooded"
    got = shell.received_bytes
    assert got <= OUTPUT_RATE * elapsed + OUTPUT_BURST + OUTPUT_WINDOW, (got, elapsed)
    await shell.type("\x03")  # Ctrl+C stops yes: the PTY is the shell's controlling terminal
    shell.seen = b""
    await shell.type("echo after-$((1+1))\r")
    await shell.until(b"after-2", within_s=30)
    await shell.ws.close()


async def _drain(shell: Shell) -> None:
    while True:
        msg = await shell.ws.receive()
        if msg.type != aiohttp.WSMsgType.BINARY:
            return
        shell.received_bytes += len(msg.data)
        await shell.ws.send_str(json.dumps({"type": "ack", "bytes": len(msg.data)}))


async def test_without_the_flag_there_is_no_terminal(tmp_path: Path) -> None:
    """Plain `mimi-lsp web`: no /terminal route, and the page is told (info.terminal null)."""
    folder = make_project(tmp_path / "proj")
    with start_web(folder, fake_web_settings()) as web:
        async with aiohttp.ClientSession() as s:
            headers = {"Authorization": f"token {web.token}"}
            async with s.get(web.base + "api/info", headers=headers) as r:
                assert (await r.json())["terminal"] is None
            with pytest.raises(aiohttp.WSServerHandshakeError) as missing:
                await s.ws_connect(term_url(web), headers=headers)
            assert missing.value.status == 404
