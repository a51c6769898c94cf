"""mimi.git.commitMessage: a commit message written from the diff, streamed like chat.

Args ``[{folder?, chatId?}]`` → ``{message, chatId, staged, files, summarised}``. ``folder`` (a
path or ``file:`` URI) must be a workspace folder or inside one; without it, the first
workspace folder. While the model writes, each piece goes out as ``mimi/chatDelta {chatId,
delta}`` (``chatId`` defaults to a fresh ``commit-…`` id, returned with the result);
``$/cancelRequest`` stops the model. No repository, nothing to commit, a detached HEAD or a
merge in progress: a JSON-RPC error whose message says so and what to do; nothing is written.
"""

from __future__ import annotations

import asyncio
import logging
import os
import uuid
from typing import Any

from mimi_lsp.errors import GitProblem, MimiError
from mimi_lsp.features._args import CommandArgs, Ident, Uri, parse_args
from mimi_lsp.features.editing import failure
from mimi_lsp.language_server import MimiServer
from mimi_lsp.uris import uri_to_path

log = logging.getLogger(__name__)


class CommitMessageArgs(CommandArgs):
    folder: Uri | None = None
    chat_id: Ident | None = None


def workspace_folder(folders: list[str], asked: str | None) -> str:
    """The folder to use: ``asked`` when inside a workspace folder, else the first folder."""
    roots = [os.path.realpath(f) for f in folders]
    if asked is None:
        if not roots:
            raise GitProblem("No workspace folder is open.", fix="Open a folder first.")
        return roots[0]
    path = os.path.realpath(uri_to_path(asked))
    for root in roots:
        if path == root or path.startswith(root.rstrip(os.sep) + os.sep):
            return path
    raise GitProblem(f"{asked} is not inside a workspace folder.")


async def commit_message(server: MimiServer, *args: Any) -> dict[str, Any]:
    """``mimi.git.commitMessage``: the message, streamed as ``mimi/chatDelta`` meanwhile."""
    services = server.services
    parsed = parse_args(CommitMessageArgs, args, "mimi.git.commitMessage")
    chat_id = parsed.chat_id or f"commit-{uuid.uuid4().hex[:8]}"

    def delta(text: str) -> None:
        server.protocol.notify("mimi/chatDelta", {"chatId": chat_id, "delta": text})

    try:
        folder = workspace_folder(services.workspace_folders, parsed.folder)
        result = await services.commit_messages.write(folder, on_delta=delta)
    except MimiError as exc:
        services.health.report("chat", exc)  # the chat backend writes it
        raise failure(exc) from exc
    except asyncio.CancelledError:
        log.info("commit message %s cancelled", chat_id)
        raise
    services.health.report("chat", None)
    return {
        "chatId": chat_id,
        "message": result.message,
        "staged": result.staged,
        "files": result.files,
        "summarised": result.summarised,
    }


def register(server: MimiServer) -> None:
    @server.command("mimi.git.commitMessage")
    async def git_commit_message(*args: Any) -> dict[str, Any]:
        return await commit_message(server, *args)
