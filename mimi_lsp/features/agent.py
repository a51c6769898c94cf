"""mimi.agent.edit: run the agent and hand its plan to the editor as a WorkspaceEdit.

Args ``[{uri, range?, instruction?}]`` → ``{applied, summary, files, steps, stopped}``.
Without ``instruction`` (a client that did not prompt for one), the server offers a few
common instructions through ``window/showMessageRequest``.

The plan becomes ``documentChanges``: a ``TextDocumentEdit`` per file carrying the version
the plan was computed from (the session's version for open documents, ``null`` for files on
disk), ``CreateFile`` plus an insert for new files, and change annotations with
``needsConfirmation`` so the editor shows a preview. Clients that cannot show annotations
get a ``window/showMessageRequest`` confirmation first; clients without ``documentChanges``
get ``changes`` (and no file creation). Right before sending, the plan is checked against
the live documents again: rebased when it still applies, refused when it does not.

Each tool call is reported through ``$/progress`` (cancellable: the editor's cancel button
and ``$/cancelRequest`` both stop the run).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcException

from mimi_lsp.agent.loop import AgentStep
from mimi_lsp.agent.plan import StalePlan, text_changes
from mimi_lsp.agent.service import AgentService, AgentTask, EditOutcome
from mimi_lsp.convert import position_to_col
from mimi_lsp.domain import BackendHealth, HealthState, Span
from mimi_lsp.errors import (
    BackendError,
    BackendTimeout,
    BackendUnavailable,
    MimiError,
    ModelNotFound,
)
from mimi_lsp.features._args import CommandArgs, Coordinate, Text, Uri, parse_args
from mimi_lsp.session import split_lines

log = logging.getLogger(__name__)

REQUEST_FAILED = -32803
CANNED_INSTRUCTIONS = [
    "Add error handling",
    "Simplify this code",
    "Add type hints",
    "Add comments explaining this code",
]


class PositionArg(CommandArgs):
    line: Coordinate
    character: Coordinate


class RangeArg(CommandArgs):
    start: PositionArg
    end: PositionArg


class AgentEditArgs(CommandArgs):
    uri: Uri | None = None
    range: RangeArg | None = None
    instruction: Text | None = None


# ---------------------------------------------------------------------------- client support


@dataclass(frozen=True, slots=True)
class EditSupport:
    """What the client's ``workspace/applyEdit`` understands."""

    document_changes: bool
    create: bool
    annotations: bool
    progress: bool


def edit_support(server: Any) -> EditSupport:
    caps = server.client_capabilities
    ws = caps.workspace.workspace_edit if caps and caps.workspace else None
    ops = [str(getattr(o, "value", o)) for o in (ws.resource_operations or [])] if ws else []
    # Neovim applies documentChanges but declares only resourceOperations: resource
    # operations exist only inside documentChanges, so they imply it.
    doc_changes = bool(ws and (ws.document_changes or ops))
    window = caps.window if caps else None
    return EditSupport(
        document_changes=doc_changes,
        create=doc_changes and "create" in ops,
        annotations=bool(doc_changes and ws and ws.change_annotation_support is not None),
        progress=bool(window and window.work_done_progress),
    )


def to_range(lines: list[str], span: Span, codec: Any) -> types.Range:
    def pos(line: int, col: int) -> types.Position:
        text = lines[line] if line < len(lines) else ""
        return types.Position(line=line, character=codec.from_col(text, col))

    return types.Range(
        start=pos(span.start_line, span.start_col), end=pos(span.end_line, span.end_col)
    )


def workspace_edit(
    outcome: EditOutcome, support: EditSupport, codec: Any, label: str
) -> tuple[types.WorkspaceEdit, list[str]]:
    """The plan as a WorkspaceEdit the client understands, and files it had to leave out."""
    plan = outcome.plan
    ws = plan.workspace
    skipped: list[str] = []
    if not support.document_changes:
        changes: dict[str, list[types.TextEdit]] = {}
        for change in plan.changes_list:
            rel = ws.relative(change.path)
            if change.created:
                skipped.append(rel)
                continue
            lines = split_lines(change.base_text)
            changes[ws.uri(change.path)] = [
                types.TextEdit(range=to_range(lines, c.span, codec), new_text=c.text)
                for c in text_changes(change.base_text, change.new_text)
            ]
        return types.WorkspaceEdit(changes=changes), skipped

    document_changes: list[Any] = []
    annotations: dict[str, types.ChangeAnnotation] = {}
    for n, change in enumerate(plan.changes_list):
        rel = ws.relative(change.path)
        uri = ws.uri(change.path)
        annotation_id = None
        if support.annotations:
            annotation_id = f"mimi-{n}"
            annotations[annotation_id] = types.ChangeAnnotation(
                label=label,
                needs_confirmation=True,
                description=f"{rel} (new file)" if change.created else rel,
            )
        if change.created:
            if not support.create:
                skipped.append(rel)
                continue
            document_changes.append(
                types.CreateFile(
                    uri=uri,
                    options=types.CreateFileOptions(overwrite=False, ignore_if_exists=False),
                    annotation_id=annotation_id,
                )
            )
        lines = split_lines(change.base_text)
        edits: list[Any] = []
        for c in text_changes(change.base_text, change.new_text):
            rng = to_range(lines, c.span, codec)
            if annotation_id:
                edits.append(
                    types.AnnotatedTextEdit(range=rng, new_text=c.text, annotation_id=annotation_id)
                )
            else:
                edits.append(types.TextEdit(range=rng, new_text=c.text))
        document_changes.append(
            types.TextDocumentEdit(
                text_document=types.OptionalVersionedTextDocumentIdentifier(
                    uri=uri, version=None if change.created else change.base_version
                ),
                edits=edits,
            )
        )
    return (
        types.WorkspaceEdit(
            document_changes=document_changes, change_annotations=annotations or None
        ),
        skipped,
    )


# ---------------------------------------------------------------------------- progress


class StepProgress:
    """``$/progress`` for one agent run; the editor's cancel button cancels the run."""

    def __init__(self, server: Any, title: str, enabled: bool) -> None:
        self.server = server
        self.title = title
        self.enabled = enabled
        self.token = f"mimi-agent-{uuid.uuid4().hex[:12]}"
        self._active = False
        self.cancelled_by_user = False

    async def __aenter__(self) -> StepProgress:
        if not self.enabled:
            return self
        progress = self.server.work_done_progress
        try:
            # A client that never answers must not hold the run hostage.
            await asyncio.wait_for(progress.create_async(self.token), 5)
        except Exception:
            log.debug("workDoneProgress/create failed", exc_info=True)
            return self
        progress.begin(
            self.token,
            types.WorkDoneProgressBegin(title=self.title, cancellable=True, message="starting"),
        )
        self._active = True
        task = asyncio.current_task()
        future = progress.tokens.get(self.token)
        if future is not None and task is not None:

            def cancelled(f: Any) -> None:
                if f.cancelled() and not task.done():
                    self.cancelled_by_user = True
                    task.cancel()

            future.add_done_callback(cancelled)
        return self

    def turn(self, n: int) -> None:
        if self._active:
            self.server.work_done_progress.report(
                self.token, types.WorkDoneProgressReport(message=f"thinking (turn {n})")
            )

    def step(self, step: AgentStep) -> None:
        if self._active:
            mark = "" if step.ok else " (failed)"
            self.server.work_done_progress.report(
                self.token,
                types.WorkDoneProgressReport(message=f"step {step.index}: {step.summary}{mark}"),
            )

    async def __aexit__(self, *exc: Any) -> None:
        if not self._active:
            return
        progress = self.server.work_done_progress
        message = (
            "cancelled" if exc[0] is asyncio.CancelledError or self.cancelled_by_user else "done"
        )
        try:
            progress.end(self.token, types.WorkDoneProgressEnd(message=message))
        finally:
            progress.tokens.pop(self.token, None)


# ---------------------------------------------------------------------------- running


class RunCancelled(MimiError):
    """The user pressed cancel on the run's progress report."""


def failure(exc: MimiError) -> JsonRpcException:
    """A JSON-RPC error the editor shows, with the fix the user can apply."""
    return JsonRpcException(exc.user_message(), code=REQUEST_FAILED)


def report_backend(server: Any, exc: Exception | None) -> None:
    """``mimi/status`` for the chat backend: unavailable/error once, ok when it is back."""
    if exc is None:
        health = BackendHealth(HealthState.OK)
    elif isinstance(exc, BackendUnavailable | ModelNotFound | BackendTimeout):
        health = BackendHealth(HealthState.UNAVAILABLE, exc.message, getattr(exc, "fix", ""))
    elif isinstance(exc, BackendError):
        health = BackendHealth(HealthState.ERROR, exc.message, getattr(exc, "fix", ""))
    else:
        return
    server.notify_status("chat", health)


async def ask_user(server: Any, message: str, actions: list[str]) -> str | None:
    """``window/showMessageRequest``; the chosen title, or None when dismissed or failed."""
    try:
        choice = await server.window_show_message_request_async(
            types.ShowMessageRequestParams(
                type=types.MessageType.Info,
                message=message,
                actions=[types.MessageActionItem(title=a) for a in actions],
            )
        )
    except Exception:
        log.debug("showMessageRequest failed", exc_info=True)
        return None
    return getattr(choice, "title", None)


async def run_agent(server: Any, agent: AgentService, task: AgentTask, title: str) -> EditOutcome:
    """Run the agent with progress reports; backend failures become JSON-RPC errors."""
    support = edit_support(server)

    async def confirm(question: str) -> bool:
        return await ask_user(server, question, ["Run", "Cancel"]) == "Run"

    async with StepProgress(server, title, support.progress) as progress:
        try:
            outcome = await agent.edit(
                task, on_step=progress.step, on_turn=progress.turn, confirm=confirm
            )
        except asyncio.CancelledError:
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
        except (BackendUnavailable, ModelNotFound, BackendTimeout, BackendError) as exc:
            report_backend(server, exc)
            raise failure(exc) from exc
    report_backend(server, None)
    return outcome


def result(outcome: EditOutcome | None, applied: bool, summary: str) -> dict[str, Any]:
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


async def confirm_edit(server: Any, outcome: EditOutcome, support: EditSupport) -> bool:
    """Ask before applying when the client cannot preview annotated edits itself."""
    if support.annotations:
        return True
    files = ", ".join(outcome.files[:5]) + (" …" if len(outcome.files) > 5 else "")
    question = f"Mimi: {outcome.summary}\nApply changes to {files}?"
    return await ask_user(server, question, ["Apply", "Cancel"]) == "Apply"


async def apply_outcome(
    server: Any, agent: AgentService, outcome: EditOutcome, label: str
) -> dict[str, Any]:
    """Confirm, re-check staleness, and send ``workspace/applyEdit``."""
    if not outcome.plan.changes_list:
        return result(outcome, False, outcome.summary or "No changes.")
    support = edit_support(server)
    if not await confirm_edit(server, outcome, support):
        agent.stats.rejected += 1
        return result(outcome, False, f"Not applied (declined): {outcome.summary}")
    try:
        outcome.rebased.extend(outcome.plan.refresh())
    except StalePlan as exc:
        agent.stats.stale += 1
        return result(outcome, False, f"Not applied: {exc.user_message()}")
    edit, skipped = workspace_edit(outcome, support, server.services.session.codec, label)
    summary = outcome.summary
    if skipped:
        note = f"this editor cannot create files: skipped {', '.join(skipped)}"
        if len(skipped) == len(outcome.plan.changes_list):
            return result(outcome, False, f"Not applied: {note}. {summary}")
        summary += f" ({note})"
    answer = await server.workspace_apply_edit_async(
        types.ApplyWorkspaceEditParams(edit=edit, label=label)
    )
    if answer is not None and answer.applied:
        agent.stats.applied += 1
        return result(outcome, True, summary)
    agent.stats.rejected += 1
    reason = getattr(answer, "failure_reason", None) or "the editor did not apply it"
    return result(outcome, False, f"Not applied: {reason}. {summary}")


def task_from_args(
    server: Any, args: AgentEditArgs, instruction: str, extra: str = ""
) -> AgentTask:
    span = None
    if args.uri and args.range is not None:
        span = span_from_range(server, args.uri, args.range.start, args.range.end)
    return AgentTask(instruction=instruction, uri=args.uri, span=span, extra=extra)


def span_from_range(server: Any, uri: str, start: Any, end: Any) -> Span:
    """Protocol positions (negotiated encoding) → code-point span in the open document."""
    snapshot = server.services.session.snapshot(uri)
    if snapshot is None:
        return Span(start.line, start.character, end.line, end.character)
    codec = server.services.session.codec
    sl, sc = position_to_col(
        snapshot, types.Position(line=start.line, character=start.character), codec
    )
    el, ec = position_to_col(
        snapshot, types.Position(line=end.line, character=end.character), codec
    )
    return Span(sl, sc, el, ec)


def short_label(instruction: str) -> str:
    first = instruction.strip().splitlines()[0] if instruction.strip() else "edit"
    return f"Mimi: {first[:60]}{'…' if len(first) > 60 else ''}"


def register(server: Any) -> None:
    agent = AgentService(server.services)
    server.agent = agent
    metric_sources = getattr(server.services, "metric_sources", None)
    if isinstance(metric_sources, dict):
        metric_sources["agent"] = agent.metrics

    @server.command("mimi.agent.edit")
    async def agent_edit(*args: Any) -> dict[str, Any]:
        parsed = parse_args(AgentEditArgs, args, "mimi.agent.edit")
        instruction = (parsed.instruction or "").strip()
        if not instruction:
            chosen = await ask_user(
                server, "Mimi: what should I do with the selection?", CANNED_INSTRUCTIONS
            )
            if not chosen:
                return result(None, False, "No instruction given.")
            instruction = chosen
        task = task_from_args(server, parsed, instruction)
        try:
            outcome = await run_agent(server, agent, task, short_label(instruction))
        except StalePlan as exc:
            return result(None, False, f"Not applied: {exc.user_message()}")
        except JsonRpcException:
            raise
        except MimiError as exc:
            return result(None, False, exc.user_message())
        except asyncio.CancelledError:
            log.info("agent run cancelled")
            raise
        return await apply_outcome(server, agent, outcome, short_label(instruction))
