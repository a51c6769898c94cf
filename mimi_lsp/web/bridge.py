"""WebSocket ↔ stdio: one real ``mimi-lsp --stdio`` process per browser connection.

The page speaks LSP as JSON text frames (``vscode-ws-jsonrpc``); the server process speaks
``Content-Length``-framed JSON-RPC on stdin/stdout. This module copies messages between the two
and owns the processes' lifetimes: a reload or a second tab simply opens another connection and
gets its own server, and a closed connection ends its server. (pygls' own ``start_ws`` sends
binary frames, serves one client at a time and exits when it leaves: see FIELD-NOTES.)

``ServerLauncher`` keeps one spare process started in advance, so a page load does not wait for
Python to import the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import Mapping, Sequence

from aiohttp import WSMsgType, web

log = logging.getLogger(__name__)

Process = asyncio.subprocess.Process


def server_command(
    log_level: str = "info", log_file: str | None = None, log_format: str = "text"
) -> list[str]:
    """How to start one language server over stdio with this Python (logging like us)."""
    command = [sys.executable, "-m", "mimi_lsp", "--stdio", "--log-level", log_level]
    if log_file:
        command += ["--log-file", log_file]
    if log_format != "text":
        command += ["--log-format", log_format]
    return command


async def read_frame(stream: asyncio.StreamReader) -> bytes | None:
    """One LSP message body from ``stream`` (None at end of stream)."""
    length: int | None = None
    while True:
        try:
            line = await stream.readuntil(b"\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            return None
        if line == b"\r\n":
            break
        name, _, value = line.decode("ascii", errors="replace").partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    if length is None:
        return None
    try:
        return await stream.readexactly(length)
    except (asyncio.IncompleteReadError, ConnectionError):
        return None


def frame(body: bytes) -> bytes:
    """``body`` with its LSP header."""
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


async def stop_process(proc: Process, grace: float = 2.0) -> None:
    """End a server process: close its stdin, then terminate, then kill."""
    if proc.returncode is not None:
        return
    if proc.stdin is not None:
        with contextlib.suppress(Exception):
            proc.stdin.close()
    for signal_it in (None, proc.terminate, proc.kill):
        if signal_it is not None:
            with contextlib.suppress(ProcessLookupError):
                signal_it()
        try:
            await asyncio.wait_for(proc.wait(), grace)
            return
        except TimeoutError:
            continue


class ServerLauncher:
    """Starts language server processes, keeping one spare ready for the next connection."""

    def __init__(
        self,
        command: Sequence[str],
        env: Mapping[str, str],
        *,
        cwd: str | None = None,
        spare: bool = True,
        max_sessions: int = 16,
    ) -> None:
        self.command = list(command)
        self.env = dict(env)
        self.cwd = cwd
        self.spare_enabled = spare
        self.max_sessions = max_sessions
        self.live: set[Process] = set()
        self._starting = 0
        """Connections admitted whose process is still being started (they count as sessions)."""
        self._spare: asyncio.Task[Process] | None = None
        self._closed = False

    async def _spawn(self) -> Process:
        return await asyncio.create_subprocess_exec(
            *self.command,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=None,  # the server logs to our stderr, prefixed by its own format
            env=self.env,
            cwd=self.cwd,
        )

    def prepare_spare(self) -> None:
        """Start a spare process in the background if none is ready."""
        if self.spare_enabled and not self._closed and self._spare is None:
            self._spare = asyncio.get_running_loop().create_task(self._spawn(), name="lsp-spare")

    async def acquire(self) -> Process:
        """A running server process for a new connection (the spare when it is alive).

        The slot is taken before the first await: a browser restoring many tabs opens them all
        at once, and checking the count before a spawn that is counted only after it finished
        would admit every one of them.
        """
        if len(self.live) + self._starting >= self.max_sessions:
            raise web.HTTPServiceUnavailable(
                text=f"mimi-lsp: at most {self.max_sessions} editor sessions at once\n"
            )
        self._starting += 1
        try:
            proc = await self._ready_process()
        finally:
            self._starting -= 1
        if self._closed:
            await stop_process(proc)
            raise web.HTTPServiceUnavailable(text="mimi-lsp: the server is shutting down\n")
        self.live.add(proc)
        self.prepare_spare()
        return proc

    async def _ready_process(self) -> Process:
        proc: Process | None = None
        if self._spare is not None:
            spare, self._spare = self._spare, None
            try:
                proc = await spare
            except Exception:
                log.warning("spare language server failed to start", exc_info=True)
                proc = None
            if proc is not None and (
                proc.returncode is not None or (proc.stdout is not None and proc.stdout.at_eof())
            ):
                proc = None  # the spare died while waiting (killed, out of memory, …)
        return proc if proc is not None else await self._spawn()

    async def release(self, proc: Process) -> None:
        self.live.discard(proc)
        await stop_process(proc)

    async def aclose(self) -> None:
        """Stop every process, the spare included."""
        self._closed = True
        procs = list(self.live)
        if self._spare is not None:
            spare, self._spare = self._spare, None
            with contextlib.suppress(Exception):
                procs.append(await spare)
        self.live.clear()
        await asyncio.gather(*(stop_process(p) for p in procs), return_exceptions=True)


async def bridge(ws: web.WebSocketResponse, proc: Process) -> None:
    """Copy LSP messages both ways until either side ends."""
    assert proc.stdin is not None and proc.stdout is not None
    stdin, stdout = proc.stdin, proc.stdout

    async def to_browser() -> None:
        while (body := await read_frame(stdout)) is not None:
            if ws.closed:
                return
            await ws.send_str(body.decode("utf-8", errors="replace"))

    async def to_server() -> None:
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                data = msg.data.encode("utf-8")
            elif msg.type == WSMsgType.BINARY:
                data = msg.data
            else:
                break
            stdin.write(frame(data))
            await stdin.drain()

    tasks = [
        asyncio.ensure_future(to_browser()),
        asyncio.ensure_future(to_server()),
    ]
    try:
        done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if not task.cancelled() and (exc := task.exception()) is not None:
                if not isinstance(exc, ConnectionError | BrokenPipeError):
                    log.warning("LSP bridge stopped: %s", exc)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if not ws.closed:
            # 1011: the server process went away; the page reconnects with a fresh one.
            await ws.close(code=1011 if proc.returncode is not None else 1000)
