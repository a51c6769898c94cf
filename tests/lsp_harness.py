"""Starting the real mimi-lsp server process over stdio as an editor would (pytest-lsp).

``start_session(editor=..., settings=...)`` yields an initialized ``LanguageClient`` whose
capabilities are a real editor's (pytest-lsp's captures), plus inline completion, which those
captures predate. Also helpers to open documents with a ``<CURSOR>`` marker.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from lsprotocol import types
from pytest_lsp import client_capabilities
from pytest_lsp.client import LanguageClient, make_test_lsp_client

ROOT = Path(__file__).resolve().parents[1]
CURSOR = "<CURSOR>"
EDITORS = ["visual_studio_code", "neovim"]


def editor_capabilities(editor: str, inline: bool = True) -> types.ClientCapabilities:
    """A real editor's capabilities; with ``inlineCompletion`` declared unless told not to."""
    caps = client_capabilities(editor)
    if inline:
        if caps.text_document is None:
            caps.text_document = types.TextDocumentClientCapabilities()
        caps.text_document.inline_completion = types.InlineCompletionClientCapabilities(
            dynamic_registration=False
        )
    return caps


def fake_settings(*replies: str, delay_ms: float = 0, **completion: Any) -> dict[str, Any]:
    """Settings for the scripted backend, with no debounce unless given."""
    completion.setdefault("debounceMs", 0)
    return {
        "completion": {
            "backend": {"kind": "fake", "replies": list(replies), "delayMs": delay_ms},
            **completion,
        },
        "index": {"enabled": False},
    }


def server_command(log_level: str = "debug", log_file: Path | None = None) -> list[str]:
    command = [sys.executable, "-m", "mimi_lsp", "--stdio", "--log-level", log_level]
    return command + (["--log-file", str(log_file)] if log_file else [])


def make_client() -> LanguageClient:
    client = make_test_lsp_client()

    @client.feature(types.WORKSPACE_APPLY_EDIT)
    def apply_edit(params: types.ApplyWorkspaceEditParams) -> types.ApplyWorkspaceEditResult:
        client.applied_edits.append(params)  # type: ignore[attr-defined]
        return types.ApplyWorkspaceEditResult(applied=True)

    client.applied_edits = []  # type: ignore[attr-defined]

    @client.feature(types.CLIENT_REGISTER_CAPABILITY)
    def register_capability(params: types.RegistrationParams) -> None:
        client.registrations.extend(params.registrations)  # type: ignore[attr-defined]

    client.registrations = []  # type: ignore[attr-defined]
    client.notifications = []  # type: ignore[attr-defined]

    for method in ("mimi/status", "mimi/indexStatus", "mimi/chatDelta"):

        def record(params: Any, method: str = method) -> None:
            client.notifications.append((method, params))  # type: ignore[attr-defined]

        client.feature(method)(record)
    return client


@contextlib.asynccontextmanager
async def start_session(
    *,
    editor: str = "visual_studio_code",
    settings: dict[str, Any] | None = None,
    root: Path | None = None,
    inline: bool = True,
    env: dict[str, str] | None = None,
    configuration: dict[str, Any] | None = None,
    log_level: str = "debug",
    log_file: Path | None = None,
) -> AsyncIterator[LanguageClient]:
    """A real server process, initialized like ``editor`` would, shut down afterwards."""
    client = make_client()
    if configuration is not None:
        client.set_configuration(configuration, section="mimi")
    server_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    await client.start_io(*server_command(log_level, log_file), env=server_env)
    root_uri = root.as_uri() if root else None
    folders = [types.WorkspaceFolder(uri=root_uri, name=root.name)] if root else None
    try:
        await client.initialize_session(
            types.InitializeParams(
                capabilities=editor_capabilities(editor, inline),
                initialization_options=settings,
                root_uri=root_uri,
                workspace_folders=folders,
            )
        )
        try:
            yield client
        except BaseException:
            # A failed assertion skips `exit`, and client.stop() waits for the process to end:
            # end it here so the test fails at once instead of hanging until the timeout.
            server = getattr(client, "_server", None)
            if server is not None and server.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    server.kill()
            raise
        await client.shutdown_session()
    finally:
        await client.stop()


def split_cursor(text: str) -> tuple[str, int, int]:
    """Remove ``<CURSOR>`` and return (text, line, UTF-16 column)."""
    index = text.index(CURSOR)
    before = text[:index]
    line = before.count("\n")
    col_text = before.rsplit("\n", 1)[-1]
    col = len(col_text.encode("utf-16-le")) // 2
    return before + text[index + len(CURSOR) :], line, col


def open_doc(
    client: LanguageClient,
    text: str,
    *,
    uri: str = "file:///tmp/mimi-test/example.py",
    language: str = "python",
    version: int = 1,
) -> types.Position:
    """Open ``text`` (with a cursor marker) and return the cursor position."""
    clean, line, col = split_cursor(text)
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(
                uri=uri, language_id=language, version=version, text=clean
            )
        )
    )
    return types.Position(line=line, character=col)


async def inline(
    client: LanguageClient,
    position: types.Position,
    *,
    uri: str = "file:///tmp/mimi-test/example.py",
    invoked: bool = True,
) -> list[types.InlineCompletionItem]:
    result = await client.text_document_inline_completion_async(
        types.InlineCompletionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            position=position,
            context=types.InlineCompletionContext(
                trigger_kind=types.InlineCompletionTriggerKind.Invoked
                if invoked
                else types.InlineCompletionTriggerKind.Automatic
            ),
        )
    )
    if result is None:
        return []
    return list(result.items if isinstance(result, types.InlineCompletionList) else result)


def send_raw(client: LanguageClient, method: str, params: Any) -> asyncio.Future[Any]:
    """Send a request with arbitrary (possibly malformed) params; the future gets the answer."""
    msg_id = f"raw-{uuid.uuid4()}"
    future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    client.protocol._request_futures[msg_id] = future  # noqa: SLF001 - no public raw send
    client.protocol._send_data({"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params})
    return future


async def wait_until(predicate: Any, limit_s: float = 10.0, what: str = "condition") -> None:
    """Poll ``predicate()`` until true (for state that arrived before anyone could await it)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit_s
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)
