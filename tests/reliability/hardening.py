"""Issue 20's attack pass, repeatable and counted: broken stdio frames, hostile web requests and
big buffers against real processes. Used by ``benchmarks/reliability.py``; the tests in
``test_stdio_hardening.py``, ``test_web_hardening.py`` and ``test_overlay_memory.py`` attack each
fix once, this counts what many attacks did: cases tried, crashes, hangs, 5xx answers, memory.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import aiohttp

from tests.reliability.test_stdio_hardening import LIES, RawServer, frame, request
from tests.reliability.test_web_hardening import hostile_tree
from tests.web.conftest import start_web

ROOT = Path(__file__).resolve().parents[2]
ANSWER_BUDGET_S = 10.0
SETTINGS = {
    "completion": {"backend": {"kind": "fake", "replies": ["x"]}},
    "index": {"enabled": False},
}


@dataclass
class AttackCounts:
    cases: int = 0
    crashes: int = 0
    hangs: int = 0
    errors_5xx: int = 0
    stop_s: float = 0.0


async def _start_stdio(tmp: Path, settings: dict[str, Any] | None = None, **init: Any) -> RawServer:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "mimi_lsp",
        "--stdio",
        "--log-level",
        "warning",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        cwd=str(tmp),
    )
    server = RawServer(proc, tmp / "unused.log")
    params = {"capabilities": {}, "initializationOptions": settings or SETTINGS, **init}
    server.send(frame(request(1, "initialize", params)))
    await server.answer(1, 60)
    server.send(frame({"jsonrpc": "2.0", "method": "initialized", "params": {}}))
    return server


def random_frames(seed: int, count: int) -> list[bytes]:
    """Frames with lying, huge, negative or absent lengths and random bodies."""
    rnd = random.Random(seed)
    out = []
    for _ in range(count):
        body = bytes(rnd.getrandbits(8) for _ in range(rnd.randint(0, 300)))
        length = rnd.choice(
            [len(body), len(body) // 2, len(body) * 3, 10**12, 2**31, -1, 0, rnd.randint(0, 10**9)]
        )
        header = rnd.choice(
            [b"Content-Length: %d\r\n\r\n", b"content-length:%d\r\n\r\n", b"Content-Length: %d\r\n",
             b"Content-Type: x\r\nContent-Length: %d\r\n\r\n", b"Content-Length: %dabc\r\n\r\n"]
        )  # fmt: skip
        out.append(header % length + body)
    return out


async def stdio_attack(tmp: Path, rounds: int, random_cases: int) -> AttackCounts:
    """Each broken frame, then a request that must be answered; a dead or deaf server counts
    (and is restarted)."""
    counts = AttackCounts()
    attacks = [data for _ in range(rounds) for data in LIES.values()]
    attacks += random_frames(20, random_cases)
    server = await _start_stdio(tmp)
    msg_id = 100
    try:
        for data in attacks:
            counts.cases += 1
            msg_id += 1
            server.send(data)
            server.send(
                frame(request(msg_id, "workspace/executeCommand", {"command": "mimi.status"}))
            )
            try:
                await server.answer(msg_id, ANSWER_BUDGET_S)
                continue
            except TimeoutError:
                pass
            if server.proc.returncode is not None:
                counts.crashes += 1
            else:
                counts.hangs += 1
                server.proc.kill()
            await server.proc.wait()
            server = await _start_stdio(tmp)
    finally:
        if server.proc.returncode is None:
            server.proc.kill()
            await server.proc.wait()
    return counts


def _web_attacks(token: str, port: int) -> list[tuple[str, str, dict[str, str], Any]]:
    """(method, raw path, headers, body) of the attack pass's hostile web requests."""
    auth = {"Authorization": f"token {token}"}
    long = "a" * 5000
    out: list[tuple[str, str, dict[str, str], Any]] = []
    for path in ["pipe", "pipe.py", "a/.gitignore", "a/back/pipe", "self", "a/back/a/back/a/x.py",
                 long, "d/" * 100 + "x" * 300, "../x", "%2e%2e/x", "a\\b", "/etc/passwd"]:  # fmt: skip
        out += [
            ("GET", f"/api/file?path={path}", auth, None),
            ("GET", f"/api/tree?path={path}", auth, None),
        ]
        out.append(("PUT", f"/api/file?path={path}", auth, {"text": "x"}))
    out += [("GET", "/api/files", auth, None)] * 20
    for host in ["127.evil.example", "127.0.0.1.evil.example", "localhost.evil", "x:notaport"]:
        out.append(("GET", "/api/info", {**auth, "Host": host}, None))
    for raw in ["//evil.example/", "////evil.example/", "/%2F%2Fevil/", "/\\evil/"]:
        out.append(("GET", f"{raw}?token={token}", {}, None))
    out.append(("GET", "/", {"Cookie": f"mimi_token_{port}=stale"}, None))
    return out


async def web_attack(tmp: Path, repeat: int) -> AttackCounts:
    """Hostile requests at a real ``mimi-lsp web`` over a folder with a link loop and FIFOs,
    plus malformed credentials on raw sockets; then SIGTERM must stop it."""
    counts = AttackCounts()
    with start_web(hostile_tree(tmp / "ws"), SETTINGS, "--no-spare") as server:
        timeout = aiohttp.ClientTimeout(total=ANSWER_BUDGET_S)
        async with aiohttp.ClientSession(timeout=timeout) as http:
            for _ in range(repeat):
                for method, path, headers, body in _web_attacks(server.token, server.port):
                    counts.cases += 1
                    url = server.base.rstrip("/") + path
                    try:
                        async with http.request(
                            method, url, headers=headers, json=body, allow_redirects=False
                        ) as r:
                            counts.errors_5xx += r.status >= 500
                    except TimeoutError:
                        counts.hangs += 1
                    except aiohttp.ClientError:
                        counts.errors_5xx += 1
        for header in (b"Authorization: token \xff\xfe", b"Cookie: mimi_token_1=\xff"):
            counts.cases += 1
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(b"GET /api/info HTTP/1.1\r\nHost: 127.0.0.1\r\n" + header + b"\r\n\r\n")
            line = await asyncio.wait_for(reader.readline(), ANSWER_BUDGET_S)
            counts.errors_5xx += b" 5" in line[:13]
            writer.close()
        started = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        try:
            server.process.wait(30)
            counts.stop_s = round(time.monotonic() - started, 2)
        except Exception:
            counts.hangs += 1
            counts.stop_s = -1
        counts.crashes += server.process.returncode not in (0, -signal.SIGTERM)
    return counts


def rss_mb(pid: int) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) // 1024
    return 0


async def buffers_memory(
    tmp: Path, count: int, size: int, settle_s: float = 20.0
) -> dict[str, Any]:
    """``count`` buffers of ``size`` characters opened in an indexed workspace, then closed:
    RSS at start, at the peak and ``settle_s`` after closing; workspace/symbol time while open."""
    root = tmp / "buffers"
    root.mkdir(parents=True, exist_ok=True)
    (root / "seed.py").write_text("def seed():\n    return 1\n")
    settings = {
        **SETTINGS,
        "index": {"enabled": True, "cacheDir": str(tmp / "cache")},
        "embedding": {"backend": {"kind": "fake"}},
    }
    folders = [{"uri": root.as_uri(), "name": "w"}]
    server = await _start_stdio(root, settings, rootUri=root.as_uri(), workspaceFolders=folders)
    pid = server.proc.pid
    await asyncio.sleep(2)
    start = peak = rss_mb(pid)
    line = "def fn_{i}_{n}(a, b):\n    return a * {n} + b\n\n"
    for i in range(count):
        text = "".join(line.format(i=i, n=n) for n in range(size // len(line) + 1))[:size]
        uri = (root / f"buf{i}.py").as_uri()
        doc = {"uri": uri, "languageId": "python", "version": 1, "text": text}
        server.send(
            frame(
                {
                    "jsonrpc": "2.0",
                    "method": "textDocument/didOpen",
                    "params": {"textDocument": doc},
                }
            )
        )
        peak = max(peak, rss_mb(pid))
    symbol_ms = []
    for k in range(3):
        started = time.monotonic()
        server.send(frame(request(10 + k, "workspace/symbol", {"query": "fn_1_1"})))
        await server.answer(10 + k, 300)
        symbol_ms.append(round((time.monotonic() - started) * 1000, 1))
        await asyncio.sleep(4)
        peak = max(peak, rss_mb(pid))
    for i in range(count):
        uri = (root / f"buf{i}.py").as_uri()
        server.send(
            frame(
                {
                    "jsonrpc": "2.0",
                    "method": "textDocument/didClose",
                    "params": {"textDocument": {"uri": uri}},
                }
            )
        )
    await asyncio.sleep(settle_s)
    after = rss_mb(pid)
    server.proc.kill()
    await server.proc.wait()
    return {"buffers": count, "mb_each": round(size / 1e6, 1), "start_mb": start, "peak_mb": peak,
            "after_close_mb": after, "settle_s": settle_s, "symbol_ms": symbol_ms}  # fmt: skip


async def attack_pass(tmp: Path, quick: bool) -> dict[str, Any]:
    """Every part, counted (quick: fewer rounds and buffers)."""
    stdio = await stdio_attack(tmp, rounds=1 if quick else 5, random_cases=40 if quick else 400)
    web = await web_attack(tmp, repeat=1 if quick else 5)
    memory = await buffers_memory(
        tmp, count=10 if quick else 30, size=2_000_000, settle_s=8.0 if quick else 20.0
    )
    return {"stdio": asdict(stdio), "web": asdict(web), "memory": memory}
