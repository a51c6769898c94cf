"""mimi.status: version, backend health, counters and latency percentiles."""

from __future__ import annotations

from typing import Any

from mimi_lsp.language_server import MimiServer


def register(server: MimiServer) -> None:
    @server.command("mimi.status")
    def status(*args: Any) -> dict[str, Any]:
        return server.services.status()
