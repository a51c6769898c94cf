"""Ollama backend (placeholder; replaced by the real AsyncClient implementation)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

from mimi_lsp.domain import BackendHealth, ChatDelta, ChatRequest, GenerateRequest, HealthState, ModelInfo
from mimi_lsp.errors import BackendUnavailable
from mimi_lsp.settings import OllamaBackendSettings


class OllamaBackend:
    name = "ollama"

    def __init__(self, settings: OllamaBackendSettings) -> None:
        self.settings = settings

    async def generate(self, request: GenerateRequest) -> AsyncIterator[str]:
        raise BackendUnavailable("Ollama backend not implemented yet.", fix="ollama serve")
        yield ""

    async def chat(self, request: ChatRequest) -> AsyncIterator[ChatDelta]:
        raise BackendUnavailable("Ollama backend not implemented yet.", fix="ollama serve")
        yield ChatDelta()

    async def embed(self, texts: Sequence[str], model: str | None = None) -> list[list[float]]:
        raise BackendUnavailable("Ollama backend not implemented yet.")

    async def model_info(self, model: str) -> ModelInfo:
        raise BackendUnavailable("Ollama backend not implemented yet.", fix="ollama serve")

    async def health(self) -> BackendHealth:
        return BackendHealth(HealthState.UNAVAILABLE, "not implemented")

    async def aclose(self) -> None:
        return None
