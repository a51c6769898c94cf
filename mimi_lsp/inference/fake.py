"""A scripted backend for fast tests and benchmarks: no network, deterministic.

Replies are used in turn (the last one repeats). A chat reply that is a JSON object with
``tool_calls`` (``[{"name", "arguments"}]``, optional ``content``) is answered as native tool
calls, so agent runs can be scripted. ``calls`` and ``cancelled`` let tests and the
status counters observe what the engine asked for and what it abandoned.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from typing import Any

from mimi_lsp.domain import (
    BackendHealth,
    ChatDelta,
    ChatRequest,
    GenerateRequest,
    HealthState,
    ModelInfo,
    ToolCall,
)
from mimi_lsp.settings import FakeBackendSettings


def _scripted_tool_calls(text: str) -> tuple[str, tuple[ToolCall, ...]] | None:
    """(content, tool calls) when a chat reply is a JSON object with ``tool_calls``."""
    if not text.startswith("{") or "tool_calls" not in text:
        return None
    try:
        obj = json.loads(text)
    except json.JSONDecodeError:
        return None
    if not isinstance(obj, dict) or not isinstance(obj.get("tool_calls"), list):
        return None
    calls = tuple(
        ToolCall(str(c.get("id") or f"call_{n}"), str(c["name"]), dict(c.get("arguments") or {}))
        for n, c in enumerate(obj["tool_calls"])
    )
    return str(obj.get("content") or ""), calls


KEEP_CALLS = 1_000
"""Recorded calls kept for tests (a long benchmark or soak must not grow without end)."""


def _record(calls: list[Any], request: Any) -> None:
    calls.append(request)
    if len(calls) > KEEP_CALLS:
        del calls[: len(calls) - KEEP_CALLS // 2]


class FakeBackend:
    name = "fake"

    def __init__(self, settings: FakeBackendSettings) -> None:
        self.settings = settings
        self.calls: list[GenerateRequest] = []
        self.chat_calls: list[ChatRequest] = []
        self.cancelled = 0
        self._turn = 0
        self._chat_turn = 0

    def _next(self, replies: list[str], turn: int) -> str:
        if not replies:
            return ""
        return replies[min(turn, len(replies) - 1)]

    async def _stream(self, text: str) -> AsyncIterator[str]:
        try:
            if self.settings.delay_ms:
                await asyncio.sleep(self.settings.delay_ms / 1000)
            size = self.settings.chunk_chars or max(len(text), 1)
            for i in range(0, len(text), size):
                yield text[i : i + size]
        except (asyncio.CancelledError, GeneratorExit):
            self.cancelled += 1
            raise

    async def generate(self, request: GenerateRequest) -> AsyncIterator[str]:
        _record(self.calls, request)
        text = self._next(self.settings.replies, self._turn)
        self._turn += 1
        async for piece in self._stream(text):
            yield piece

    async def chat(self, request: ChatRequest) -> AsyncIterator[ChatDelta]:
        _record(self.chat_calls, request)
        text = self._next(self.settings.chat_replies, self._chat_turn)
        self._chat_turn += 1
        calls = _scripted_tool_calls(text)
        if calls is not None:
            # A reply scripted as {"content": ..., "tool_calls": [{name, arguments}]}.
            text, tool_calls = calls
            async for piece in self._stream(text):
                yield ChatDelta(content=piece)
            yield ChatDelta(tool_calls=tool_calls, done=True)
            return
        async for piece in self._stream(text):
            yield ChatDelta(content=piece)
        yield ChatDelta(done=True)

    async def embed(self, texts: Sequence[str], model: str | None = None) -> list[list[float]]:
        # Deterministic bag-of-characters vectors: enough for plumbing tests.
        out = []
        for text in texts:
            vec = [0.0] * 16
            for ch in text:
                vec[ord(ch) % 16] += 1.0
            norm = sum(v * v for v in vec) ** 0.5 or 1.0
            out.append([v / norm for v in vec])
        return out

    async def model_info(self, model: str) -> ModelInfo:
        return ModelInfo(name=model, present=True, native_fim=self.settings.native_fim)

    async def health(self) -> BackendHealth:
        return BackendHealth(HealthState.OK)

    async def aclose(self) -> None:
        return None
