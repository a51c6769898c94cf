"""A request typed while the server starts is answered with the client's settings, once."""

from __future__ import annotations

import asyncio
import os
from typing import Any

from lsprotocol import types

from tests.lsp_harness import (
    ROOT,
    editor_capabilities,
    inline,
    make_client,
    open_doc,
    server_command,
)

CONFIG: dict[str, Any] = {
    "completion": {"backend": {"kind": "fake", "replies": ["a + b"]}, "debounceMs": 0},
    "index": {"enabled": False},
}


async def test_a_request_before_the_settings_waits_for_them() -> None:
    """A client whose settings come only from workspace/configuration, answered slowly: the
    first request (sent before the answer) gets ghost text from the configured backend, not
    an empty answer from the default Ollama and a false "not running" warning."""
    client = make_client()
    answered = asyncio.Event()

    async def slow_configuration(params: types.ConfigurationParams) -> list[Any]:
        await asyncio.sleep(1.5)
        answered.set()
        return [CONFIG for _ in params.items]

    # Replaces pytest-lsp's default answer (before the server can ask).
    client.protocol.fm.features[types.WORKSPACE_CONFIGURATION] = slow_configuration
    await client.start_io(*server_command(), env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        await client.initialize_session(
            types.InitializeParams(capabilities=editor_capabilities("neovim"))
        )
        pos = open_doc(client, "def add(a, b):\n    return <CURSOR>\n")
        items = await inline(client, pos)
        assert answered.is_set()
        statuses = [p for m, p in client.notifications if m == "mimi/status"]  # type: ignore[attr-defined]
        await client.shutdown_session()
    finally:
        await client.stop()
    assert [i.insert_text for i in items] == ["a + b"]
    assert all(p.get("completion") == "ok" for p in statuses), statuses
