"""Triton going away in the middle of a batch (a real Triton 2.51 on CPU via nvidia-pytriton).

Three documents ask for ghost text at once; the scheduler sends them to the ``fim`` model as
one batch that takes a few seconds; Triton (the whole process tree) is killed with SIGKILL
while the batch runs. Every editor request must be answered in bounded time, the user gets one
``unavailable`` status, and once Triton is back on the same address ghost text returns by itself,
without restarting the language server.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mimi_lsp.metrics import process_tree_rss
from tests.lsp_harness import inline, open_doc, start_session
from tests.reliability.test_faults import bounded, record_faults, statuses
from tests.triton.server import TritonProcess, pytriton_missing


@pytest.fixture
def triton(tmp_path: Path) -> Iterator[TritonProcess]:
    missing = pytriton_missing()
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"Triton fault tests cannot run in CI: {missing}")
        pytest.skip(missing)
    server = TritonProcess(embedder=False, log_path=tmp_path / "triton.log").start()
    try:
        yield server
    finally:
        server.stop()


def kill_tree(pid: int) -> None:
    """SIGKILL a process and every descendant (pytriton runs tritonserver as a child)."""
    victims: list[int] = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            ppid = int(stat[stat.rfind(")") + 2 :].split()[1])
            if ppid == pid:
                victims.append(int(entry))
    for child in victims:
        kill_tree(child)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def settings(server: TritonProcess) -> dict[str, Any]:
    return {
        "completion": {
            "backend": {"kind": "triton", "url": server.grpc_url, "timeoutMs": 8_000},
            "model": "fim",
            "fimTemplate": "qwen",
            "debounceMs": 0,
            "context": False,
            "timeoutMs": 8_000,
        },
        "index": {"enabled": False},
    }


async def test_triton_killed_mid_batch_then_back(triton: TritonProcess) -> None:
    """Killed mid-batch: every request answered, one 'unavailable', recovery by itself."""
    async with start_session(settings=settings(triton)) as client:
        docs = []
        for i in range(3):
            uri = f"file:///tmp/mimi-triton-fault/{i}.py"
            docs.append((uri, open_doc(client, f"# SLEEP=3000\nv{i} = <CURSOR>\n", uri=uri)))
        healthy_uri = "file:///tmp/mimi-triton-fault/ok.py"
        healthy = open_doc(client, "def add(a, b):\n    return <CURSOR>\n", uri=healthy_uri)
        assert [i.insert_text for i in await inline(client, healthy, uri=healthy_uri)] == ["a + b"]

        batch = [asyncio.ensure_future(bounded(inline(client, pos, uri=uri))) for uri, pos in docs]
        await asyncio.sleep(1.0)  # the batch is inside Triton now (it sleeps 3 s)
        assert triton.proc is not None
        _, count = process_tree_rss(triton.proc.pid)
        kill_tree(triton.proc.pid)
        answers = await asyncio.gather(*batch)
        other_uri = "file:///tmp/mimi-triton-fault/other.py"
        other = open_doc(client, "def sub(a, b):\n    return <CURSOR>\n", uri=other_uri)
        again = await bounded(inline(client, other, uri=other_uri))  # not cached: must ask Triton
        down = [s for s in statuses(client, "completion") if s != "ok"]

        triton.proc = None
        triton.start()  # same ports
        back = await bounded(inline(client, other, uri=other_uri))
        final = statuses(client, "completion")
    record_faults("triton", len(answers) + 1)
    assert count >= 2  # there was a tree to kill (pytriton + tritonserver)
    assert all(items == [] for _, items in answers), answers
    assert again[1] == []
    assert down == ["unavailable"], down
    assert [i.insert_text for i in back[1]] and back[0] < 10
    assert final[-1] == "ok"
