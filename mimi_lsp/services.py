"""The services a server (or the CLI, the web bridge, the MCP server) runs on.

``Services`` owns the session, the settings, the model backends and every LSP-free use case
(completion today; index, chat and agent as they land). ``apply_settings`` rebuilds only what
changed. Nothing here imports ``pygls`` or ``lsprotocol``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from mimi_lsp import __version__, metrics
from mimi_lsp.completion.engine import CompletionEngine
from mimi_lsp.domain import BackendHealth, HealthState
from mimi_lsp.inference.base import Backend
from mimi_lsp.inference.factory import create_backend
from mimi_lsp.inference.scheduler import ScheduledBackend, schedule
from mimi_lsp.next_edit.service import NextEditService
from mimi_lsp.ratelimit import RateLimiter
from mimi_lsp.session import Session
from mimi_lsp.settings import BackendSettings, Settings, resolve_settings

if TYPE_CHECKING:
    from mimi_lsp.index.service import IndexEvent, IndexService

log = logging.getLogger(__name__)


class Services:
    """Everything behind the protocol layer, built from settings."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.session = Session()
        self.settings = settings or resolve_settings()[0]
        self.workspace_folders: list[str] = []
        self._backends: dict[str, Backend] = {}
        self._status_listeners: list[Callable[[str, BackendHealth], None]] = []
        self.metric_sources: dict[str, Callable[[], dict[str, Any]]] = {}
        """More ``mimi.status`` metrics by name (e.g. the agent's counters)."""
        self.limiter = RateLimiter(self.settings.limits)
        """Per-client token buckets for model-backed requests (``ratelimit.py``)."""
        self.metric_sources["ops"] = lambda: metrics.summary(self)
        self.metric_sources["rateLimits"] = self.limiter.snapshot
        self.completion = CompletionEngine(
            self.settings.completion,
            self.backend_for(self.settings.completion.backend),
            current_version=self.session.version,
            on_status=lambda health: self._emit_status("completion", health),
        )
        self.completion.limiter = self.limiter
        self.session.on_change(self.completion.document_changed)
        self.next_edit = NextEditService(
            self.settings.next_edit,
            self.session,
            folders=lambda: self.workspace_folders,
            backend=self._next_edit_backend(self.settings),
        )
        """Next-edit suggestions: its history hears every applied change."""
        self.session.on_edit(self.next_edit.record)
        self.session.on_change(self.next_edit.document_changed)
        self.metric_sources["nextEdit"] = self.next_edit.stats.snapshot
        self.index: IndexService | None = None
        """The workspace index; built by ``start_index`` (after initialize), None when disabled."""
        self._index_listeners: list[Callable[[IndexEvent], None]] = []
        self._index_started = False
        self.session.on_change(self._index_document_changed)

    # ------------------------------------------------------------------ backends

    def backend_for(self, settings: BackendSettings) -> Backend:
        """One shared backend per distinct backend configuration."""
        key = settings.model_dump_json()
        backend = self._backends.get(key)
        if backend is None:
            # Every backend sits behind the request scheduler (priorities, batching, limits).
            backend = schedule(create_backend(settings), self.settings.scheduler)
            if isinstance(backend, ScheduledBackend):
                backend.on_warning = lambda message, fix: self._emit_status(
                    "completion", BackendHealth(HealthState.OK, message, fix)
                )
            self._backends[key] = backend
        elif isinstance(backend, ScheduledBackend):
            backend.reconfigure(self.settings.scheduler)
        return backend

    def scheduler_metrics(self) -> dict[str, Any]:
        """Queue depths, running calls and batch sizes per scheduled backend."""
        return {
            backend.name + ("" if i == 0 else f"#{i}"): backend.metrics()
            for i, backend in enumerate(
                b for b in self._backends.values() if isinstance(b, ScheduledBackend)
            )
        }

    def _next_edit_backend(self, settings: Settings) -> Backend | None:
        """The next-edit model's backend, only when a model is set."""
        if not settings.next_edit.model:
            return None
        return self.backend_for(settings.next_edit_backend())

    @property
    def chat_backend(self) -> Backend:
        return self.backend_for(self.settings.chat_backend())

    # ------------------------------------------------------------------ status

    def on_status(self, listener: Callable[[str, BackendHealth], None]) -> None:
        """``listener(feature, health)`` on every health change of a feature's backend."""
        self._status_listeners.append(listener)

    def _emit_status(self, feature: str, health: BackendHealth) -> None:
        for listener in self._status_listeners:
            try:
                listener(feature, health)
            except Exception:
                log.exception("status listener failed")

    def status(self) -> dict[str, Any]:
        """What ``mimi.status`` reports."""
        health = self.completion.health
        return {
            "version": __version__,
            "backends": {
                "completion": {
                    "kind": self.settings.completion.backend.kind,
                    "model": self.settings.completion.model,
                    "state": health.state.value,
                    "message": health.message,
                    "fix": health.fix,
                },
            },
            "index": self.index.status_dict()
            if self.index is not None
            else {"state": "idle" if self.settings.index.enabled else "disabled"},
            "metrics": {
                "completion": self.completion.stats.snapshot(),
                "scheduler": self.scheduler_metrics(),
                **{name: source() for name, source in self.metric_sources.items()},
            },
        }

    # ------------------------------------------------------------------ index

    def on_index_event(self, listener: Callable[[IndexEvent], None]) -> None:
        """``listener(event)`` on every index status change and progress step."""
        self._index_listeners.append(listener)

    def start_index(self) -> None:
        """Build the index (when enabled) over the workspace folders; returns at once."""
        self._index_started = True
        if not self.settings.index.enabled:
            return
        if self.index is None:
            from mimi_lsp.index.service import IndexService

            self.index = IndexService(
                self.settings,
                backend_for=self.backend_for,
                snapshot=self.session.snapshot,
                listeners=self._index_listeners,
            )
            self.completion.context_provider = self.index.completion_context
            for uri in list(self.session.documents):
                self.index.document_changed(uri)
        _spawn(self.index.set_folders(list(self.workspace_folders)))

    def set_workspace_folders(self, folders: list[str]) -> None:
        """Workspace folders changed (multi-root): the index follows."""
        self.workspace_folders = list(folders)
        if self.index is not None:
            _spawn(self.index.set_folders(list(folders)))

    def _index_document_changed(self, uri: str) -> None:
        if self.index is not None:
            self.index.document_changed(uri)

    def _reconfigure_index(self, settings: Settings) -> None:
        if self.index is not None and not settings.index.enabled:
            index, self.index = self.index, None
            self.completion.context_provider = None
            _spawn(index.aclose())
        elif self.index is not None:
            _spawn(self.index.apply_settings(settings))
        elif self._index_started:
            self.start_index()

    # ------------------------------------------------------------------ settings

    def apply_settings(self, settings: Settings) -> None:
        """Adopt new settings; rebuild the completion engine's backend if it changed."""
        old = self.settings
        self.settings = settings
        self.limiter.configure(settings.limits)
        if old.completion != settings.completion:
            self.completion.reconfigure(
                settings.completion, self.backend_for(settings.completion.backend)
            )
        if (
            old.next_edit != settings.next_edit
            or old.completion.backend != settings.completion.backend
        ):
            self.next_edit.reconfigure(settings.next_edit, self._next_edit_backend(settings))
        # Close backends no configuration uses any more.
        in_use = {
            settings.completion.backend.model_dump_json(),
            settings.chat_backend().model_dump_json(),
            settings.embedding.backend.model_dump_json(),
            settings.next_edit_backend().model_dump_json(),
        }
        for key in [k for k in self._backends if k not in in_use]:
            backend = self._backends.pop(key)
            _close_soon(backend)
        if old.index != settings.index or old.embedding != settings.embedding:
            self._reconfigure_index(settings)

    async def aclose(self) -> None:
        self.completion.cancel_all()
        self.next_edit.cancel()
        if self.index is not None:
            index, self.index = self.index, None
            await index.aclose()
        for backend in self._backends.values():
            try:
                await backend.aclose()
            except Exception:
                log.debug("closing backend failed", exc_info=True)
        self._backends.clear()


def _close_soon(backend: Backend) -> None:
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return
    task = loop.create_task(backend.aclose())
    _background.add(task)
    task.add_done_callback(_background.discard)


_background: set[asyncio.Task[Any]] = set()


def _spawn(coro: Any) -> None:
    """Run ``coro`` in the background (keeping a reference; failures are logged)."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        coro.close()
        return
    task = loop.create_task(coro)
    _background.add(task)

    def done(t: asyncio.Task[Any]) -> None:
        _background.discard(t)
        if not t.cancelled() and t.exception() is not None:
            log.error("background index task failed", exc_info=t.exception())

    task.add_done_callback(done)
