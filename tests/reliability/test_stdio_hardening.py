"""The stdio server attacked with raw bytes, as issue 20's attack pass did.

One frame must never kill the server or leave it deaf: a ``Content-Length`` of a terabyte, a
length that is short, long, negative or not a number, headers without a body, garbage between
messages. After each, the next well-formed request is answered at once, and the log says what
was skipped in one line. Requests after ``shutdown`` are answered ``InvalidRequest``; a lone
surrogate in what a client sends is logged, not dropped.
"""

from __future__ import annotations

import asyncio
import json
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from tests.lsp_harness import ROOT

INVALID_REQUEST = -32600
SETTINGS = {
    "completion": {"backend": {"kind": "fake", "replies": ["x"]}},
    "index": {"enabled": False},
}


def frame(message: dict[str, Any] | bytes) -> bytes:
    body = message if isinstance(message, bytes) else json.dumps(message).encode()
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


def request(msg_id: int, method: str, params: Any = None) -> dict[str, Any]:
    out: dict[str, Any] = {"jsonrpc": "2.0", "id": msg_id, "method": method}
    if params is not None:
        out["params"] = params
    return out


class RawServer:
    """``mimi-lsp --stdio`` driven with raw bytes; answers collected by id."""

    def __init__(self, proc: asyncio.subprocess.Process, log_file: Path) -> None:
        self.proc = proc
        self.log_file = log_file
        self.answers: dict[Any, dict[str, Any]] = {}
        self._arrived = asyncio.Event()
        self._reader = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        stdout = self.proc.stdout
        while True:
            length = None
            while True:
                line = await stdout.readline()
                if not line:
                    return
                if line == b"\r\n":
                    break
                name, _, value = line.decode().partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            assert length is not None
            message = json.loads(await stdout.readexactly(length))
            if "id" in message and "method" not in message:
                self.answers[message["id"]] = message
                self._arrived.set()

    def send(self, data: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(data)

    async def answer(self, msg_id: Any, within_s: float = 20.0) -> dict[str, Any]:
        async def wait() -> dict[str, Any]:
            while msg_id not in self.answers:
                self._arrived.clear()
                await self._arrived.wait()
            return self.answers.pop(msg_id)

        return await asyncio.wait_for(wait(), within_s)

    async def call(self, msg_id: int, method: str, params: Any = None) -> dict[str, Any]:
        self.send(frame(request(msg_id, method, params)))
        return await self.answer(msg_id)

    def log(self) -> str:
        return self.log_file.read_text(encoding="utf-8", errors="replace")


@asynccontextmanager
async def raw_server(tmp_path: Path) -> AsyncIterator[RawServer]:
    log_file = tmp_path / "server.log"
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "mimi_lsp",
        "--stdio",
        "--log-level",
        "debug",
        "--log-file",
        str(log_file),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        cwd=str(tmp_path),
    )
    server = RawServer(proc, log_file)
    try:
        init = await server.call(
            1, "initialize", {"capabilities": {}, "initializationOptions": SETTINGS}
        )
        assert "result" in init
        server.send(frame({"jsonrpc": "2.0", "method": "initialized", "params": {}}))
        yield server
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()
        server._reader.cancel()


async def alive_and_listening(server: RawServer, msg_id: int) -> None:
    """The process runs and answers a well-formed request."""
    answer = await server.call(msg_id, "workspace/executeCommand", {"command": "mimi.status"})
    assert "result" in answer, answer
    assert server.proc.returncode is None


LIES: dict[str, bytes] = {
    "terabyte": b"Content-Length: 1000000000000\r\n\r\n" + json.dumps(request(90, "x")).encode(),
    "over-limit-request": b"Content-Length: 200000000\r\n\r\n"
    + json.dumps(request(91, "workspace/executeCommand", {"command": "mimi.status"})).encode(),
    "short": b"Content-Length: 10\r\n\r\n" + json.dumps(request(92, "shutdown")).encode(),
    "long": b"Content-Length: 5000\r\n\r\n" + json.dumps(request(93, "shutdown")).encode(),
    "negative": b"Content-Length: -5\r\n\r\n{}",
    "not-a-number": b"Content-Length: abc\r\n\r\n{}",
    "empty-length": b"Content-Length: \r\n\r\n{}",
    "no-length": b"Content-Type: application/json\r\n\r\n{}",
    "no-blank-line": b"Content-Length: 2\r\n{}",
    "garbage": b"\x00\xff GET / HTTP/1.1\r\nHost: x\r\n\r\n" * 20,
    "not-json": b"Content-Length: 9\r\n\r\nnot json!",
    "json-array": frame(b"[1, 2, 3]"),
    "json-number": frame(b"42"),
    "invalid-utf8": frame(b'{"jsonrpc": "2.0", "method": "\xff\xfe"}'),
    "deep-nesting": frame(b"[" * 100_000 + b"]" * 100_000),
    "huge-digits": b"Content-Length: 99999999999999999999999999\r\n\r\n{}",
}


async def test_every_framing_lie_leaves_the_server_alive_and_listening(tmp_path: Path) -> None:
    """Each broken frame, then a good request: always answered; one log line per problem."""
    async with raw_server(tmp_path) as server:
        for n, (name, data) in enumerate(LIES.items()):
            server.send(data)
            try:
                await alive_and_listening(server, 1000 + n)
            except (TimeoutError, AssertionError) as exc:
                raise AssertionError(f"deaf or dead after {name!r}: {exc!r}") from None
        log = server.log()
    assert "MemoryError" not in log and "Traceback" not in log
    assert "1000000000000-byte message is over the" in log  # one clear line for the terabyte


async def test_an_oversized_request_is_answered_not_ignored(tmp_path: Path) -> None:
    """A request over the frame limit gets an error answer (its id is read from its start)."""
    async with raw_server(tmp_path) as server:
        server.send(LIES["over-limit-request"])
        answer = await server.answer(91)
        assert answer["error"]["code"] == INVALID_REQUEST
        assert "limit" in answer["error"]["message"]
        await alive_and_listening(server, 2)


async def test_requests_after_shutdown_are_answered_invalid_request(tmp_path: Path) -> None:
    """After shutdown every request gets InvalidRequest (the client never waits forever);
    exit then ends the process with code 0."""
    async with raw_server(tmp_path) as server:
        assert (await server.call(2, "shutdown"))["result"] is None
        for n, method in enumerate(["workspace/executeCommand", "textDocument/hover", "x/y"]):
            answer = await server.call(10 + n, method, {"command": "mimi.status"})
            assert answer["error"]["code"] == INVALID_REQUEST, answer
        server.send(frame({"jsonrpc": "2.0", "method": "exit"}))
        assert await asyncio.wait_for(server.proc.wait(), 20) == 0


async def test_lone_surrogates_are_logged_not_dropped(tmp_path: Path) -> None:
    r"""A method and a command name holding "\ud800" reach the log file (escaped); no record
    is dropped with '--- Logging error ---'."""
    async with raw_server(tmp_path) as server:
        server.send(frame(b'{"jsonrpc": "2.0", "id": 5, "method": "x\\ud800y"}'))
        assert "error" in await server.answer(5)
        await alive_and_listening(server, 6)
        assert server.proc.stderr is not None
        server.proc.kill()
        stderr = (await server.proc.stderr.read()).decode("utf-8", "replace")
        log = server.log()
    assert "Logging error" not in stderr
    assert "x\\ud800y" in log


async def test_tcp_transport_survives_the_same_lies(tmp_path: Path) -> None:
    """`mimi-lsp --tcp`: the terabyte frame and a lying length, then a request: answered."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "mimi_lsp",
        "--tcp",
        "--port",
        str(port),
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        cwd=str(tmp_path),
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        for _ in range(200):
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                break
            except OSError:
                await asyncio.sleep(0.05)
        init = request(1, "initialize", {"capabilities": {}, "initializationOptions": SETTINGS})
        writer.write(LIES["terabyte"] + LIES["long"] + frame(init))
        await writer.drain()
        data = b""
        while b'"id": 1' not in data and b'"id":1' not in data:
            chunk = await asyncio.wait_for(reader.read(65_536), 20)
            assert chunk, "the server closed the connection"
            data += chunk
        writer.close()
    finally:
        proc.kill()
        await proc.wait()
