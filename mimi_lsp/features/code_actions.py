"""textDocument/codeAction + codeAction/resolve: the agent behind ordinary code actions.

The list is cheap (no model call, a few regexes and stats):

- ``quickfix`` "Mimi: fix “…”" for each diagnostic in the range;
- ``refactor.rewrite`` "Mimi: edit selection…" (command ``mimi.agent.edit`` without an
  instruction: the client asks the user for one and adds it; a client that does not gets a
  ``window/showMessageRequest`` with common instructions from the server);
- ``source.mimi.addDocstrings`` "Mimi: add docstrings";
- ``source.mimi.writeTests`` "Mimi: write tests for `f`" (creates or extends the test file);
- "Mimi: explain" (kind ``""``; command ``mimi.explain``, which a client with a chat panel
  opens there).

Automatic requests (the lightbulb, on every cursor move) get only the quick fixes; the rest
appear when the user asks (Ctrl+., "Source Action…", ``vim.lsp.buf.code_action()``).

When the client resolves code actions (``resolveSupport`` includes ``edit``), the agent
actions carry only ``data`` and the model runs in ``codeAction/resolve``, which returns the
``edit`` (versioned documentChanges with ``needsConfirmation`` annotations; clients without
annotations confirm through ``window/showMessageRequest`` first). Otherwise the action's
command is ``mimi.agent.edit`` with the instruction filled in.
"""

from __future__ import annotations

import logging
import os
import re
from typing import Any

from lsprotocol import types

from mimi_lsp.agent.plan import StalePlan
from mimi_lsp.agent.prompts import DOCSTRINGS_INSTRUCTION, fix_instruction, tests_instruction
from mimi_lsp.agent.service import AgentService, AgentTask
from mimi_lsp.domain import DocumentSnapshot
from mimi_lsp.errors import MimiError
from mimi_lsp.features.agent import (
    confirm_edit,
    edit_support,
    run_agent,
    short_label,
    span_from_range,
    workspace_edit,
)
from mimi_lsp.uris import uri_to_path

log = logging.getLogger(__name__)

KIND_DOCSTRINGS = "source.mimi.addDocstrings"
KIND_TESTS = "source.mimi.writeTests"
KIND_EXPLAIN = types.CodeActionKind.Empty
KINDS = [
    types.CodeActionKind.QuickFix,
    types.CodeActionKind.RefactorRewrite,
    types.CodeActionKind.Source,
    KIND_DOCSTRINGS,
    KIND_TESTS,
]
_DEF_RE = re.compile(
    r"^(?P<indent>\s*)(?:export\s+)?(?:pub(?:\([^)]*\))?\s+)?(?:async\s+)?"
    r"(?:def|function|fn|func)\s+(?:\([^)]*\)\s*)?(?P<name>[A-Za-z_$][\w$]*)"
)


def wanted(kind: str, only: list[str] | None) -> bool:
    """LSP ``only`` filtering: a kind matches itself and its sub-kinds."""
    if not only:
        return True
    return any(kind == o or kind.startswith(f"{o}.") for o in only)


def enclosing_function(snapshot: DocumentSnapshot, line: int) -> tuple[str, int, int] | None:
    """(name, first line, last line) of the function around ``line`` (indentation-based)."""
    here = snapshot.line_text(line)
    here_indent = len(here) - len(here.lstrip()) if here.strip() else 1 << 30
    for i in range(min(line, len(snapshot.lines) - 1), -1, -1):
        text = snapshot.line_text(i)
        m = _DEF_RE.match(text)
        if m is None:
            continue
        indent = len(m.group("indent"))
        if i != line and indent >= here_indent:
            continue
        end = i
        for j in range(i + 1, len(snapshot.lines)):
            body = snapshot.line_text(j)
            if not body.strip():
                continue
            if len(body) - len(body.lstrip()) <= indent and not body.lstrip().startswith(
                (")", "}", "]")
            ):
                break
            end = j
        if end < line:
            return None
        return m.group("name"), i, end
    return None


def where_tests_go(path: str, language: str, folders: list[str]) -> str:
    """Where tests for ``path`` live by the usual convention of its language."""
    folder = next(
        (f for f in folders if path.startswith(f.rstrip(os.sep) + os.sep)), os.path.dirname(path)
    )
    stem, ext = os.path.splitext(os.path.basename(path))
    if language == "python" or ext == ".py":
        tests_dir = os.path.join(folder, "tests")
        if os.path.isdir(tests_dir):
            return os.path.join(tests_dir, f"test_{stem}.py")
        return os.path.join(os.path.dirname(path), f"test_{stem}.py")
    if ext == ".go":
        return os.path.join(os.path.dirname(path), f"{stem}_test.go")
    if ext in (".js", ".ts", ".jsx", ".tsx", ".mjs"):
        return os.path.join(os.path.dirname(path), f"{stem}.test{ext}")
    return path  # e.g. Rust: tests live in the same file


def register(server: Any) -> None:
    agent: AgentService = getattr(server, "agent", None) or AgentService(server.services)

    def resolves(server: Any) -> bool:
        caps = server.client_capabilities
        ca = caps.text_document.code_action if caps and caps.text_document else None
        return bool(
            ca
            and ca.data_support
            and ca.resolve_support
            and "edit" in ca.resolve_support.properties
        )

    @server.feature(
        types.TEXT_DOCUMENT_CODE_ACTION,
        types.CodeActionOptions(code_action_kinds=KINDS, resolve_provider=True),
    )
    def code_action(params: types.CodeActionParams) -> list[types.CodeAction]:
        uri = params.text_document.uri
        snapshot = server.services.session.snapshot(uri)
        if snapshot is None:
            return []
        only = [str(getattr(k, "value", k)) for k in (params.context.only or [])] or None
        lazy = resolves(server)
        rng = params.range
        rng_json = server.protocol._converter.unstructure(rng)  # noqa: SLF001
        actions: list[types.CodeAction] = []

        def agent_action(
            title: str, kind: str, instruction: str, range_json: Any, **extra: Any
        ) -> types.CodeAction:
            args = {"uri": uri, "range": range_json, "instruction": instruction}
            if lazy:
                return types.CodeAction(title=title, kind=kind, data={"mimi": args}, **extra)
            command = types.Command(title=title, command="mimi.agent.edit", arguments=[args])
            return types.CodeAction(title=title, kind=kind, command=command, **extra)

        if wanted(types.CodeActionKind.QuickFix, only):
            for diag in params.context.diagnostics:
                code = diag.code if not isinstance(diag.code, dict) else None
                message = (
                    diag.message.strip().splitlines()[0] if diag.message.strip() else "problem"
                )
                short = message if len(message) <= 50 else message[:49] + "…"
                actions.append(
                    agent_action(
                        f"Mimi: fix “{short}”",
                        types.CodeActionKind.QuickFix,
                        fix_instruction(diag.message, diag.source, code, diag.range.start.line),
                        server.protocol._converter.unstructure(diag.range),  # noqa: SLF001
                        diagnostics=[diag],
                    )
                )
        if params.context.trigger_kind == types.CodeActionTriggerKind.Automatic:
            # Editors ask on every cursor move (the lightbulb): only diagnostics earn one.
            return actions
        selected = (rng.start.line, rng.start.character) != (rng.end.line, rng.end.character)
        if selected and wanted(types.CodeActionKind.RefactorRewrite, only):
            actions.append(
                types.CodeAction(
                    title="Mimi: edit selection…",
                    kind=types.CodeActionKind.RefactorRewrite,
                    command=types.Command(
                        title="Mimi: edit selection…",
                        command="mimi.agent.edit",
                        arguments=[{"uri": uri, "range": rng_json}],
                    ),
                )
            )
        function = enclosing_function(snapshot, rng.start.line)
        fn_range = rng_json
        if function is not None and not selected:
            _, first, last = function
            fn_range = {
                "start": {"line": first, "character": 0},
                "end": {
                    "line": last,
                    "character": len(snapshot.lines[last].rstrip("\r\n").encode("utf-16-le")) // 2,
                },
            }
        if wanted(KIND_DOCSTRINGS, only):
            scope = fn_range if (selected or function) else None  # None: the whole file
            actions.append(
                agent_action("Mimi: add docstrings", KIND_DOCSTRINGS, DOCSTRINGS_INSTRUCTION, scope)
            )
        if function is not None and uri.startswith("file:") and wanted(KIND_TESTS, only):
            name = function[0]
            path = os.path.realpath(uri_to_path(uri))
            ws = agent.workspace(uri)
            test_path = where_tests_go(path, snapshot.language_id, ws.folders)
            instruction = tests_instruction(
                name, ws.relative(path), ws.relative(test_path), os.path.exists(test_path)
            )
            actions.append(
                agent_action(f"Mimi: write tests for `{name}`", KIND_TESTS, instruction, fn_range)
            )
        if (selected or function is not None) and wanted(KIND_EXPLAIN, only):
            actions.append(
                types.CodeAction(
                    title="Mimi: explain",
                    kind=KIND_EXPLAIN,
                    command=types.Command(
                        title="Mimi: explain",
                        command="mimi.explain",
                        arguments=[{"uri": uri, "range": fn_range}],
                    ),
                )
            )
        return actions

    @server.feature(types.CODE_ACTION_RESOLVE)
    async def code_action_resolve(action: types.CodeAction) -> types.CodeAction:
        data = action.data if isinstance(action.data, dict) else None
        args = data.get("mimi") if data else None
        if not isinstance(args, dict) or "instruction" not in args:
            return action
        uri = args.get("uri")
        span = None
        rng = args.get("range")
        if uri and isinstance(rng, dict):
            start = types.Position(**rng["start"])
            end = types.Position(**rng["end"])
            span = span_from_range(server, uri, start, end)
        task = AgentTask(instruction=str(args["instruction"]), uri=uri, span=span)
        label = short_label(action.title.removeprefix("Mimi: "))

        def tell(message: str, kind: types.MessageType = types.MessageType.Info) -> None:
            server.window_show_message(
                types.ShowMessageParams(type=kind, message=f"Mimi: {message}")
            )

        try:
            outcome = await run_agent(server, agent, task, action.title)
        except StalePlan as exc:
            tell(exc.user_message(), types.MessageType.Warning)
            return action
        except MimiError as exc:
            tell(exc.user_message(), types.MessageType.Warning)
            return action
        if not outcome.plan.changes_list:
            tell(outcome.summary or "no changes were needed.")
            return action
        support = edit_support(server)
        if not await confirm_edit(server, outcome, support):
            agent.stats.rejected += 1
            return action
        try:
            outcome.plan.refresh()
        except StalePlan as exc:
            agent.stats.stale += 1
            tell(exc.user_message(), types.MessageType.Warning)
            return action
        edit, skipped = workspace_edit(outcome, support, server.services.session.codec, label)
        if skipped:
            tell(
                f"this editor cannot create files: skipped {', '.join(skipped)}",
                types.MessageType.Warning,
            )
        agent.stats.applied += 1
        action.edit = edit
        return action
