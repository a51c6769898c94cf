"""Secrets: only from the environment, never in any output of the real server.

An API key in the environment (named by ``apiKeyEnv``), a password in a backend URL, a token
in ``agent.mcpServers`` settings and a key pasted straight into settings are driven through
success and failure paths (refused key, broken MCP command, invalid settings) with debug
logging. None may appear in the ``--log-file`` (text and JSON), stderr, ``window/logMessage``,
``window/showMessage``, ``mimi/status``, ``mimi.status`` or a JSON-RPC error.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
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


class _EchoingProxy(BaseHTTPRequestHandler):
    """A misconfigured proxy: every request gets a 502 that quotes the request's headers."""

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        echoed = "; ".join(f"{k}: {v}" for k, v in self.headers.items())
        body = json.dumps({"error": {"message": f"upstream refused the request ({echoed})"}})
        self.send_response(502)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())

    do_GET = do_POST = _answer

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.mark.parametrize("kind", ["openai", "ollama"])
async def test_url_password_never_leaks_base64_encoded(tmp_path: Path, kind: str) -> None:
    """A password in the backend URL goes out as ``Authorization: Basic base64(user:pw)``; a
    server that echoes it must not put it (clear or base64) in an error, a message or the log."""
    proxy = ThreadingHTTPServer(("127.0.0.1", 0), _EchoingProxy)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    encoded = base64.b64encode(f"mimi:{URL_PASSWORD}".encode()).decode()
    host = f"mimi:{URL_PASSWORD}@127.0.0.1:{proxy.server_address[1]}"
    backend: dict[str, Any] = (
        {"kind": "openai", "baseUrl": f"http://{host}/v1"}
        if kind == "openai"
        else {"kind": "ollama", "host": f"http://{host}"}
    )
    settings = {
        "completion": {"backend": backend, "model": "m", "debounceMs": 0, "context": False},
        "index": {"enabled": False},
    }
    log_file = tmp_path / "server.log"
    client = make_client()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "mimi_lsp", "--stdio", "--log-level", "debug"]
    await client.start_io(*command, "--log-file", str(log_file), env=env)
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
        try:
            await asyncio.wait_for(
                client.workspace_execute_command_async(
                    types.ExecuteCommandParams(
                        command="mimi.chat", arguments=[{"chatId": "c", "message": "hi"}]
                    )
                ),
                30,
            )
        except Exception as exc:
            errors.append(str(exc))
        status = await client.workspace_execute_command_async(
            types.ExecuteCommandParams(command="mimi.status")
        )
        await client.shutdown_session()
    finally:
        await client.stop()
        proxy.shutdown()
    said = {
        "errors": " ".join(errors),
        "status": json.dumps(status),
        "messages": " ".join(m.message for m in client.messages + client.log_messages),
        "log": log_file.read_text(),
    }
    assert "502" in said["errors"] + said["messages"] + said["log"]  # the echo path ran
    assert {k: v for k, v in said.items() if URL_PASSWORD in v or encoded in v} == {}


def test_scrub_hides_basic_credentials_but_not_words() -> None:
    """'Basic <base64>' is masked anywhere; 'Basic authentication' is left alone."""
    encoded = base64.b64encode(b"user:hunter2pw").decode()
    for text in (f"Authorization: Basic {encoded}", f"proxy said basic {encoded}"):
        assert encoded not in scrub(text)
    assert scrub("Basic authentication failed") == "Basic authentication failed"
