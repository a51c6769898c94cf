"""Backend objects as users write them: the kind inferred, the plain fields folded in.

Settings (``settings.py``) accept a backend object without ``kind`` (the ``{}`` an editor's
"Edit in settings.json" writes, or ``{"host": …}``): it gets the kind its keys name, else the
default. And the plain ``provider``, ``url`` and ``apiKeyEnv`` fields of a section (what a
Settings UI can show as text fields) are written into its backend object, which they override.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal
from urllib.parse import urlsplit

# Keys only one backend kind has: an object without `kind` is of the kind its keys name.
_KIND_KEYS = {
    "openai": {"baseUrl", "base_url", "apiKeyEnv", "api_key_env"},
    "triton": {"url", "protocol", "chatTemplate", "chat_template", "stream", "priorities"},
    "ollama": {"host", "keepAlive", "keep_alive", "numCtx", "num_ctx"},
    "fake": {"replies", "chatReplies", "chat_replies", "delayMs", "delay_ms", "chunkChars"},
}


def with_kind(value: Any, default: str = "ollama") -> Any:
    """A backend object without ``kind`` gets one: from its keys, else ``default``. So the
    ``{}`` an editor writes for "edit in settings.json", or ``{"host": …}``, means defaults."""
    if isinstance(value, Mapping) and "kind" not in value:
        keys = set(value)
        kind = next((k for k, names in _KIND_KEYS.items() if keys & names), default)
        return {"kind": kind, **value}
    return value


Provider = Literal["ollama", "openai", "triton"]
_URL_KEY = {"ollama": "host", "openai": "baseUrl", "triton": "url"}
_SNAKE = {"baseUrl": "base_url", "apiKeyEnv": "api_key_env"}
PROVIDER_DESCRIPTION = (
    "Kind of model server: 'ollama', 'openai' (any OpenAI-compatible server: llama.cpp, vLLM, "
    "LM Studio…) or 'triton'. Unset: the backend object's kind (Ollama by default)."
)
URL_DESCRIPTION = (
    "Address of the model server, e.g. http://127.0.0.1:11434 (Ollama), "
    "http://127.0.0.1:8000/v1 (OpenAI-compatible; /v1 is added when the address has no path), "
    "127.0.0.1:8001 (Triton). Unset: the backend object's, $OLLAMA_HOST, or the default."
)
API_KEY_ENV_DESCRIPTION = (
    "Name of the environment variable that holds the model server's API key (never the key "
    "itself), for an OpenAI-compatible server."
)


def _backend_url(kind: str, url: str) -> str:
    url = url.strip()
    if kind == "openai":
        parts = urlsplit(url if "://" in url else f"http://{url}")
        if parts.path in ("", "/"):
            url = f"{parts.scheme}://{parts.netloc}/v1"
    return url


def fold_plain_fields(section: Mapping[str, Any], base: Mapping[str, Any] | None) -> dict[str, Any]:
    """``provider``, ``url`` and ``apiKeyEnv`` of a settings section, written into its backend
    object (which starts from ``base`` when the section has none). The plain fields win."""
    out = dict(section)
    provider = out.get("provider") or None
    url = out.get("url") or None
    key_env = out.get("apiKeyEnv") or out.get("api_key_env") or None
    if not (provider or url or key_env):
        return out
    backend = out.get("backend")
    if not isinstance(backend, Mapping) or not backend:
        backend = base or {}
    backend = dict(with_kind(backend))
    if provider and backend.get("kind") != provider:
        backend = {"kind": provider}
    kind = str(backend.get("kind"))
    if url and kind in _URL_KEY:
        backend.pop(_SNAKE.get(_URL_KEY[kind], ""), None)
        backend[_URL_KEY[kind]] = _backend_url(kind, str(url))
    if key_env and kind == "openai":
        backend.pop("api_key_env", None)
        backend["apiKeyEnv"] = key_env
    out["backend"] = backend
    return out
