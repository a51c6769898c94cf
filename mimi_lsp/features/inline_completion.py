"""textDocument/inlineCompletion, its completion-menu fallback, and acceptance telemetry."""

from __future__ import annotations

from typing import Any

from lsprotocol import types

from mimi_lsp.convert import completion_fallback_item, inline_item, position_to_col
from mimi_lsp.domain import CompletionRequest, CompletionResult, TriggerKind


def register(server: Any) -> None:
    services = server.services

    async def run(uri: str, position: types.Position, trigger: TriggerKind):
        snapshot = services.session.snapshot(uri)
        if snapshot is None:
            return None, CompletionResult(reason="not-open")
        line, col = position_to_col(snapshot, position, services.session.codec)
        request = CompletionRequest(snapshot, line, col, trigger)
        return snapshot, await services.completion.complete(request)

    @server.feature(types.TEXT_DOCUMENT_INLINE_COMPLETION, types.InlineCompletionOptions())
    async def inline_completion(
        params: types.InlineCompletionParams,
    ) -> types.InlineCompletionList | None:
        # Invoked=1, Automatic=2 in LSP 3.18; old clients send 0 (treated as automatic).
        trigger = (
            TriggerKind.INVOKED
            if params.context.trigger_kind == types.InlineCompletionTriggerKind.Invoked
            else TriggerKind.AUTOMATIC
        )
        snapshot, result = await run(params.text_document.uri, params.position, trigger)
        if snapshot is None or not result.items:
            return types.InlineCompletionList(items=[])
        codec = services.session.codec
        return types.InlineCompletionList(
            items=[inline_item(snapshot, item, codec) for item in result.items]
        )

    @server.feature(
        types.TEXT_DOCUMENT_COMPLETION,
        types.CompletionOptions(trigger_characters=[".", "(", " ", "\n"], resolve_provider=False),
    )
    async def completion(params: types.CompletionParams) -> types.CompletionList:
        trigger = (
            TriggerKind.INVOKED
            if params.context is not None
            and params.context.trigger_kind == types.CompletionTriggerKind.Invoked
            else TriggerKind.AUTOMATIC
        )
        snapshot, result = await run(params.text_document.uri, params.position, trigger)
        items = []
        if snapshot is not None:
            codec = services.session.codec
            items = [completion_fallback_item(snapshot, item, codec) for item in result.items]
        return types.CompletionList(is_incomplete=True, items=items)

    # Copilot-style telemetry notifications (optional for clients); counted, never required.
    stats = services.completion.stats

    @server.feature("textDocument/didShowCompletion")
    def did_show_completion(params: Any) -> None:
        stats.shown += 1

    @server.feature("textDocument/didPartiallyAcceptCompletion")
    def did_partially_accept(params: Any) -> None:
        stats.partially_accepted += 1

    @server.feature("mimi/didAcceptCompletion")
    def did_accept(params: Any) -> None:
        stats.accepted += 1
