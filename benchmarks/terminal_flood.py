"""The web terminal under a runaway `yes`: what the page receives, and what ghost text costs.

Starts a real `mimi-lsp web --terminal` (fake model backend), opens a terminal over the real
WebSocket and an LSP tab, and measures ghost-text round trips over /lsp first with the shell
idle, then while `yes` floods the terminal (the page side acknowledges output like xterm.js
does). Prints the terminal's delivered bytes/s against the server's cap and the ghost-text
latency percentiles of both phases.

    python benchmarks/terminal_flood.py [--requests 40] [--flood-s 6]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mimi_lsp.web.terminal import OUTPUT_RATE  # noqa: E402
from tests.web.conftest import fake_web_settings, make_project, start_web  # noqa: E402
from tests.web.test_web_server import ghost_text, initialize, ws_url  # noqa: E402


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def ghost_round_trips(ws: aiohttp.ClientWebSocketResponse, uri: str, n: int) -> list[float]:
    out = []
    for _ in range(n):
        started = time.perf_counter()
        assert await ghost_text(ws, uri)
        out.append((time.perf_counter() - started) * 1000)
    return out


async def run(requests: int, flood_s: float) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = make_project(Path(tmp) / "proj")
        with start_web(
            folder, fake_web_settings(), "--terminal", env={"SHELL": "/bin/bash"}
        ) as web:
            headers = {"Authorization": f"token {web.token}", "Origin": web.base.rstrip("/")}
            async with aiohttp.ClientSession() as http:
                lsp = await http.ws_connect(ws_url(web), headers=headers)
                await initialize(lsp, folder.as_uri())
                uri = (folder / "calc.py").as_uri()
                await ghost_round_trips(lsp, uri, 3)  # warm up
                idle = await ghost_round_trips(lsp, uri, requests)
                term = await http.ws_connect(
                    web.base.replace("http", "ws") + "terminal", headers=headers
                )
                received = 0

                async def drain() -> None:
                    nonlocal received
                    async for msg in term:
                        if msg.type != aiohttp.WSMsgType.BINARY:
                            continue
                        received += len(msg.data)
                        await term.send_str(json.dumps({"type": "ack", "bytes": len(msg.data)}))

                reader = asyncio.ensure_future(drain())
                await term.send_str(json.dumps({"type": "input", "data": "yes mimi-flood\r"}))
                await asyncio.sleep(1.0)  # the flood is on
                start_bytes, started = received, time.perf_counter()
                flooded: list[float] = []
                while time.perf_counter() - started < flood_s or len(flooded) < requests:
                    flooded += await ghost_round_trips(lsp, uri, 1)
                elapsed = time.perf_counter() - started
                rate = (received - start_bytes) / elapsed
                await term.send_str(json.dumps({"type": "input", "data": "\x03exit\r"}))
                reader.cancel()
                await term.close()
                await lsp.close()
    print(
        f"terminal under `yes`: {rate / 1024:.0f} KiB/s delivered (cap {OUTPUT_RATE // 1024} KiB/s)"
    )
    for name, values in (("idle shell", idle), ("yes flooding", flooded)):
        print(
            f"ghost text round trip, {name:12}: p50 {statistics.median(values):6.1f} ms, "
            f"p95 {pct(values, 0.95):6.1f} ms, max {max(values):6.1f} ms (n={len(values)})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--flood-s", type=float, default=6.0)
    args = parser.parse_args()
    asyncio.run(run(args.requests, args.flood_s))


if __name__ == "__main__":
    main()
