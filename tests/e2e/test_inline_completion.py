"""Inline completion end to end: the real server process, real editor capabilities."""

from __future__ import annotations

import asyncio

import pytest
from lsprotocol import types

from tests.lsp_harness import EDITORS, fake_settings, inline, open_doc, send_raw, start_session

URI = "file:///tmp/mimi-test/example.py"


@pytest.mark.parametrize("editor", EDITORS)
async def test_ghost_text_appears(editor: str) -> None:
    """A completion request returns the model's text as ghost text."""
    async with start_session(editor=editor, settings=fake_settings("a + b")) as client:
        pos = open_doc(client, "def add(a, b):\n    return <CURSOR>\n")
        items = await inline(client, pos)
    assert [i.insert_text for i in items] == ["a + b"]


async def test_capabilities_with_and_without_inline() -> None:
    """inlineCompletionProvider is advertised; completionProvider only for clients without it."""
    import os

    from tests.lsp_harness import ROOT, editor_capabilities, make_client, server_command

    for inline_cap, expect_menu in ((True, False), (False, True)):
        client = make_client()
        await client.start_io(*server_command(), env={**os.environ, "PYTHONPATH": str(ROOT)})
        try:
            result = await client.initialize_session(
                types.InitializeParams(
                    capabilities=editor_capabilities("neovim", inline=inline_cap),
                    initialization_options=fake_settings("x"),
                )
            )
            assert result.capabilities.inline_completion_provider is not None
            assert (result.capabilities.completion_provider is not None) is expect_menu
            await client.shutdown_session()
        finally:
            await client.stop()


async def test_completion_menu_fallback() -> None:
    """A client without inline completion gets one AI item with a textEdit."""
    async with start_session(
        editor="neovim", inline=False, settings=fake_settings("rn a + b")
    ) as client:
        pos = open_doc(client, "def add(a, b):\n    retu<CURSOR>\n")
        result = await client.text_document_completion_async(
            types.CompletionParams(
                text_document=types.TextDocumentIdentifier(uri=URI),
                position=pos,
                context=types.CompletionContext(trigger_kind=types.CompletionTriggerKind.Invoked),
            )
        )
    assert result is not None
    items = result.items if isinstance(result, types.CompletionList) else result
    assert len(items) == 1
    edit = items[0].text_edit
    assert isinstance(edit, types.TextEdit)
    assert edit.new_text == "return a + b"
    assert edit.range.start == types.Position(line=1, character=4)


async def test_invalid_params_get_an_error_not_silence() -> None:
    """A request whose params fail to deserialize is answered with InvalidParams."""
    async with start_session(settings=fake_settings("x")) as client:
        open_doc(client, "x = <CURSOR>\n")
        fut = send_raw(client, "textDocument/inlineCompletion", {"textDocument": {"uri": URI}})
        with pytest.raises(Exception) as info:
            await asyncio.wait_for(fut, 5)
        assert "Invalid params" in str(info.value) or "-32602" in str(info.value)
        # And the server keeps serving.
        items = await inline(client, types.Position(line=0, character=4))
        assert [i.insert_text for i in items] == ["x"]


async def test_stale_result_is_dropped() -> None:
    """An edit while the model is generating makes the old answer go away."""
    async with start_session(settings=fake_settings("slow answer", delay_ms=300)) as client:
        pos = open_doc(client, "x = <CURSOR>\n")
        task = asyncio.ensure_future(inline(client, pos))
        await asyncio.sleep(0.1)
        client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=URI, version=2),
                content_changes=[
                    types.TextDocumentContentChangePartial(
                        range=types.Range(start=pos, end=pos), text="1"
                    )
                ],
            )
        )
        items = await task
    assert items == []


async def test_typed_through_cache_answers_without_model() -> None:
    """Typing the first characters of the ghost text is answered from the cache."""
    async with start_session(settings=fake_settings("hello_world()", "WRONG")) as client:
        pos = open_doc(client, "x = <CURSOR>\n")
        first = await inline(client, pos)
        assert [i.insert_text for i in first] == ["hello_world()"]
        client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=URI, version=2),
                content_changes=[
                    types.TextDocumentContentChangePartial(
                        range=types.Range(start=pos, end=pos), text="hel"
                    )
                ],
            )
        )
        second = await inline(client, types.Position(line=0, character=7))
        status = await client.workspace_execute_command_async(
            types.ExecuteCommandParams(command="mimi.status")
        )
    assert [i.insert_text for i in second] == ["lo_world()"]
    assert status["metrics"]["completion"]["cacheHits"] == 1
    assert status["metrics"]["completion"]["modelCalls"] == 1
