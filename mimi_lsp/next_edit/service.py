"""The next-edit service: history in, one suggested edit out, and what became of it.

``Services`` builds one ``NextEditService`` and wires the session's edit stream into
``record``. ``predict`` answers a ``textDocument/copilotInlineEdit``: the model-free predictors
first (renames, then look-alike siblings: milliseconds), the next-edit model only when they found
nothing and one is configured. Every candidate passes the same checks: computed for the
document version the editor has (a stale answer is dropped), not undoing one of the user's own
recent edits (dropped and counted as *reversed*). Whether a suggestion was shown and accepted is
counted from the client's ``didShowInlineEdit`` and accept command, and also from the text
itself: an edit that applies exactly a suggestion is an acceptance (editors that never tell still
count), and one that takes an accepted suggestion back is counted as *undone*.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from mimi_lsp import metrics
from mimi_lsp.domain import DocumentSnapshot, TextChange
from mimi_lsp.errors import MimiError
from mimi_lsp.inference.base import Backend
from mimi_lsp.languages import load_language
from mimi_lsp.next_edit import rename, siblings
from mimi_lsp.next_edit.edits import NextEdit, PredictionContext, trimmed, undoes
from mimi_lsp.next_edit.history import Histories
from mimi_lsp.next_edit.model import ModelPredictor
from mimi_lsp.next_edit.prompts import select_format
from mimi_lsp.next_edit.syntax import SyntaxCache, grammar_language
from mimi_lsp.session import Session, TextBuffer
from mimi_lsp.settings import NextEditSettings
from mimi_lsp.tasks import TaskRunner, run_soon, run_task

log = logging.getLogger(__name__)

OFFERED = 32
"""Suggestions remembered for acceptance and undo detection."""


@dataclass
class NextEditStats:
    """Counters for ``mimi.status`` (``metrics.nextEdit``)."""

    requests: int = 0
    suggested: int = 0
    empty: int = 0
    stale: int = 0
    errors: int = 0
    shown: int = 0
    accepted: int = 0
    reversed: int = 0
    undone: int = 0
    model_calls: int = 0
    unparsable: int = 0
    by_source: dict[str, int] = field(default_factory=dict)
    model_free_ms: deque[float] = field(default_factory=lambda: deque(maxlen=1_000))
    model_ms: deque[float] = field(default_factory=lambda: deque(maxlen=1_000))

    def snapshot(self) -> dict[str, Any]:
        candidates = self.suggested + self.reversed
        free, model = list(self.model_free_ms), list(self.model_ms)
        return {
            "requests": self.requests,
            "suggested": self.suggested,
            "bySource": dict(self.by_source),
            "empty": self.empty,
            "stale": self.stale,
            "errors": self.errors,
            "shown": self.shown,
            "accepted": self.accepted,
            "reversed": self.reversed,
            "reversalRatio": round(self.reversed / candidates, 3) if candidates else 0.0,
            "undone": self.undone,
            "modelCalls": self.model_calls,
            "unparsable": self.unparsable,
            "latencyMs": {
                "modelFreeP50": round(metrics.percentile(free, 50), 2),
                "modelFreeP95": round(metrics.percentile(free, 95), 2),
                "modelP50": round(metrics.percentile(model, 50), 1),
                "modelP95": round(metrics.percentile(model, 95), 1),
            },
        }


@dataclass(frozen=True, slots=True)
class NextEditResult:
    edits: tuple[NextEdit, ...] = ()
    reason: str = ""
    """Why there is no edit ('disabled', 'stale', 'none', 'unparsable', an error name)."""


@dataclass(slots=True)
class _Offered:
    edit: NextEdit
    old: str
    """The text ``edit.span`` held when it was suggested."""
    shown: bool = False
    accepted: bool = False


class NextEditService:
    """Edit history per workspace folder, predictors, and suggestion bookkeeping."""

    def __init__(
        self,
        settings: NextEditSettings,
        session: Session,
        *,
        folders: Callable[[], Sequence[str]],
        backend: Backend | None = None,
        run_task: TaskRunner = run_task,
    ) -> None:
        self.session = session
        self._run_task = run_task
        self.histories = Histories(folders)
        self.syntax = SyntaxCache()
        self.stats = NextEditStats()
        self._offered: OrderedDict[str, _Offered] = OrderedDict()
        self._accepted: deque[_Offered] = deque(maxlen=8)
        self._model_task: asyncio.Task[Any] | None = None
        self._warned: set[str] = set()
        self._grammars: set[str] = set()
        self.settings = settings
        self.model: ModelPredictor | None = None
        self.reconfigure(settings, backend)

    # ------------------------------------------------------------------ configuration

    def reconfigure(self, settings: NextEditSettings, backend: Backend | None) -> None:
        """Adopt new settings (and the model's backend)."""
        self.settings = settings
        self.cancel()
        format_name = (
            select_format(settings.model, settings.prompt_format) if settings.model else None
        )
        if settings.model and format_name is None and settings.model not in self._warned:
            self._warned.add(settings.model)
            log.warning(
                "nextEdit.model %r has no known next-edit prompt format (sweep, zeta): "
                "set mimi.nextEdit.promptFormat; model-free suggestions only",
                settings.model,
            )
        self.model = (
            ModelPredictor(
                backend, settings.model, format_name, settings.max_tokens, settings.timeout_ms
            )
            if backend is not None and format_name is not None
            else None
        )

    def cancel(self) -> None:
        """Stop a model prediction in flight (its answer would be stale)."""
        task, self._model_task = self._model_task, None
        if task is not None and not task.done():
            task.cancel()

    # ------------------------------------------------------------------ the edit stream

    def record(self, buffer: TextBuffer, change: TextChange) -> None:
        """One change the session applied (``Session.on_edit``): history and bookkeeping."""
        try:
            self._check_suggestions(buffer.uri, change)
            self.histories.for_uri(buffer.uri).record(buffer.uri, buffer.version, change)
        except Exception:  # the history is best effort; typing must never fail
            log.exception("next-edit history failed")

    def document_changed(self, uri: str) -> None:
        """Any open, change or close: a model prediction in flight is stale."""
        self.cancel()
        buffer = self.session.documents.get(uri)
        if buffer is not None:
            self.histories.for_uri(uri).touch(uri)
            self._preload(buffer.language_id)

    def _preload(self, language_id: str) -> None:
        """Load a grammar off the request path the first time a document of its language opens
        (importing one costs ~100 ms)."""
        language = grammar_language(language_id)
        if language is None or language in self._grammars:
            return
        self._grammars.add(language)
        run_soon(
            self._run_task,
            asyncio.to_thread(load_language, language),
            name=f"mimi-grammar-{language}",
        )

    def viewed(self, uri: str) -> None:
        """The editor focused ``uri`` (``textDocument/didFocus``)."""
        self.histories.for_uri(uri).touch(uri)

    def _check_suggestions(self, uri: str, change: TextChange) -> None:
        applied = trimmed(change.line, change.col, change.old, change.new)
        for offered in list(self._offered.values()):
            edit = offered.edit
            if offered.accepted or edit.uri != uri:
                continue
            span = edit.span
            if trimmed(span.start_line, span.start_col, offered.old, edit.text) == applied:
                self._accept(offered)
                return
        for offered in list(self._accepted):
            edit = offered.edit
            inverse = trimmed(edit.span.start_line, edit.span.start_col, edit.text, offered.old)
            if edit.uri == uri and inverse == applied:
                self._accepted.remove(offered)
                self.stats.undone += 1
                metrics.count_next_edit("undone")
                return

    def _accept(self, offered: _Offered) -> None:
        if offered.accepted:
            return
        if not offered.shown:
            self.shown(offered.edit.id)
        offered.accepted = True
        self._accepted.append(offered)
        self.stats.accepted += 1
        metrics.count_next_edit("accepted")
        self.histories.for_uri(offered.edit.uri).close_open_edit()

    # ------------------------------------------------------------------ client telemetry

    def shown(self, suggestion_id: str | None) -> None:
        """The client displayed a suggestion (``textDocument/didShowInlineEdit``)."""
        offered = self._offered.get(suggestion_id or "")
        if offered is not None and offered.shown:
            return
        if offered is not None:
            offered.shown = True
        self.stats.shown += 1
        metrics.count_next_edit("shown")

    def accepted(self, suggestion_id: str | None) -> None:
        """The client applied a suggestion (the edit's accept command)."""
        offered = self._offered.get(suggestion_id or "")
        if offered is not None:
            self._accept(offered)

    # ------------------------------------------------------------------ prediction

    def context(self, snapshot: DocumentSnapshot, line: int, col: int) -> PredictionContext:
        history = self.histories.for_uri(snapshot.uri)

        def open_documents() -> list[DocumentSnapshot]:
            if not self.settings.open_files:
                return []
            recent = [u for u in history.recently_viewed() if u in self.session.documents]
            rest = [u for u in self.session.documents if u not in recent]
            out = []
            for uri in recent + rest:
                if uri != snapshot.uri and (snap := self.session.snapshot(uri)) is not None:
                    out.append(snap)
            return out

        return PredictionContext(snapshot, line, col, history, open_documents, self.syntax)

    def predict_model_free(self, ctx: PredictionContext) -> list[NextEdit]:
        """Renames first, then look-alike siblings; each candidate checked."""
        for predictor in (rename, siblings):
            edits = self.checked(predictor.predict(ctx), ctx)
            if edits:
                return edits
        return []

    async def predict(self, snapshot: DocumentSnapshot, line: int, col: int) -> NextEditResult:
        """The next edit for a cursor at (line, col) of ``snapshot``."""
        started = time.perf_counter()
        self.stats.requests += 1
        if not self.settings.enabled:
            return NextEditResult(reason="disabled")
        if self.session.version(snapshot.uri) != snapshot.version:
            return self._stale()
        ctx = self.context(snapshot, line, col)
        ctx.history.touch(snapshot.uri)
        edits = self.predict_model_free(ctx)
        if edits:
            self.stats.model_free_ms.append((time.perf_counter() - started) * 1000)
            metrics.observe_next_edit("model-free", time.perf_counter() - started)
        elif self.model is not None:
            model_started = time.perf_counter()
            try:
                edits, reason = await self._ask_model(ctx)
            except asyncio.CancelledError:
                current = asyncio.current_task()
                if current is not None and current.cancelling():
                    raise
                return self._stale()
            except MimiError as exc:
                self.stats.errors += 1
                self._warn(exc)
                return NextEditResult(reason=type(exc).__name__)
            self.stats.model_ms.append((time.perf_counter() - model_started) * 1000)
            metrics.observe_next_edit("model", time.perf_counter() - model_started)
            if reason:
                self.stats.unparsable += 1
                return NextEditResult(reason=reason)
            edits = self.checked(edits, ctx)
        else:
            self.stats.model_free_ms.append((time.perf_counter() - started) * 1000)
        if self.session.version(snapshot.uri) != snapshot.version:
            return self._stale()
        edits = [e for e in edits if self.session.version(e.uri) == e.version]
        if not edits:
            self.stats.empty += 1
            return NextEditResult(reason="none")
        return NextEditResult((self._offer(edits[0]),))

    async def _ask_model(self, ctx: PredictionContext) -> tuple[list[NextEdit], str]:
        assert self.model is not None
        self.cancel()  # the newest request wins
        self.stats.model_calls += 1
        task = asyncio.ensure_future(self.model.predict(ctx))
        self._model_task = task
        try:
            return await task
        finally:
            if self._model_task is task:
                self._model_task = None

    def checked(self, edits: list[NextEdit], ctx: PredictionContext) -> list[NextEdit]:
        """Drop edits that would undo the user's own recent edits (counted: reversed)."""
        out = []
        for edit in edits:
            snapshot = ctx.snapshot_of(edit.uri)
            if snapshot is None:
                continue
            recent = ctx.history.of(edit.uri)[-3:]
            if undoes(edit, snapshot, recent):
                self.stats.reversed += 1
                metrics.count_next_edit("reversed")
                continue
            out.append(edit)
        return out

    def _offer(self, edit: NextEdit) -> NextEdit:
        snapshot = self.session.snapshot(edit.uri)
        span = edit.span
        old = ""
        if snapshot is not None:
            old = _span_text(snapshot, span.start_line, span.start_col, span.end_line, span.end_col)
        offered = NextEdit(edit.uri, edit.version, span, edit.text, edit.source, uuid.uuid4().hex)
        self._offered[offered.id] = _Offered(offered, old)
        while len(self._offered) > OFFERED:
            self._offered.popitem(last=False)
        self.stats.suggested += 1
        self.stats.by_source[edit.source] = self.stats.by_source.get(edit.source, 0) + 1
        metrics.count_next_edit(f"suggested-{edit.source}")
        return offered

    def _stale(self) -> NextEditResult:
        self.stats.stale += 1
        return NextEditResult(reason="stale")

    def _warn(self, exc: MimiError) -> None:
        message = exc.user_message()
        if message not in self._warned:
            self._warned.add(message)
            log.warning("next-edit model: %s", message)


def _span_text(snapshot: DocumentSnapshot, sl: int, sc: int, el: int, ec: int) -> str:
    if sl >= len(snapshot.lines):
        return ""
    if sl == el:
        return snapshot.line_text(sl)[sc:ec]
    head = snapshot.lines[sl][sc:]
    middle = "".join(snapshot.lines[sl + 1 : el])
    tail = snapshot.lines[el][:ec] if el < len(snapshot.lines) else ""
    return head + middle + tail
