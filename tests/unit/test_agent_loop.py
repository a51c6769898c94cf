"""The agent loop against the scripted backend: tools, text fallback, limits, cancellation."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from mimi_lsp.agent.loop import _NO_NATIVE_TOOLS, AgentLimits, AgentLoop
from mimi_lsp.agent.plan import EditPlan
from mimi_lsp.agent.textproto import parse_tool_calls
from mimi_lsp.agent.tools import workspace_tools
from mimi_lsp.agent.workspace import Workspace
from mimi_lsp.domain import ChatDelta, ChatMessage, ChatRequest
from mimi_lsp.errors import BackendError
from mimi_lsp.inference.fake import FakeBackend
from mimi_lsp.settings import FakeBackendSettings


def call(name: str, /, **arguments: object) -> str:
    return json.dumps({"tool_calls": [{"name": name, "arguments": arguments}]})


def setup(tmp_path: Path, *replies: str, delay_ms: float = 0):
    (tmp_path / "app.py").write_text("def add(a, b):\n    return a - b\n")
    backend = FakeBackend(FakeBackendSettings(chat_replies=list(replies), delay_ms=delay_ms))
    ws = Workspace(lambda: [str(tmp_path)])
    plan = EditPlan(ws)
    return backend, plan, workspace_tools(ws, plan)


async def test_native_tool_calls_build_a_plan(tmp_path: Path) -> None:
    """read_file then edit then a summary: the plan holds the edit, the model saw the file."""
    backend, plan, tools = setup(
        tmp_path,
        call("read_file", path="app.py"),
        call("edit", path="app.py", edits=[{"search": "a - b", "replace": "a + b"}]),
        "Fixed the sign in add.",
    )
    out = await AgentLoop(backend, model="m").run("sys", [ChatMessage("user", "fix add")], tools)
    assert out.reply == "Fixed the sign in add."
    assert [s.tool for s in out.steps] == ["read_file", "edit"]
    assert plan.changes_list[0].new_text == "def add(a, b):\n    return a + b\n"
    tool_msgs = [m for m in backend.chat_calls[1].messages if m.role == "tool"]
    assert "return a - b" in tool_msgs[0].content
    assert backend.chat_calls[0].tools  # native: specs sent


async def test_tool_errors_go_back_to_the_model(tmp_path: Path) -> None:
    """A refused path is a tool result the model can read, not a crash."""
    backend, plan, tools = setup(tmp_path, call("read_file", path="../../etc/passwd"), "Sorry.")
    out = await AgentLoop(backend, model="m").run("sys", [ChatMessage("user", "x")], tools)
    assert out.steps[0].ok is False
    result = [m for m in backend.chat_calls[1].messages if m.role == "tool"][0].content
    assert "outside the workspace" in result or "climbs out" in result


async def test_step_limit_stops_the_run(tmp_path: Path) -> None:
    """A model that never stops calling tools is cut off at maxSteps."""
    backend, plan, tools = setup(tmp_path, call("list_files"))
    out = await AgentLoop(backend, model="m", limits=AgentLimits(max_steps=3)).run(
        "sys", [ChatMessage("user", "x")], tools
    )
    assert out.stopped == "max_steps"
    assert len(out.steps) == 3


async def test_token_budget_stops_the_run(tmp_path: Path) -> None:
    """The approximate token budget ends a run that keeps growing."""
    backend, plan, tools = setup(tmp_path, call("read_file", path="app.py"))
    out = await AgentLoop(backend, model="m", limits=AgentLimits(max_tokens=2_000)).run(
        "sys", [ChatMessage("user", "x")], tools
    )
    assert out.stopped == "max_tokens"


async def test_time_limit_stops_the_run(tmp_path: Path) -> None:
    """A slow model is stopped at the wall-time limit."""
    backend, plan, tools = setup(tmp_path, "done", delay_ms=2_000)
    out = await AgentLoop(backend, model="m", limits=AgentLimits(timeout_s=0.05)).run(
        "sys", [ChatMessage("user", "x")], tools
    )
    assert out.stopped == "timeout"


async def test_cancel_closes_the_model_stream(tmp_path: Path) -> None:
    """Cancelling the run's task ends the model call in flight."""
    backend, plan, tools = setup(tmp_path, "done", delay_ms=5_000)
    started = asyncio.Event()
    chat = backend.chat

    def observed(request: ChatRequest) -> AsyncIterator[ChatDelta]:
        started.set()
        return chat(request)

    backend.chat = observed  # type: ignore[method-assign]
    task = asyncio.ensure_future(
        AgentLoop(backend, model="m").run("sys", [ChatMessage("user", "x")], tools)
    )
    await started.wait()
    await asyncio.sleep(0)  # let the stream start its (long) model call
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert backend.cancelled == 1


async def test_text_protocol_search_replace_blocks(tmp_path: Path) -> None:
    """A model without tools can answer with search/replace blocks; they become edits."""
    reply = "Fixing.\napp.py\n<<<<<<< SEARCH\n    return a - b\n=======\n    return a + b\n>>>>>>> REPLACE\n"
    backend, plan, tools = setup(tmp_path, reply)
    out = await AgentLoop(backend, model="m", tool_mode="text").run(
        "sys", [ChatMessage("user", "x")], tools
    )
    assert plan.changes_list[0].new_text.endswith("return a + b\n")
    assert out.reply == "Fixing."
    assert not backend.chat_calls[0].tools
    assert "<tool_call>" in backend.chat_calls[0].messages[0].content  # tools described in text


async def test_text_protocol_tool_call_tags(tmp_path: Path) -> None:
    """<tool_call> JSON in a text reply is executed and its result sent back as a user turn."""
    backend, plan, tools = setup(
        tmp_path,
        '<tool_call>{"name": "read_file", "arguments": {"path": "app.py"}}</tool_call>',
        "It subtracts.",
    )
    out = await AgentLoop(backend, model="m", tool_mode="text").run(
        "sys", [ChatMessage("user", "x")], tools
    )
    assert out.reply == "It subtracts."
    last = backend.chat_calls[1].messages[-1]
    assert last.role == "user" and "return a - b" in last.content


class NoToolsBackend(FakeBackend):
    """Answers like Ollama for a model without a tools template."""

    async def chat(self, request: ChatRequest) -> AsyncIterator[ChatDelta]:
        if request.tools:
            self.chat_calls.append(request)
            raise BackendError("registry.ollama.ai/library/m:latest does not support tools")
        async for delta in super().chat(request):
            yield delta


async def test_model_without_tools_falls_back_to_text(tmp_path: Path) -> None:
    """'does not support tools' switches the run (and the model) to the text protocol."""
    backend = NoToolsBackend(FakeBackendSettings(chat_replies=["All good."]))
    ws = Workspace(lambda: [str(tmp_path)])
    _NO_NATIVE_TOOLS.discard("fake:nt")
    out = await AgentLoop(backend, model="nt").run(
        "sys", [ChatMessage("user", "x")], workspace_tools(ws, None)
    )
    assert out.reply == "All good."
    assert "fake:nt" in _NO_NATIVE_TOOLS


def test_prose_json_is_not_a_tool_call() -> None:
    """A JSON example in prose that is not shaped like a call stays prose."""
    text = 'Use this config:\n```json\n{"name": "x", "version": 2}\n```'
    assert parse_tool_calls(text, {"read_file"}) == []


@pytest.mark.parametrize(
    "message",
    [
        "registry.ollama.ai/library/gemma3:270m does not support tools",
        '"auto" tool choice requires --enable-auto-tool-choice and --tool-call-parser to be set',
        "tools param requires --jinja flag",
    ],
)
def test_servers_refusing_tools_are_recognised(message: str) -> None:
    """The refusals of Ollama, vLLM and llama.cpp all switch to the text protocol."""
    from mimi_lsp.agent.loop import _no_tools_error

    assert _no_tools_error(BackendError(message))
    assert not _no_tools_error(BackendError("model not found"))
