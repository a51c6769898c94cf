"""textDocument/copilotInlineEdit: next-edit suggestions in the shape Copilot's server uses.

Params ``{textDocument: {uri, version}, position}`` → ``{edits: [{range, text, textDocument:
{uri, version}, command}]}`` (alternatives; we send at most one), so Neovim's sidekick.nvim and
copilot-lsp work unchanged. ``command`` is ``mimi.nextEdit.accept`` with the suggestion's id:
running it (or simply applying the edit) counts an acceptance. ``textDocument/didShowInlineEdit``
(``{item: {command}}``) counts a display; ``textDocument/didFocus`` marks a file as viewed.
A request for a version the server no longer has gets no edits.
"""

from __future__ import annotations

from typing import Any

from lsprotocol import types
from pydantic import BaseModel, ConfigDict, ValidationError
from pygls.exceptions import JsonRpcInvalidParams

from mimi_lsp.convert import position_to_col
from mimi_lsp.convert.next_edit import inline_edit_json
from mimi_lsp.features._args import CommandArgs, Coordinate, Ident, Uri, parse_args, plain
from mimi_lsp.language_server import MimiServer

INLINE_EDIT = "textDocument/copilotInlineEdit"
DID_SHOW_INLINE_EDIT = "textDocument/didShowInlineEdit"
DID_FOCUS = "textDocument/didFocus"
ACCEPT_COMMAND = "mimi.nextEdit.accept"


class _Params(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")


class _Document(_Params):
    uri: Uri
    version: int | None = None


class _Position(_Params):
    line: Coordinate
    character: Coordinate


class InlineEditParams(_Params):
    textDocument: _Document  # noqa: N815 - protocol name
    position: _Position


class AcceptArgs(CommandArgs):
    id: Ident = ""


def register(server: MimiServer) -> None:
    services = server.services

    @server.feature(INLINE_EDIT)
    async def copilot_inline_edit(params: Any) -> dict[str, Any]:
        try:
            request = InlineEditParams.model_validate(plain(params))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise JsonRpcInvalidParams(f"{INLINE_EDIT}: {where}: {first['msg']}") from exc
        doc = request.textDocument
        snapshot = services.session.snapshot(doc.uri)
        if snapshot is None or (doc.version is not None and doc.version != snapshot.version):
            return {"edits": []}
        codec = services.session.codec
        position = types.Position(line=request.position.line, character=request.position.character)
        line, col = position_to_col(snapshot, position, codec)
        result = await services.next_edit.predict(snapshot, line, col)
        edits = []
        for edit in result.edits:
            target = services.session.snapshot(edit.uri)
            if target is not None and target.version == edit.version:
                edits.append(inline_edit_json(edit, target, codec, ACCEPT_COMMAND))
        return {"edits": edits}

    @server.feature(DID_SHOW_INLINE_EDIT)
    def did_show_inline_edit(params: Any) -> None:
        services.next_edit.shown(_suggestion_id(plain(params)))

    @server.feature(DID_FOCUS)
    def did_focus(params: Any) -> None:
        uri = (plain(params) or {}).get("textDocument", {}).get("uri")
        if isinstance(uri, str) and uri in services.session.documents:
            services.next_edit.viewed(uri)

    @server.command(ACCEPT_COMMAND)
    def accept(*args: Any) -> None:
        raw = args[0] if args and isinstance(args[0], str) else None
        suggestion = raw if raw is not None else parse_args(AcceptArgs, args, ACCEPT_COMMAND).id
        services.next_edit.accepted(suggestion)


def _suggestion_id(params: Any) -> str | None:
    """The id in ``{item: {command: {arguments: [id]}}}`` (Copilot's didShowInlineEdit)."""
    if not isinstance(params, dict):
        return None
    item = params.get("item") or {}
    command = item.get("command") if isinstance(item, dict) else None
    arguments = command.get("arguments") if isinstance(command, dict) else None
    if isinstance(arguments, list) and arguments and isinstance(arguments[0], str):
        return arguments[0]
    return None
