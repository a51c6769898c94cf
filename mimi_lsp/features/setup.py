"""mimi.setup.detect: which model servers answer and what they serve, for the editors' set-up.

Args ``[{url?, apiKeyEnv?}]`` → ``{servers: [{provider, url, models, reachable, message?,
needsKey?}]}``. Without ``url`` the configured addresses and the usual local ports are tried.
"""

from __future__ import annotations

import os
from typing import Any

from mimi_lsp.features._args import CommandArgs, Ident, Uri, parse_args
from mimi_lsp.inference.discovery import detect
from mimi_lsp.language_server import MimiServer
from mimi_lsp.settings import BackendSettings, Settings


class DetectArgs(CommandArgs):
    url: Uri | None = None
    api_key_env: Ident | None = None


def configured_urls(settings: Settings) -> list[str]:
    """The model-server addresses the settings name (completion first)."""
    out = []
    backend: BackendSettings
    for backend in (settings.completion.backend, settings.chat_backend()):
        url = getattr(backend, "host", None) or getattr(backend, "base_url", None)
        if url and url not in out:
            out.append(url)
    return out


def register(server: MimiServer) -> None:
    @server.command("mimi.setup.detect")
    async def setup_detect(*args: Any) -> dict[str, Any]:
        parsed = parse_args(DetectArgs, args, "mimi.setup.detect")
        key = os.environ.get(parsed.api_key_env) if parsed.api_key_env else None
        found = await detect(parsed.url, configured_urls(server.services.settings), key)
        return {"servers": [f.to_json() for f in found]}
