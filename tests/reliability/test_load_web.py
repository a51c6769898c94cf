"""A few editor tabs typing at once against one real ``mimi-lsp web`` (the CI-sized load run;
``benchmarks/load_web.py`` runs 50 tabs and a 10-minute soak).

Every tab gets its own language server behind the WebSocket bridge; every keystroke's ghost-text
request is answered; ``/metrics`` (token required) sums what all the servers did; closing the
tabs ends their servers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from mimi_lsp.metrics import process_tree_rss
from tests.reliability.load import run_load, web_root_uri
from tests.web.conftest import WebServer, start_web

SESSIONS = 4


@pytest.fixture
def web(tmp_path: Path) -> Iterator[WebServer]:
    root = tmp_path / "proj"
    root.mkdir()
    settings = {
        "completion": {"backend": {"kind": "fake", "replies": ["values[0]"], "delayMs": 30}},
        "index": {"enabled": False},
    }
    with start_web(root, settings, "--no-spare", "--max-sessions", "8") as server:
        yield server


async def metrics_text(server: WebServer, token: str | None) -> tuple[int, str]:
    headers = {"Authorization": f"token {token}"} if token else {}
    async with aiohttp.ClientSession() as http:
        async with http.get(server.base + "metrics", headers=headers) as r:
            return r.status, await r.text()


def families(text: str) -> dict[str, list[tuple[str, dict[str, str], float]]]:
    out: dict[str, list[tuple[str, dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        out[family.name] = [(s.name, s.labels, s.value) for s in family.samples]
    return out


async def test_tabs_typing_at_once_are_all_served(web: WebServer) -> None:
    """Four tabs typing at 25 keys/s: every request answered, ghost text at the end, metrics
    summed over the four servers, and their processes gone once the tabs close."""
    result = await run_load(
        web.base,
        web.token,
        await web_root_uri(web.base, web.token),
        web.process.pid,
        sessions=SESSIONS,
        seconds=6,
    )
    status, text = await metrics_text(web, web.token)
    assert result.held == SESSIONS, result.failures
    assert result.errors == 0 and result.answered == result.keys
    assert result.ghost > 0
    assert status == 200
    found = families(text)
    count = sum(
        v
        for n, labels, v in found["mimi_request_duration_seconds"]
        if n.endswith("_count") and labels["feature"] == "completion"
    )
    assert count >= result.answered  # every server's requests are in the sum
    assert [v for n, _, v in found["mimi_web_sessions_started"] if n.endswith("_total")] == [
        SESSIONS
    ]
    assert found["mimi_web_resident_memory_bytes"][0][2] > 0
    for _ in range(100):
        if process_tree_rss(web.process.pid)[1] == 1:
            break
        await asyncio.sleep(0.1)
    assert process_tree_rss(web.process.pid)[1] == 1  # only the web server itself is left


async def test_metrics_need_the_token(web: WebServer) -> None:
    """/metrics answers 401 without the token, like every other route."""
    assert (await metrics_text(web, None))[0] == 401
    assert (await metrics_text(web, "wrong-token"))[0] == 401


async def test_sessions_beyond_the_limit_are_refused_plainly(tmp_path: Path) -> None:
    """Past --max-sessions a new tab gets HTTP 503 with the limit named; the count shows it."""
    root = tmp_path / "p"
    root.mkdir()
    settings = {
        "completion": {"backend": {"kind": "fake", "replies": ["x"]}},
        "index": {"enabled": False},
    }
    with start_web(root, settings, "--no-spare", "--max-sessions", "1") as server:
        headers = {"Authorization": f"token {server.token}", "Origin": server.base.rstrip("/")}
        url = server.base.replace("http://", "ws://") + "lsp"
        async with aiohttp.ClientSession() as http:
            first = await http.ws_connect(url, headers=headers)
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await http.ws_connect(url, headers=headers)
            await first.close()
        _, text = await metrics_text(server, server.token)
    assert refused.value.status == 503
    assert [
        v for n, _, v in families(text)["mimi_web_sessions_refused"] if n.endswith("_total")
    ] == [1]
