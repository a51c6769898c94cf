"""The completion engine: latest-wins, cancellation, typed-through cache, guards, health."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from mimi_lsp.completion.engine import CompletionEngine
from mimi_lsp.domain import (
    BackendHealth,
    CompletionRequest,
    GenerateRequest,
    HealthState,
    TriggerKind,
)
from mimi_lsp.errors import BackendUnavailable
from mimi_lsp.inference.fake import FakeBackend
from mimi_lsp.session import Session
from mimi_lsp.settings import CompletionSettings, FakeBackendSettings

URI = "file:///t/a.py"


def make_engine(*replies: str, delay_ms: float = 0, **settings: object):
    session = Session()
    backend = FakeBackend(FakeBackendSettings(replies=list(replies), delay_ms=delay_ms))
    statuses: list[BackendHealth] = []
    engine = CompletionEngine(
        CompletionSettings(backend=backend.settings, **{"debounce_ms": 0, **settings}),  # type: ignore[arg-type]
        backend,
        current_version=session.version,
        on_status=statuses.append,
    )
    session.on_change(engine.document_changed)
    return session, backend, engine, statuses


def request(session: Session, line: int, col: int, invoked: bool = True) -> CompletionRequest:
    snap = session.snapshot(URI)
    assert snap is not None
    return CompletionRequest(
        snap, line, col, TriggerKind.INVOKED if invoked else TriggerKind.AUTOMATIC
    )


async def test_newer_request_cancels_older_and_closes_its_stream() -> None:
    """Latest wins: the older request ends empty and its backend stream is closed."""
    session, backend, engine, _ = make_engine("first", "second", delay_ms=200)
    session.open(URI, "python", 1, "x = \n")
    older = asyncio.ensure_future(engine.complete(request(session, 0, 4)))
    await asyncio.sleep(0.05)
    newer = await engine.complete(request(session, 0, 4))
    old = await older
    assert old.items == () and old.reason == "superseded"
    assert [i.insert_text for i in newer.items] == ["second"]
    assert backend.cancelled == 1
    assert engine.stats.cancellations == 1


async def test_edit_cancels_in_flight_request() -> None:
    """An edit to the document cancels the request computing for the old version."""
    session, backend, engine, _ = make_engine("answer", delay_ms=200)
    session.open(URI, "python", 1, "x = \n")
    pending = asyncio.ensure_future(engine.complete(request(session, 0, 4)))
    await asyncio.sleep(0.05)
    session.change(URI, 2, [((0, 4), (0, 4), "1")])
    result = await pending
    assert result.items == ()
    assert backend.cancelled == 1


async def test_typed_through_cache_hit_skips_the_model() -> None:
    """Typing the start of the suggestion is served from the cache."""
    session, backend, engine, _ = make_engine("hello()", "OTHER")
    session.open(URI, "python", 1, "x = \n")
    first = await engine.complete(request(session, 0, 4))
    session.change(URI, 2, [((0, 4), (0, 4), "hel")])
    second = await engine.complete(request(session, 0, 7))
    assert [i.insert_text for i in first.items] == ["hello()"]
    assert [i.insert_text for i in second.items] == ["lo()"]
    assert second.items[0].from_cache
    assert len(backend.calls) == 1


async def test_huge_and_binary_documents_make_no_request() -> None:
    """Documents over the size limit or containing NUL bytes never reach the model."""
    session, backend, engine, _ = make_engine("x", max_document_bytes=1_000)
    session.open(URI, "python", 1, "a = 1\n" * 500)
    assert (await engine.complete(request(session, 0, 0))).reason == "too-large"
    session.open(URI, "python", 2, "a\x00b\n")
    assert (await engine.complete(request(session, 0, 1))).reason == "binary"
    assert backend.calls == []


async def test_timeout_returns_empty_and_reports_once() -> None:
    """A model slower than the timeout gives an empty result and one error status."""
    session, _, engine, statuses = make_engine("late", delay_ms=500, timeout_ms=50)
    session.open(URI, "python", 1, "x = \n")
    first = await engine.complete(request(session, 0, 4))
    second = await engine.complete(request(session, 0, 4))
    assert first.items == () and second.items == ()
    assert [s.state for s in statuses] == [HealthState.ERROR]


class FlakyBackend(FakeBackend):
    """Down until ``up`` is set."""

    up = False

    async def generate(self, request: GenerateRequest) -> AsyncIterator[str]:
        if not self.up:
            raise BackendUnavailable("Ollama is not running.", fix="ollama serve")
        async for piece in super().generate(request):
            yield piece


async def test_backend_down_reports_once_then_recovers() -> None:
    """Down → one 'unavailable' status; back → one 'ok' status and ghost text again."""
    session = Session()
    backend = FlakyBackend(FakeBackendSettings(replies=["ok()"]))
    statuses: list[BackendHealth] = []
    engine = CompletionEngine(
        CompletionSettings(debounce_ms=0),
        backend,
        current_version=session.version,
        on_status=statuses.append,
    )
    session.open(URI, "python", 1, "x = \n")
    for _ in range(3):
        assert (await engine.complete(request(session, 0, 4))).items == ()
    backend.up = True
    result = await engine.complete(request(session, 0, 4))
    assert [i.insert_text for i in result.items] == ["ok()"]
    assert [s.state for s in statuses] == [HealthState.UNAVAILABLE, HealthState.OK]
    assert statuses[0].fix == "ollama serve"


async def test_automatic_trigger_is_debounced_invoked_is_not() -> None:
    """Rapid automatic requests collapse into one model call; invoke goes straight through."""
    session, backend, engine, _ = make_engine("x()", debounce_ms=100)
    session.open(URI, "python", 1, "abc\n")
    tasks = []
    for col in (1, 2, 3):
        tasks.append(
            asyncio.ensure_future(engine.complete(request(session, 0, col, invoked=False)))
        )
        await asyncio.sleep(0.02)
    results = await asyncio.gather(*tasks)
    assert [bool(r.items) for r in results] == [False, False, True]
    assert len(backend.calls) == 1


@pytest.mark.parametrize("cancel_by_client", [True])
async def test_client_cancel_propagates(cancel_by_client: bool) -> None:
    """Cancelling the request task ($/cancelRequest) cancels the model stream too."""
    session, backend, engine, _ = make_engine("slow", delay_ms=500)
    session.open(URI, "python", 1, "x = \n")
    task = asyncio.ensure_future(engine.complete(request(session, 0, 4)))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0)
    assert backend.cancelled == 1
