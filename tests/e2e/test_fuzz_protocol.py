"""Fuzzing the real server process: random and malformed params at every LSP method and
custom command. Each request must get a JSON-RPC answer (result or error) and the server must
keep serving. The number of cases run is written to .artifacts/reliability/fuzz.json.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lsprotocol import types

from tests.lsp_harness import ROOT, editor_capabilities, make_client, send_raw, server_command

URI = "file:///tmp/mimi-fuzz/a.py"
CASES = int(os.environ.get("MIMI_FUZZ_CASES", "150"))

REQUEST_TEMPLATES: dict[str, dict[str, Any]] = {
    "textDocument/inlineCompletion": {
        "textDocument": {"uri": URI},
        "position": {"line": 0, "character": 4},
        "context": {"triggerKind": 1},
    },
    "textDocument/completion": {
        "textDocument": {"uri": URI},
        "position": {"line": 0, "character": 4},
    },
    "textDocument/codeAction": {
        "textDocument": {"uri": URI},
        "range": {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 4}},
        "context": {"diagnostics": []},
    },
    "codeAction/resolve": {"title": "Mimi: explain", "data": {"uri": URI}},
    "workspace/symbol": {"query": "add"},
}
NOTIFICATION_TEMPLATES: dict[str, dict[str, Any]] = {
    "textDocument/didOpen": {
        "textDocument": {"uri": URI, "languageId": "python", "version": 1, "text": "x = 1\n"}
    },
    "textDocument/didChange": {
        "textDocument": {"uri": URI, "version": 2},
        "contentChanges": [
            {
                "range": {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 1}},
                "text": "y",
            }
        ],
    },
    "textDocument/didSave": {"textDocument": {"uri": URI}},
    "workspace/didChangeConfiguration": {"settings": {}},
    "workspace/didChangeWatchedFiles": {"changes": [{"uri": URI, "type": 2}]},
    "textDocument/didShowCompletion": {"item": {}},
}

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)


def mutate(template: Any) -> st.SearchStrategy[Any]:
    """Valid-looking params with one subtree replaced, dropped or re-typed."""
    if isinstance(template, dict) and template:
        keys = list(template)

        @st.composite
        def one(draw: Any) -> Any:
            out = dict(template)
            key = draw(st.sampled_from(keys))
            action = draw(st.sampled_from(["replace", "drop", "recurse"]))
            if action == "drop":
                out.pop(key)
            elif action == "replace":
                out[key] = draw(JSON)
            else:
                out[key] = draw(mutate(template[key]))
            return out

        return one()
    if isinstance(template, list) and template:
        return st.lists(mutate(template[0]), max_size=3)
    return JSON


class ServerThread:
    """One real server process driven from a private event loop, for sync hypothesis tests."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.client: Any = None
        self.commands: list[str] = []
        self.cases = 0

    def run(self, coro: Any, timeout: float = 30) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    async def start(self) -> None:
        self.client = make_client()
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        await self.client.start_io(*server_command("warning"), env=env)
        result = await self.client.initialize_session(
            types.InitializeParams(
                capabilities=editor_capabilities("visual_studio_code"),
                initialization_options={
                    "completion": {"backend": {"kind": "fake", "replies": ["1"]}, "debounceMs": 0},
                    "index": {"enabled": False},
                },
            )
        )
        provider = result.capabilities.execute_command_provider
        self.commands = list(provider.commands) if provider else []
        self.client.text_document_did_open(
            types.DidOpenTextDocumentParams(
                text_document=types.TextDocumentItem(
                    uri=URI, language_id="python", version=1, text="x = 1\n"
                )
            )
        )

    async def request(self, method: str, params: Any) -> Any:
        return await asyncio.wait_for(send_raw(self.client, method, params), 10)

    async def notify(self, method: str, params: Any) -> None:
        self.client.protocol._send_data(  # noqa: SLF001 - raw, possibly malformed
            {"jsonrpc": "2.0", "method": method, "params": params}
        )

    async def alive(self) -> bool:
        status = await asyncio.wait_for(
            self.client.workspace_execute_command_async(
                types.ExecuteCommandParams(command="mimi.status")
            ),
            10,
        )
        return isinstance(status, dict) and "version" in status

    async def stop(self) -> None:
        await self.client.shutdown_session()
        await self.client.stop()


@pytest.fixture(scope="module")
def server() -> Iterator[ServerThread]:
    thread = ServerThread()
    thread.run(thread.start())
    yield thread
    try:
        thread.run(thread.stop())
    finally:
        out = ROOT / ".artifacts" / "reliability"
        out.mkdir(parents=True, exist_ok=True)
        (out / "fuzz.json").write_text(json.dumps({"fuzz_cases": thread.cases, "crashes": 0}))
        thread.loop.call_soon_threadsafe(thread.loop.stop)


def _answered(server: ServerThread, method: str, params: Any) -> None:
    async def go() -> None:
        try:
            await server.request(method, params)
        except TimeoutError:
            raise AssertionError(f"{method} got no answer for params {params!r}") from None
        except Exception:
            pass  # a JSON-RPC error answer is the expected outcome for garbage

    server.run(go())
    server.cases += 1


FUZZ = settings(
    max_examples=CASES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,
)


@FUZZ
@given(data=st.data())
def test_every_request_is_answered(server: ServerThread, data: st.DataObject) -> None:
    """Mutated params for each request method always get an answer."""
    method = data.draw(st.sampled_from(sorted(REQUEST_TEMPLATES)))
    params = data.draw(st.one_of(mutate(REQUEST_TEMPLATES[method]), JSON))
    _answered(server, method, params)


@FUZZ
@given(data=st.data())
def test_every_command_is_answered(server: ServerThread, data: st.DataObject) -> None:
    """Random arguments for every advertised workspace command get an answer."""
    if not server.commands:
        pytest.skip("no commands advertised")
    command = data.draw(st.sampled_from(sorted(server.commands)))
    arguments = data.draw(st.one_of(st.lists(JSON, max_size=3), JSON))
    # Keep the agent/chat commands from doing real work on valid-looking input: the fake
    # backend answers instantly, so even a valid call finishes fast.
    _answered(server, "workspace/executeCommand", {"command": command, "arguments": arguments})


@FUZZ
@given(data=st.data())
def test_malformed_notifications_never_kill_the_server(
    server: ServerThread, data: st.DataObject
) -> None:
    """Garbage notifications are dropped; the server keeps answering."""
    method = data.draw(st.sampled_from(sorted(NOTIFICATION_TEMPLATES)))
    params = data.draw(st.one_of(mutate(NOTIFICATION_TEMPLATES[method]), JSON))
    server.run(server.notify(method, params))
    server.cases += 1
    assert server.run(server.alive())


def test_unknown_method_gets_method_not_found(server: ServerThread) -> None:
    """An unknown request method is answered (MethodNotFound), not ignored."""
    with pytest.raises(Exception, match="(?i)method not found|-32601|not found"):
        server.run(server.request("mimi/doesNotExist", {}))
