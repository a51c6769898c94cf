"""The completion engine: latest-wins, cancellation, typed-through cache, guards, health."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from mimi_lsp.completion.engine import CompletionEngine
from mimi_lsp.completion.prompt import MIDDLE_STEP
from mimi_lsp.domain import (
    BackendHealth,
    CompletionRequest,
    ContextSnippet,
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


async def test_timeout_is_measured_and_told_once_with_the_setting() -> None:
    """A model slower than the user's timeout: empty results, then one message naming
    mimi.completion.timeoutMs, the model's measured time and the value to set."""
    session, backend, engine, statuses = make_engine("late", delay_ms=400, timeout_ms=100)
    session.open(URI, "python", 1, "x = \n")
    first = await engine.complete(request(session, 0, 4))
    assert first.items == () and first.reason == "BackendTimeout"
    assert engine._measuring is not None
    await engine._measuring  # the late answer is followed to its end
    second = await engine.complete(request(session, 0, 4))
    assert second.items == ()
    told = [s for s in statuses if s.notify]
    assert len(told) == 1 and told[0].state == HealthState.ERROR
    assert "mimi.completion.timeoutMs" in told[0].message
    assert "took 0.4 s" in told[0].message or "took 0.5 s" in told[0].message
    assert "Set mimi.completion.timeoutMs to 2000" in told[0].fix
    assert engine.clock.timeout_ms == 100  # the user's choice stands
    assert len(backend.calls) == 2


async def test_default_timeout_grows_to_fit_a_slow_model() -> None:
    """With the default timeout, the session's timeout is sized from the measured model time
    and later completions arrive; the user is told once."""
    session, _, engine, statuses = make_engine("late", delay_ms=300, timeout_ms=100)
    engine.clock.user_set = False  # as if the timeout were the default
    session.open(URI, "python", 1, "x = \n")
    assert (await engine.complete(request(session, 0, 4))).items == ()
    assert engine._measuring is not None
    await engine._measuring
    later = await engine.complete(request(session, 0, 4))
    assert [i.insert_text for i in later.items] == ["late"]
    assert engine.clock.timeout_ms == 2000
    told = [s for s in statuses if s.notify]
    assert len(told) == 1 and "The timeout is now 2000 ms" in told[0].message
    assert statuses[-1].state == HealthState.OK


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


def qwen_engine(*replies: str):
    """An engine writing Qwen's raw prompts (the cursor's line opens the middle)."""
    session = Session()
    # Streamed a character at a time, as a model server would.
    settings = FakeBackendSettings(replies=list(replies), native_fim=False, chunk_chars=1)
    backend = FakeBackend(settings)
    engine = CompletionEngine(
        CompletionSettings(backend=settings, debounce_ms=0, model="qwen2.5-coder"),
        backend,
        current_version=session.version,
        on_status=lambda _: None,
    )
    session.open(URI, "python", 1, "def add(a, b):\n    return \n")
    return session, backend, engine


async def test_the_models_answer_starts_with_the_piece_the_prompt_left_out() -> None:
    """The middle stops before the space after ``return``: the model writes it, the engine
    cuts it off, and one call is enough."""
    session, backend, engine = qwen_engine(" a + b")
    result = await engine.complete(request(session, 1, 11))
    assert [i.insert_text for i in result.items] == ["a + b"]
    [call] = backend.calls
    assert call.prompt.endswith("<|fim_middle|>    return")
    assert engine.stats.diverged == 0


async def test_an_answer_that_goes_another_way_is_asked_again_with_the_piece() -> None:
    """A model that does not write the left-out piece disagrees with what the user typed: the
    stream is given up at its first character and the prompt asked again with the piece (its
    model server holds the rest in its cache)."""
    session, backend, engine = qwen_engine("(a, b) # never read", "a + b")
    result = await engine.complete(request(session, 1, 11))
    assert [i.insert_text for i in result.items] == ["a + b"]
    first, second = backend.calls
    assert second.prompt == first.prompt + " "
    assert backend.cancelled == 1 and engine.stats.diverged == 1


async def test_a_model_that_stops_within_the_piece_suggests_nothing() -> None:
    session, backend, engine = qwen_engine("", "never asked")
    result = await engine.complete(request(session, 1, 11))
    assert result.items == () and result.reason == "empty"
    assert len(backend.calls) == 1 and engine.stats.diverged == 0


async def test_context_snippets_stay_while_the_prompts_head_does() -> None:
    """Snippets open the prompt: they are asked for again only when the head (the prefix before
    the pre-filled middle) changes, so typing on, Enter included, keeps the prompt's start."""
    asked: list[int] = []

    async def provider(req: CompletionRequest) -> list[ContextSnippet]:
        asked.append(req.line)
        return [ContextSnippet("/t/b.py", f"def helper_{len(asked)}(): ...")]

    session = Session()
    settings = FakeBackendSettings(replies=[" x"], native_fim=False)
    backend = FakeBackend(settings)
    engine = CompletionEngine(
        CompletionSettings(backend=settings, debounce_ms=0, model="qwen2.5-coder"),
        backend,
        current_version=session.version,
        context_provider=provider,
    )
    body = "".join(f"v{i} = {i}\n" for i in range(100))  # 890 characters: past one step
    assert MIDDLE_STEP < len(body) < 2 * MIDDLE_STEP - 20
    session.open(URI, "python", 1, body + "a = \n")
    await engine.complete(request(session, 100, 4))
    session.change(URI, 2, [((100, 4), (100, 4), "1\nb = ")])
    await engine.complete(request(session, 101, 4))
    assert asked == [100]
    first, second = backend.calls
    assert second.prompt.startswith(first.prompt.split("<|fim_middle|>")[0])
    session.change(URI, 3, [((0, 0), (0, 0), "import os\n")])  # the head changed
    session.change(URI, 4, [((102, 4), (102, 4), "2\nc = ")])
    await engine.complete(request(session, 103, 4))
    assert asked == [100, 103]
