"""Secrets: only from the environment, never in any output of the real server.

An API key in the environment (named by ``apiKeyEnv``), a password in a backend URL, a token
in ``agent.mcpServers`` settings and a key pasted straight into settings are driven through
success and failure paths (refused key, broken MCP command, invalid settings) with debug
logging. None may appear in the ``--log-file`` (text and JSON), stderr, ``window/logMessage``,
``window/showMessage``, ``mimi/status``, ``mimi.status`` or a JSON-RPC error.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types

from mimi_lsp.log import JsonFormatter, make_formatter, scrub
from tests.lsp_harness import ROOT, editor_capabilities, inline, make_client, open_doc
from tests.standins.openai import OpenAIStandin

KEY_ENV = "MIMI_RELIABILITY_CREDENTIAL"
ENV_KEY = "envcred-4c1d9e7a2b"
URL_PASSWORD = "urlpw-81f0c2d3"
SETTINGS_TOKEN = "settok-5e6f7a8b9c"
PASTED_KEY = "pasted-0a1b2c3d4e"
SECRETS = (ENV_KEY, URL_PASSWORD, SETTINGS_TOKEN, PASTED_KEY)


def leaks(text: str) -> list[str]:
    return [s for s in SECRETS if s in text]


async def run_server(tmp_path: Path, standin: OpenAIStandin, log_format: str) -> dict[str, Any]:
    """Drive success and failure paths; return everything the server said."""
    log_file = tmp_path / f"server-{log_format}.log"
    host = standin.base_url.split("://", 1)[1]
    backend = {
        "kind": "openai",
        "baseUrl": f"http://mimi:{URL_PASSWORD}@{host}",
        "apiKeyEnv": KEY_ENV,
    }
    settings = {
        "completion": {"backend": backend, "model": "m", "debounceMs": 0, "context": False},
        "index": {"enabled": False},
        "agent": {
            "mcpServers": {
                "gh": {"command": "/nonexistent/mcp-gh", "env": {"GITHUB_TOKEN": SETTINGS_TOKEN}}
            }
        },
    }
    client = make_client()
    env = {**os.environ, "PYTHONPATH": str(ROOT), KEY_ENV: ENV_KEY}
    command = [
        sys.executable,
        "-m",
        "mimi_lsp",
        "--stdio",
        "--log-level",
        "debug",
        "--log-file",
        str(log_file),
    ]
    await client.start_io(*command, "--log-format", log_format, env=env)
    errors: list[str] = []
    try:
        await client.initialize_session(
            types.InitializeParams(
                capabilities=editor_capabilities("visual_studio_code"),
                initialization_options=settings,
                root_uri=tmp_path.as_uri(),
            )
        )
        uri = (tmp_path / "a.py").as_uri()
        await inline(client, open_doc(client, "x = <CURSOR>\n", uri=uri), uri=uri)
        standin.configure(api_key="rotated-key")  # now the key is refused: the error path
        await inline(client, open_doc(client, "y = <CURSOR>\n", uri=uri + "2"), uri=uri + "2")
        for name, args in [
            ("mimi.chat", {"chatId": "c", "message": "hello"}),
            ("mimi.agent.edit", {"instruction": "add a docstring"}),
        ]:
            try:
                await asyncio.wait_for(
                    client.workspace_execute_command_async(
                        types.ExecuteCommandParams(command=name, arguments=[args])
                    ),
                    30,
                )
            except Exception as exc:  # the refused key: a JSON-RPC error to inspect
                errors.append(str(exc))
        # A key pasted into settings is refused as a setting (and must not be echoed).
        pasted = {
            **settings,
            "completion": {**settings["completion"], "backend": {**backend, "apiKey": PASTED_KEY}},
        }
        client.set_configuration(pasted, section="mimi")
        client.workspace_did_change_configuration(
            types.DidChangeConfigurationParams(settings=pasted)
        )
        status = await client.workspace_execute_command_async(
            types.ExecuteCommandParams(command="mimi.status")
        )
        said = {
            "status": json.dumps(status),
            "errors": " ".join(errors),
            "messages": " ".join(m.message for m in client.messages),
            "log_messages": " ".join(m.message for m in client.log_messages),
            "notifications": json.dumps([str(p) for _, p in client.notifications]),
        }
        await client.shutdown_session()
    finally:
        await client.stop()
    return {**said, "log": log_file.read_text()}


@pytest.fixture
def standin() -> Any:
    with OpenAIStandin(replies=["a + b"], api_key=ENV_KEY) as server:
        yield server


@pytest.mark.parametrize("log_format", ["text", "json"])
async def test_no_secret_reaches_any_output(
    tmp_path: Path, standin: OpenAIStandin, log_format: str, capfd: pytest.CaptureFixture[str]
) -> None:
    """Log file, stderr, client messages, logMessage, status and errors hold no secret."""
    said = await run_server(tmp_path, standin, log_format)
    said["stderr"] = capfd.readouterr().err
    assert {where: leaks(text) for where, text in said.items() if leaks(text)} == {}
    # The paths were really exercised: the refusal, the MCP failure and the settings problem.
    assert "refused the API key" in said["messages"] + said["errors"]
    assert "mcp-gh" in said["log"] or "gh" in said["log"]
    assert "apiKey" in said["messages"] or "apiKey" in said["log"]
    assert standin.calls("/v1/completions")  # the backend really talked to the server


def test_json_log_lines_are_objects_with_fields(tmp_path: Path) -> None:
    """--log-format json: one object per line with ts, level, logger, msg, pid and extras."""
    record = logging.LogRecord(
        "mimi_lsp.x", logging.WARNING, __file__, 1, "hello %s", ("world",), None
    )
    record.feature = "chat"
    line = make_formatter("json").format(record)
    obj = json.loads(line)
    assert (
        obj["msg"] == "hello world" and obj["level"] == "warning" and obj["logger"] == "mimi_lsp.x"
    )
    assert obj["feature"] == "chat" and obj["pid"] == os.getpid() and obj["ts"].endswith("+00:00")
    assert "\n" not in line


def test_tracebacks_are_scrubbed_too() -> None:
    """Exception text in a log line is scrubbed (it bypasses the record filter)."""
    try:
        raise RuntimeError("Authorization: Bearer abcdef123456 failed")
    except RuntimeError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "boom", (), sys.exc_info())
    for formatter in (make_formatter("text"), make_formatter("json")):
        assert "abcdef123456" not in formatter.format(record)
    assert isinstance(JsonFormatter(), logging.Formatter)


@pytest.mark.parametrize(
    "text",
    [
        "http://user:hunter2pw@example.com/v1",
        "api_key=hunter2pw",
        '{"token": "hunter2pw"}',
        "Authorization: Bearer hunter2pw",
        "sk-hunter2pwhunter2pw",
    ],
)
def test_scrub_hides_secret_shapes(text: str) -> None:
    """URL passwords, key=value, JSON tokens, bearer headers and sk- keys are masked."""
    assert "hunter2pw" not in scrub(text)
