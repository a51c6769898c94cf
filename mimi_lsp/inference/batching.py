"""The scheduler's parts: priority classes, slots with per-class queues, and micro-batching.

``Slots`` is a concurrency limit with one bounded FIFO queue per ``Priority`` class;
``Batcher`` merges concurrent calls with the same key into one backend call. The policy that
combines them per backend (which method gets which class, which calls batch) is
``scheduler.ScheduledBackend``; see its module docstring for the whole picture.
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
from mimi_lsp.errors import Busy
from mimi_lsp.tasks import TaskRunner, run_task

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
        run_task: TaskRunner = run_task,
    ) -> None:
        self._run = run
        self._run_task = run_task
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
            batch.task = self._run_task(self._execute(batch), name=f"mimi-batch-{key}")
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
