"""A short soak in CI: a long typing session must not accumulate state per message.

The real server runs in this process (over pipes, exactly as over stdio) so its heap can be
measured with tracemalloc: after a warm-up, thousands more keystrokes (each an incremental
``didChange`` and an automatic ghost-text request, with pauses between words) may not grow the
traced memory beyond what the longer document itself needs, and no per-message bookkeeping may
be left behind. ``benchmarks/load_web.py`` runs the 10-minute soak across processes.
"""

from __future__ import annotations

import gc
import json
import os
import threading
import time
import tracemalloc
from collections.abc import Iterator
from typing import Any

import pytest

from mimi_lsp.inference import fake
from mimi_lsp.server import create_server

WORD = "total_price_with_tax "
URI = "file:///tmp/mimi-soak/a.py"


class PipeClient:
    """Raw LSP frames to an in-process server; counts answers, answers server requests."""

    def __init__(self) -> None:
        c2s_r, self._c2s_w = os.pipe()
        s2c_r, s2c_w = os.pipe()
        self.server = create_server()
        self.out = os.fdopen(s2c_r, "rb")
        self.writer = os.fdopen(self._c2s_w, "wb")
        self.lock = threading.Lock()
        self.answered = 0
        self.sent = 0
        self.thread = threading.Thread(
            target=self.server.start_io,
            args=(os.fdopen(c2s_r, "rb"), os.fdopen(s2c_w, "wb")),
            daemon=True,
        )
        self.thread.start()
        threading.Thread(target=self._read, daemon=True).start()
        self.line, self.col, self.version = 2, 4, 1

    def _read(self) -> None:
        while True:
            header = self.out.readline()
            if not header:
                return
            if not header.startswith(b"Content-Length"):
                continue
            size = int(header.split(b":")[1])
            while self.out.readline().strip():
                pass
            data = json.loads(self.out.read(size))
            if "id" in data and "method" in data:
                self.send({"jsonrpc": "2.0", "id": data["id"], "result": None})
            elif "id" in data:
                self.answered += 1

    def send(self, obj: dict[str, Any]) -> None:
        body = json.dumps(obj).encode()
        with self.lock:
            self.writer.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
            self.writer.flush()

    def request(self, method: str, params: Any) -> None:
        self.sent += 1
        self.send({"jsonrpc": "2.0", "id": self.sent, "method": method, "params": params})

    def wait_answers(self, limit_s: float = 60.0) -> None:
        deadline = time.monotonic() + limit_s
        while self.answered < self.sent:
            assert time.monotonic() < deadline, f"{self.sent - self.answered} requests unanswered"
            time.sleep(0.01)

    def type_keys(self, n: int) -> None:
        for i in range(n):
            ch = "\n    " if i % 40 == 39 else WORD[i % len(WORD)]
            self.version += 1
            start = {"line": self.line, "character": self.col}
            self.send({"jsonrpc": "2.0", "method": "textDocument/didChange", "params": {
                "textDocument": {"uri": URI, "version": self.version},
                "contentChanges": [{"range": {"start": start, "end": start}, "text": ch}],
            }})  # fmt: skip
            if ch.startswith("\n"):
                self.line, self.col = self.line + 1, 4
            else:
                self.col += 1
            self.request("textDocument/inlineCompletion", {
                "textDocument": {"uri": URI},
                "position": {"line": self.line, "character": self.col},
                "context": {"triggerKind": 2},
            })  # fmt: skip
            if i % len(WORD) == len(WORD) - 1:
                self.wait_answers()  # a pause after each word: ghost text arrives
        self.wait_answers()

    def close(self) -> None:
        self.request("shutdown", None)
        self.wait_answers()
        self.send({"jsonrpc": "2.0", "method": "exit", "params": None})
        self.writer.close()
        self.thread.join(10)


@pytest.fixture
def client() -> Iterator[PipeClient]:
    c = PipeClient()
    c.request("initialize", {
        "processId": None, "rootUri": None, "capabilities": {"textDocument": {"inlineCompletion": {}}},
        "initializationOptions": {
            "completion": {"backend": {"kind": "fake", "replies": ["values[0] * 2"], "delayMs": 2}},
            "index": {"enabled": False},
            "limits": {"completion": {"perMinute": 0}},
        },
    })  # fmt: skip
    c.send({"jsonrpc": "2.0", "method": "initialized", "params": {}})
    c.send({"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {"textDocument": {
        "uri": URI, "languageId": "python", "version": 1,
        "text": "def compute(values):\n    result = 0\n    \n    return result\n",
    }}})  # fmt: skip
    c.wait_answers()
    try:
        yield c
    finally:
        c.close()


def test_typing_for_long_leaves_nothing_behind(
    client: PipeClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """1,500 more keystrokes after a warm-up: no per-message state left, heap growth small."""
    # The typed-through cache (1,000 entries) and the fake model's record of its calls (1,000)
    # are bounded by design: make them small, so they are full after the warm-up and any growth
    # left is a leak.
    client.server.services.completion.cache.capacity = 50
    monkeypatch.setattr(fake, "KEEP_CALLS", 20)
    tracemalloc.start()
    try:
        # Warm-up: lazy imports, metric instruments, and the bounded buffers (the last 2,000
        # latencies, the cache) filling up to their size.
        client.type_keys(2_200)
        gc.collect()
        before, _ = tracemalloc.get_traced_memory()
        client.type_keys(1_500)
        gc.collect()
        after, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    protocol = client.server.protocol
    assert len(protocol._request_futures) <= 2, len(protocol._request_futures)  # noqa: SLF001
    assert not protocol.__dict__.get("_timings")
    assert not client.server.services.completion._inflight  # noqa: SLF001
    # The document grew by ~1.5 KB of text; the old leak (a Future per notification) cost
    # ~1 MB over these keystrokes.
    assert after - before < 100_000, f"heap grew {after - before} bytes over 1,500 keystrokes"
