"""OpenTelemetry traces: the SDK's in-memory exporter in process, then the real server process
(and `mimi-lsp web`'s tab servers) exporting over OTLP/HTTP to a real receiver on loopback."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from lsprotocol import types
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from mimi_lsp import tracing
from mimi_lsp.chat import ChatQuery
from mimi_lsp.domain import CompletionRequest, TriggerKind
from mimi_lsp.services import Services
from mimi_lsp.settings import resolve_settings
from tests.e2e.test_search import make_workspace, search, wait_status
from tests.lsp_harness import ROOT, start_session
from tests.standins.otlp import OtlpReceiver
from tests.web.conftest import fake_web_settings, make_project, start_web
from tests.web.test_web_server import ghost_text, initialize, ws_url

SECRET = "hunter2-prompt-text"
"""In every prompt and document: it must never appear in an exported span."""


@pytest.fixture
def memory() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    tracing.use(SimpleSpanProcessor(exporter))
    try:
        yield exporter
    finally:
        tracing.shutdown()


def attributes(exporter: InMemorySpanExporter) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for s in exporter.get_finished_spans():
        out.setdefault(s.name, []).append(dict(s.attributes or {}))
    return out


def test_off_unless_asked_and_no_sdk_loaded() -> None:
    """Without the OTel variables the server never imports the SDK and span() is a no-op."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    code = (
        "import sys; import mimi_lsp.server, mimi_lsp.tracing as t; "
        "assert not t.setup(); assert t.span('x') is t.NO_SPAN; "
        "print(any(m.startswith('opentelemetry.sdk') for m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"
    assert not tracing.wanted(
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://x", "OTEL_SDK_DISABLED": "true"}
    )
    assert tracing.wanted({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://x/v1/traces"})


async def test_completion_and_chat_spans_in_memory(
    memory: InMemorySpanExporter, tmp_path: Path
) -> None:
    """Completion (debounce, context, model, post-processing), chat and agent steps and tool
    calls, and backend calls, with the operator's attributes and no text."""
    (tmp_path / "notes.py").write_text(f"API_KEY = '{SECRET}'\n")
    tool = json.dumps({"tool_calls": [{"name": "read_file", "arguments": {"path": "notes.py"}}]})
    settings = resolve_settings(
        {
            "completion": {
                "backend": {
                    "kind": "fake",
                    "replies": ["a + b"],
                    "chatReplies": [tool, "It adds."],
                },
                "debounceMs": 5,
                "model": "qwen2.5-coder:1.5b-base",
            },
            "index": {"enabled": False},
        },
        env={},
    )[0]
    services = Services(settings)
    services.workspace_folders = [str(tmp_path)]
    uri = (tmp_path / "calc.py").as_uri()
    services.session.open(uri, "python", 1, f"# {SECRET}\ndef add(a, b):\n    return \n")
    result = await services.completion.complete(
        CompletionRequest(services.session.snapshot(uri), 2, 11, TriggerKind.AUTOMATIC)
    )
    assert result.items
    again = await services.completion.complete(
        CompletionRequest(services.session.snapshot(uri), 2, 11, TriggerKind.AUTOMATIC)
    )
    assert again.items and again.items[0].from_cache
    answer = await services.chat.ask(ChatQuery(message=f"What is {SECRET}?"))
    assert answer.reply == "It adds."
    await services.aclose()

    spans = attributes(memory)
    for name in (
        "completion",
        "completion.debounce",
        "completion.context",
        "completion.model",
        "completion.postprocess",
        "backend.generate",
        "chat",
        "agent.run",
        "agent.step",
        "agent.tool",
        "backend.chat",
    ):
        assert name in spans, f"no {name} span; got {sorted(spans)}"
    first, cached = spans["completion"]
    assert first["mimi.model"] == "qwen2.5-coder:1.5b-base" and first["mimi.cache_hit"] is False
    assert cached["mimi.cache_hit"] is True
    assert spans["completion.model"][0]["mimi.output_chars"] == len("a + b")
    assert spans["backend.generate"][0]["mimi.backend"] == "fake"
    assert spans["agent.tool"][0] == {"mimi.tool": "read_file", "mimi.step": 1, "mimi.ok": True}
    assert spans["agent.run"][0]["mimi.steps"] == 1
    assert {s["mimi.priority"] for s in spans["backend.chat"]} == {"interactive"}
    # Parents: the model call is a child of its completion.
    done = memory.get_finished_spans()
    model = next(s for s in done if s.name == "completion.model")
    root = next(s for s in done if s.name == "completion")  # the first: the model's request
    assert model.parent is not None and model.parent.span_id == root.context.span_id
    assert SECRET not in repr([s.to_json() for s in memory.get_finished_spans()])


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    with OtlpReceiver() as r:
        yield r


def otel_env(receiver: OtlpReceiver, **more: str) -> dict[str, str]:
    return {
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
        "OTEL_BSP_SCHEDULE_DELAY": "50",
        "OTEL_SERVICE_NAME": "mimi-test",
        **more,
    }


async def test_server_exports_over_otlp_http(tmp_path: Path, receiver: OtlpReceiver) -> None:
    """The real server process exports completion, search (BM25, vector, fusion) and backend
    spans to a real OTLP/HTTP receiver; nothing of the prompt or the code is in the requests."""
    root = make_workspace(tmp_path / "ws")
    (root / "secret.py").write_text(f"def retry_uploads():\n    token = '{SECRET}'\n")
    settings = {
        "completion": {"backend": {"kind": "fake", "replies": ["x"]}, "debounceMs": 0},
        "index": {"enabled": True, "cacheDir": str(tmp_path / "cache")},
        "embedding": {"backend": {"kind": "fake"}},
    }
    async with start_session(root=root, settings=settings, env=otel_env(receiver)) as client:
        await wait_status(
            client, lambda p: p["state"] == "ready" and p.get("embedded") == p["chunks"]
        )
        hits = await search(client, query="retry failed uploads")
        assert hits
        uri = (root / "secret.py").as_uri()
        client.text_document_did_open(
            types.DidOpenTextDocumentParams(
                text_document=types.TextDocumentItem(
                    uri=uri,
                    language_id="python",
                    version=1,
                    text=(root / "secret.py").read_text(),
                )
            )
        )
        await client.text_document_inline_completion_async(
            types.InlineCompletionParams(
                context=types.InlineCompletionContext(
                    trigger_kind=types.InlineCompletionTriggerKind.Invoked
                ),
                text_document=types.TextDocumentIdentifier(uri=uri),
                position=types.Position(line=1, character=4),
            )
        )
        await asyncio.to_thread(
            receiver.wait_for, "search.bm25", "search.vector", "search.fusion", "completion.model"
        )
    search_span = receiver.named("search")[-1]
    assert (
        search_span.attributes["mimi.mode"] == "hybrid" and search_span.attributes["mimi.hits"] > 0
    )
    assert receiver.named("search.fusion")[-1].parent_id == search_span.span_id
    assert search_span.resource["service.name"] == "mimi-test"
    assert receiver.named("search.query_embedding")[-1].parent_id == search_span.span_id
    model = receiver.named("completion.model")[-1]
    assert model.attributes["mimi.prompt_chars"] > 0 and model.attributes["mimi.native_fim"] in (
        True,
        False,
    )
    assert all(SECRET.encode() not in body for body in receiver.bodies)
    for s in receiver.spans:  # with -s: a sample of what an operator's collector receives
        print(f"{s.name:24} {s.ms:8.2f} ms  {s.attributes}")


async def test_web_propagates_tracing_to_every_tab_server(
    tmp_path: Path, receiver: OtlpReceiver
) -> None:
    """`mimi-lsp web` started with the OTel variables: each tab's server exports its spans."""
    folder = make_project(tmp_path / "proj")
    with start_web(folder, fake_web_settings(), env=otel_env(receiver)) as server:
        async with aiohttp.ClientSession() as http:
            headers = {"Authorization": f"token {server.token}"}
            for tab in range(2):  # two tabs, two server processes
                async with http.ws_connect(ws_url(server), headers=headers) as ws:
                    await initialize(ws, folder.as_uri())
                    assert await ghost_text(ws, (folder / "calc.py").as_uri())
                    await asyncio.to_thread(
                        receiver.wait_until,
                        lambda n=tab + 1: len(receiver.named("completion")) >= n,
                    )
    pids = {s.resource["process.pid"] for s in receiver.named("completion")}
    assert len(pids) == 2 and server.process.pid not in pids
    assert {s.resource["service.name"] for s in receiver.spans} == {"mimi-test"}


def test_sample_of_exported_spans_for_the_readme(receiver: OtlpReceiver, tmp_path: Path) -> None:
    """`mimi-lsp commit-message` with the OTel variables exports its spans too (printed: a
    sample of what an operator sees)."""
    import shutil

    repo = tmp_path / "r"
    repo.mkdir()
    for args in (["init", "-q"], ["config", "user.email", "a@b"], ["config", "user.name", "A"]):
        subprocess.run(["git", *args], cwd=repo, check=True)
    (repo / "a.py").write_text("x = 1\n")
    subprocess.run(["git", "add", "a.py"], cwd=repo, check=True)
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        **otel_env(receiver),
        "MIMI_SETTINGS": json.dumps(
            {"completion": {"backend": {"kind": "fake", "chatReplies": ["Add a"]}}}
        ),
    }
    out = subprocess.run(
        [sys.executable, "-m", "mimi_lsp", "commit-message", str(repo)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    receiver.wait_for("git.commit_message", "backend.chat")
    span = receiver.named("git.commit_message")[0]
    assert span.attributes == {
        "mimi.staged": True,
        "mimi.files": 1,
        "mimi.summarised": False,
        "mimi.message_chars": 5,
    }
    assert shutil.which("git")
    for s in receiver.spans:
        print(f"{s.name:22} {s.ms:8.2f} ms  {s.attributes}")
