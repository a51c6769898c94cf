"""mimi.search, mimi.reindex, workspace/symbol and index progress, against the real server."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types

from tests.lsp_harness import EDITORS, fake_settings, send_raw, start_session

UPLOAD_PY = '''"""Uploading files to the bucket."""

import time


def retry_failed_uploads(queue, attempts=3):
    for item in queue.failed():
        for attempt in range(attempts):
            if item.upload():
                break
            time.sleep(2 ** attempt)


class UploadQueue:
    def failed(self):
        return [i for i in self.items if not i.ok]
'''

MATH_TS = """export function addNumbers(a: number, b: number): number {
  return a + b;
}

export class Calculator {
  multiplyValues(x: number, y: number): number {
    return x * y;
  }
}
"""

SERVER_GO = """package server

// StartHttpServer listens on the given port and serves requests.
func StartHttpServer(port int) error {
	return listen(port)
}
"""

README = "# Project\n\nThis project uploads files and retries failed uploads.\n"


def make_workspace(root: Path) -> Path:
    (root / "src").mkdir(parents=True)
    (root / "src" / "upload.py").write_text(UPLOAD_PY)
    (root / "src" / "math.ts").write_text(MATH_TS)
    (root / "server.go").write_text(SERVER_GO)
    (root / "README.md").write_text(README)
    (root / "node_modules").mkdir()
    (root / "node_modules" / "dep.js").write_text("function retryFailedUploads() {}\n")
    return root


def index_settings(cache: Path, **index: Any) -> dict[str, Any]:
    settings = fake_settings("x")
    settings["index"] = {"enabled": True, "cacheDir": str(cache), **index}
    settings["embedding"] = {"backend": {"kind": "fake"}}
    settings["limits"] = {"search": {"perMinute": 0}}  # tests poll search while the index updates
    return settings


def as_dict(params: Any) -> dict[str, Any]:
    """Notification params as a dict (pygls hands custom ones over as namedtuples)."""
    return params if isinstance(params, dict) else params._asdict()


def index_statuses(client: Any) -> list[dict[str, Any]]:
    return [as_dict(p) for m, p in list(client.notifications) if m == "mimi/indexStatus"]


async def wait_status(client: Any, predicate: Any, within_s: float = 30.0) -> dict[str, Any]:
    """The first ``mimi/indexStatus`` (already received or next) matching ``predicate``."""
    deadline = time.monotonic() + within_s
    while True:
        for params in index_statuses(client):
            if predicate(params):
                return params
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            seen = index_statuses(client)
            raise AssertionError(f"no matching mimi/indexStatus; got {seen}")
        try:
            await asyncio.wait_for(
                client.wait_for_notification("mimi/indexStatus"), min(remaining, 0.5)
            )
        except TimeoutError:
            pass


def embedded(params: dict[str, Any]) -> bool:
    return (
        params["state"] == "ready"
        and params["chunks"] > 0
        and params["embedded"] == params["chunks"]
    )


async def search(client: Any, **args: Any) -> list[dict[str, Any]]:
    result = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="mimi.search", arguments=[args])
    )
    return result["hits"]


async def eventually(probe: Any, predicate: Any, within_s: float = 15.0) -> Any:
    """Re-run ``probe`` until ``predicate(result)`` holds (index updates are asynchronous)."""
    deadline = time.monotonic() + within_s
    while True:
        value = await probe()
        if predicate(value) or time.monotonic() > deadline:
            return value
        await asyncio.sleep(0.1)


@pytest.mark.parametrize("editor", EDITORS)
async def test_search_returns_the_right_function_first(editor: str, tmp_path: Path) -> None:
    """A natural-language query finds the function, with uri, range, symbol and preview."""
    root = make_workspace(tmp_path / "ws")
    async with start_session(
        editor=editor, settings=index_settings(tmp_path / "cache"), root=root
    ) as client:
        await wait_status(client, embedded)
        hits = await search(client, query="retry failed uploads")
    top = hits[0]
    assert top["uri"] == (root / "src" / "upload.py").as_uri()
    assert top["symbol"] == "retry_failed_uploads"
    assert top["kind"] == "function"
    assert top["range"]["start"] == {"line": 5, "character": 0}
    assert top["range"]["end"]["line"] == 10
    assert "def retry_failed_uploads" in top["preview"]
    assert all("node_modules" not in h["uri"] for h in hits)


async def test_every_mode_and_filters(tmp_path: Path) -> None:
    """bm25, vector and hybrid modes answer; language and path filters narrow the hits."""
    root = make_workspace(tmp_path / "ws")
    async with start_session(settings=index_settings(tmp_path / "cache"), root=root) as client:
        await wait_status(client, embedded)
        by_mode = {
            m: await search(client, query="add numbers", mode=m)
            for m in ("bm25", "vector", "hybrid")
        }
        go_only = await search(client, query="server port", language="go")
        under_src = await search(client, query="upload", paths=["src/**"], k=20)
    for mode, hits in by_mode.items():
        assert hits and hits[0]["symbol"] == "addNumbers", mode
        scores = [h["score"] for h in hits]
        assert all(0 <= s <= 1 for s in scores) and scores == sorted(scores, reverse=True), mode
    assert go_only and all(h["uri"].endswith(".go") for h in go_only)
    assert under_src and all("/src/" in h["uri"] for h in under_src)


async def test_prose_does_not_crowd_out_code(tmp_path: Path) -> None:
    """The README mentions the query words too, but the code ranks first."""
    root = make_workspace(tmp_path / "ws")
    async with start_session(settings=index_settings(tmp_path / "cache"), root=root) as client:
        await wait_status(client, embedded)
        hits = await search(client, query="retries failed uploads", mode="bm25")
    assert hits[0]["uri"].endswith("upload.py")


async def test_invalid_search_arguments_are_rejected(tmp_path: Path) -> None:
    """A bad mode or a missing query is answered with InvalidParams, not silence."""
    root = make_workspace(tmp_path / "ws")
    async with start_session(settings=index_settings(tmp_path / "cache"), root=root) as client:
        for args in ({"query": "x", "mode": "fuzzy"}, {"k": 3}, {"query": "x", "k": 0}):
            fut = send_raw(
                client, "workspace/executeCommand", {"command": "mimi.search", "arguments": [args]}
            )
            with pytest.raises(Exception) as info:
                await asyncio.wait_for(fut, 10)
            assert "mimi.search" in str(info.value)


async def test_reindex_reports_counts(tmp_path: Path) -> None:
    """mimi.reindex re-reads the workspace and answers {files, chunks}."""
    root = make_workspace(tmp_path / "ws")
    async with start_session(settings=index_settings(tmp_path / "cache"), root=root) as client:
        await wait_status(client, lambda p: p["state"] == "ready")
        result = await client.workspace_execute_command_async(
            types.ExecuteCommandParams(command="mimi.reindex")
        )
        status = await client.workspace_execute_command_async(
            types.ExecuteCommandParams(command="mimi.status")
        )
    assert result["files"] == 4  # upload.py, math.ts, server.go, README.md; not node_modules
    assert result["chunks"] >= 4
    assert status["index"]["files"] == 4
    assert status["index"]["state"] == "ready"


@pytest.mark.parametrize("editor", EDITORS)
async def test_workspace_symbol_matches_fuzzily(editor: str, tmp_path: Path) -> None:
    """workspace/symbol answers from the index: prefix, camel humps and subsequences."""
    root = make_workspace(tmp_path / "ws")
    async with start_session(
        editor=editor, settings=index_settings(tmp_path / "cache"), root=root
    ) as client:
        await wait_status(client, lambda p: p["state"] == "ready")
        humps = await client.workspace_symbol_async(types.WorkspaceSymbolParams(query="mulVal"))
        prefix = await client.workspace_symbol_async(types.WorkspaceSymbolParams(query="UploadQ"))
    assert humps and humps[0].name == "multiplyValues"
    assert humps[0].kind == types.SymbolKind.Method
    assert humps[0].container_name == "Calculator"
    assert prefix[0].name == "UploadQueue"
    assert prefix[0].location.uri == (root / "src" / "upload.py").as_uri()
    assert prefix[0].location.range.start.line == 13


async def test_progress_with_percentages(tmp_path: Path) -> None:
    """A client with workDoneProgress sees begin, percentage reports and end."""
    root = make_workspace(tmp_path / "ws")
    async with start_session(settings=index_settings(tmp_path / "cache"), root=root) as client:
        await wait_status(client, embedded)
        reports = dict(client.progress_reports)
    index_tokens = [t for t in reports if str(t).startswith("mimi-index")]
    assert index_tokens
    values = reports[index_tokens[0]]
    assert isinstance(values[0], types.WorkDoneProgressBegin)
    assert isinstance(values[-1], types.WorkDoneProgressEnd)
    percentages = [v.percentage for v in values if isinstance(v, types.WorkDoneProgressReport)]
    assert percentages and percentages[-1] == 100


async def test_disabled_index_answers_with_a_message(tmp_path: Path) -> None:
    """With the index off, mimi.search returns no hits and says why."""
    root = make_workspace(tmp_path / "ws")
    async with start_session(settings=fake_settings("x"), root=root) as client:
        result = await client.workspace_execute_command_async(
            types.ExecuteCommandParams(command="mimi.search", arguments=[{"query": "upload"}])
        )
    assert result["hits"] == []
    assert "disabled" in result["message"]
