"""Backend health as every client sees it (issue 16, items 3, 6, 10 and 11).

The real server process over stdio against the Ollama stand-in: the status is checked at start
and after a settings change without a keystroke, a backend marked unavailable is probed until it
is back (and every client is told), chat's health is in ``mimi.status`` like completion's, and
a failed chat costs the log one line.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types

from tests.e2e.test_backends_ollama import MODEL, ollama_settings, statuses
from tests.lsp_harness import start_session, wait_until
from tests.standins.ollama import OllamaStandin


@pytest.fixture
def ollama() -> Iterator[OllamaStandin]:
    with OllamaStandin(replies=["a + b"], chat=["All good."]) as server:
        yield server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def status(client: Any) -> dict[str, Any]:
    return await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="mimi.status", arguments=[])
    )


def states(client: Any, feature: str) -> list[str]:
    return [s[feature] for s in statuses(client, feature)]


async def test_down_backend_is_probed_and_every_client_told_it_is_back(
    ollama: OllamaStandin,
) -> None:
    """Ollama down at start: unavailable without a keystroke; back up: ok, no keystroke."""
    ollama.stop()
    async with start_session(settings=ollama_settings(ollama)) as client:
        await wait_until(lambda: "unavailable" in states(client, "completion"), what="down")
        await wait_until(lambda: "unavailable" in states(client, "chat"), what="chat down")
        ollama.start()  # same port
        await wait_until(lambda: states(client, "completion")[-1] == "ok", what="back")
        await wait_until(lambda: states(client, "chat")[-1] == "ok", what="chat back")
        await wait_until(
            lambda: any("completion is back" in m.message for m in client.messages),
            what="told completion is back",
        )
        messages = [m.message for m in client.messages]
        report = await status(client)
    assert states(client, "completion") == ["unavailable", "ok"]
    assert sum("ollama serve" in m for m in messages) == 1  # one pop-up for both features
    assert any("completion is back" in m for m in messages)
    assert report["backends"]["chat"]["state"] == "ok"


async def test_chat_health_is_in_mimi_status(ollama: OllamaStandin) -> None:
    """With Ollama down, mimi.status says chat is unavailable before anyone chats."""
    ollama.stop()
    async with start_session(settings=ollama_settings(ollama)) as client:
        await wait_until(lambda: "unavailable" in states(client, "chat"), what="chat down")
        report = await status(client)
    chat = report["backends"]["chat"]
    assert chat["state"] == "unavailable" and "ollama serve" in chat["fix"]
    assert report["backends"]["completion"]["state"] == "unavailable"


async def test_settings_change_rechecks_the_status_at_once(ollama: OllamaStandin) -> None:
    """A wrong host, then the right one in settings: ok at once, without a keystroke."""
    wrong = ollama_settings(ollama)
    wrong["completion"]["backend"]["host"] = f"http://127.0.0.1:{free_port()}"
    async with start_session(settings=wrong, configuration=wrong) as client:
        await wait_until(lambda: "unavailable" in states(client, "completion"), what="down")
        client.set_configuration(ollama_settings(ollama), section="mimi")
        client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings=None))
        await wait_until(lambda: states(client, "completion")[-1] == "ok", what="ok")
    assert MODEL in [c.body["model"] for c in ollama.calls("/api/show")]
    assert ollama.calls("/api/generate") == []  # nobody typed


async def test_failed_chat_logs_one_line(ollama: OllamaStandin, tmp_path: Path) -> None:
    """A chat against a down model server: one log line with the cause, no traceback."""
    ollama.stop()
    log_file = tmp_path / "server.log"
    settings = ollama_settings(ollama)
    async with start_session(settings=settings, log_level="info", log_file=log_file) as client:
        with pytest.raises(Exception, match="ollama serve"):
            await client.workspace_execute_command_async(
                types.ExecuteCommandParams(
                    command="mimi.chat", arguments=[{"chatId": "c1", "message": "hi"}]
                )
            )
    text = log_file.read_text()
    assert "Traceback" not in text, text
    failed = [line for line in text.splitlines() if "request failed" in line]
    assert len(failed) == 1 and "ollama serve" in failed[0], text
    assert logging.getLevelName(logging.WARNING) in failed[0]
