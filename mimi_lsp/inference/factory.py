"""Builds backends and embedders from settings: the only place that names their concrete classes."""

from __future__ import annotations

from collections.abc import Callable

from mimi_lsp.errors import MimiError
from mimi_lsp.inference.base import Backend
from mimi_lsp.inference.embedding import BackendEmbedder, Embedder, FakeEmbedder
from mimi_lsp.inference.local import DEFAULT_LOCAL_MODEL, LocalEmbedder
from mimi_lsp.settings import (
    BackendSettings,
    EmbeddingSettings,
    FakeBackendSettings,
    LocalEmbeddingSettings,
)

DEFAULT_OLLAMA_EMBEDDING_MODEL = "nomic-embed-text"


def create_backend(settings: BackendSettings) -> Backend:
    """A backend for ``settings`` (imports heavy client libraries lazily)."""
    if isinstance(settings, FakeBackendSettings):
        from mimi_lsp.inference.fake import FakeBackend

        return FakeBackend(settings)
    if settings.kind == "ollama":
        from mimi_lsp.inference.ollama import OllamaBackend

        return OllamaBackend(settings)
    if settings.kind == "openai":
        from mimi_lsp.inference.openai_compat import OpenAIBackend

        return OpenAIBackend(settings)
    if settings.kind == "triton":
        from mimi_lsp.inference.triton import TritonBackend

        return TritonBackend(settings)
    raise ValueError(f"unknown backend kind {settings.kind!r}")


def create_embedder(
    settings: EmbeddingSettings, backend_for: Callable[[BackendSettings], Backend] | None
) -> Embedder:
    """The embedder ``settings`` ask for (nothing heavy is loaded here).

    ``local`` runs in this process; ``fake`` hashes words; any other kind embeds through the
    model server ``backend_for`` gives for its backend settings.
    """
    backend = settings.backend
    if isinstance(backend, LocalEmbeddingSettings):
        return LocalEmbedder(
            settings.model, backend.device, settings.batch_size, backend.onnx_queries
        )
    if backend.kind == "fake":
        return FakeEmbedder()
    if backend_for is None:
        raise MimiError(f"embedding backend {backend.kind!r} needs a model server")
    model = settings.model
    if backend.kind == "ollama" and model == DEFAULT_LOCAL_MODEL:
        model = DEFAULT_OLLAMA_EMBEDDING_MODEL
    return BackendEmbedder(backend_for(backend), model, settings.batch_size)
