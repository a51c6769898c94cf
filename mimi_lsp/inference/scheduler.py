"""The request scheduler: sits between services and every model backend.

``Services.backend_for`` wraps each backend in a ``ScheduledBackend``, so nothing above this
module knows it exists. Three priority classes share each backend's slots:

- ``INLINE``: ghost text, latency critical; the newest queued request wins when the class queue
  is full (older ones fail with ``Busy`` instead of running late);
- ``INTERACTIVE``: chat, the agent, search-query embeddings;
- ``BACKGROUND``: index embeddings.

A waiting higher class is always served first, and ``reservedInline`` slots are never given to the
other classes, so a running re-index cannot starve completions. Concurrent embedding calls (and
concurrent completions, for backends that take batches) are merged into one backend call: a batch
stays open for ``batchWindowMs`` and for as long as it waits for a slot, up to ``maxBatch``
items, so batches grow exactly when the backend is busy. The window is skipped when nobody else
is expected: a lone caller on an idle backend, a full batch, or a batch that already holds as
many callers as the last one of its kind (the known callers are all back). Batches do not pile
up in the model server's own queue: one batch per model (and class) is in flight, and the next
one waits here and grows. Cancelling a caller removes its items;
cancelling every caller of a running batch cancels the backend call. Queues are bounded: a full
queue raises ``errors.Busy``.

The class comes from the caller's context (``with priority(Priority.BACKGROUND): ...``), or by
default from the method: ``generate`` → inline, ``chat`` → interactive, ``embed`` of one text →
interactive, of several → background.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from mimi_lsp import metrics, tracing
from mimi_lsp.domain import BackendHealth, ChatDelta, ChatRequest, GenerateRequest, ModelInfo
from mimi_lsp.inference.base import Backend
from mimi_lsp.inference.batching import (
    DEFAULT_CONCURRENCY,
    Batcher,
    Priority,
    Slots,
    current_priority,
    priority,
)
from mimi_lsp.settings import SchedulerSettings
from mimi_lsp.tasks import TaskRunner, run_task

log = logging.getLogger(__name__)

__all__ = ["Priority", "ScheduledBackend", "Slots", "current_priority", "priority", "schedule"]


# --------------------------------------------------------------------------------------------
# The wrapper


class ScheduledBackend:
    """A ``Backend`` whose calls go through priority slots and micro-batches."""

    def __init__(
        self,
        backend: Backend,
        settings: SchedulerSettings | None = None,
        *,
        on_warning: Callable[[str, str], None] | None = None,
        run: TaskRunner = run_task,
    ) -> None:
        self.inner = backend
        self._run = run
        self.settings = settings or SchedulerSettings()
        self.name = backend.name
        limit = self.settings.max_concurrency or DEFAULT_CONCURRENCY.get(backend.name, 8)
        self.slots = Slots(limit, self.settings.reserved_inline, self.settings.max_queue)
        window = self.settings.batch_window_ms / 1000
        # One batch per key in flight: more would queue inside Triton, whose dynamic batcher then
        # stalls ~500 ms now and then (Triton 2.51 on CPU, both with MiniLM and the fim model,
        # even with a single batch queued behind a running one). Waiting here, it grows instead.
        self.embed_batcher: Batcher[str, list[float]] = Batcher(
            self._embed_batch,
            self.slots,
            window_s=window,
            max_items=self.settings.max_batch,
            max_inflight=1,
            run_task=run,
        )
        # Completions never wait for company on purpose: they only merge when queued anyway.
        self.generate_batcher: Batcher[GenerateRequest, str] = Batcher(
            self._generate_batch,
            self.slots,
            window_s=0.0,
            max_items=self.settings.max_batch,
            max_inflight=1,
            run_task=run,
        )
        self._batch_capacity: dict[str, int] = {}
        self._embed_models: dict[str, str | None] = {}
        self.on_warning = on_warning
        """Called with (message, fix) for problems the user should know of."""
        self._generate_model: str | None = None
        self._residency_checked = 0.0
        self._residency_task: asyncio.Task[None] | None = None

    def reconfigure(self, settings: SchedulerSettings) -> None:
        """Adopt new limits and batching settings; running calls keep their slots."""
        if settings == self.settings:
            return
        self.settings = settings
        limit = settings.max_concurrency or DEFAULT_CONCURRENCY.get(self.name, 8)
        self.slots.limit = max(1, limit)
        self.slots.reserved = min(max(0, settings.reserved_inline), self.slots.limit - 1)
        self.slots.max_queue = settings.max_queue
        self.embed_batcher.window_s = settings.batch_window_ms / 1000
        self.embed_batcher.max_items = settings.max_batch
        self.generate_batcher.max_items = settings.max_batch
        self.slots._dispatch()  # noqa: SLF001 - a larger limit may admit waiters now

    def __getattr__(self, name: str) -> Any:
        # Backend-specific extras (e.g. a fake's recorded calls) stay reachable.
        return getattr(self.inner, name)

    # ------------------------------------------------------------------ generation

    async def _capacity(self, model: str | None) -> int:
        probe = getattr(self.inner, "batch_capacity", None)
        if not self.settings.batch_generation or probe is None or model is None:
            return 0
        if model not in self._batch_capacity:
            try:
                self._batch_capacity[model] = int(await probe(model))
            except Exception:
                return 0  # the stream path will report the real error
        return self._batch_capacity[model]

    async def _generate_batch(self, key: str, requests: list[GenerateRequest]) -> list[str]:
        return list(await self.inner.generate_batch(requests))  # type: ignore[attr-defined]

    async def generate(self, request: GenerateRequest) -> AsyncIterator[str]:
        """Stream text; a completion by default (``INLINE``)."""
        level = current_priority(Priority.INLINE)
        if level == Priority.INLINE and request.model:
            self._generate_model = request.model
        capacity = await self._capacity(request.model)
        with tracing.detached_span(
            "backend.generate",
            backend=self.name,
            model=request.model,
            priority=level.name.lower(),
            max_tokens=request.max_tokens,
        ) as span:
            if capacity > 1:
                # A backend that takes batches: one call for every completion queued meanwhile.
                batcher = self.generate_batcher
                batcher.max_items = min(self.settings.max_batch, capacity)
                started = time.perf_counter()
                (text,) = await batcher.submit(request.model or "", [request], level)
                metrics.record_generation(
                    "completion", self.name, len(text) // 4, time.perf_counter() - started
                )
                span.set(batched=True, output_chars=len(text))
                if text:
                    yield text
                return
            queued = time.perf_counter()
            async with self.slots.slot(level):
                stream = self.inner.generate(request)
                started, pieces, chars = time.perf_counter(), 0, 0
                span.set(queue_ms=round((started - queued) * 1000, 2), batched=False)
                try:
                    async with contextlib.aclosing(stream):  # type: ignore[type-var]
                        async for piece in stream:
                            pieces += 1
                            chars += len(piece)
                            yield piece
                finally:
                    metrics.record_generation(
                        "completion", self.name, pieces, time.perf_counter() - started
                    )
                    span.set(pieces=pieces, output_chars=chars, output_tokens_estimate=chars // 4)

    async def chat(self, request: ChatRequest) -> AsyncIterator[ChatDelta]:
        """Stream a chat answer; ``INTERACTIVE`` by default."""
        level = current_priority(Priority.INTERACTIVE)
        with tracing.detached_span(
            "backend.chat",
            backend=self.name,
            model=request.model,
            priority=level.name.lower(),
            messages=len(request.messages),
            prompt_tokens_estimate=sum(len(m.content) for m in request.messages) // 4,
            tools=len(request.tools),
        ) as span:
            queued = time.perf_counter()
            async with self.slots.slot(level):
                stream = self.inner.chat(request)
                started, pieces, chars, calls = time.perf_counter(), 0, 0, 0
                span.set(queue_ms=round((started - queued) * 1000, 2))
                try:
                    async with contextlib.aclosing(stream):  # type: ignore[type-var]
                        async for delta in stream:
                            pieces += 1
                            chars += len(delta.content)
                            calls += len(delta.tool_calls)
                            yield delta
                finally:
                    metrics.record_generation(
                        "chat", self.name, pieces, time.perf_counter() - started
                    )
                    self._check_residency(request.model)
                    span.set(
                        output_chars=chars,
                        output_tokens_estimate=chars // 4,
                        tool_calls=calls,
                    )

    def _check_residency(self, chat_model: str | None) -> None:
        """After a chat on Ollama: did loading the chat model unload the completion model?"""
        host = getattr(getattr(self.inner, "settings", None), "resolved_host", None)
        completion = self._generate_model
        if (
            self.name != "ollama"
            or host is None
            or self.on_warning is None
            or not chat_model
            or not completion
            or _tagged(chat_model) == _tagged(completion)
            or time.monotonic() - self._residency_checked < RESIDENCY_CHECK_S
            or (self._residency_task is not None and not self._residency_task.done())
        ):
            return
        self._residency_checked = time.monotonic()
        self._residency_task = self._run(
            self._residency(host(), completion, chat_model), name="mimi-ollama-residency"
        )

    async def _residency(self, host: str, completion: str, chat: str) -> None:
        try:
            loaded = await ollama_loaded_models(host)
        except Exception:
            log.debug("could not read Ollama's loaded models", exc_info=True)
            return
        if _tagged(chat) in loaded and _tagged(completion) not in loaded and self.on_warning:
            self.on_warning(
                f"Ollama unloaded {completion} to run {chat}: the next completion waits for a "
                "reload.",
                "Set OLLAMA_MAX_LOADED_MODELS=2 on the Ollama server if both fit in VRAM, use a "
                "smaller chat model, or give mimi.chat its own backend (mimi-lsp doctor checks).",
            )

    # ------------------------------------------------------------------ embeddings

    async def _embed_batch(self, key: str, texts: list[str]) -> list[list[float]]:
        return await self.inner.embed(texts, self._embed_models.get(key))

    async def embed(self, texts: Sequence[str], model: str | None = None) -> list[list[float]]:
        """Vectors for ``texts``, batched with concurrent callers of the same model."""
        if not texts:
            return []
        level = current_priority(Priority.INTERACTIVE if len(texts) == 1 else Priority.BACKGROUND)
        with tracing.span(
            "backend.embed",
            backend=self.name,
            model=model,
            priority=level.name.lower(),
            texts=len(texts),
        ) as span:
            if not self.settings.batch_embeddings or len(texts) >= self.settings.max_batch:
                async with self.slots.slot(level):
                    span.set(batched=False)
                    return await self.inner.embed(texts, model)
            # One batch stream per class: a search query never waits behind indexing batches.
            key = f"{int(level)}:{model or ''}"
            self._embed_models[key] = model
            vectors = await self.embed_batcher.submit(key, list(texts), level)
            span.set(batched=True)
            return vectors

    # ------------------------------------------------------------------ passthrough

    async def model_info(self, model: str) -> ModelInfo:
        return await self.inner.model_info(model)

    async def health(self) -> BackendHealth:
        return await self.inner.health()

    async def aclose(self) -> None:
        await self.inner.aclose()

    # ------------------------------------------------------------------ metrics

    def metrics(self) -> dict[str, Any]:
        """Queue depths, running calls and batch sizes, for ``mimi.status``."""
        slots = self.slots
        classes = {}
        for level in Priority:
            stats = slots.stats[level]
            waits = list(stats.wait_ms)
            classes[level.name.lower()] = {
                "queued": slots.queued(level),
                "running": slots.running_by_class[level],
                "served": stats.served,
                "rejected": stats.rejected,
                "superseded": stats.superseded,
                "waitMs": {
                    "p50": round(metrics.percentile(waits, 50), 2),
                    "p95": round(metrics.percentile(waits, 95), 2),
                },
            }

        def batches(batcher: Batcher[Any, Any]) -> dict[str, Any]:
            sizes = list(batcher.batch_sizes)
            return {
                "batches": batcher.batches,
                "windowsWaited": batcher.windows,
                "pending": batcher.pending(),
                "meanSize": round(sum(sizes) / len(sizes), 2) if sizes else 0.0,
                "maxSize": max(sizes, default=0),
                "recentSizes": sizes[-20:],
            }

        return {
            "backend": self.name,
            "limit": slots.limit,
            "reservedInline": slots.reserved,
            "running": slots.running,
            "classes": classes,
            "embedBatches": batches(self.embed_batcher),
            "generateBatches": batches(self.generate_batcher),
        }


RESIDENCY_CHECK_S = 300.0


def _tagged(name: str) -> str:
    return name if ":" in name else f"{name}:latest"


async def ollama_loaded_models(host: str) -> set[str]:
    """Names of the models Ollama has loaded now (``GET /api/ps``)."""
    import httpx

    async with httpx.AsyncClient(base_url=host, timeout=5) as client:
        response = await client.get("/api/ps")
        response.raise_for_status()
        return {_tagged(str(m.get("name") or m.get("model"))) for m in response.json()["models"]}


def schedule(
    backend: Backend,
    settings: SchedulerSettings,
    *,
    on_warning: Callable[[str, str], None] | None = None,
    run: TaskRunner = run_task,
) -> Backend:
    """``backend`` behind the scheduler (unchanged when scheduling is off)."""
    if not settings.enabled or isinstance(backend, ScheduledBackend):
        return backend
    return ScheduledBackend(backend, settings, on_warning=on_warning, run=run)
