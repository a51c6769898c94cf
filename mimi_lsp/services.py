"""The composition root: the one place that builds every part and hands each what it needs.

``Services`` owns the session, the settings, the model backends (each behind the scheduler),
the health board, the background tasks, and every LSP-free use case: completion, next edits,
the agent, chat and the index. A part gets its collaborators in its constructor (the engine its
limiter and context provider, the scheduler its warning callback and task runner, the index the
shared backends and ``run_task``); nothing is patched in afterwards. ``apply_settings`` rebuilds
only what changed. The language server, the CLI, the web bridge and the MCP server all run on a
``Services``. Nothing here imports ``pygls`` or ``lsprotocol``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from mimi_lsp import __version__, metrics
from mimi_lsp.agent.service import AgentService
from mimi_lsp.chat import ChatService
from mimi_lsp.completion.engine import CompletionEngine
from mimi_lsp.domain import BackendHealth, CompletionRequest, ContextSnippet, HealthState
from mimi_lsp.errors import MimiError, ModelNotFound
from mimi_lsp.git.message import CommitMessages
from mimi_lsp.health import HealthBoard
from mimi_lsp.inference.base import Backend
from mimi_lsp.inference.factory import create_backend
from mimi_lsp.inference.scheduler import ScheduledBackend, schedule
from mimi_lsp.next_edit.service import NextEditService
from mimi_lsp.ratelimit import RateLimiter
from mimi_lsp.session import Session
from mimi_lsp.settings import BackendSettings, Settings, resolve_settings
from mimi_lsp.tasks import BackgroundTasks, run_soon

if TYPE_CHECKING:
    from mimi_lsp.index.service import IndexEvent, IndexService

log = logging.getLogger(__name__)


class Services:
    """Everything behind the protocol layer, built from settings."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.tasks = BackgroundTasks()
        """Every background job of this server (``run_task``)."""
        self.session = Session()
        self.settings = settings or resolve_settings()[0]
        self.workspace_folders: list[str] = []
        self._backends: dict[str, Backend] = {}
        self.health = HealthBoard(self.run_task)
        """Backend health per feature (completion, chat), with probing while unavailable."""
        self.limiter = RateLimiter(self.settings.limits)
        """Per-client token buckets for model-backed requests (``ratelimit.py``)."""
        self.completion = CompletionEngine(
            self.settings.completion,
            self.backend_for(self.settings.completion.backend),
            current_version=self.session.version,
            context_provider=self._completion_context,
            limiter=self.limiter,
            on_status=self._completion_health,
        )
        self.session.on_change(self.completion.document_changed)
        self.health.set_probe("completion", self.completion.check_backend)
        self.next_edit = NextEditService(
            self.settings.next_edit,
            self.session,
            folders=lambda: self.workspace_folders,
            backend=self._next_edit_backend(self.settings),
            run_task=self.run_task,
        )
        """Next-edit suggestions: its history hears every applied change."""
        self.session.on_edit(self.next_edit.record)
        self.session.on_change(self.next_edit.document_changed)
        self.agent = AgentService(self, on_health=lambda error: self.health.report("chat", error))
        """The agent behind code actions and ``mimi.agent.edit`` (one, with one set of counters)."""
        self.chat = ChatService(self, self.agent)
        self.commit_messages = CommitMessages(lambda: self.settings, lambda: self.chat_backend)
        """Commit messages from a repository's diff, written by the chat backend."""
        self.health.set_probe("chat", self.check_chat)
        self.index: IndexService | None = None
        """The workspace index; built by ``start_index`` (after initialize), None when disabled."""
        self._index_listeners: list[Callable[[IndexEvent], None]] = []
        self._index_started = False
        self.session.on_change(self._index_document_changed)
        self.metric_sources: dict[str, Callable[[], dict[str, Any]]] = {
            "ops": lambda: metrics.summary(self),
            "rateLimits": self.limiter.snapshot,
            "nextEdit": self.next_edit.stats.snapshot,
            "agent": self.agent.metrics,
        }
        """``mimi.status`` metrics by name, besides completion and the scheduler."""

    def run_task(self, coro: Coroutine[Any, Any, Any], *, name: str) -> asyncio.Task[Any]:
        """Start a background job (kept referenced, failures logged, cancelled at close)."""
        return self.tasks.run_task(coro, name=name)

    # ------------------------------------------------------------------ backends

    def backend_for(self, settings: BackendSettings) -> Backend:
        """One shared backend per distinct backend configuration."""
        key = settings.model_dump_json()
        backend = self._backends.get(key)
        if backend is None:
            # Every backend sits behind the request scheduler (priorities, batching, limits).
            backend = schedule(
                create_backend(settings),
                self.settings.scheduler,
                on_warning=self._scheduler_warning,
                run=self.run_task,
            )
            self._backends[key] = backend
        elif isinstance(backend, ScheduledBackend):
            backend.reconfigure(self.settings.scheduler)
        return backend

    def _scheduler_warning(self, message: str, fix: str) -> None:
        """Something the user should change that fails nothing yet (e.g. a model unloaded)."""
        self.health.set("completion", BackendHealth(HealthState.OK, message, fix))

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

    # ------------------------------------------------------------------ health

    def on_status(self, listener: Callable[[str, BackendHealth], None]) -> None:
        """``listener(feature, health)`` on every health change of a feature's backend."""
        self.health.on_change(listener)

    def _completion_health(self, health: BackendHealth) -> None:
        """Completion's health; when its model server fails and chat uses the same one, chat
        is checked too, so no client says "chat: healthy" about a server that is down."""
        was = self.health.get("completion").state
        self.health.set("completion", health)
        shared = self.settings.chat_backend() == self.settings.completion.backend
        if shared and health.state != HealthState.OK and was == HealthState.OK:
            run_soon(self.run_task, self.check_chat(), name="check-chat")

    async def check_chat(self) -> BackendHealth:
        """Whether the chat model can be reached and is there (recorded on the board)."""
        model = self.settings.chat.model
        backend = self.chat_backend
        try:
            info = await backend.model_info(model)
            if not info.present:
                raise ModelNotFound(
                    f"Chat model {model!r} is not available on the {backend.name} server.",
                    fix=f"Run: ollama pull {model}"
                    if backend.name == "ollama"
                    else "Set mimi.chat.model to a model the server lists.",
                )
        except MimiError as exc:
            self.health.report("chat", exc)
        except Exception:  # never let a check take the server down
            log.exception("chat backend check failed")
        else:
            self.health.report("chat", None)
        return self.health.get("chat")

    async def check_backends(self) -> None:
        """Check completion's and chat's backends now (start-up, settings changed)."""
        await asyncio.gather(self.completion.check_backend(), self.check_chat())

    def _health_entry(self, feature: str, kind: str, model: str) -> dict[str, Any]:
        health = self.health.get(feature)
        return {
            "kind": kind,
            "model": model,
            "state": health.state.value,
            "message": health.message,
            "fix": health.fix,
        }

    def status(self) -> dict[str, Any]:
        """What ``mimi.status`` reports."""
        return {
            "version": __version__,
            "backends": {
                "completion": self._health_entry(
                    "completion",
                    self.settings.completion.backend.kind,
                    self.settings.completion.model,
                ),
                "chat": self._health_entry(
                    "chat", self.settings.chat_backend().kind, self.settings.chat.model
                ),
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

    async def _completion_context(self, request: CompletionRequest) -> list[ContextSnippet]:
        """Snippets for a completion prompt from the index (none while it is off)."""
        if self.index is None:
            return []
        return await self.index.completion_context(request)

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
                run=self.run_task,
            )
            for uri in list(self.session.documents):
                self.index.document_changed(uri)
        run_soon(self.run_task, self.index.set_folders(list(self.workspace_folders)), name="index")

    def set_workspace_folders(self, folders: list[str]) -> None:
        """Workspace folders changed (multi-root): the index follows."""
        self.workspace_folders = list(folders)
        if self.index is not None:
            run_soon(self.run_task, self.index.set_folders(list(folders)), name="index-folders")

    def _index_document_changed(self, uri: str) -> None:
        if self.index is not None:
            self.index.document_changed(uri)

    def _reconfigure_index(self, settings: Settings) -> None:
        if self.index is not None and not settings.index.enabled:
            index, self.index = self.index, None
            run_soon(self.run_task, index.aclose(), name="index-close")
        elif self.index is not None:
            run_soon(self.run_task, self.index.apply_settings(settings), name="index-settings")
        elif self._index_started:
            self.start_index()

    # ------------------------------------------------------------------ settings

    def apply_settings(self, settings: Settings) -> None:
        """Adopt new settings; rebuild only the parts whose settings changed."""
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
            run_soon(self.run_task, backend.aclose(), name=f"close-{backend.name}")
        if old.index != settings.index or old.embedding != settings.embedding:
            self._reconfigure_index(settings)

    async def aclose(self) -> None:
        self.completion.cancel_all()
        self.next_edit.cancel()
        await self.health.aclose()
        if self.index is not None:
            index, self.index = self.index, None
            await index.aclose()
        for backend in self._backends.values():
            try:
                await backend.aclose()
            except Exception:
                log.debug("closing backend failed", exc_info=True)
        self._backends.clear()
        await self.tasks.aclose()
