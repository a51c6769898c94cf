"""Fuzzing the other surfaces: the web file endpoints and the MCP tools (the LSP methods and
commands are fuzzed in ``tests/e2e/test_fuzz_protocol.py``).

Hypothesis throws random paths (dots, slashes, backslashes, percent escapes, drive letters,
``~``, NUL, non-ASCII), random JSON bodies and random tool arguments at a real ``mimi-lsp web``
and a real ``mimi-lsp mcp`` whose folder sits next to a secret. Every request must get a proper
answer (an HTTP status below 500; an MCP result or error), the secret must never come back,
nothing outside may change, and both processes must still be alive at the end. Cases run and
crashes go to ``.artifacts/reliability/fuzz_surfaces.json``.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.e2e.test_fuzz_protocol import JSON
from tests.lsp_harness import ROOT
from tests.reliability.attacks import SECRET, Tree, attack_tree
from tests.web.conftest import WebServer, start_web

CASES = int(os.environ.get("MIMI_FUZZ_CASES", "150"))
ARTIFACT = ROOT / ".artifacts" / "reliability" / "fuzz_surfaces.json"
COUNTS = {"web_cases": 0, "mcp_cases": 0, "crashes": 0}

FUZZ = settings(
    max_examples=CASES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,
)

PIECES = st.sampled_from(
    ["..", ".", "", "/", "\\", "%2e", "%2f", "%25", "%00", "~", "C:", "\\\\srv", "link_out",
     "link_file.txt", "sub", "ok.py", "outside", "secret.txt", "é", "\x00", ":", "*", "?", "file:"]
)  # fmt: skip
PATHS = st.one_of(
    st.lists(PIECES, min_size=1, max_size=6).map(lambda parts: "/".join(parts)),
    st.lists(PIECES, min_size=1, max_size=6).map("".join),
    st.text(max_size=40),
)


def outside_files(tree: Tree) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in sorted(tree.outside.rglob("*")) if p.is_file()}


def save_counts() -> None:
    ARTIFACT.parent.mkdir(parents=True, exist_ok=True)
    ARTIFACT.write_text(json.dumps(COUNTS, indent=2))


# ---------------------------------------------------------------------------- web


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[WebServer, Tree, httpx.Client]]:
    tree = attack_tree(tmp_path_factory.mktemp("fuzz-web"))
    settings_ = {
        "completion": {"backend": {"kind": "fake", "replies": ["x"]}},
        "index": {"enabled": False},
    }
    before = outside_files(tree)
    with start_web(tree.root, settings_, "--no-spare") as server:
        headers = {"Authorization": f"token {server.token}"}
        with httpx.Client(base_url=server.base, headers=headers, timeout=10) as client:
            yield server, tree, client
        alive = server.process.poll() is None
    COUNTS["crashes"] += 0 if alive else 1
    save_counts()
    assert alive, "mimi-lsp web died during fuzzing"
    assert outside_files(tree) == before


@FUZZ
@given(path=PATHS, method=st.sampled_from(["GET file", "PUT file", "GET tree"]), body=JSON)
def test_web_file_endpoints_answer_properly(
    web: tuple[WebServer, Tree, httpx.Client], path: str, method: str, body: Any
) -> None:
    """Any path and body: a status below 500, never the secret."""
    _, _, client = web
    verb, route = method.split()
    kwargs: dict[str, Any] = {"params": {"path": path}}
    if verb == "PUT":
        kwargs["json"] = (
            body
            if not isinstance(body, dict) or "text" not in body
            else {"text": str(body["text"])}
        )
    response = client.request(verb, f"/api/{route}", **kwargs)
    COUNTS["web_cases"] += 1
    assert response.status_code < 500, (method, path, response.status_code, response.text[:200])
    assert SECRET not in response.text


# ---------------------------------------------------------------------------- MCP


class McpThread:
    """A real `mimi-lsp mcp` driven from a private event loop (hypothesis tests are sync).

    The client lives inside one task from start to stop (anyio cancel scopes must be left in
    the task that entered them); calls run as other tasks on the same loop.
    """

    def __init__(self, tree: Tree) -> None:
        self.tree = tree
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.client: Any = None
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._owner: Any = None

    def run(self, coro: Any, timeout: float = 30) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    async def _own(self) -> None:
        from mcp import Client, StdioServerParameters

        env = {**os.environ, "PYTHONPATH": str(ROOT), "HOME": str(self.tree.outside),
               "MIMI_SETTINGS": json.dumps({"index": {"enabled": False}})}  # fmt: skip
        params = StdioServerParameters(
            command=sys.executable, args=["-m", "mimi_lsp", "mcp", str(self.tree.root)], env=env
        )
        self._stop = asyncio.Event()
        try:
            async with Client(params, mode="legacy", read_timeout_seconds=30) as client:
                self.client = client
                self._ready.set()
                await self._stop.wait()
        finally:
            self._ready.set()

    def start(self) -> None:
        self._owner = asyncio.run_coroutine_threadsafe(self._own(), self.loop)
        self._ready.wait(60)
        if self.client is None:
            self._owner.result(5)  # raises what went wrong
            raise RuntimeError("mimi-lsp mcp did not start")

    def stop(self) -> None:
        if self._stop is not None:
            self.loop.call_soon_threadsafe(self._stop.set)
        if self._owner is not None:
            self._owner.result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)


@pytest.fixture(scope="module")
def mcp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[McpThread]:
    tree = attack_tree(tmp_path_factory.mktemp("fuzz-mcp"))
    before = outside_files(tree)
    server = McpThread(tree)
    server.start()
    try:
        yield server
        try:
            alive = server.run(server.client.list_tools()) is not None
        except Exception:
            alive = False
    finally:
        server.stop()
    COUNTS["crashes"] += 0 if alive else 1
    save_counts()
    assert alive, "mimi-lsp mcp stopped answering during fuzzing"
    assert outside_files(tree) == before


ARGUMENTS = {
    "read_file": st.fixed_dictionaries(
        {"path": PATHS}, optional={"start_line": JSON, "end_line": JSON}
    ),
    "list_files": st.fixed_dictionaries(
        {}, optional={"path": PATHS, "pattern": st.one_of(PATHS, JSON)}
    ),
    "search_code": st.fixed_dictionaries(
        {"query": st.one_of(st.text(max_size=40), JSON)}, optional={"k": JSON, "mode": JSON}
    ),
    "find_symbol": st.fixed_dictionaries(
        {"name": st.one_of(st.text(max_size=40), JSON)}, optional={"limit": JSON}
    ),
    "index_status": st.dictionaries(st.text(max_size=8), JSON, max_size=2),
}


@FUZZ
@given(data=st.data())
def test_mcp_tools_answer_properly(mcp: McpThread, data: st.DataObject) -> None:
    """Any arguments to any tool: a result or a tool error in time, never the secret."""
    tool = data.draw(st.sampled_from(sorted(ARGUMENTS)))
    args = data.draw(
        st.one_of(ARGUMENTS[tool], st.dictionaries(st.text(max_size=8), JSON, max_size=3))
    )

    async def call() -> str:
        try:
            result = await asyncio.wait_for(mcp.client.call_tool(tool, args), 20)
        except TimeoutError:
            raise AssertionError(f"{tool} got no answer for {args!r}") from None
        except Exception as exc:  # a protocol-level error is an answer too
            return str(exc)
        return json.dumps([c.model_dump() for c in result.content]) + json.dumps(
            result.structured_content or {}
        )

    text = mcp.run(call())
    COUNTS["mcp_cases"] += 1
    assert SECRET not in text, (tool, args)
