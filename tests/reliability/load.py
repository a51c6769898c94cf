"""Editor sessions that type, over the WebSocket of a real ``mimi-lsp web``.

Each ``TypingSession`` is what the Monaco page does: one WebSocket (its own language server
process behind the bridge), ``initialize``, a document, then keystrokes at a steady rate, each
an incremental ``didChange`` followed by an automatic ``textDocument/inlineCompletion`` (the
typing simulation of ``benchmarks/completion_latency.py``), with a line break every few dozen
keys. It records answer latencies, empty answers and errors. ``run_load`` drives many at
once and samples the resident memory of the web server's whole process tree. Used by
``test_load_web.py`` (a few sessions) and ``benchmarks/load_web.py`` (50 sessions, soak).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from mimi_lsp.metrics import process_tree_rss

WORD = "total_price_with_tax "
LINE_KEYS = 40
CONNECT_LIMIT_S = 180.0
"""Many tabs opening at once start many Python processes on few cores: be patient."""


@dataclass
class SessionFigures:
    keys: int = 0
    requests: int = 0
    answered: int = 0
    ghost: int = 0
    errors: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    """Every ghost-text answer (most are empty: the next key supersedes them)."""
    pause_ms: list[float] = field(default_factory=list)
    """Ghost-text answers to the last key before a pause: what the user waits for."""
    connected: bool = False
    connect_ms: float = 0.0
    """From the WebSocket upgrade to the answer of ``initialize`` (server process start-up)."""
    failure: str | None = None


class TypingSession:
    """One browser tab: a WebSocket to ``/lsp`` and a document being typed into."""

    def __init__(self, base: str, token: str, root_uri: str, name: str) -> None:
        self.url = base.replace("http://", "ws://").rstrip("/") + "/lsp"
        self.origin = base.rstrip("/")
        self.token = token
        self.root_uri = root_uri
        self.uri = f"{root_uri}/load_{name}.py"
        self.ids = itertools.count(1)
        self.pending: dict[int, tuple[float, str, asyncio.Future[Any]]] = {}
        self.figures = SessionFigures()
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.http: aiohttp.ClientSession | None = None
        self.reader: asyncio.Task[None] | None = None
        self.line, self.col, self.version = 2, 4, 1

    async def __aenter__(self) -> TypingSession:
        try:
            await self._connect()
        except BaseException:
            await self.__aexit__(None, None, None)
            raise
        return self

    async def _connect(self) -> None:
        self.http = aiohttp.ClientSession()
        self.ws = await self.http.ws_connect(
            self.url,
            headers={"Authorization": f"token {self.token}", "Origin": self.origin},
            max_msg_size=0,
        )
        self.reader = asyncio.ensure_future(self._read())
        started = time.perf_counter()
        await self.request("initialize", {
            "processId": None, "rootUri": self.root_uri,
            "capabilities": {"textDocument": {"inlineCompletion": {}}, "window": {"workDoneProgress": False}},
        }, limit_s=CONNECT_LIMIT_S)  # fmt: skip
        self.figures.connect_ms = (time.perf_counter() - started) * 1000
        await self.notify("initialized", {})
        await self.notify("textDocument/didOpen", {"textDocument": {
            "uri": self.uri, "languageId": "python", "version": 1,
            "text": "def compute(values):\n    result = 0\n    \n    return result\n",
        }})  # fmt: skip
        self.figures.connected = True

    async def __aexit__(self, *exc: Any) -> None:
        if self.reader is not None:
            self.reader.cancel()
        if self.ws is not None:
            await self.ws.close()
        if self.http is not None:
            await self.http.close()

    async def _read(self) -> None:
        assert self.ws is not None
        async for msg in self.ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                break
            data = json.loads(msg.data)
            if "method" in data and "id" in data:  # a server request: answer plainly
                await self.ws.send_str(
                    json.dumps({"jsonrpc": "2.0", "id": data["id"], "result": None})
                )
            elif "id" in data and data["id"] in self.pending:
                sent, method, future = self.pending.pop(data["id"])
                if method == "textDocument/inlineCompletion":
                    self.figures.latencies_ms.append((time.perf_counter() - sent) * 1000)
                if not future.done():
                    future.set_result(data)
        self.figures.failure = self.figures.failure or "socket closed"
        for _, _, future in self.pending.values():
            if not future.done():
                future.set_exception(ConnectionError("socket closed"))

    async def notify(self, method: str, params: Any) -> None:
        assert self.ws is not None
        await self.ws.send_str(json.dumps({"jsonrpc": "2.0", "method": method, "params": params}))

    async def request(self, method: str, params: Any, limit_s: float = 30) -> Any:
        future = await self.send(method, params)
        return await asyncio.wait_for(future, limit_s)

    async def send(self, method: str, params: Any) -> asyncio.Future[Any]:
        assert self.ws is not None
        msg_id = next(self.ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.pending[msg_id] = (time.perf_counter(), method, future)
        await self.ws.send_str(
            json.dumps({"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params})
        )
        return future

    async def key(self, n: int) -> asyncio.Future[Any]:
        """One keystroke and the ghost-text request an editor sends after it."""
        ch = "\n    " if n % LINE_KEYS == LINE_KEYS - 1 else WORD[n % len(WORD)]
        start = {"line": self.line, "character": self.col}
        self.version += 1
        await self.notify("textDocument/didChange", {
            "textDocument": {"uri": self.uri, "version": self.version},
            "contentChanges": [{"range": {"start": start, "end": start}, "text": ch}],
        })  # fmt: skip
        if ch.startswith("\n"):
            self.line, self.col = self.line + 1, 4
        else:
            self.col += 1
        self.figures.keys += 1
        self.figures.requests += 1
        return await self.send("textDocument/inlineCompletion", {
            "textDocument": {"uri": self.uri},
            "position": {"line": self.line, "character": self.col},
            "context": {"triggerKind": 2},
        })  # fmt: skip

    async def type_for(self, seconds: float, keys_per_s: float, pause_s: float = 0.4) -> None:
        """Type words at ``keys_per_s`` with a ``pause_s`` pause after each, for ``seconds``;
        then wait for the answers still on their way."""
        interval = 1.0 / keys_per_s
        started = time.perf_counter()
        waiting: list[asyncio.Future[Any]] = []
        n = 0
        due = started
        while time.perf_counter() - started < seconds and self.figures.failure is None:
            sent = time.perf_counter()
            future = await self.key(n)
            waiting.append(future)
            n += 1
            due += interval
            if n % len(WORD) == 0 and pause_s > 0:
                # The user stops typing: this answer is the ghost text they wait for.
                try:
                    answer = await asyncio.wait_for(asyncio.shield(future), max(pause_s, 5.0))
                    if (answer.get("result") or {}).get("items"):
                        self.figures.pause_ms.append((time.perf_counter() - sent) * 1000)
                except Exception:
                    pass
                due = max(due, time.perf_counter()) + pause_s
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
        for future in waiting:
            try:
                answer = await asyncio.wait_for(future, 30)
            except Exception:
                self.figures.errors += 1
                continue
            if "error" in answer:
                self.figures.errors += 1
                continue
            self.figures.answered += 1
            items = (answer.get("result") or {}).get("items") or []
            self.figures.ghost += bool(items)

        # Still serving after the burst: one invoked request must come back with ghost text.
        try:
            answer = await self.request("textDocument/inlineCompletion", {
                "textDocument": {"uri": self.uri},
                "position": {"line": self.line, "character": self.col},
                "context": {"triggerKind": 1},
            })  # fmt: skip
            if not (answer.get("result") or {}).get("items"):
                self.figures.failure = self.figures.failure or "no ghost text at the end"
        except Exception as exc:
            self.figures.errors += 1
            self.figures.failure = self.figures.failure or f"{type(exc).__name__}"


async def web_root_uri(base: str, token: str) -> str:
    """The folder URI a ``mimi-lsp web`` edits (from ``/api/info``)."""
    async with aiohttp.ClientSession() as http:
        async with http.get(
            base.rstrip("/") + "/api/info", headers={"Authorization": f"token {token}"}
        ) as r:
            return str((await r.json())["rootUri"])


def own_rss(pid: int) -> int:
    """Resident bytes of one process (Linux)."""
    import os

    try:
        with open(f"/proc/{pid}/statm", encoding="ascii") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


async def wait_for_processes(pid: int, count: int, limit_s: float = 30.0) -> None:
    """Until the process tree of ``pid`` has at most ``count`` processes (old tabs gone)."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if (await asyncio.to_thread(process_tree_rss, pid))[1] <= count:
            return
        await asyncio.sleep(0.2)


@dataclass
class LoadResult:
    sessions: int
    held: int
    """Sessions that connected, typed to the end and got every answer."""
    keys: int
    answered: int
    ghost: int
    errors: int
    latencies_ms: list[float]
    connect_ms: list[float]
    """Time for each tab's language server to answer ``initialize``."""
    pause_ms: list[float]
    """Latency of the ghost text shown when the user pauses."""
    rss_samples: list[tuple[float, int, int]]
    """(seconds since start, resident bytes of the web server's tree, processes)."""
    failures: list[str]


async def run_load(
    base: str,
    token: str,
    root_uri: str,
    pid: int,
    *,
    sessions: int,
    seconds: float,
    keys_per_s: float = 25.0,
    sample_every_s: float = 2.0,
    tag: str = "s",
) -> LoadResult:
    """``sessions`` tabs typing at once for ``seconds``; memory sampled meanwhile."""
    samples: list[tuple[float, int, int]] = []
    started = time.perf_counter()
    stop = asyncio.Event()

    async def sampler() -> None:
        while not stop.is_set():
            rss, count = await asyncio.to_thread(process_tree_rss, pid)
            samples.append((time.perf_counter() - started, rss, count))
            try:
                await asyncio.wait_for(stop.wait(), sample_every_s)
            except TimeoutError:
                pass

    everyone_connected = asyncio.Event()
    waiting = [sessions]

    async def one(i: int) -> SessionFigures:
        session = TypingSession(base, token, root_uri, f"{tag}{i}")
        try:
            try:
                await session.__aenter__()
            finally:
                waiting[0] -= 1
                if waiting[0] == 0:
                    everyone_connected.set()
            await everyone_connected.wait()  # all tabs type at the same time
            try:
                await session.type_for(seconds, keys_per_s)
            finally:
                await session.__aexit__(None, None, None)
        except Exception as exc:
            session.figures.failure = session.figures.failure or f"{type(exc).__name__}: {exc}"
        return session.figures

    sampling = asyncio.ensure_future(sampler())
    figures = await asyncio.gather(*(one(i) for i in range(sessions)))
    stop.set()
    await sampling
    return LoadResult(
        sessions=sessions,
        held=sum(
            1
            for f in figures
            if f.connected and f.failure is None and f.errors == 0 and f.answered == f.requests
        ),
        keys=sum(f.keys for f in figures),
        answered=sum(f.answered for f in figures),
        ghost=sum(f.ghost for f in figures),
        errors=sum(f.errors for f in figures),
        latencies_ms=[x for f in figures for x in f.latencies_ms],
        pause_ms=[x for f in figures for x in f.pause_ms],
        connect_ms=[f.connect_ms for f in figures if f.connected],
        rss_samples=samples,
        failures=[f.failure for f in figures if f.failure],
    )
