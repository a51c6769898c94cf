"""The one flow from an agent run to an edit the editor applies.

``run_agent`` runs the agent with ``$/progress`` (cancellable) and turns backend failures into
JSON-RPC errors with the fix; ``prepare_edit`` confirms (clients that cannot preview annotated
edits are asked with ``window/showMessageRequest``), re-checks the plan against the live
documents (rebased when it still applies, refused when it does not) and builds the
``WorkspaceEdit`` (``convert.edits``). ``mimi.agent.edit`` sends the result with
``workspace/applyEdit``; ``codeAction/resolve`` returns it as the action's ``edit``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, Literal

from lsprotocol import types
from pygls.exceptions import JsonRpcException

from mimi_lsp.agent.loop import AgentStep
from mimi_lsp.agent.plan import StalePlan
from mimi_lsp.agent.service import AgentTask, EditOutcome
from mimi_lsp.convert.edits import workspace_edit
from mimi_lsp.errors import REQUEST_FAILED, MimiError
from mimi_lsp.features.progress import WorkProgress
from mimi_lsp.health import classify
from mimi_lsp.language_server import MimiServer


class RunCancelled(MimiError):
    """The user pressed cancel on the run's progress report."""


def failure(exc: MimiError) -> JsonRpcException:
    """A JSON-RPC error the editor shows, with the fix the user can apply."""
    return JsonRpcException(exc.user_message(), code=REQUEST_FAILED)


def short_label(instruction: str) -> str:
    first = instruction.strip().splitlines()[0] if instruction.strip() else "edit"
    return f"Mimi: {first[:60]}{'…' if len(first) > 60 else ''}"


async def run_agent(server: MimiServer, task: AgentTask, title: str) -> EditOutcome:
    """Run the agent with progress reports; backend failures become JSON-RPC errors."""
    agent = server.services.agent
    progress = WorkProgress(server, "agent")
    await progress.begin(title, message="starting", cancel_task=asyncio.current_task())

    def on_step(step: AgentStep) -> None:
        mark = "" if step.ok else " (failed)"
        progress.report(f"step {step.index}: {step.summary}{mark}")

    async def confirm(question: str) -> bool:
        return await server.ask(question, ["Run", "Cancel"]) == "Run"

    ended = "done"
    try:
        return await agent.edit(
            task,
            on_step=on_step,
            on_turn=lambda n: progress.report(f"thinking (turn {n})"),
            confirm=confirm,
        )
    except asyncio.CancelledError:
        ended = "cancelled"
        current = asyncio.current_task()
        if not progress.cancelled_by_user or current is None:
            raise
        # The progress bar's cancel button: an answer ("cancelled"), not a dead request
        # (pygls never answers a command whose task ends in CancelledError).
        current.uncancel()
        raise RunCancelled("Cancelled.") from None
    except StalePlan:
        agent.stats.stale += 1
        raise
    except MimiError as exc:
        if classify(exc) is None:
            raise
        raise failure(exc) from exc
    finally:
        progress.end(ended)


def result(outcome: EditOutcome | None, applied: bool, summary: str) -> dict[str, Any]:
    """What ``mimi.agent.edit`` answers."""
    return {
        "applied": applied,
        "summary": summary,
        "files": outcome.files if outcome else [],
        "steps": [
            {"tool": s.tool, "summary": s.summary, "ok": s.ok}
            for s in (outcome.steps if outcome else [])
        ],
        "stopped": outcome.stopped if outcome else None,
    }


@dataclass(slots=True)
class PreparedEdit:
    """An agent's plan ready to apply, or why it is not."""

    state: Literal["ready", "empty", "declined", "stale", "uncreatable"]
    summary: str
    edit: types.WorkspaceEdit | None = None
    skipped: list[str] = field(default_factory=list)


async def prepare_edit(server: MimiServer, outcome: EditOutcome, label: str) -> PreparedEdit:
    """Confirm when the client cannot preview, re-check staleness, build the WorkspaceEdit."""
    stats = server.services.agent.stats
    if not outcome.plan.changes_list:
        return PreparedEdit("empty", outcome.summary)
    client = server.session.client
    if not client.change_annotations:
        files = ", ".join(outcome.files[:5]) + (" …" if len(outcome.files) > 5 else "")
        question = f"Mimi: {outcome.summary}\nApply changes to {files}?"
        if await server.ask(question, ["Apply", "Cancel"]) != "Apply":
            stats.rejected += 1
            return PreparedEdit("declined", outcome.summary)
    try:
        outcome.rebased.extend(outcome.plan.refresh())
    except StalePlan as exc:
        stats.stale += 1
        return PreparedEdit("stale", exc.user_message())
    built = workspace_edit(outcome.plan, client, server.session.codec, label)
    summary = outcome.summary
    if built.skipped:
        note = f"this editor cannot create files: skipped {', '.join(built.skipped)}"
        if len(built.skipped) == len(outcome.plan.changes_list):
            return PreparedEdit("uncreatable", f"{note}. {summary}", skipped=built.skipped)
        summary += f" ({note})"
    return PreparedEdit("ready", summary, built.edit, built.skipped)
