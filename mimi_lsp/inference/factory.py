"""Builds backends from settings: the only place that names concrete backend classes."""

from __future__ import annotations

from mimi_lsp.inference.base import Backend
from mimi_lsp.settings import BackendSettings, FakeBackendSettings


def create_backend(settings: BackendSettings) -> Backend:
    """A backend for ``settings`` (imports heavy client libraries lazily)."""
    if isinstance(settings, FakeBackendSettings):
        from mimi_lsp.inference.fake import FakeBackend

        return FakeBackend(settings)
    if settings.kind == "ollama":
        from mimi_lsp.inference.ollama import OllamaBackend

        return OllamaBackend(settings)  # type: ignore[arg-type]
    if settings.kind == "openai":
        from mimi_lsp.inference.openai_compat import OpenAIBackend

        return OpenAIBackend(settings)  # type: ignore[arg-type]
    if settings.kind == "triton":
        from mimi_lsp.inference.triton import TritonBackend

        return TritonBackend(settings)  # type: ignore[arg-type]
    raise ValueError(f"unknown backend kind {settings.kind!r}")
