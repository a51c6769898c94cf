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
import contextvars
import enum
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from mimi_lsp import metrics, tracing
from mimi_lsp.domain import BackendHealth, ChatDelta, ChatRequest, GenerateRequest, ModelInfo
from mimi_lsp.errors import Busy
from mimi_lsp.inference.base import Backend
from mimi_lsp.settings import SchedulerSettings

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

TYPING_S = 2.0
"""For this long after a completion request, background work runs at reduced concurrency."""

DEFAULT_CONCURRENCY = {"ollama": 2, "openai": 8, "triton": 16, "fake": 64}


class Priority(enum.IntEnum):
    """Priority classes, most urgent first."""

    INLINE = 0
    INTERACTIVE = 1
    BACKGROUND = 2


_priority: contextvars.ContextVar[Priority | None] = contextvars.ContextVar(
    "mimi_priority", default=None
)


@contextlib.contextmanager
def priority(level: Priority) -> Iterator[None]:
    """Run the calls made inside the block (and tasks started there) at ``level``."""
    token = _priority.set(level)
    try:
        yield
    finally:
        _priority.reset(token)


def current_priority(default: Priority = Priority.INTERACTIVE) -> Priority:
    """The caller's priority class, or ``default`` when none was set."""
    level = _priority.get()
    return default if level is None else level


# --------------------------------------------------------------------------------------------
# Slots


@dataclass
class ClassStats:
    """Counters for one priority class."""

    served: int = 0
    rejected: int = 0
    superseded: int = 0
    wait_ms: deque[float] = field(default_factory=lambda: deque(maxlen=500))


class Slots:
    """A concurrency limit with one bounded FIFO queue per priority class."""

    def __init__(self, limit: int, reserved_inline: int, max_queue: int) -> None:
        self.limit = max(1, limit)
        # Never reserve every slot: the other classes must be able to run at all.
        self.reserved = min(max(0, reserved_inline), self.limit - 1)
        self.max_queue = max_queue
        self.running = 0
        self.running_by_class = {p: 0 for p in Priority}
        self._queues: dict[Priority, deque[tuple[asyncio.Future[None], float]]] = {
            p: deque() for p in Priority
        }
        self.stats = {p: ClassStats() for p in Priority}
        self.background_while_typing = 1
        """Background calls allowed in flight while ghost text is being requested."""
        self._last_inline = float("-inf")

    def queued(self, level: Priority) -> int:
        return sum(1 for fut, _ in self._queues[level] if not fut.done())

    def _cap(self, level: Priority) -> int:
        if level == Priority.INLINE:
            return self.limit
        shared = self.limit - self.reserved
        if level == Priority.BACKGROUND and time.monotonic() - self._last_inline < TYPING_S:
            # The user is typing: indexing slows to a trickle so it competes less with ghost
            # text for the model server's compute (it speeds up again when typing stops).
            return max(1, min(shared, self.background_while_typing))
        return shared

    def _grant(self, level: Priority) -> None:
        self.running += 1
        self.running_by_class[level] += 1
        self.stats[level].served += 1

    async def acquire(self, level: Priority) -> Priority:
        """Wait for a slot for ``level``; raises ``Busy`` when that class's queue is full."""
        if level == Priority.INLINE:
            self._last_inline = time.monotonic()
        if self.running < self._cap(level) and not any(
            self.queued(p) for p in Priority if p <= level
        ):
            self._grant(level)
            self.stats[level].wait_ms.append(0.0)
            return level
        queue = self._queues[level]
        while queue and queue[0][0].done():
            queue.popleft()
        if len(queue) >= self.max_queue:
            if level != Priority.INLINE:
                self.stats[level].rejected += 1
                raise Busy(
                    f"The model server queue is full ({self.max_queue} waiting).",
                    fix="Try again in a moment, or raise mimi.scheduler.maxQueue.",
                )
            # Newest wins: the oldest waiting completion would arrive too late anyway.
            oldest, _ = queue.popleft()
            self.stats[level].superseded += 1
            if not oldest.done():
                oldest.set_exception(Busy("Superseded by a newer completion request."))
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        started = time.perf_counter()
        queue.append((fut, started))
        try:
            await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled() and fut.exception() is None:
                self.release(level)  # granted just as the caller gave up
            else:
                fut.cancel()
                with contextlib.suppress(ValueError):
                    queue.remove((fut, started))
            raise
        self.stats[level].wait_ms.append((time.perf_counter() - started) * 1000)
        return level

    def release(self, level: Priority) -> None:
        self.running -= 1
        self.running_by_class[level] -= 1
        self._dispatch()

    def _dispatch(self) -> None:
        for level in Priority:
            queue = self._queues[level]
            while queue and self.running < self._cap(level):
                fut, _ = queue.popleft()
                if fut.done():
                    continue
                self._grant(level)
                fut.set_result(None)
            if queue and any(not f.done() for f, _ in queue):
                return  # lower classes wait behind a waiting higher class

    @contextlib.asynccontextmanager
    async def slot(self, level: Priority) -> AsyncIterator[None]:
        await self.acquire(level)
        try:
            yield
        finally:
            self.release(level)


# --------------------------------------------------------------------------------------------
# Micro-batching


@dataclass(eq=False)
class _Part(Generic[T, R]):
    items: list[T]
    level: Priority
    future: asyncio.Future[list[R]]
    cancelled: bool = False


@dataclass(eq=False)
class _Batch(Generic[T, R]):
    key: str
    parts: list[_Part[T, R]] = field(default_factory=list)
    closed: bool = False
    task: asyncio.Task[None] | None = None
    complete: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when nobody else is expected: the batch goes out without waiting the window."""

    @property
    def size(self) -> int:
        return sum(len(p.items) for p in self.parts if not p.cancelled)

    @property
    def callers(self) -> int:
        return sum(1 for p in self.parts if not p.cancelled)


class Batcher(Generic[T, R]):
    """Merges concurrent calls with the same key into one ``run(key, items)`` call."""

    def __init__(
        self,
        run: Callable[[str, list[T]], Awaitable[list[R]]],
        slots: Slots,
        *,
        window_s: float,
        max_items: int,
        max_inflight: int | None = None,
    ) -> None:
        self._run = run
        self._slots = slots
        self.window_s = window_s
        self.max_items = max_items
        # Continuous batching: while this many batches of one key run, the next one stays open
        # and grows instead of going out half empty.
        self.max_inflight = max_inflight
        self._inflight: dict[str, asyncio.Semaphore] = {}
        self._open: dict[str, _Batch[T, R]] = {}
        # Callers of the last batch answered per key: the callers known to come back.
        self._returning: dict[str, int] = {}
        self.batch_sizes: deque[int] = deque(maxlen=1_000)
        self.batch_callers: deque[int] = deque(maxlen=1_000)
        self.batches = 0
        self.windows = 0
        """Batches that waited the window for company."""

    def pending(self) -> int:
        return sum(b.size for b in self._open.values())

    async def submit(self, key: str, items: Sequence[T], level: Priority) -> list[R]:
        """Results for ``items``, computed in a batch with whatever else arrives meanwhile."""
        batch = self._open.get(key)
        if batch is None or batch.size + len(items) > self.max_items:
            if batch is not None:
                self._close(batch)
            batch = _Batch(key)
            self._open[key] = batch
            batch.task = asyncio.get_running_loop().create_task(self._execute(batch))
        part: _Part[T, R] = _Part(list(items), level, asyncio.get_running_loop().create_future())
        batch.parts.append(part)
        if batch.size >= self.max_items:
            self._close(batch)
            batch.complete.set()
        elif batch.callers >= self._returning.get(key, 0) > 1:
            batch.complete.set()  # as many callers as last time: the known callers are back
        try:
            return await asyncio.shield(part.future)
        except asyncio.CancelledError:
            part.cancelled = True
            if not part.future.done():
                part.future.cancel()
            if all(p.cancelled for p in batch.parts) and batch.task is not None:
                self._close(batch)
                batch.task.cancel()  # nobody wants the answer: stop the backend call
            raise

    def _close(self, batch: _Batch[T, R]) -> None:
        batch.closed = True
        if self._open.get(batch.key) is batch:
            del self._open[batch.key]

    async def _execute(self, batch: _Batch[T, R]) -> None:
        try:
            await asyncio.sleep(0)  # let callers of the same tick join
            gate: contextlib.AbstractAsyncContextManager[Any] = contextlib.nullcontext()
            busy = len(batch.parts) > 1
            if self.max_inflight:
                semaphore = self._inflight.setdefault(
                    batch.key, asyncio.Semaphore(self.max_inflight)
                )
                busy = busy or semaphore.locked() or semaphore._value < self.max_inflight  # noqa: SLF001
                gate = semaphore
            if self.window_s > 0 and busy and not batch.complete.is_set():
                # Company is likely (a burst, or batches already running): wait for stragglers,
                # but no longer than it takes the known callers to come back.
                self.windows += 1
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(batch.complete.wait(), self.window_s)
            async with gate:
                await self._execute_open(batch)
        except asyncio.CancelledError:
            self._close(batch)
            for part in batch.parts:
                if not part.future.done():
                    part.future.cancel()
            raise
        except BaseException as exc:
            self._close(batch)
            for part in batch.parts:
                if not part.future.done():
                    part.future.set_exception(exc)

    async def _execute_open(self, batch: _Batch[T, R]) -> None:
        live = [p for p in batch.parts if not p.cancelled]
        if not live:
            self._close(batch)
            return
        level = await self._slots.acquire(min(p.level for p in live))
        try:
            self._close(batch)  # stayed open while waiting for the slot
            live = [p for p in batch.parts if not p.cancelled]
            if not live:
                return
            items = [item for p in live for item in p.items]
            self.batches += 1
            self.batch_sizes.append(len(items))
            metrics.observe_batch(
                getattr(self._run, "__name__", "").strip("_").removesuffix("_batch"), len(items)
            )
            self.batch_callers.append(len(live))
            with tracing.span(
                "backend.batch",
                kind=getattr(self._run, "__name__", "").strip("_").removesuffix("_batch"),
                batch_size=len(items),
                callers=len(live),
            ):
                results = await self._run(batch.key, items)
            if len(results) != len(items):
                raise RuntimeError(
                    f"backend returned {len(results)} results for {len(items)} inputs"
                )
        finally:
            self._slots.release(level)
        self._returning[batch.key] = len(live)
        start = 0
        for part in live:
            end = start + len(part.items)
            if not part.future.done():
                part.future.set_result(results[start:end])
            start = end


# --------------------------------------------------------------------------------------------
# The wrapper


def _percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


class ScheduledBackend:
    """A ``Backend`` whose calls go through priority slots and micro-batches."""

    def __init__(self, backend: Backend, settings: SchedulerSettings | None = None) -> None:
        self.inner = backend
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
        )
        # Completions never wait for company on purpose: they only merge when queued anyway.
        self.generate_batcher: Batcher[GenerateRequest, str] = Batcher(
            self._generate_batch,
            self.slots,
            window_s=0.0,
            max_items=self.settings.max_batch,
            max_inflight=1,
        )
        self._batch_capacity: dict[str, int] = {}
        self._embed_models: dict[str, str | None] = {}
        self.on_warning: Callable[[str, str], None] | None = None
        """Called with (message, fix) for problems the user should know of (Services wires it)."""
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
        self._residency_task = asyncio.get_running_loop().create_task(
            self._residency(host(), completion, chat_model)
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
                    "p50": round(_percentile(waits, 50), 2),
                    "p95": round(_percentile(waits, 95), 2),
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


def schedule(backend: Backend, settings: SchedulerSettings) -> Backend:
    """``backend`` behind the scheduler (unchanged when scheduling is off)."""
    if not settings.enabled or isinstance(backend, ScheduledBackend):
        return backend
    return ScheduledBackend(backend, settings)
