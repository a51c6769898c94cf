"""The agent use case: an instruction (+ file and selection) in, a checked ``EditPlan`` out.

``AgentService.edit`` builds the run's workspace view, tools (built-in, optional confirmed
shell, external MCP servers) and first message, runs the ``AgentLoop``, and refreshes the plan
against the live documents (rebase or ``StalePlan``). Turning the plan into a
``WorkspaceEdit`` and asking the editor to apply it is the feature layer's job; the MCP server,
the CLI and the benchmark write it to disk instead. LSP-free.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from mimi_lsp.agent.loop import AgentLimits, AgentLoop, AgentStep
from mimi_lsp.agent.plan import EditPlan
from mimi_lsp.agent.prompts import EDIT_SYSTEM, edit_task_message
from mimi_lsp.agent.tools import workspace_tools
from mimi_lsp.agent.workspace import Workspace
from mimi_lsp.domain import ChatMessage, DocumentSnapshot, Span
from mimi_lsp.errors import OutsideWorkspace
from mimi_lsp.uris import path_to_uri, uri_to_path

if TYPE_CHECKING:
    from mimi_lsp.index.service import IndexService
    from mimi_lsp.inference.base import Backend
    from mimi_lsp.session import Session
    from mimi_lsp.settings import Settings

log = logging.getLogger(__name__)

EXCERPT_LINES = 40


@dataclass(frozen=True, slots=True)
class AgentTask:
    """What the user asked for, and where."""

    instruction: str
    uri: str | None = None
    span: Span | None = None
    extra: str = ""
    """More context for the first message (a diagnostic, the test file to extend)."""


@dataclass(slots=True)
class EditOutcome:
    plan: EditPlan
    summary: str
    steps: list[AgentStep]
    stopped: str | None = None
    rebased: list[str] = field(default_factory=list)

    @property
    def files(self) -> list[str]:
        return [self.plan.workspace.relative(c.path) for c in self.plan.changes_list]


@dataclass(slots=True)
class AgentStats:
    runs: int = 0
    applied: int = 0
    rejected: int = 0
    stale: int = 0
    cancelled: int = 0
    failed: int = 0
    steps: int = 0

    def snapshot(self) -> dict[str, int]:
        return {
            "runs": self.runs,
            "applied": self.applied,
            "rejected": self.rejected,
            "stale": self.stale,
            "cancelled": self.cancelled,
            "failed": self.failed,
            "steps": self.steps,
        }


def selection_text(snapshot: DocumentSnapshot, span: Span) -> str:
    """The text of ``span`` in ``snapshot`` (columns in code points)."""
    if span.start_line >= len(snapshot.lines):
        return ""
    if span.start_line == span.end_line:
        return snapshot.line_text(span.start_line)[span.start_col : span.end_col]
    first = snapshot.lines[span.start_line][span.start_col :]
    middle = snapshot.lines[span.start_line + 1 : span.end_line]
    last = (
        snapshot.lines[span.end_line][: span.end_col] if span.end_line < len(snapshot.lines) else ""
    )
    return first + "".join(middle) + last


def snapshot_for_path(session: Session, path: str) -> DocumentSnapshot | None:
    """The open document whose URI names ``path`` (clients spell URIs differently)."""
    snap = session.snapshot(path_to_uri(path))
    if snap is not None:
        return snap
    for uri in list(session.documents):
        if uri.startswith("file:") and os.path.realpath(uri_to_path(uri)) == path:
            return session.snapshot(uri)
    return None


def excerpt(snapshot: DocumentSnapshot, line: int, radius: int = EXCERPT_LINES // 2) -> str:
    start, end = max(0, line - radius), min(len(snapshot.lines), line + radius + 1)
    return "".join(snapshot.lines[start:end])


class AgentHost(Protocol):
    """What the agent and chat read from the services that build them (``Services``)."""

    @property
    def session(self) -> Session: ...

    @property
    def settings(self) -> Settings: ...

    @property
    def workspace_folders(self) -> list[str]: ...

    @property
    def index(self) -> IndexService | None: ...

    @property
    def chat_backend(self) -> Backend: ...


class AgentService:
    """Runs edit tasks for the language server (and anything else holding ``Services``)."""

    def __init__(
        self,
        services: AgentHost,
        *,
        on_health: Callable[[BaseException | None], None] | None = None,
    ) -> None:
        self.services = services
        self.stats = AgentStats()
        self.on_health = on_health or (lambda error: None)
        """Told how each model run ended (None: it answered), for the chat backend's health."""

    def workspace(self, uri: str | None = None) -> Workspace:
        """A confined view of the workspace folders (only the file ``uri`` when none is open)."""
        services = self.services
        settings = services.settings.index
        return Workspace(
            lambda: list(services.workspace_folders),
            lambda path: snapshot_for_path(services.session, path),
            index=lambda: services.index,
            exclude=settings.exclude,
            max_file_bytes=settings.max_file_bytes,
            file=uri_to_path(uri) if uri and uri.startswith("file:") else None,
        )

    def loop(self) -> AgentLoop:
        settings = self.services.settings
        agent = settings.agent
        return AgentLoop(
            self.services.chat_backend,
            model=settings.chat.model,
            limits=AgentLimits(
                max_steps=agent.max_steps,
                timeout_s=agent.timeout_ms / 1000,
                max_tokens=agent.max_tokens,
            ),
            tool_mode=agent.tool_mode,
            max_tokens=settings.chat.max_tokens,
        )

    async def edit(
        self,
        task: AgentTask,
        *,
        on_step: Callable[[AgentStep], None] | None = None,
        on_turn: Callable[[int], None] | None = None,
        confirm: Callable[[str], Awaitable[bool]] | None = None,
    ) -> EditOutcome:
        """Run the agent on ``task`` and return its refreshed plan (``StalePlan`` if it cannot be)."""
        self.stats.runs += 1
        workspace = self.workspace(task.uri)
        plan = EditPlan(workspace)
        rel = selected = around = None
        if task.uri and not task.uri.startswith("file:"):
            raise OutsideWorkspace("this document is not a file on disk", fix="Save it first.")
        if task.uri:
            path = uri_to_path(task.uri)
            try:
                real = workspace.resolve(path)
            except OutsideWorkspace as exc:
                raise OutsideWorkspace(
                    f"{os.path.basename(path)} is outside the workspace folders",
                    fix="Open its folder as a workspace folder.",
                ) from exc
            rel = workspace.relative(real)
            snapshot = self.services.session.snapshot(task.uri) or workspace.open_snapshot(real)
            if snapshot is not None and task.span is not None:
                text = selection_text(snapshot, task.span)
                if text.strip():
                    selected = text
                else:
                    around = excerpt(snapshot, task.span.start_line)
        agent = self.services.settings.agent
        tools = workspace_tools(workspace, plan, confirm=confirm, allow_shell=agent.allow_shell)
        message = edit_task_message(task.instruction, rel, task.span, selected, around, task.extra)
        async with contextlib.AsyncExitStack() as stack:
            if agent.mcp_servers:
                from mimi_lsp.agent.mcp_client import connect_mcp_tools

                await connect_mcp_tools(stack, agent.mcp_servers, tools)
            try:
                outcome = await self.loop().run(
                    EDIT_SYSTEM,
                    [ChatMessage("user", message)],
                    tools,
                    on_step=on_step,
                    on_turn=on_turn,
                )
            except BaseException as exc:
                if isinstance(exc, Exception):
                    self.stats.failed += 1
                    self.on_health(exc)
                else:
                    self.stats.cancelled += 1
                raise
        self.on_health(None)
        self.stats.steps += len(outcome.steps)
        rebased = plan.refresh()
        summary = outcome.reply.strip() or _default_summary(plan, workspace)
        if outcome.stopped:
            summary = f"(stopped: {outcome.stopped.replace('_', ' ')}) {summary}"
        return EditOutcome(plan, summary, outcome.steps, outcome.stopped, rebased)

    def metrics(self) -> dict[str, Any]:
        return self.stats.snapshot()


def _default_summary(plan: EditPlan, workspace: Workspace) -> str:
    files = [workspace.relative(c.path) for c in plan.changes_list]
    if not files:
        return "No changes."
    return "Edited " + ", ".join(files) + "."
