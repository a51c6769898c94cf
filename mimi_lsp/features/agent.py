"""mimi.agent.edit: run the agent and hand its plan to the editor with ``workspace/applyEdit``.

Args ``[{uri, range?, instruction?}]`` → ``{applied, summary, files, steps, stopped}``.
Without ``instruction`` (a client that did not prompt for one), the server offers a few
common instructions through ``window/showMessageRequest``. The run, the confirmation, the
staleness check and the edit are the shared flow of ``features/editing.py``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcException

from mimi_lsp.agent.plan import StalePlan
from mimi_lsp.agent.service import AgentTask, EditOutcome
from mimi_lsp.errors import MimiError
from mimi_lsp.features._args import CommandArgs, RangeArg, Text, Uri, parse_args
from mimi_lsp.features.editing import prepare_edit, result, run_agent, short_label
from mimi_lsp.language_server import MimiServer

log = logging.getLogger(__name__)

CANNED_INSTRUCTIONS = [
    "Add error handling",
    "Simplify this code",
    "Add type hints",
    "Add comments explaining this code",
]


class AgentEditArgs(CommandArgs):
    uri: Uri | None = None
    range: RangeArg | None = None
    instruction: Text | None = None


async def agent_edit(server: MimiServer, *args: Any) -> dict[str, Any]:
    """``mimi.agent.edit``: run, confirm, apply; the answer says what happened."""
    parsed = parse_args(AgentEditArgs, args, "mimi.agent.edit")
    await server.until_settled()
    instruction = (parsed.instruction or "").strip()
    if not instruction:
        question = "Mimi: what should I do with the selection?"
        instruction = await server.ask(question, CANNED_INSTRUCTIONS) or ""
        if not instruction:
            return result(None, False, "No instruction given.")
    span = parsed.range.span(server.session, parsed.uri) if parsed.range and parsed.uri else None
    task = AgentTask(instruction=instruction, uri=parsed.uri, span=span)
    label = short_label(instruction)
    try:
        outcome = await run_agent(server, task, label)
    except StalePlan as exc:
        return result(None, False, f"Not applied: {exc.user_message()}")
    except JsonRpcException:
        raise
    except MimiError as exc:
        return result(None, False, exc.user_message())
    except asyncio.CancelledError:
        log.info("agent run cancelled")
        raise
    prepared = await prepare_edit(server, outcome, label)
    if prepared.state == "empty":
        return result(outcome, False, prepared.summary or "No changes.")
    if prepared.state == "declined":
        return result(outcome, False, f"Not applied (declined): {prepared.summary}")
    if prepared.edit is None:
        return result(outcome, False, f"Not applied: {prepared.summary}")
    return await apply(server, outcome, prepared.edit, label, prepared.summary)


async def apply(
    server: MimiServer, outcome: EditOutcome, edit: types.WorkspaceEdit, label: str, summary: str
) -> dict[str, Any]:
    """Send ``workspace/applyEdit`` and count the answer."""
    stats = server.services.agent.stats
    answer = await server.workspace_apply_edit_async(
        types.ApplyWorkspaceEditParams(edit=edit, label=label)
    )
    if answer is not None and answer.applied:
        stats.applied += 1
        return result(outcome, True, summary)
    stats.rejected += 1
    reason = getattr(answer, "failure_reason", None) or "the editor did not apply it"
    return result(outcome, False, f"Not applied: {reason}. {summary}")


def register(server: MimiServer) -> None:
    @server.command("mimi.agent.edit")
    async def mimi_agent_edit(*args: Any) -> dict[str, Any]:
        return await agent_edit(server, *args)
