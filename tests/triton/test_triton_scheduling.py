"""The scheduler in front of a real Triton server: batches form, re-indexing never starves ghost
text, cancellation reaches Triton, and the whole path works from an editor over LSP."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest
from lsprotocol import types

from mimi_lsp.domain import GenerateRequest
from mimi_lsp.inference.scheduler import Priority, ScheduledBackend, priority
from mimi_lsp.inference.triton import TritonBackend
from mimi_lsp.settings import SchedulerSettings, TritonBackendSettings
from tests.lsp_harness import inline, open_doc, start_session
from tests.triton.server import TritonProcess

FIM = "<|fim_prefix|>def add(a, b):\n    return <|fim_suffix|>\n<|fim_middle|>"


def fim(i: int) -> str:
    """``FIM`` made distinct by a comment in its suffix (text after the middle token would be
    the middle's pre-filled start)."""
    return FIM.replace("<|fim_suffix|>\n", f"<|fim_suffix|>\n# {i}\n")


def scheduled(server: TritonProcess, **settings: Any) -> ScheduledBackend:
    backend = TritonBackend(TritonBackendSettings(url=server.grpc_url))
    return ScheduledBackend(backend, SchedulerSettings(**settings))


async def test_concurrent_embedding_callers_become_model_batches(fresh: TritonProcess) -> None:
    """16 callers embedding one text each reach the model as a few large batches."""
    b = scheduled(fresh)
    try:
        vectors = await asyncio.gather(
            *(b.embed([f"def f{i}(): pass"], "minilm") for i in range(16))
        )
    finally:
        await b.aclose()
    assert all(len(v) == 1 and len(v[0]) == 384 for v in vectors)
    seen = fresh.stats()["batches"]["minilm"]
    assert sum(seen) == 16 and max(seen) >= 8
    assert b.metrics()["embedBatches"]["maxSize"] >= 8


async def test_concurrent_completions_share_one_model_call(fresh: TritonProcess) -> None:
    """Completions queued behind a busy slot go to the fim model as one batch."""
    b = scheduled(fresh, max_concurrency=1, reserved_inline=0)

    async def complete(i: int) -> str:
        prompt = "SLEEP=200 return" if i == 0 else fim(i)
        return "".join(
            [p async for p in b.generate(GenerateRequest(prompt, raw=True, model="fim"))]
        )

    try:
        answers = await asyncio.gather(*(complete(i) for i in range(8)))
    finally:
        await b.aclose()
    assert answers[1:] == ["a + b\n"] * 7
    seen = fresh.stats()["batches"]["fim"]
    assert sum(seen) == 8 and len(seen) <= 3 and max(seen) >= 4


async def test_embedding_callers_coming_back_skip_the_window(fresh: TritonProcess) -> None:
    """16 callers looping over one text each: after the first round, every batch holds all 16
    and goes out without waiting the (here very long) batch window."""
    b = scheduled(fresh, batch_window_ms=100)

    async def caller(i: int) -> None:
        for round_ in range(3):
            (vector,) = await b.embed([f"def f{i}_{round_}(): pass"], "minilm")
            assert len(vector) == 384

    try:
        await b.embed(["warm up"], "minilm")
        fresh.reset()
        await asyncio.gather(*(caller(i) for i in range(16)))
        waited = b.metrics()["embedBatches"]["windowsWaited"]
    finally:
        await b.aclose()
    assert fresh.stats()["batches"]["minilm"] == [16, 16, 16]
    assert waited == 1  # the first round waited for company; the next two did not


async def test_many_completion_callers_keep_one_batch_in_flight(fresh: TritonProcess) -> None:
    """64 completion callers: full batches of 16 reach the model one at a time (a batch queued
    inside Triton's dynamic batcher behind a running one stalls now and then)."""
    b = scheduled(fresh, max_concurrency=8, reserved_inline=0)
    inner = b.inner
    generate_batch = inner.generate_batch
    inflight = peak = 0

    async def counted(requests: Any) -> list[str]:
        nonlocal inflight, peak
        inflight += 1
        peak = max(peak, inflight)
        try:
            return await generate_batch(requests)
        finally:
            inflight -= 1

    inner.generate_batch = counted

    async def complete(i: int) -> str:
        request = GenerateRequest(f"SLEEP=20 {fim(i)}", raw=True, model="fim")
        return "".join([p async for p in b.generate(request)])

    try:
        await complete(-1)  # reads the model's batch capacity
        fresh.reset()
        peak = 0
        answers = await asyncio.gather(*(complete(i) for i in range(64)))
    finally:
        await b.aclose()
    assert answers == ["a + b\n"] * 64
    assert fresh.stats()["batches"]["fim"] == [16, 16, 16, 16]
    assert peak == 1


async def test_completion_is_not_starved_by_a_reindex(fresh: TritonProcess) -> None:
    """During a re-index that fills the queue, a completion runs at once and finishes first."""
    b = scheduled(fresh, max_concurrency=2, reserved_inline=1, max_batch=32)
    chunks = [f"def function_{i}(x):\n    return x * {i}\n" for i in range(32)]

    async def reindex_file(n: int) -> None:
        with priority(Priority.BACKGROUND):
            await b.embed(chunks, "minilm")

    reindex = [asyncio.create_task(reindex_file(n)) for n in range(8)]
    try:
        for _ in range(2_000):  # until the re-index holds its slot
            if b.slots.running:
                break
            await asyncio.sleep(0.005)
        queued_before = b.metrics()["classes"]["background"]["queued"]
        text = "".join([p async for p in b.generate(GenerateRequest(FIM, raw=True, model="fim"))])
        still_indexing = sum(not t.done() for t in reindex)
        inline_wait = b.metrics()["classes"]["inline"]["waitMs"]["p95"]
    finally:
        await asyncio.gather(*reindex, return_exceptions=True)
        await b.aclose()
    assert text == "a + b\n"
    assert queued_before >= 5 and still_indexing >= 5
    assert inline_wait == 0.0  # it took the reserved slot without queueing


async def test_cancelled_completion_cancels_the_triton_stream(triton: TritonProcess) -> None:
    """Cancelling a streamed completion frees its slot and Triton cancels the request."""
    b = scheduled(triton, max_concurrency=1, reserved_inline=0)
    before = triton.triton_log_text().count("Issuing cancellation")
    got_first = asyncio.Event()

    async def slow() -> None:
        prompt = "SLEEP=400 <|im_start|>user\na b c d e f<|im_end|>"
        async for _ in b.generate(GenerateRequest(prompt, model="gen_stream")):
            got_first.set()

    task = asyncio.create_task(slow())
    try:
        await asyncio.wait_for(got_first.wait(), 10)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        assert b.slots.running == 0
        quick = "".join([p async for p in b.generate(GenerateRequest(FIM, model="gen_stream"))])
        for _ in range(100):
            if triton.triton_log_text().count("Issuing cancellation") > before:
                break
            await asyncio.sleep(0.05)
    finally:
        await b.aclose()
    assert quick == "a + b\n"
    assert triton.triton_log_text().count("Issuing cancellation") > before


def triton_settings(server: TritonProcess, model: str, protocol: str = "grpc") -> dict[str, Any]:
    url = server.grpc_url if protocol == "grpc" else server.http_url
    return {
        "completion": {
            "backend": {"kind": "triton", "url": url, "protocol": protocol},
            "model": model,
            "fimTemplate": "qwen",
            "debounceMs": 0,
        },
        "index": {"enabled": False},
    }


@pytest.mark.parametrize(("model", "protocol"), [("fim", "grpc"), ("gen_stream", "http")])
async def test_ghost_text_from_triton(triton: TritonProcess, model: str, protocol: str) -> None:
    """An editor gets ghost text from a Triton model (batched or streaming, gRPC or HTTP)."""
    async with start_session(settings=triton_settings(triton, model, protocol)) as client:
        pos = open_doc(client, "def add(a, b):\n    return <CURSOR>\n")
        items = await inline(client, pos)
    assert [i.insert_text for i in items] == ["a + b"]


async def test_status_reports_scheduler_metrics(triton: TritonProcess) -> None:
    """mimi.status shows the Triton backend's queues, slots and batch sizes."""
    async with start_session(settings=triton_settings(triton, "fim")) as client:
        pos = open_doc(client, "def add(a, b):\n    return <CURSOR>\n")
        await inline(client, pos)
        status = await client.workspace_execute_command_async(
            types.ExecuteCommandParams(command="mimi.status", arguments=[])
        )
    sched = status["metrics"]["scheduler"]["triton"]
    assert sched["limit"] == 16 and sched["reservedInline"] == 1
    assert sched["classes"]["inline"]["served"] >= 1
    assert set(sched["classes"]) == {"inline", "interactive", "background"}
