"""A shell in the web IDE: one real PTY per browser tab, over the page's authenticated WebSocket.

Off unless ``mimi-lsp web --terminal``: it is a shell on the user's machine. ``GET /terminal``
is a WebSocket behind the same middleware as every route (token, ``Host``, ``Origin``;
``auth.py``). Each connection starts the user's shell (``$SHELL``, else the account's) in the
workspace folder on a new PTY whose controlling terminal it is (job control and Ctrl+C work);
the page opens one per tab, and closing the socket (closing the tab, a reload) hangs the shell up
and kills every process group of its session (background jobs included).

Frames: page → server, JSON text ``{"type": "input", "data"}``, ``{"type": "resize", "cols",
"rows"}`` and ``{"type": "ack", "bytes"}`` (output the page has drawn); server → page, binary
frames of output, then ``{"type": "exit", "code"}`` and a close when the shell ends.

Output is read from the PTY at most ``OUTPUT_RATE`` bytes a second and never more than
``OUTPUT_WINDOW`` bytes ahead of the page's acks. While either is spent the PTY is not read, so
the kernel's PTY buffer fills and the program blocks in ``write``: a runaway ``yes`` costs a
bounded trickle and never starves the LSP sockets sharing this event loop, or the page.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import pwd
import signal
import struct
import sys
import time
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web

log = logging.getLogger(__name__)

OUTPUT_RATE = 1024 * 1024
"""Bytes a second read from one terminal at most."""
OUTPUT_BURST = 256 * 1024
OUTPUT_WINDOW = 512 * 1024
"""Bytes sent but not yet acknowledged by the page at most."""
READ_CHUNK = 64 * 1024
COALESCE_FROM = 1024
"""A read this large means output is streaming: gather more before sending (echoes go at once)."""
COALESCE_S = 0.01
MAX_INPUT = 64 * 1024

ENABLED: web.AppKey[bool] = web.AppKey("terminal_enabled", bool)
TERMINALS: web.AppKey[set[Terminal]] = web.AppKey("terminals", set)
LIMIT: web.AppKey[int] = web.AppKey("terminal_limit", int)
ROOT: web.AppKey[Path] = web.AppKey("terminal_root", Path)

# The shell must own its PTY as controlling terminal (Ctrl+C, job control). The child is
# already a session leader (start_new_session); this claims the terminal and execs the shell,
# with no Python running between fork and exec in this (threaded) server.
_CLAIM_TTY = (
    "import fcntl, os, sys, termios; fcntl.ioctl(0, termios.TIOCSCTTY, 0); "
    "os.execvp(sys.argv[1], sys.argv[1:])"
)
_HIDDEN_ENV = ("MIMI_WEB_TOKEN",)


def supported() -> bool:
    """Whether this system has PTYs (Linux, macOS, BSD; not Windows)."""
    return sys.platform != "win32"


def user_shell() -> str:
    """The user's shell: ``$SHELL``, else the account's, else ``/bin/sh``."""
    shell = os.environ.get("SHELL")
    if shell and os.access(shell, os.X_OK):
        return shell
    with contextlib.suppress(KeyError, OSError):
        account = pwd.getpwuid(os.getuid()).pw_shell
        if account and os.access(account, os.X_OK):
            return account
    return "/bin/sh"


class TokenBucket:
    """``rate`` units a second, at most ``burst`` saved up."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate, self.burst = rate, burst
        self.tokens = burst
        self.stamp = time.monotonic()

    async def take(self, most: int) -> int:
        """Up to ``most`` units, waiting until at least one is there."""
        while True:
            now = time.monotonic()
            self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now
            if self.tokens >= 1:
                got = int(min(most, self.tokens))
                self.tokens -= got
                return got
            await asyncio.sleep((1 - self.tokens) / self.rate + 0.005)


class Terminal:
    """One shell on one PTY, tied to one WebSocket."""

    def __init__(self, root: Path, cols: int, rows: int) -> None:
        import pty

        self.root = root
        self.master, self._slave = pty.openpty()
        os.set_blocking(self.master, False)
        self.resize(cols, rows)
        self.proc: asyncio.subprocess.Process | None = None
        self.unacked = 0
        self._acked = asyncio.Event()
        self._readable = asyncio.Event()
        self.bucket = TokenBucket(OUTPUT_RATE, OUTPUT_BURST)
        self._closed = False

    async def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if k not in _HIDDEN_ENV}
        env.update(TERM="xterm-256color", COLORTERM="truecolor", TERM_PROGRAM="mimi")
        try:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-c",
                _CLAIM_TTY,
                user_shell(),
                stdin=self._slave,
                stdout=self._slave,
                stderr=self._slave,
                cwd=str(self.root),
                env=env,
                start_new_session=True,
            )
        finally:
            os.close(self._slave)
        asyncio.get_running_loop().add_reader(self.master, self._readable.set)

    def resize(self, cols: int, rows: int) -> None:
        import fcntl
        import termios

        cols, rows = max(2, min(int(cols), 1000)), max(1, min(int(rows), 500))
        with contextlib.suppress(OSError):
            fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    def ack(self, count: int) -> None:
        self.unacked = max(0, self.unacked - max(0, int(count)))
        if self.unacked < OUTPUT_WINDOW:
            self._acked.set()

    async def read(self) -> bytes | None:
        """The next output, within the rate and the window; None once the shell is gone."""
        while True:
            while self.unacked >= OUTPUT_WINDOW:
                self._acked.clear()
                await self._acked.wait()
            await self._readable.wait()
            most = await self.bucket.take(min(READ_CHUNK, OUTPUT_WINDOW - self.unacked))
            self._readable.clear()
            try:
                data = os.read(self.master, most)
            except BlockingIOError:
                self.bucket.tokens += most  # nothing was there after all
                continue
            except OSError:
                return None  # EIO: every process holding the PTY has ended
            if not data:
                return None
            if len(data) >= COALESCE_FROM:
                data = await self._coalesce(data, most)
            self.bucket.tokens += most - len(data)  # what was not used is not spent
            if len(data) == most:
                self._readable.set()  # there may be more: read on without waiting for epoll
            self.unacked += len(data)
            return data

    async def _coalesce(self, first: bytes, most: int) -> bytes:
        """More of a stream that is flowing (a PTY hands it over ~4 KiB at a time): whatever
        arrives within ``COALESCE_S``, up to ``most`` bytes, as one frame instead of dozens."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + COALESCE_S
        chunks, got = [first], len(first)
        while got < most:
            try:
                more = os.read(self.master, most - got)
            except BlockingIOError:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                self._readable.clear()
                try:
                    await asyncio.wait_for(self._readable.wait(), remaining)
                except TimeoutError:
                    break
                continue
            except OSError:
                break  # the next read reports the end
            if not more:
                break
            chunks.append(more)
            got += len(more)
        return b"".join(chunks)

    async def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                written = os.write(self.master, view)
            except BlockingIOError:
                await asyncio.sleep(0.01)  # the shell is not reading its input yet
                continue
            view = view[written:]

    async def close(self) -> int | None:
        """Hang up the shell and its children (SIGHUP, then SIGKILL); its exit code."""
        if self._closed:
            return self.proc.returncode if self.proc else None
        self._closed = True
        loop = asyncio.get_running_loop()
        with contextlib.suppress(Exception):
            loop.remove_reader(self.master)
        proc = self.proc
        code: int | None = None
        if proc is not None:
            for sig in (signal.SIGHUP, signal.SIGKILL):
                if proc.returncode is not None:
                    break
                _signal_session(proc.pid, sig)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(proc.wait(), 1.0)
            code = proc.returncode
            _signal_session(proc.pid, signal.SIGKILL, leader_gone=True)  # jobs left behind
        with contextlib.suppress(OSError):
            os.close(self.master)
        return code


def _session_groups(sid: int, leader_gone: bool = False) -> set[int]:
    """The process groups of session ``sid`` (Linux ``/proc``; the shell's own group elsewhere).

    An interactive shell gives each job its own group (``sleep 600 &`` is not in the shell's),
    so hanging up only the shell's group leaves background jobs running once the shell is
    killed before it could pass the hang-up on (a busy machine, a shell ignoring SIGHUP).
    ``leader_gone``: the shell has exited and been reaped, so a live process with its pid is
    another program that got the pid again (and may lead a session of its own): none then.
    """
    if leader_gone and os.path.exists(f"/proc/{sid}"):
        return set()
    groups = {sid}
    with contextlib.suppress(OSError):
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                with open(f"/proc/{entry.name}/stat", "rb") as stat:
                    fields = stat.read().rsplit(b")", 1)[1].split()
            except OSError:
                continue  # gone meanwhile
            if len(fields) > 3 and int(fields[3]) == sid:
                groups.add(int(fields[2]))
    return groups


def _signal_session(sid: int, sig: int, leader_gone: bool = False) -> None:
    """Send ``sig`` to every process group of the session the shell leads."""
    for group in _session_groups(sid, leader_gone):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(group, sig)


def _size(request: web.Request) -> tuple[int, int]:
    try:
        return int(request.query.get("cols", "80")), int(request.query.get("rows", "24"))
    except ValueError:
        return 80, 24


async def terminal_socket(request: web.Request) -> web.StreamResponse:
    """``GET /terminal``: one shell for this connection (see the module docstring)."""
    app = request.app
    terminals = app[TERMINALS]
    if len(terminals) >= app[LIMIT]:
        raise web.HTTPServiceUnavailable(text="mimi-lsp: too many terminals open\n")
    ws = web.WebSocketResponse(heartbeat=30, max_msg_size=MAX_INPUT * 2)
    await ws.prepare(request)
    terminal = Terminal(app[ROOT], *_size(request))
    terminals.add(terminal)
    try:
        await terminal.start()
        log.info("terminal started (pid %s)", terminal.proc.pid if terminal.proc else None)
        await _serve(ws, terminal)
    except OSError as exc:
        log.warning("terminal could not start: %s", exc)
        await ws.send_str(json.dumps({"type": "error", "message": f"cannot start a shell: {exc}"}))
    finally:
        terminals.discard(terminal)
        code = await terminal.close()
        if not ws.closed:
            with contextlib.suppress(Exception):
                await ws.send_str(json.dumps({"type": "exit", "code": code}))
            await ws.close(code=1000)
        log.info("terminal ended (exit code %s)", code)
    return ws


async def _serve(ws: web.WebSocketResponse, terminal: Terminal) -> None:
    async def output() -> None:
        while (data := await terminal.read()) is not None:
            await ws.send_bytes(data)

    async def commands() -> None:
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                break
            try:
                command: dict[str, Any] = json.loads(msg.data)
            except ValueError:
                continue
            kind = command.get("type")
            if kind == "input" and isinstance(command.get("data"), str):
                await terminal.write(command["data"].encode("utf-8")[:MAX_INPUT])
            elif kind == "resize":
                with contextlib.suppress(TypeError, ValueError):
                    terminal.resize(command["cols"], command["rows"])
            elif kind == "ack":
                with contextlib.suppress(TypeError, ValueError):
                    terminal.ack(command["bytes"])

    tasks = [asyncio.ensure_future(output()), asyncio.ensure_future(commands())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def register(app: web.Application, root: Path, *, enabled: bool, limit: int) -> None:
    """Add ``/terminal`` when ``enabled``; close every terminal on shutdown."""
    app[ENABLED] = enabled
    app[TERMINALS] = set()
    app[LIMIT] = limit
    app[ROOT] = root
    if not enabled:
        return
    app.router.add_get("/terminal", terminal_socket)

    async def close_all(app: web.Application) -> None:
        terminals: set[Terminal] = app[TERMINALS]
        await asyncio.gather(*(t.close() for t in list(terminals)), return_exceptions=True)

    app.on_shutdown.append(close_all)
