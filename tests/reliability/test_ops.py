"""Operations through the real server: mimi.status carries the same figures as /metrics
(latency per feature, cache hit rate, tokens per second, queue depths, batch sizes, index
size); warnings reach the editor's log; ``--log-format json`` writes one object per line."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

from lsprotocol import types

from tests.lsp_harness import (
    ROOT,
    editor_capabilities,
    inline,
    make_client,
    open_doc,
    start_session,
)
from tests.standins.ollama import OllamaStandin


def ops_settings(cache: Path, embed_url: str) -> dict[str, Any]:
    return {
        "completion": {
            "backend": {
                "kind": "fake",
                "replies": ["values[0]"],
                "chatReplies": ["It adds numbers.", "Nothing to change."],
                "chunkChars": 3,
            },
            "debounceMs": 0,
        },
        "index": {"enabled": True, "cacheDir": str(cache)},
        # Embeddings from a model server go through the scheduler's batches (the stand-in).
        "embedding": {
            "backend": {"kind": "ollama", "host": embed_url},
            "model": "nomic-embed-text",
        },
    }


async def command(client: Any, name: str, *args: Any) -> Any:
    return await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command=name, arguments=list(args))
    )


async def exercise(root: Path, settings: dict[str, Any]) -> dict[str, Any]:
    """One request of each feature (plus typed-through cache hits); the ops figures after."""
    async with start_session(root=root, settings=settings) as client:
        uri = (root / "calc.py").as_uri()
        pos = open_doc(client, "def add(a, b):\n    return <CURSOR>\n", uri=uri)
        first = await inline(client, pos, uri=uri)
        for n, ch in enumerate(first[0].insert_text[:3]):  # typed through: cache hits
            client.text_document_did_change(types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2 + n),
                content_changes=[types.TextDocumentContentChangePartial(
                    range=types.Range(start=types.Position(line=1, character=11 + n), end=types.Position(line=1, character=11 + n)),
                    text=ch,
                )],
            ))  # fmt: skip
            await inline(client, types.Position(line=1, character=12 + n), uri=uri, invoked=False)
        for _ in range(50):  # the first scan and its embeddings
            status = await command(client, "mimi.status")
            if status["index"].get("state") == "ready" and status["index"].get("embedded"):
                break
            await asyncio.sleep(0.2)  # state that arrived before anyone could await it
        await command(client, "mimi.search", {"query": "add numbers"})
        await command(client, "mimi.chat", {"chatId": "c", "message": "what does add do?"})
        await command(client, "mimi.agent.edit", {"uri": uri, "instruction": "nothing"})
        ops = (await command(client, "mimi.status"))["metrics"]["ops"]
    return ops  # type: ignore[no-any-return]


async def test_status_reports_every_operational_figure(tmp_path: Path) -> None:
    """After one request of each feature, mimi.status has its latency and the shared figures."""
    root = tmp_path / "ws"
    root.mkdir()
    (root / "calc.py").write_text("def add(a, b):\n    return a + b\n")
    with OllamaStandin() as embedder:
        ops = await exercise(root, ops_settings(tmp_path / "cache", embedder.url))
    for feature in ("completion", "chat", "search", "agent"):
        assert ops["latencyMs"][feature]["count"] >= 1, (feature, ops["latencyMs"])
        assert ops["latencyMs"][feature]["p95"] >= ops["latencyMs"][feature]["p50"] >= 0
    assert ops["cache"]["hits"] >= 3 and 0 < ops["cache"]["hitRate"] < 1
    assert ops["tokensPerSecond"]["completion"] > 0 and ops["tokensPerSecond"]["chat"] > 0
    assert "fake" in ops["queueDepth"] and set(ops["queueDepth"]["fake"]) == {
        "inline",
        "interactive",
        "background",
    }
    assert ops["batchSizes"]["embed"]["count"] >= 1
    assert ops["index"]["files"] >= 1 and ops["index"]["chunks"] >= 1 and ops["index"]["bytes"] > 0
    assert ops["requests"]["completion"]["ok"] >= 4


async def test_warnings_reach_the_editor_log() -> None:
    """A server warning is forwarded as window/logMessage (the editor's output panel)."""
    settings = {
        "completion": {
            "backend": {"kind": "ollama", "host": "http://127.0.0.1:9"},
            "debounceMs": 0,
        },
        "index": {"enabled": False},
    }
    async with start_session(settings=settings) as client:
        await inline(client, open_doc(client, "x = <CURSOR>\n"))
        await command(client, "mimi.status")
        logs = [m for m in client.log_messages if "completion backend" in m.message]
    assert logs and logs[0].type == types.MessageType.Warning


async def test_json_log_file_from_the_real_server(tmp_path: Path) -> None:
    """--log-file with --log-format json: every line is a JSON object with the core fields."""
    log_file = tmp_path / "mimi.jsonl"
    client = make_client()
    cmd = [
        sys.executable,
        "-m",
        "mimi_lsp",
        "--stdio",
        "--log-level",
        "debug",
        "--log-file",
        str(log_file),
        "--log-format",
        "json",
    ]
    await client.start_io(*cmd, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        await client.initialize_session(types.InitializeParams(
            capabilities=editor_capabilities("neovim"),
            initialization_options={"completion": {"backend": {"kind": "fake", "replies": ["1"]}}, "index": {"enabled": False}},
        ))  # fmt: skip
        await command(client, "mimi.status")
        await client.shutdown_session()
    finally:
        await client.stop()
    lines = [line for line in log_file.read_text().splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]
    assert records and all({"ts", "level", "logger", "msg", "pid"} <= set(r) for r in records)
