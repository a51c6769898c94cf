"""The one protocol every model backend implements.

Services never name a concrete backend: they get a ``Backend`` from ``inference.factory``.
Streaming methods are async generators; closing one (``aclose()``, or cancelling the task that
iterates it) must close the underlying HTTP/gRPC stream so the model server stops generating.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Protocol, runtime_checkable

from mimi_lsp.domain import BackendHealth, ChatDelta, ChatRequest, GenerateRequest, ModelInfo


@runtime_checkable
class Backend(Protocol):
    """A model server: generation, chat and (optionally) embeddings."""

    name: str
    """Short kind name for logs and status, e.g. 'ollama'."""

    def generate(self, request: GenerateRequest) -> AsyncIterator[str]:
        """Stream generated text pieces. Raises ``MimiError`` subclasses on failure."""
        ...

    def chat(self, request: ChatRequest) -> AsyncIterator[ChatDelta]:
        """Stream a chat answer (text deltas and complete tool calls)."""
        ...

    async def embed(self, texts: Sequence[str], model: str | None = None) -> list[list[float]]:
        """One vector per text."""
        ...

    async def model_info(self, model: str) -> ModelInfo:
        """Whether the model exists and whether it takes a native FIM suffix."""
        ...

    async def health(self) -> BackendHealth:
        """Cheap reachability check, with the fix the user should apply."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...
