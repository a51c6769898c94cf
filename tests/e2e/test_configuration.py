"""Settings reach the real server: initializationOptions, workspace/configuration, errors."""

from __future__ import annotations

import asyncio

from lsprotocol import types

from tests.lsp_harness import fake_settings, inline, open_doc, start_session, wait_until


async def test_workspace_configuration_overrides_init_options() -> None:
    """The `mimi` section pulled from the client wins over initializationOptions."""
    async with start_session(
        settings=fake_settings("from init options"),
        configuration={
            "completion": {"backend": {"kind": "fake", "replies": ["from config"]}, "debounceMs": 0}
        },
    ) as client:
        pos = open_doc(client, "x = <CURSOR>\n")
        # initialized → workspace/configuration is a round trip: poll until it has landed.
        for _ in range(50):
            items = await inline(client, pos)
            if [i.insert_text for i in items] == ["from config"]:
                break
            await asyncio.sleep(0.05)
    assert [i.insert_text for i in items] == ["from config"]


async def test_did_change_configuration_rereads_settings() -> None:
    """A configuration change takes effect without a restart."""
    async with start_session(settings=fake_settings("old"), configuration={}) as client:
        pos = open_doc(client, "x = <CURSOR>\n")
        assert [i.insert_text for i in await inline(client, pos)] == ["old"]
        client.set_configuration(
            {"completion": {"backend": {"kind": "fake", "replies": ["new"]}, "debounceMs": 0}},
            section="mimi",
        )
        client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings=None))
        for _ in range(50):
            items = await inline(client, pos)
            if [i.insert_text for i in items] == ["new"]:
                break
            await asyncio.sleep(0.05)
    assert [i.insert_text for i in items] == ["new"]


async def test_invalid_settings_show_one_message_and_keep_serving() -> None:
    """Invalid settings are reported plainly once; the server uses the valid layers."""
    async with start_session(settings={"completion": {"maxTokens": -5}}) as client:
        await wait_until(lambda: client.messages, what="window/showMessage")
        messages = [m.message for m in client.messages]
    assert len([m for m in messages if "invalid settings" in m]) == 1
    assert any("maxTokens" in m for m in messages)


async def test_the_same_invalid_setting_in_both_layers_is_told_once() -> None:
    """A typo that arrives as initializationOptions and again in the pulled section (VS Code
    sends both) is one message naming it once, not a second one naming it twice."""
    bad = {"completion": {"temperature": 9}}
    async with start_session(settings=bad, configuration=bad) as client:
        pos = open_doc(client, "x = <CURSOR>\n")
        await inline(client, pos)  # waits for the pulled settings; their message came first
        warned = [m.message for m in client.messages if "invalid settings" in m.message]
    assert len(warned) == 1, warned
    assert warned[0].count("temperature") == 1, warned


async def test_huge_document_makes_no_model_call() -> None:
    """A document over maxDocumentBytes gets no ghost text and no model call."""
    async with start_session(settings=fake_settings("x", maxDocumentBytes=10_000)) as client:
        pos = open_doc(client, "a = 1\n" * 5_000 + "b = <CURSOR>\n")
        items = await inline(client, pos)
        status = await client.workspace_execute_command_async(
            types.ExecuteCommandParams(command="mimi.status")
        )
    assert items == []
    assert status["metrics"]["completion"]["modelCalls"] == 0
