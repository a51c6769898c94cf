"""mimi.chat and mimi.explain: answers about the codebase, streamed as mimi/chatDelta.

``mimi.chat`` args ``[{chatId, message, history?, uri?, range?}]`` →
``{chatId, reply, citations: [{uri, range}]}``; every text piece is also sent as a
``mimi/chatDelta`` ``{chatId, delta}`` notification while the model writes. ``$/cancelRequest``
stops the model.

``mimi.explain`` args ``[{uri, range, chatId?}]`` is the code action "Mimi: explain": a chat
turn asking what the selected code does. Clients with a chat panel pass their ``chatId`` (the
answer streams there); without one the answer is also shown with ``window/showMessage``.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Annotated, Any, Literal

from pydantic import Field
from pygls.exceptions import JsonRpcInvalidParams

from mimi_lsp.chat import ChatAnswer, ChatQuery
from mimi_lsp.convert.index import LineSource, range_json
from mimi_lsp.domain import ChatMessage
from mimi_lsp.errors import MimiError
from mimi_lsp.features._args import CommandArgs, Ident, RangeArg, Text, Uri, parse_args
from mimi_lsp.features.editing import failure
from mimi_lsp.language_server import MimiServer

log = logging.getLogger(__name__)

EXPLAIN_PROMPT = (
    "Explain what the selected code does, step by step, and point out anything surprising "
    "or risky. Be concise."
)


class HistoryItem(CommandArgs):
    role: Literal["user", "assistant", "system"]
    content: Text


class ChatArgs(CommandArgs):
    chat_id: Ident
    message: Text
    history: Annotated[list[HistoryItem], Field(max_length=200)] = []
    uri: Uri | None = None
    range: RangeArg | None = None


class ExplainArgs(CommandArgs):
    uri: Uri
    range: RangeArg | None = None
    chat_id: Ident | None = None


def payload(server: MimiServer, chat_id: str, answer: ChatAnswer) -> dict[str, Any]:
    """The command's answer: the reply and its citations as URIs and protocol ranges."""
    ws = server.services.agent.workspace()
    lines = LineSource(server.session)
    return {
        "chatId": chat_id,
        "reply": answer.reply,
        "citations": [
            {"uri": ws.uri(c.path), "range": range_json(lines.range(c.path, c.span))}
            for c in answer.citations
        ],
    }


async def ask(server: MimiServer, chat_id: str, query: ChatQuery) -> ChatAnswer:
    """One chat turn, streaming deltas; a failure is a JSON-RPC error with the fix."""

    def delta(text: str) -> None:
        server.protocol.notify("mimi/chatDelta", {"chatId": chat_id, "delta": text})

    await server.until_settled()
    try:
        return await server.services.chat.ask(query, on_delta=delta)
    except MimiError as exc:
        raise failure(exc) from exc
    except asyncio.CancelledError:
        log.info("chat %s cancelled", chat_id)
        raise


async def mimi_chat(server: MimiServer, *args: Any) -> dict[str, Any]:
    parsed = parse_args(ChatArgs, args, "mimi.chat")
    if not parsed.message.strip():
        raise JsonRpcInvalidParams("mimi.chat: message is empty")
    span = parsed.range.span(server.session, parsed.uri) if parsed.range and parsed.uri else None
    query = ChatQuery(
        message=parsed.message,
        history=tuple(ChatMessage(h.role, h.content) for h in parsed.history),
        uri=parsed.uri,
        span=span,
    )
    return payload(server, parsed.chat_id, await ask(server, parsed.chat_id, query))


async def mimi_explain(server: MimiServer, *args: Any) -> dict[str, Any]:
    parsed = parse_args(ExplainArgs, args, "mimi.explain")
    chat_id = parsed.chat_id or f"explain-{uuid.uuid4().hex[:8]}"
    span = parsed.range.span(server.session, parsed.uri) if parsed.range else None
    answer = await ask(
        server, chat_id, ChatQuery(message=EXPLAIN_PROMPT, uri=parsed.uri, span=span)
    )
    if parsed.chat_id is None:
        server.tell(answer.reply)
    return payload(server, chat_id, answer)


def register(server: MimiServer) -> None:
    @server.command("mimi.chat")
    async def chat_command(*args: Any) -> dict[str, Any]:
        return await mimi_chat(server, *args)

    @server.command("mimi.explain")
    async def explain_command(*args: Any) -> dict[str, Any]:
        return await mimi_explain(server, *args)
