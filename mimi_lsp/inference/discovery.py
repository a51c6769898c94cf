"""Finding the model servers a user has: what ``mimi.setup.detect`` answers. LSP-free.

Editors offer a "set up" flow (VS Code's *Mimi: Set Up*, Neovim's ``:MimiSetup``, the web page's
model-server dialog): it asks here which servers answer and what models they serve, then writes
the plain settings ``provider``, ``url`` and ``model``. The probing runs in the server because it
is the server that will connect (a web page runs elsewhere and may not reach the model server).

An address is tried as Ollama (``GET /api/tags``) and as an OpenAI-compatible server
(``GET /v1/models``); without an address, the usual local ports are tried at once: the configured
ones, ``$OLLAMA_HOST``, Ollama's 11434, and 8000 (vLLM, llama-cpp-python), 8080 (llama.cpp
server) and 1234 (LM Studio) for OpenAI-compatible servers. Each probe has a short timeout, so
nothing slow blocks the editor.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from mimi_lsp.settings import DEFAULT_OLLAMA_HOST, OllamaBackendSettings

PROBE_TIMEOUT_S = 1.5
LOCAL_OPENAI = ("http://127.0.0.1:8000/v1", "http://127.0.0.1:8080/v1", "http://127.0.0.1:1234/v1")


@dataclass(slots=True)
class FoundServer:
    """A model server that answered (or, for an address the user gave, why it did not)."""

    provider: str
    url: str
    models: list[str] = field(default_factory=list)
    reachable: bool = True
    message: str | None = None
    needs_key: bool = False

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "provider": self.provider,
            "url": self.url,
            "models": self.models,
            "reachable": self.reachable,
        }
        if self.message:
            out["message"] = self.message
        if self.needs_key:
            out["needsKey"] = True
        return out


def _with_scheme(url: str) -> str:
    url = url.strip().rstrip("/")
    return url if "://" in url else f"http://{url}"


def _origin(url: str) -> str:
    parts = urlsplit(_with_scheme(url))
    return f"{parts.scheme}://{parts.netloc}"


def candidates(given: str | None, configured: Iterable[str]) -> list[tuple[str, str]]:
    """(provider, url) pairs to probe: the given address as both kinds, else the usual ones."""
    if given and given.strip():
        url = _with_scheme(given)
        path = urlsplit(url).path.rstrip("/")
        ollama = OllamaBackendSettings(host=_origin(url)).resolved_host()
        openai = url if path else f"{url}/v1"
        return [("ollama", ollama), ("openai", openai)]
    out: list[tuple[str, str]] = []
    for url in configured:
        if url:
            out.extend(candidates(url, ()))
    env_host = os.environ.get("OLLAMA_HOST")
    if env_host:
        out.append(("ollama", OllamaBackendSettings(host=env_host).resolved_host()))
    out.append(("ollama", DEFAULT_OLLAMA_HOST))
    out.extend(("openai", url) for url in LOCAL_OPENAI)
    return list(dict.fromkeys(out))


async def _probe(client: Any, provider: str, url: str) -> FoundServer:
    import httpx

    try:
        if provider == "ollama":
            response = await client.get(f"{url}/api/tags")
            response.raise_for_status()
            names = [m.get("name") or m.get("model") for m in response.json().get("models", [])]
        else:
            response = await client.get(f"{url}/models")
            if response.status_code in (401, 403):
                return FoundServer(
                    provider,
                    url,
                    reachable=True,
                    needs_key=True,
                    message="the server wants an API key",
                )
            response.raise_for_status()
            names = [m.get("id") for m in response.json().get("data", [])]
    except httpx.ConnectError:
        return FoundServer(provider, url, reachable=False, message="nothing answers there")
    except httpx.TimeoutException:
        return FoundServer(provider, url, reachable=False, message="no answer in time")
    except (httpx.HTTPError, ValueError, AttributeError, TypeError) as exc:
        message = f"not an {'Ollama' if provider == 'ollama' else 'OpenAI-compatible'} server"
        return FoundServer(provider, url, reachable=False, message=f"{message} ({exc})"[:200])
    return FoundServer(provider, url, models=sorted(n for n in names if isinstance(n, str)))


async def detect(
    url: str | None = None, configured: Iterable[str] = (), api_key: str | None = None
) -> list[FoundServer]:
    """The model servers that answer: at ``url`` (both kinds), else at the usual places.

    With an address, the first kind that answers is returned, or both failures; without one,
    only servers that answered.
    """
    import httpx

    pairs = candidates(url, configured)
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    async with httpx.AsyncClient(timeout=PROBE_TIMEOUT_S, headers=headers) as client:
        found = await asyncio.gather(*(_probe(client, p, u) for p, u in pairs))
    answered = [f for f in found if f.reachable]
    if url:
        return answered[:1] or list(found)
    return answered
