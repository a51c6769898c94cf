"""The completion engine: cache, debounce, latest-wins, model stream, post-processing.

One ``complete()`` per ghost-text request. Per document only the newest request lives: a newer
request or an edit cancels the one in flight, which closes the backend stream (the async
generator is closed, so the HTTP response is closed and the model server stops generating).
Results computed for an older document version are dropped. Everything here is LSP-free.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace

from mimi_lsp import metrics, tracing
from mimi_lsp.completion import postprocess as post
from mimi_lsp.completion.cache import CompletionCache
from mimi_lsp.completion.debounce import AdaptiveDebouncer
from mimi_lsp.completion.model_time import MEASURE_LIMIT_S, ModelClock
from mimi_lsp.completion.prompt import FimTemplate, build_prompt, select_template
from mimi_lsp.domain import (
    BackendHealth,
    CompletionItem,
    CompletionRequest,
    CompletionResult,
    ContextSnippet,
    GenerateRequest,
    HealthState,
    ModelInfo,
    TriggerKind,
)
from mimi_lsp.errors import (
    BackendTimeout,
    FimUnsupported,
    MimiError,
    ModelNotFound,
)
from mimi_lsp.health import classify
from mimi_lsp.inference.base import Backend
from mimi_lsp.ratelimit import RateLimiter
from mimi_lsp.settings import CompletionSettings

log = logging.getLogger(__name__)

ContextProvider = Callable[[CompletionRequest], Awaitable[list[ContextSnippet]]]
StatusListener = Callable[[BackendHealth], None]

CONTEXT_BUDGET_S = 0.02
HEAD_CONTEXTS = 16
"""Documents whose prompt head and context snippets are kept (``_context``)."""


def choose_fim(info: ModelInfo, model: str, override: str) -> tuple[FimTemplate | None, bool]:
    """The FIM template for ``model`` and whether to use the server's native suffix instead.

    An explicit ``fimTemplate`` wins over the server's native FIM (raw mode); so does a known
    family's template when the server's suffix support is unreliable.
    """
    template = select_template(model, override)
    native = (
        info.native_fim
        and override == "auto"
        and not (info.suffix_unreliable and template is not None)
    )
    return template, native


@dataclass
class CompletionStats:
    """Counters and recent latencies, for ``mimi.status`` and the benchmarks."""

    requests: int = 0
    cache_hits: int = 0
    cancellations: int = 0
    model_calls: int = 0
    empty: int = 0
    errors: int = 0
    stale: int = 0
    shown: int = 0
    accepted: int = 0
    partially_accepted: int = 0
    rate_limited: int = 0
    diverged: int = 0
    """Answers that did not begin with the text the prompt left out (asked again with it)."""
    last_debounce_ms: float = 0.0
    total_ms: deque[float] = field(default_factory=lambda: deque(maxlen=2_000))
    model_ms: deque[float] = field(default_factory=lambda: deque(maxlen=2_000))
    server_ms: deque[float] = field(default_factory=lambda: deque(maxlen=2_000))

    def snapshot(self) -> dict[str, object]:
        server = list(self.server_ms)
        total = list(self.total_ms)
        return {
            "requests": self.requests,
            "cacheHits": self.cache_hits,
            "cancellations": self.cancellations,
            "modelCalls": self.model_calls,
            "empty": self.empty,
            "errors": self.errors,
            "stale": self.stale,
            "shown": self.shown,
            "accepted": self.accepted,
            "partiallyAccepted": self.partially_accepted,
            "rateLimited": self.rate_limited,
            "diverged": self.diverged,
            "debounceMs": round(self.last_debounce_ms, 1),
            "latencyMs": {
                "p50": round(metrics.percentile(total, 50), 2),
                "p95": round(metrics.percentile(total, 95), 2),
                "p99": round(metrics.percentile(total, 99), 2),
            },
            "serverLatencyMs": {
                "p50": round(metrics.percentile(server, 50), 2),
                "p95": round(metrics.percentile(server, 95), 2),
                "p99": round(metrics.percentile(server, 99), 2),
            },
        }


class CompletionEngine:
    """Turns ``CompletionRequest``s into ghost text, one live request per document."""

    def __init__(
        self,
        settings: CompletionSettings,
        backend: Backend,
        *,
        current_version: Callable[[str], int | None],
        context_provider: ContextProvider | None = None,
        limiter: RateLimiter | None = None,
        on_status: StatusListener | None = None,
    ) -> None:
        self.settings = settings
        self.backend = backend
        self.current_version = current_version
        self.context_provider = context_provider
        self.on_status = on_status or (lambda health: None)
        self.cache = CompletionCache()
        self.stats = CompletionStats()
        self.debouncer = AdaptiveDebouncer(
            None if settings.debounce_ms == "auto" else int(settings.debounce_ms)
        )
        self._inflight: dict[str, asyncio.Task[CompletionResult]] = {}
        self._model_info: dict[str, ModelInfo] = {}
        self._health = BackendHealth(HealthState.OK)
        self.limiter = limiter
        """Per-client rate limit on model calls (after the cache and the debounce)."""
        self.clock = _clock(settings)
        self._measuring: asyncio.Future[None] | None = None
        self._head_context: dict[str, tuple[str, list[ContextSnippet]]] = {}
        """Per document, the prompt head and the context snippets chosen with it."""

    # ------------------------------------------------------------------ lifecycle

    def reconfigure(self, settings: CompletionSettings, backend: Backend) -> None:
        """Swap settings and backend (after didChangeConfiguration)."""
        self.cancel_all()
        if self._measuring is not None:
            self._measuring.cancel()
        self.settings = settings
        self.backend = backend
        self.clock = _clock(settings)
        self.cache.clear()
        self._model_info.clear()
        self._head_context.clear()
        self.debouncer = AdaptiveDebouncer(
            None if settings.debounce_ms == "auto" else int(settings.debounce_ms)
        )

    def document_changed(self, uri: str) -> None:
        """An edit makes any in-flight answer for ``uri`` stale: cancel it now."""
        task = self._inflight.pop(uri, None)
        if task is not None and not task.done():
            task.cancel()
            self.stats.cancellations += 1

    def cancel_all(self) -> None:
        for uri in list(self._inflight):
            self.document_changed(uri)

    @property
    def health(self) -> BackendHealth:
        return self._health

    # ------------------------------------------------------------------ requests

    async def complete(self, request: CompletionRequest) -> CompletionResult:
        """Ghost text for ``request``; empty (with a reason) when there is nothing to show."""
        with tracing.span(
            "completion",
            model=self.settings.model,
            language=request.snapshot.language_id,
            document_bytes=request.snapshot.size,
        ) as span:
            result = await self._complete(request)
            span.set(
                cache_hit=bool(result.items and result.items[0].from_cache),
                outcome=result.reason or "shown",
                suggestion_chars=len(result.items[0].insert_text) if result.items else 0,
            )
            return result

    async def _complete(self, request: CompletionRequest) -> CompletionResult:
        started = time.perf_counter()
        self.stats.requests += 1
        snap = request.snapshot
        if not self.settings.enabled:
            return CompletionResult(reason="disabled")
        if snap.size > self.settings.max_document_bytes:
            return CompletionResult(reason="too-large")
        if request.line >= len(snap.lines):
            return CompletionResult(reason="out-of-range")

        budget = self.settings.max_prefix_chars
        # The window's start moves in eighths of the budget, not line by line as the user
        # types: the model server reuses the unchanged start of the prompt (issue 18).
        prefix = snap.prefix(request.line, request.col, budget, step=budget // 8)
        suffix = snap.suffix(request.line, request.col, self.settings.max_suffix_chars)
        if "\x00" in prefix or "\x00" in suffix:
            return CompletionResult(reason="binary")

        cached = self.cache.get(prefix, suffix)
        metrics.count_cache(cached is not None)
        if cached is not None:
            self.stats.cache_hits += 1
            self.document_changed(snap.uri)  # the older request is answered by the cache
            item = self._item(request, cached.text, cached.replace, from_cache=True)
            self._record(started, 0.0)
            return CompletionResult((item,))

        self.debouncer.observe()
        previous = self._inflight.pop(snap.uri, None)
        if previous is not None and not previous.done():
            previous.cancel()
            self.stats.cancellations += 1
        task = asyncio.ensure_future(self._run(request, prefix, suffix, started))
        self._inflight[snap.uri] = task
        try:
            return await task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                task.cancel()
                raise  # the client cancelled this request ($/cancelRequest)
            return CompletionResult(reason="superseded")
        finally:
            if self._inflight.get(snap.uri) is task:
                del self._inflight[snap.uri]

    def _item(
        self, request: CompletionRequest, text: str, replace: int, from_cache: bool = False
    ) -> CompletionItem:
        end = request.col + replace if replace else None
        return CompletionItem(text, request.line, request.col, end, from_cache)

    def _record(self, started: float, model_ms: float) -> None:
        total = (time.perf_counter() - started) * 1000
        self.stats.total_ms.append(total)
        self.stats.model_ms.append(model_ms)
        self.stats.server_ms.append(max(0.0, total - model_ms))

    async def _run(
        self, request: CompletionRequest, prefix: str, suffix: str, started: float
    ) -> CompletionResult:
        snap = request.snapshot
        char_before = prefix[-1:] if prefix else ""
        delay = self.debouncer.delay_ms(char_before, request.trigger == TriggerKind.INVOKED)
        self.stats.last_debounce_ms = delay
        if delay:
            with tracing.span("completion.debounce", delay_ms=round(delay, 1)):
                await asyncio.sleep(delay / 1000)
        debounce_ms = delay
        # Only requests that survive the debounce reach the model, so only they are limited.
        if self.limiter is not None and self.limiter.check("completion") is not None:
            self.stats.rate_limited += 1
            return CompletionResult(reason="rate-limited")

        shape = post.decide_shape(prefix, suffix, snap.language_id, self.settings.multiline)
        post_ctx = post.PostContext(prefix, suffix, snap.language_id, shape, snap.eol)
        try:
            info = await self._info()
            template, native = self._fim(info)
            head = None if native or template is None else template.head(prefix)
            with tracing.span("completion.context") as span:
                parts_context = await self._context(request, head)
                span.set(snippets=len(parts_context))
            parts = build_prompt(
                template=template,
                native_fim=native,
                prefix=prefix,
                suffix=suffix,
                path=snap.uri,
                context=tuple(parts_context),
            )
            stops = tuple(
                dict.fromkeys(parts.stop + post.stop_sequences(snap.language_id, snap.eol))
            )
            gen_request = GenerateRequest(
                prompt=parts.prompt,
                suffix=parts.suffix,
                raw=parts.raw,
                model=self.settings.model,
                max_tokens=self.settings.max_tokens
                if shape is not post.Shape.LINE
                else min(self.settings.max_tokens, 64),
                temperature=self.settings.temperature,
                stop=stops,
            )
            model_started = time.perf_counter()
            with tracing.span(
                "completion.model",
                model=self.settings.model,
                prompt_chars=len(parts.prompt) + len(parts.suffix or ""),
                max_tokens=gen_request.max_tokens,
                shape=shape.value,
                native_fim=native,
            ) as span:
                raw = await self._answer(
                    gen_request, stops, post.StreamWatch(post_ctx).done, parts.answer_start
                )
                span.set(output_chars=len(raw), output_tokens_estimate=len(raw) // 4)
            model_ms = (time.perf_counter() - model_started) * 1000
        except MimiError as exc:
            self.stats.errors += 1
            self._set_health(exc)
            return CompletionResult(reason=type(exc).__name__)
        self._set_health(None)

        if self.current_version(snap.uri) != snap.version:
            self.stats.stale += 1
            return CompletionResult(reason="stale")
        with tracing.span("completion.postprocess", raw_chars=len(raw)) as span:
            suggestion = post.postprocess(raw, post_ctx)
            span.set(kept_chars=len(suggestion.text) if suggestion else 0)
        self._record(started, model_ms + debounce_ms)
        if suggestion is None:
            self.stats.empty += 1
            return CompletionResult(reason="empty")
        self.cache.store(prefix, suffix, suggestion.text, suggestion.replace)
        return CompletionResult((self._item(request, suggestion.text, suggestion.replace),))

    async def check_backend(self) -> BackendHealth:
        """Look the model up (after start-up, a settings change, and while the backend is
        unavailable), so a missing server or model is reported before the first keystroke, its
        return is reported without one, and the client library is imported off the typing path."""
        if not self.settings.enabled:
            return self._health
        try:
            self._fim(await self._info())
        except MimiError as exc:
            self._set_health(exc)
        except Exception:  # never let a probe take the server down
            log.exception("backend check failed")
        else:
            self._set_health(None)
        return self._health

    def _fim(self, info: ModelInfo) -> tuple[FimTemplate | None, bool]:
        """The template and native flag for the model (``FimUnsupported`` when there is none)."""
        template, native = choose_fim(info, self.settings.model, self.settings.fim_template)
        if not info.native_fim and template is None:
            raise FimUnsupported(
                f"Model {self.settings.model!r} has no fill-in-the-middle support "
                "that mimi-lsp knows of.",
                fix="Use a base coder model (e.g. qwen2.5-coder:1.5b-base) or set "
                "mimi.completion.fimTemplate.",
            )
        return template, native

    async def _context(self, request: CompletionRequest, head: str | None) -> list[ContextSnippet]:
        """Snippets from the index, raced against a strict budget (never delays ghost text).

        The snippets open the prompt, so new ones make a model server evaluate all of it again
        (~1,000 tokens, seconds on a CPU). Where the prompt has a head that typing leaves alone
        (``FimTemplate.head``), the snippets are kept as long as that head is: they change
        together, at most once per step of the pre-filled middle."""
        if self.context_provider is None or not self.settings.context:
            return []
        uri = request.snapshot.uri
        last = self._head_context.get(uri)
        if head is not None and last is not None and last[0] == head:
            return list(last[1])
        try:
            async with asyncio.timeout(CONTEXT_BUDGET_S):
                found = await self.context_provider(request)
        except TimeoutError:
            return []
        except Exception:  # context is best effort
            log.exception("completion context failed")
            return []
        self._head_context.pop(uri, None)
        if head is not None:
            self._head_context[uri] = (head, list(found))
            while len(self._head_context) > HEAD_CONTEXTS:
                del self._head_context[next(iter(self._head_context))]
        return found

    async def _info(self) -> ModelInfo:
        model = self.settings.model
        info = self._model_info.get(model)
        if info is None:
            info = await self.backend.model_info(model)
            if not info.present:
                raise ModelNotFound(
                    f"Model {model!r} is not available on the {self.backend.name} server.",
                    fix=f"Run: ollama pull {model}"
                    if self.backend.name == "ollama"
                    else "Set mimi.completion.model to a model the server lists.",
                )
            self._model_info[model] = info
        return info

    async def _answer(
        self,
        request: GenerateRequest,
        stops: tuple[str, ...],
        done: Callable[[str], bool],
        start: str,
    ) -> str:
        """The model's answer after the cursor. ``start`` is the text before the cursor that the
        prompt left out for the model to write in its own tokens (``PromptParts.answer_start``).
        An answer that begins otherwise is given up at its first piece and asked again with
        ``start`` at the prompt's end, which the model server's cache holds all of but ``start``."""
        if not start:
            return await self._generate(request, stops, done)
        try:
            return await self._generate(request, stops, done, start)
        except _Diverged:
            self.stats.diverged += 1
        return await self._generate(replace(request, prompt=request.prompt + start), stops, done)

    async def _generate(
        self,
        request: GenerateRequest,
        stops: tuple[str, ...],
        done: Callable[[str], bool],
        start: str = "",
    ) -> str:
        """The model's answer, given up after the timeout (the first late answer is followed to
        its end in the background, to measure the model and tell the user)."""
        self.stats.model_calls += 1
        started = time.perf_counter()
        clock = self.clock
        collector = asyncio.ensure_future(self._collect(request, stops, done, start))
        try:
            async with asyncio.timeout(clock.timeout_ms / 1000):
                return await asyncio.shield(collector)
        except TimeoutError as exc:
            if clock.should_measure:
                clock.measuring = True
                self._measuring = asyncio.ensure_future(self._measure(collector, started))
            else:
                collector.cancel()
            raise clock.timeout_error() from exc
        except BaseException:
            collector.cancel()
            raise

    async def _collect(
        self,
        request: GenerateRequest,
        stops: tuple[str, ...],
        done: Callable[[str], bool],
        start: str = "",
    ) -> str:
        """Collect the stream after ``start`` (``_Diverged`` when it begins otherwise), stopping
        (and closing it) at a stop sequence or when ``done``."""
        pieces: list[str] = []
        stream = self.backend.generate(request)
        async with contextlib.aclosing(stream):  # type: ignore[type-var]
            async for piece in stream:
                pieces.append(piece)
                text = _after(start, "".join(pieces))
                if text is None:
                    continue
                cut = _first_stop(text, stops)
                if cut is not None:
                    return text[:cut]
                if done(text):
                    return text
        text = _after(start, "".join(pieces))
        return text or ""  # None: the model stopped within start, with nothing after it

    async def _measure(self, collector: asyncio.Future[str], started: float) -> None:
        """Follow a timed-out answer to its end; tell the user once how long the model takes."""
        clock = self.clock
        remaining = MEASURE_LIMIT_S - (time.perf_counter() - started)
        elapsed: float | None = None
        try:
            async with asyncio.timeout(max(0.0, remaining)):
                await collector
            elapsed = (time.perf_counter() - started) * 1000
        except TimeoutError:
            collector.cancel()
        except Exception as exc:  # the late answer failed: no measurement, no message
            log.debug("timed-out completion failed while measured: %s", exc)
            clock.measuring = False
            return
        if self.clock is not clock:  # reconfigured meanwhile
            return
        if self._health.state is not HealthState.ERROR or not clock.timing_out:
            # Completions work again (or fail for another reason): nothing to tell.
            clock.measuring = False
            log.info("a timed-out completion took %s ms", elapsed and round(elapsed))
            return
        notice = clock.measured(elapsed)
        log.warning("completion backend: %s", notice.user_message())
        self._health = BackendHealth(HealthState.ERROR, notice.message, notice.fix, notify=True)
        self.on_status(self._health)

    def _set_health(self, error: MimiError | None) -> None:
        self.clock.timing_out = isinstance(error, BackendTimeout)
        health = classify(error) or BackendHealth(
            HealthState.ERROR, getattr(error, "message", ""), getattr(error, "fix", "")
        )
        if health.state != self._health.state or health.message != self._health.message:
            self._health = health
            if error is not None:
                log.warning("completion backend: %s", error.user_message())
            self.on_status(health)


def _clock(settings: CompletionSettings) -> ModelClock:
    return ModelClock(settings.timeout_ms, user_set="timeout_ms" in settings.model_fields_set)


class _Diverged(Exception):
    """The model's answer does not begin with the text the prompt left out for it."""


def _after(start: str, text: str) -> str | None:
    """``text`` after ``start``; None while ``text`` may still become ``start``."""
    if text.startswith(start):
        return text[len(start) :]
    if start.startswith(text):
        return None
    raise _Diverged


def _first_stop(text: str, stops: tuple[str, ...]) -> int | None:
    best: int | None = None
    for stop in stops:
        if not stop:
            continue
        index = text.find(stop)
        if index != -1 and (best is None or index < best):
            best = index
    return best
