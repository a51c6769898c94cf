"""textDocument/inlineCompletion, its completion-menu fallback, and acceptance telemetry."""

from __future__ import annotations

from typing import Any

from lsprotocol import types

from mimi_lsp.convert import completion_fallback_item, inline_item, position_to_col
from mimi_lsp.domain import CompletionRequest, CompletionResult, DocumentSnapshot, TriggerKind
from mimi_lsp.language_server import MimiServer


async def complete(
    server: MimiServer, uri: str, position: types.Position, trigger: TriggerKind
) -> tuple[DocumentSnapshot | None, CompletionResult]:
    """The engine's answer for a protocol position (with the snapshot it was computed on)."""
    snapshot = server.session.snapshot(uri)
    if snapshot is None:
        return None, CompletionResult(reason="not-open")
    if not server.is_settled:
        await server.until_settled()
        current = server.session.snapshot(uri)
        if current is None or current.version != snapshot.version:
            return None, CompletionResult(reason="superseded")  # typed on: a newer request
    line, col = position_to_col(snapshot, position, server.session.codec)
    request = CompletionRequest(snapshot, line, col, trigger)
    return snapshot, await server.services.completion.complete(request)


async def inline_completion(
    server: MimiServer, params: types.InlineCompletionParams
) -> types.InlineCompletionList:
    # Invoked=1, Automatic=2 in LSP 3.18; old clients send 0 (treated as automatic).
    invoked = params.context.trigger_kind == types.InlineCompletionTriggerKind.Invoked
    trigger = TriggerKind.INVOKED if invoked else TriggerKind.AUTOMATIC
    snapshot, result = await complete(server, params.text_document.uri, params.position, trigger)
    if snapshot is None:
        return types.InlineCompletionList(items=[])
    codec = server.session.codec
    return types.InlineCompletionList(
        items=[inline_item(snapshot, item, codec) for item in result.items]
    )


async def completion(server: MimiServer, params: types.CompletionParams) -> types.CompletionList:
    """The fallback for clients without inline completion: one AI item in the menu."""
    context = params.context
    invoked = context is not None and context.trigger_kind == types.CompletionTriggerKind.Invoked
    trigger = TriggerKind.INVOKED if invoked else TriggerKind.AUTOMATIC
    snapshot, result = await complete(server, params.text_document.uri, params.position, trigger)
    items = []
    if snapshot is not None:
        codec = server.session.codec
        items = [completion_fallback_item(snapshot, item, codec) for item in result.items]
    return types.CompletionList(is_incomplete=True, items=items)


def register(server: MimiServer) -> None:
    stats = server.services.completion.stats

    @server.feature(types.TEXT_DOCUMENT_INLINE_COMPLETION, types.InlineCompletionOptions())
    async def text_document_inline_completion(
        params: types.InlineCompletionParams,
    ) -> types.InlineCompletionList:
        return await inline_completion(server, params)

    @server.feature(
        types.TEXT_DOCUMENT_COMPLETION,
        types.CompletionOptions(trigger_characters=[".", "(", " ", "\n"], resolve_provider=False),
    )
    async def text_document_completion(params: types.CompletionParams) -> types.CompletionList:
        return await completion(server, params)

    # Copilot-style telemetry notifications (optional for clients); counted, never required.
    @server.feature("textDocument/didShowCompletion")
    def did_show_completion(params: Any) -> None:
        stats.shown += 1

    @server.feature("textDocument/didPartiallyAcceptCompletion")
    def did_partially_accept(params: Any) -> None:
        stats.partially_accepted += 1

    @server.feature("mimi/didAcceptCompletion")
    def did_accept(params: Any) -> None:
        stats.accepted += 1
