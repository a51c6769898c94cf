"""textDocument/codeAction + codeAction/resolve: the agent behind ordinary code actions.

The list is cheap (no model call; one tree-sitter parse when the user asks):

- ``quickfix`` "Mimi: fix “…”" for each diagnostic in the range;
- ``refactor.rewrite`` "Mimi: edit selection…" / "Mimi: edit `f`…" for the function around
  the cursor (command ``mimi.agent.edit`` without an instruction: the client asks the user for
  one and adds it; a client that does not gets a ``window/showMessageRequest`` with common
  instructions from the server);
- ``refactor.rewrite.mimi.addDocstrings`` "Mimi: add docstrings";
- ``refactor.rewrite.mimi.writeTests`` "Mimi: write tests for `f`" (creates or extends the
  test file);
- "Mimi: explain" (kind ``""``; command ``mimi.explain``, which a client with a chat panel
  opens there).

Refactor kinds, because editors list them where users look (VS Code's Ctrl+. leaves every
``source.*`` action out). A request that asks for ``source`` actions only ("Source Action…",
``editor.codeActionsOnSave``) gets docstrings and tests as ``source.mimi.*`` instead, so no menu
shows one twice. Automatic requests (the lightbulb, on every cursor move) get only the quick
fixes; the rest appear when the user asks (Ctrl+., ``vim.lsp.buf.code_action()``).

When the client resolves code actions (``resolveSupport`` includes ``edit``), the agent
actions carry only ``data`` and the model runs in ``codeAction/resolve``, which returns the
``edit`` (``features/editing.py``: the same flow as ``mimi.agent.edit``). Otherwise the action's
command is ``mimi.agent.edit`` with the instruction filled in.
"""

from __future__ import annotations

import asyncio
import logging
import os
import textwrap
from typing import Any

from lsprotocol import types

from mimi_lsp.agent.prompts import DOCSTRINGS_INSTRUCTION, fix_instruction, tests_instruction
from mimi_lsp.agent.scope import enclosing_function, where_tests_go
from mimi_lsp.agent.service import AgentTask
from mimi_lsp.convert import line_end_range, range_json, range_to_span
from mimi_lsp.domain import DocumentSnapshot
from mimi_lsp.errors import MimiError
from mimi_lsp.features._args import RangeArg
from mimi_lsp.features.editing import PreparedEdit, prepare_edit, run_agent, short_label
from mimi_lsp.language_server import MimiServer
from mimi_lsp.uris import uri_to_path

log = logging.getLogger(__name__)

KIND_DOCSTRINGS = "refactor.rewrite.mimi.addDocstrings"
KIND_TESTS = "refactor.rewrite.mimi.writeTests"
SOURCE_DOCSTRINGS = "source.mimi.addDocstrings"
SOURCE_TESTS = "source.mimi.writeTests"
KIND_EXPLAIN = types.CodeActionKind.Empty
KINDS = [
    types.CodeActionKind.QuickFix,
    types.CodeActionKind.RefactorRewrite,
    KIND_DOCSTRINGS,
    KIND_TESTS,
    types.CodeActionKind.Source,
    SOURCE_DOCSTRINGS,
    SOURCE_TESTS,
]
TITLE_CHARS = 50

__all__ = ["enclosing_function", "wanted", "where_tests_go"]


def wanted(kind: str, only: list[str] | None) -> bool:
    """LSP ``only`` filtering: a kind matches itself and its sub-kinds."""
    if not only:
        return True
    return any(kind == o or kind.startswith(f"{o}.") for o in only)


def source_only(only: list[str] | None) -> bool:
    """The request asks for source actions only ("Source Action…", actions on save)."""
    return bool(only) and all(o == "source" or o.startswith("source.") for o in only or [])


def shorten(text: str, width: int = TITLE_CHARS) -> str:
    """``text`` cut at a word boundary to fit ``width`` (never mid-word)."""
    return textwrap.shorten(text, width=width, placeholder="…")


class ActionMaker:
    """Code actions for one request: lazy (``data``) when the client resolves, else commands."""

    def __init__(self, uri: str, lazy: bool) -> None:
        self.uri = uri
        self.lazy = lazy

    def agent(
        self, title: str, kind: str, instruction: str, rng: Any, **extra: Any
    ) -> types.CodeAction:
        args = {"uri": self.uri, "range": rng, "instruction": instruction}
        if self.lazy:
            return types.CodeAction(title=title, kind=kind, data={"mimi": args}, **extra)
        command = types.Command(title=title, command="mimi.agent.edit", arguments=[args])
        return types.CodeAction(title=title, kind=kind, command=command, **extra)

    def command(self, title: str, kind: str, command: str, rng: Any) -> types.CodeAction:
        arguments = [{"uri": self.uri, "range": rng}]
        return types.CodeAction(
            title=title,
            kind=kind,
            command=types.Command(title=title, command=command, arguments=arguments),
        )


def quick_fixes(make: ActionMaker, params: types.CodeActionParams) -> list[types.CodeAction]:
    """One "Mimi: fix" per diagnostic in the range."""
    actions = []
    for diag in params.context.diagnostics:
        code = diag.code if not isinstance(diag.code, dict) else None
        message = diag.message.strip().splitlines()[0] if diag.message.strip() else "problem"
        short = shorten(message)
        instruction = fix_instruction(diag.message, diag.source, code, diag.range.start.line)
        actions.append(
            make.agent(
                f"Mimi: fix “{short}”",
                types.CodeActionKind.QuickFix,
                instruction,
                range_json(diag.range),
                diagnostics=[diag],
            )
        )
    return actions


def scoped_actions(
    server: MimiServer,
    make: ActionMaker,
    snapshot: DocumentSnapshot,
    rng: types.Range,
    function: tuple[str, int, int] | None,
    only: list[str] | None,
) -> list[types.CodeAction]:
    """Edit, docstrings, tests and explain for the selection or the function around it."""
    actions = []
    selected = (rng.start.line, rng.start.character) != (rng.end.line, rng.end.character)
    rng_json = range_json(rng)
    fn_range = rng_json
    if function is not None and not selected:
        fn_range = range_json(
            line_end_range(snapshot, function[1], function[2], server.session.codec)
        )
    if (selected or function is not None) and wanted(types.CodeActionKind.RefactorRewrite, only):
        title = (
            f"Mimi: edit `{function[0]}`…"
            if function is not None and not selected
            else "Mimi: edit selection…"
        )
        edit_range = rng_json if selected else fn_range
        actions.append(
            make.command(title, types.CodeActionKind.RefactorRewrite, "mimi.agent.edit", edit_range)
        )
    docstrings, tests = (
        (SOURCE_DOCSTRINGS, SOURCE_TESTS) if source_only(only) else (KIND_DOCSTRINGS, KIND_TESTS)
    )
    if wanted(docstrings, only):
        scope = fn_range if (selected or function) else None  # None: the whole file
        actions.append(
            make.agent("Mimi: add docstrings", docstrings, DOCSTRINGS_INSTRUCTION, scope)
        )
    if function is not None and make.uri.startswith("file:") and wanted(tests, only):
        name = function[0]
        path = os.path.realpath(uri_to_path(make.uri))
        ws = server.services.agent.workspace(make.uri)
        test_path = where_tests_go(path, snapshot.language_id, ws.folders)
        instruction = tests_instruction(
            name, ws.relative(path), ws.relative(test_path), os.path.exists(test_path)
        )
        title = f"Mimi: write tests for `{name}`"
        actions.append(make.agent(title, tests, instruction, fn_range))
    if (selected or function is not None) and wanted(KIND_EXPLAIN, only):
        actions.append(make.command("Mimi: explain", KIND_EXPLAIN, "mimi.explain", fn_range))
    return actions


async def code_action(server: MimiServer, params: types.CodeActionParams) -> list[types.CodeAction]:
    """The cheap list: quick fixes always, the rest only when the user asked."""
    snapshot = server.session.snapshot(params.text_document.uri)
    if snapshot is None:
        return []
    only = [str(getattr(k, "value", k)) for k in (params.context.only or [])] or None
    make = ActionMaker(params.text_document.uri, server.session.client.code_action_resolve)
    actions = quick_fixes(make, params) if wanted(types.CodeActionKind.QuickFix, only) else []
    if params.context.trigger_kind == types.CodeActionTriggerKind.Automatic:
        return actions  # editors ask on every cursor move (the lightbulb): only diagnostics
    line = params.range.start.line
    function = await asyncio.to_thread(enclosing_function, snapshot, line)
    return actions + scoped_actions(server, make, snapshot, params.range, function, only)


async def code_action_resolve(server: MimiServer, action: types.CodeAction) -> types.CodeAction:
    """Run the agent for a lazy action and return it with its ``edit``."""
    data = action.data if isinstance(action.data, dict) else None
    args = data.get("mimi") if data else None
    if not isinstance(args, dict) or "instruction" not in args:
        return action
    uri = args.get("uri")
    rng = args.get("range")
    span = None
    if uri and isinstance(rng, dict):
        span = range_to_span(
            server.session.snapshot(uri),
            RangeArg.model_validate(rng).to_range(),
            server.session.codec,
        )
    task = AgentTask(instruction=str(args["instruction"]), uri=uri, span=span)
    try:
        outcome = await run_agent(server, task, action.title)
    except MimiError as exc:  # StalePlan included
        server.tell(exc.user_message(), types.MessageType.Warning)
        return action
    prepared = await prepare_edit(server, outcome, short_label(action.title.removeprefix("Mimi: ")))
    action.edit = accept(server, prepared)
    return action


def accept(server: MimiServer, prepared: PreparedEdit) -> types.WorkspaceEdit | None:
    """The edit to hand back, telling the user why there is none (or what was left out)."""
    if prepared.state == "empty":
        server.tell(prepared.summary or "no changes were needed.")
    elif prepared.state in ("stale", "uncreatable"):
        server.tell(prepared.summary, types.MessageType.Warning)
    elif prepared.edit is not None:
        if prepared.skipped:
            skipped = ", ".join(prepared.skipped)
            server.tell(
                f"this editor cannot create files: skipped {skipped}", types.MessageType.Warning
            )
        server.services.agent.stats.applied += 1
    return prepared.edit


def register(server: MimiServer) -> None:
    @server.feature(
        types.TEXT_DOCUMENT_CODE_ACTION,
        types.CodeActionOptions(code_action_kinds=KINDS, resolve_provider=True),
    )
    async def text_document_code_action(params: types.CodeActionParams) -> list[types.CodeAction]:
        return await code_action(server, params)

    @server.feature(types.CODE_ACTION_RESOLVE)
    async def resolve(action: types.CodeAction) -> types.CodeAction:
        return await code_action_resolve(server, action)
