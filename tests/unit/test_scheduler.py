"""The request scheduler: priorities, reserved slots, bounded queues, batching, cancellation."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence

import pytest

from mimi_lsp.domain import (
    BackendHealth,
    ChatDelta,
    ChatMessage,
    ChatRequest,
    GenerateRequest,
    HealthState,
    ModelInfo,
)
from mimi_lsp.errors import Busy
from mimi_lsp.inference.scheduler import Priority, ScheduledBackend, Slots, priority, schedule
from mimi_lsp.settings import SchedulerSettings


class GatedBackend:
    """A backend whose calls wait on a gate, recording what ran and what was cancelled."""

    name = "gated"

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.started: list[str] = []
        self.embed_calls: list[list[str]] = []
        self.cancelled: list[str] = []

    async def _wait(self, label: str) -> None:
        self.started.append(label)
        try:
            await self.gate.wait()
        except asyncio.CancelledError:
            self.cancelled.append(label)
            raise

    async def generate(self, request: GenerateRequest) -> AsyncIterator[str]:
        await self._wait(request.prompt)
        yield request.prompt.upper()

    async def chat(self, request: ChatRequest) -> AsyncIterator[ChatDelta]:
        await self._wait(request.messages[0].content)
        yield ChatDelta(content="ok", done=True)

    async def embed(self, texts: Sequence[str], model: str | None = None) -> list[list[float]]:
        self.embed_calls.append(list(texts))
        await self._wait("embed:" + ",".join(texts))
        return [[float(len(t))] for t in texts]

    async def model_info(self, model: str) -> ModelInfo:
        return ModelInfo(model, True)

    async def health(self) -> BackendHealth:
        return BackendHealth(HealthState.OK)

    async def aclose(self) -> None:
        return None


def scheduled(inner: GatedBackend, **settings: object) -> ScheduledBackend:
    return ScheduledBackend(inner, SchedulerSettings(**settings))  # type: ignore[arg-type]


async def text(backend: ScheduledBackend, prompt: str) -> str:
    return "".join([p async for p in backend.generate(GenerateRequest(prompt))])


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_inline_jumps_ahead_of_queued_background_work() -> None:
    """A completion queued behind background embeddings runs first when a slot frees."""
    inner = GatedBackend()
    b = scheduled(inner, max_concurrency=1, reserved_inline=0, batch_embeddings=False)
    with priority(Priority.BACKGROUND):
        jobs = [asyncio.create_task(b.embed([f"chunk{i}", "x"])) for i in range(3)]
    await settle()
    completion = asyncio.create_task(text(b, "ghost"))
    await settle()
    inner.gate.set()
    await asyncio.gather(*jobs, completion)
    assert inner.started[:2] == ["embed:chunk0,x", "ghost"]


async def test_reserved_slot_keeps_completions_running_during_reindex() -> None:
    """Background work never takes the reserved slot, so a completion starts at once."""
    inner = GatedBackend()
    b = scheduled(inner, max_concurrency=2, reserved_inline=1, batch_embeddings=False)
    with priority(Priority.BACKGROUND):
        jobs = [asyncio.create_task(b.embed([f"c{i}", "x"])) for i in range(4)]
    await settle()
    assert len(inner.started) == 1  # one slot for indexing, one held back
    completion = asyncio.create_task(text(b, "ghost"))
    await settle()
    assert inner.started[-1] == "ghost"
    inner.gate.set()
    await asyncio.gather(*jobs, completion)


async def test_indexing_slows_down_while_the_user_types() -> None:
    """Right after a completion request, background work runs one call at a time."""
    inner = GatedBackend()
    b = scheduled(inner, max_concurrency=4, reserved_inline=1, batch_embeddings=False)
    inner.gate.set()
    assert await text(b, "ghost") == "GHOST"
    inner.gate.clear()
    with priority(Priority.BACKGROUND):
        jobs = [asyncio.create_task(b.embed([f"c{i}", "x"])) for i in range(3)]
    await settle()
    assert b.slots.running == 1  # not 3, as it would be when nobody types
    inner.gate.set()
    await asyncio.gather(*jobs)


async def test_full_queue_raises_busy() -> None:
    """Past maxQueue waiting calls a chat request fails with Busy instead of queueing."""
    inner = GatedBackend()
    b = scheduled(inner, max_concurrency=1, reserved_inline=0, max_queue=2)

    async def chat(msg: str) -> None:
        async for _ in b.chat(ChatRequest((ChatMessage("user", msg),))):
            pass

    tasks = [asyncio.create_task(chat(f"m{i}")) for i in range(3)]
    await settle()
    with pytest.raises(Busy):
        await chat("one too many")
    inner.gate.set()
    await asyncio.gather(*tasks)
    assert b.metrics()["classes"]["interactive"]["rejected"] == 1


async def test_newest_completion_wins_a_full_inline_queue() -> None:
    """When the inline queue is full, the oldest waiting completion is dropped, not the new one."""
    inner = GatedBackend()
    b = scheduled(inner, max_concurrency=1, reserved_inline=0, max_queue=1)
    running = asyncio.create_task(text(b, "first"))
    await settle()
    old = asyncio.create_task(text(b, "old"))
    await settle()
    new = asyncio.create_task(text(b, "new"))
    await settle()
    inner.gate.set()
    with pytest.raises(Busy):
        await old
    assert await new == "NEW" and await running == "FIRST"
    assert b.metrics()["classes"]["inline"]["superseded"] == 1


async def test_concurrent_embeddings_merge_into_one_call() -> None:
    """Embedding calls arriving together become one backend call; each caller gets its rows."""
    inner = GatedBackend()
    inner.gate.set()
    b = scheduled(inner, batch_window_ms=5)
    results = await asyncio.gather(*(b.embed(["a" * i]) for i in range(1, 9)))
    assert results == [[[float(i)]] for i in range(1, 9)]
    assert inner.embed_calls == [["a" * i for i in range(1, 9)]]
    assert b.metrics()["embedBatches"]["recentSizes"] == [8]


async def test_a_lone_caller_pays_no_window() -> None:
    """One embedding call on an idle backend starts at once, whatever the window."""
    inner = GatedBackend()
    b = scheduled(inner, batch_window_ms=100)
    call = asyncio.create_task(b.embed(["alone"]))
    await settle()
    assert inner.embed_calls == [["alone"]]  # no timer ran: the loop only turned a few times
    inner.gate.set()
    await call


async def test_a_full_batch_goes_out_without_waiting_the_window() -> None:
    """maxBatch texts arriving together start at once instead of waiting for more company."""
    inner = GatedBackend()
    b = scheduled(inner, batch_window_ms=100, max_batch=4)
    calls = [asyncio.create_task(b.embed([f"t{i}"])) for i in range(4)]
    await settle()
    assert inner.embed_calls == [["t0", "t1", "t2", "t3"]]
    inner.gate.set()
    await asyncio.gather(*calls)


async def test_a_batch_goes_once_the_known_callers_are_back() -> None:
    """When as many callers as the last batch had are in, nobody else is expected: no window."""
    inner = GatedBackend()
    inner.gate.set()
    b = scheduled(inner, batch_window_ms=5)
    await asyncio.gather(*(b.embed([f"a{i}"]) for i in range(3)))  # waits the window once
    inner.gate.clear()
    b.embed_batcher.window_s = 100.0
    again = [asyncio.create_task(b.embed([f"b{i}"])) for i in range(3)]
    await settle()
    assert inner.embed_calls[-1] == ["b0", "b1", "b2"]
    inner.gate.set()
    await asyncio.gather(*again)


async def test_one_embedding_batch_in_flight_the_next_one_grows() -> None:
    """With slots to spare, embeddings still go one batch at a time: later callers wait in one
    growing batch here instead of queueing as many small requests at the model server."""
    inner = GatedBackend()
    b = scheduled(inner, max_concurrency=16, reserved_inline=0, batch_window_ms=0)
    first = asyncio.create_task(b.embed(["first"]))
    await settle()
    later = []
    for i in range(6):
        later.append(asyncio.create_task(b.embed([f"t{i}"])))
        await settle()
    assert inner.embed_calls == [["first"]]
    inner.gate.set()
    await asyncio.gather(first, *later)
    assert [len(c) for c in inner.embed_calls] == [1, 6]


class BatchingBackend(GatedBackend):
    """A gated backend that takes up to four prompts per call, like a batched Triton model."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[list[str]] = []
        self.inflight = 0
        self.max_inflight = 0

    async def batch_capacity(self, model: str) -> int:
        return 4

    async def generate_batch(self, requests: Sequence[GenerateRequest]) -> list[str]:
        self.batches.append([r.prompt for r in requests])
        self.inflight += 1
        self.max_inflight = max(self.max_inflight, self.inflight)
        try:
            await self.gate.wait()
        finally:
            self.inflight -= 1
        return [r.prompt.upper() for r in requests]


async def test_one_completion_batch_in_flight_per_model() -> None:
    """Completions beyond one full batch wait in the scheduler, not in the model's queue."""
    inner = BatchingBackend()
    b = scheduled(inner, max_concurrency=8, reserved_inline=0)

    async def complete(prompt: str) -> str:
        request = GenerateRequest(prompt, raw=True, model="fim")
        return "".join([p async for p in b.generate(request)])

    calls = [asyncio.create_task(complete(f"p{i}")) for i in range(16)]
    await settle()
    assert len(inner.batches) == 1 and inner.inflight == 1
    inner.gate.set()
    assert await asyncio.gather(*calls) == [f"P{i}" for i in range(16)]
    assert [len(batch) for batch in inner.batches] == [4, 4, 4, 4]
    assert inner.max_inflight == 1


async def test_batches_grow_while_waiting_for_a_slot() -> None:
    """Calls arriving while the backend is busy join the waiting batch (up to maxBatch)."""
    inner = GatedBackend()
    b = scheduled(inner, max_concurrency=1, reserved_inline=0, batch_window_ms=0, max_batch=4)
    first = asyncio.create_task(b.embed(["first"]))
    await settle()
    later = [asyncio.create_task(b.embed([f"t{i}"])) for i in range(6)]
    await settle()
    inner.gate.set()
    await asyncio.gather(first, *later)
    assert [len(c) for c in inner.embed_calls] == [1, 4, 2]


async def test_cancelled_caller_leaves_the_batch() -> None:
    """A caller cancelled before its batch runs is removed; the others still get answers."""
    inner = GatedBackend()
    b = scheduled(inner, max_concurrency=1, reserved_inline=0, batch_window_ms=0)
    blocker = asyncio.create_task(b.embed(["block"]))
    await settle()
    keep = asyncio.create_task(b.embed(["keep"]))
    drop = asyncio.create_task(b.embed(["drop"]))
    await settle()
    drop.cancel()
    await settle()
    inner.gate.set()
    assert await keep == [[4.0]]
    await blocker
    assert inner.embed_calls == [["block"], ["keep"]]


async def test_cancelling_every_caller_cancels_the_backend_call() -> None:
    """When all callers of a running batch give up, the backend call itself is cancelled."""
    inner = GatedBackend()
    b = scheduled(inner, batch_window_ms=0)
    callers = [asyncio.create_task(b.embed([f"t{i}"])) for i in range(3)]
    await settle()
    assert len(inner.started) == 1
    for c in callers:
        c.cancel()
    for c in callers:
        with contextlib.suppress(asyncio.CancelledError):
            await c
    await settle()
    assert inner.cancelled == ["embed:t0,t1,t2"]
    assert b.slots.running == 0


async def test_cancelling_a_stream_releases_its_slot() -> None:
    """A cancelled streaming call frees its slot for the next request."""
    inner = GatedBackend()
    b = scheduled(inner, max_concurrency=1, reserved_inline=0)
    first = asyncio.create_task(text(b, "slow"))
    await settle()
    first.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await first
    assert inner.cancelled == ["slow"] and b.slots.running == 0
    inner.gate.set()
    assert await text(b, "next") == "NEXT"


async def test_cancelled_waiter_does_not_hold_a_place() -> None:
    """A request cancelled while queued never runs and leaves the queue."""
    slots = Slots(limit=1, reserved_inline=0, max_queue=4)
    await slots.acquire(Priority.INLINE)
    waiter = asyncio.create_task(slots.acquire(Priority.BACKGROUND))
    await settle()
    waiter.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await waiter
    slots.release(Priority.INLINE)
    assert slots.running == 0 and slots.queued(Priority.BACKGROUND) == 0


def test_scheduling_can_be_switched_off() -> None:
    """With scheduler.enabled false the backend is used as is."""
    inner = GatedBackend()
    assert schedule(inner, SchedulerSettings(enabled=False)) is inner  # type: ignore[arg-type]
    assert isinstance(schedule(inner, SchedulerSettings()), ScheduledBackend)  # type: ignore[arg-type]
