"""Backend faults against the real server: every failure mode of the stand-ins, for ghost text
and chat, on Ollama and on an OpenAI-compatible server.

For each fault (down, slow, HTTP 500, garbage stream, truncated stream, connection reset,
connection closed without an answer) the editor must get an answer in bounded time (empty
ghost text, a JSON-RPC error for chat), one ``mimi/status`` per outage and feature (not one
per keystroke), and the service must come back by itself once the backend behaves. The number
of faults injected is added to ``.artifacts/reliability/faults.json``.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from lsprotocol import types

from tests.lsp_harness import ROOT, inline, open_doc, start_session
from tests.standins.common import StandinServer
from tests.standins.ollama import OllamaStandin
from tests.standins.openai import OpenAIStandin

MODES = ["down", "slow", "http500", "garbage", "truncate", "reset", "disconnect"]
BOUND_S = 10.0
"""No request may take longer than this, whatever the backend does."""
ARTIFACT = ROOT / ".artifacts" / "reliability" / "faults.json"


def record_faults(kind: str, count: int) -> None:
    ARTIFACT.parent.mkdir(parents=True, exist_ok=True)
    data = json.loads(ARTIFACT.read_text()) if ARTIFACT.exists() else {}
    data[kind] = count
    data["faults_injected"] = sum(v for k, v in data.items() if k != "faults_injected")
    ARTIFACT.write_text(json.dumps(data, indent=2))


def settings_for(kind: str, server: StandinServer) -> dict[str, Any]:
    if kind == "ollama":
        backend: dict[str, Any] = {"kind": "ollama", "host": server.url, "timeoutMs": 2_000}
        model, chat_model = "qwen2.5-coder:1.5b-base", "qwen2.5-coder:7b-instruct"
    else:
        backend = {"kind": "openai", "baseUrl": f"{server.url}/v1", "timeoutMs": 2_000}
        model, chat_model = "qwen2.5-coder-1.5b", "qwen2.5-coder-7b-instruct"
    return {
        "completion": {
            "backend": backend,
            "model": model,
            "debounceMs": 0,
            "context": False,
            "timeoutMs": 1_500,
        },
        "chat": {"model": chat_model},
        "index": {"enabled": False},
        "limits": {"completion": {"perMinute": 0}, "chat": {"perMinute": 0}},
    }


@pytest.fixture(params=["ollama", "openai"])
def standin(request: pytest.FixtureRequest) -> Iterator[tuple[str, StandinServer]]:
    cls = OllamaStandin if request.param == "ollama" else OpenAIStandin
    with cls(replies=["a + b"], chat=["All good."]) as server:
        server.configure(slow_s=30)
        yield request.param, server


def statuses(client: Any, feature: str) -> list[str]:
    out = []
    for method, params in client.notifications:
        if method != "mimi/status":
            continue
        data = (
            params
            if isinstance(params, dict)
            else params._asdict()
            if hasattr(params, "_asdict")
            else vars(params)
        )
        if feature in data:
            out.append(data[feature])
    return out


async def bounded(coro: Any) -> tuple[float, Any]:
    started = time.monotonic()
    try:
        result = await asyncio.wait_for(coro, BOUND_S)
    except TimeoutError:
        raise AssertionError(f"no answer within {BOUND_S} s") from None
    except Exception as exc:  # a JSON-RPC error is an answer
        result = exc
    return time.monotonic() - started, result


async def chat(client: Any, n: int) -> Any:
    return await client.workspace_execute_command_async(
        types.ExecuteCommandParams(
            command="mimi.chat", arguments=[{"chatId": f"c{n}", "message": f"question {n}"}]
        )
    )


def inject(server: StandinServer, mode: str) -> None:
    if mode == "down":
        server.stop()
    else:
        server.configure(fail=mode)


def heal(server: StandinServer, mode: str) -> None:
    if mode == "down":
        server.start()
    else:
        server.configure(fail=None)


async def test_every_fault_is_answered_reported_once_and_recovered(
    standin: tuple[str, StandinServer],
) -> None:
    """Each fault: bounded answers, one status per outage and feature, automatic recovery."""
    kind, server = standin
    injected = 0
    report: dict[str, Any] = {}
    async with start_session(settings=settings_for(kind, server)) as client:
        n = 0

        async def ghost() -> tuple[float, Any]:
            nonlocal n
            n += 1
            uri = f"file:///tmp/mimi-faults/{kind}-{n}.py"
            return await bounded(
                inline(client, open_doc(client, f"v{n} = <CURSOR>\n", uri=uri), uri=uri)
            )

        _, healthy = await ghost()
        assert [i.insert_text for i in healthy] == ["a + b"]
        for mode in MODES:
            before = {f: len(statuses(client, f)) for f in ("completion", "chat")}
            inject(server, mode)
            failing = [await ghost() for _ in range(3)]
            chats = [await bounded(chat(client, n)) for _ in range(2)]
            injected += len(failing) + len(chats)
            outage = {f: statuses(client, f)[before[f] :] for f in ("completion", "chat")}
            heal(server, mode)
            _, back = await ghost()
            _, answer = await bounded(chat(client, n + 100))
            after = {f: statuses(client, f)[before[f] :] for f in ("completion", "chat")}
            report[mode] = {
                "outage": outage,
                "after": after,
                "slowest_s": max(t for t, _ in failing + chats),
            }
            assert all(items == [] for _, items in failing), (mode, failing)
            assert all(isinstance(r, Exception) for _, r in chats), (mode, chats)
            for feature in ("completion", "chat"):
                bad = [s for s in outage[feature] if s != "ok"]
                assert len(bad) == 1, (mode, feature, outage[feature])
                assert after[feature][-1] == "ok", (mode, feature, after[feature])
            assert [i.insert_text for i in back] == ["a + b"], mode
            assert answer["reply"] == "All good.", mode
        messages = [m.message for m in client.messages]
    record_faults(kind, injected)
    # One pop-up per outage at most (the status bar carries the rest).
    assert len(messages) <= 2 * len(MODES) * 2, messages
