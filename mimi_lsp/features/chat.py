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

from lsprotocol import types
from pydantic import Field
from pygls.exceptions import JsonRpcException

from mimi_lsp.chat import ChatAnswer, ChatQuery, ChatService
from mimi_lsp.domain import ChatMessage, Span
from mimi_lsp.errors import BackendError, BackendTimeout, BackendUnavailable, ModelNotFound
from mimi_lsp.features._args import CommandArgs, Ident, Text, Uri, parse_args
from mimi_lsp.features.agent import RangeArg, failure, report_backend, span_from_range, to_range
from mimi_lsp.session import split_lines

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


def register(server: Any) -> None:
    chat = ChatService(server.services, getattr(server, "agent", None))

    def citation_range(path: str, span: Span) -> types.Range:
        ws = chat.agent.workspace()
        snapshot = ws.open_snapshot(path)
        if snapshot is not None:
            return to_range(list(snapshot.lines), span, server.services.session.codec)
        try:
            lines = split_lines(ws.read(path).text)
        except Exception:
            lines = []
        return to_range(lines, span, server.services.session.codec)

    def payload(chat_id: str, answer: ChatAnswer) -> dict[str, Any]:
        ws = chat.agent.workspace()
        return {
            "chatId": chat_id,
            "reply": answer.reply,
            "citations": [
                {
                    "uri": ws.uri(c.path),
                    "range": server.protocol._converter.unstructure(citation_range(c.path, c.span)),  # noqa: SLF001
                }
                for c in answer.citations
            ],
        }

    async def run(chat_id: str, query: ChatQuery) -> ChatAnswer:
        def delta(text: str) -> None:
            server.protocol.notify("mimi/chatDelta", {"chatId": chat_id, "delta": text})

        try:
            answer = await chat.ask(query, on_delta=delta)
        except (BackendUnavailable, ModelNotFound, BackendTimeout, BackendError) as exc:
            report_backend(server, exc)
            raise failure(exc) from exc
        except asyncio.CancelledError:
            log.info("chat %s cancelled", chat_id)
            raise
        report_backend(server, None)
        return answer

    @server.command("mimi.chat")
    async def mimi_chat(*args: Any) -> dict[str, Any]:
        parsed = parse_args(ChatArgs, args, "mimi.chat")
        if not parsed.message.strip():
            raise JsonRpcException("mimi.chat: message is empty", code=-32602)
        span = None
        if parsed.uri and parsed.range is not None:
            span = span_from_range(server, parsed.uri, parsed.range.start, parsed.range.end)
        query = ChatQuery(
            message=parsed.message,
            history=tuple(ChatMessage(h.role, h.content) for h in parsed.history),
            uri=parsed.uri,
            span=span,
        )
        return payload(parsed.chat_id, await run(parsed.chat_id, query))

    @server.command("mimi.explain")
    async def mimi_explain(*args: Any) -> dict[str, Any]:
        parsed = parse_args(ExplainArgs, args, "mimi.explain")
        chat_id = parsed.chat_id or f"explain-{uuid.uuid4().hex[:8]}"
        span = None
        if parsed.range is not None:
            span = span_from_range(server, parsed.uri, parsed.range.start, parsed.range.end)
        answer = await run(chat_id, ChatQuery(message=EXPLAIN_PROMPT, uri=parsed.uri, span=span))
        if parsed.chat_id is None:
            server.window_show_message(
                types.ShowMessageParams(
                    type=types.MessageType.Info, message=f"Mimi: {answer.reply}"
                )
            )
        return payload(chat_id, answer)
