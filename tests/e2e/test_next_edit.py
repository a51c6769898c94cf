"""Next-edit suggestions end to end: the real server, didChange history, copilotInlineEdit."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from lsprotocol import types

from tests.lsp_harness import EDITORS, fake_settings, send_raw, start_session

URI = "file:///tmp/mimi-test/pricing.py"
SOURCE = """def total(items, rate):
    result = 0
    for item in items:
        result += item.price * rate
    print(rate, item.rate)
    return result
"""


def open_text(client: Any, text: str, uri: str = URI, language: str = "python") -> None:
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(
                uri=uri, language_id=language, version=1, text=text
            )
        )
    )


def change(client: Any, version: int, line: int, start: int, end: int, text: str, uri: str = URI):
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=[
                types.TextDocumentContentChangePartial(
                    range=types.Range(
                        start=types.Position(line=line, character=start),
                        end=types.Position(line=line, character=end),
                    ),
                    text=text,
                )
            ],
        )
    )


def type_rename(
    client: Any, line: int, col: int, old: str, new: str, version: int = 2, uri: str = URI
) -> int:
    """Select ``old`` at (line, col) and type ``new`` key by key, as an editor sends it."""
    change(client, version, line, col, col + len(old), new[0], uri)
    for i, ch in enumerate(new[1:], start=1):
        version += 1
        change(client, version, line, col + i, col + i, ch, uri)
    return version


async def inline_edit(
    client: Any, line: int, character: int, version: int | None, uri: str = URI
) -> dict[str, Any]:
    params: dict[str, Any] = {
        "textDocument": {"uri": uri, "version": version},
        "position": {"line": line, "character": character},
    }
    result = await asyncio.wait_for(send_raw(client, "textDocument/copilotInlineEdit", params), 30)
    return plain(result)


def plain(value: Any) -> Any:
    if hasattr(value, "_asdict"):
        return {k: plain(v) for k, v in value._asdict().items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def rng(line: int, start: int, end: int) -> dict[str, Any]:
    return {"start": {"line": line, "character": start}, "end": {"line": line, "character": end}}


async def status(client: Any) -> dict[str, Any]:
    result = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="mimi.status", arguments=[])
    )
    return plain(result)["metrics"]["nextEdit"]


@pytest.mark.parametrize("editor", EDITORS)
async def test_rename_at_definition_predicts_next_use(editor: str) -> None:
    """After renaming a parameter at its definition, the next use is the suggested edit."""
    async with start_session(editor=editor, settings=fake_settings("x")) as client:
        open_text(client, SOURCE)
        version = type_rename(client, 0, 17, "rate", "factor")
        result = await inline_edit(client, 3, 10, version)
    assert len(result["edits"]) == 1
    edit = result["edits"][0]
    assert edit["range"] == rng(3, 31, 35)
    assert edit["text"] == "factor"
    assert edit["textDocument"] == {"uri": URI, "version": version}
    assert edit["command"]["command"] == "mimi.nextEdit.accept"


async def test_accepting_continues_the_rename_and_is_counted() -> None:
    """Applying a suggestion counts it accepted, and the rename goes on to the next use."""
    async with start_session(settings=fake_settings("x")) as client:
        open_text(client, SOURCE)
        version = type_rename(client, 0, 17, "rate", "factor")
        first = (await inline_edit(client, 3, 0, version))["edits"][0]
        client.protocol.notify(
            "textDocument/didShowInlineEdit", {"item": {"command": first["command"]}}
        )
        version += 1
        change(client, version, 3, 31, 35, "factor")
        second = (await inline_edit(client, 3, 37, version))["edits"]
        counts = await status(client)
    assert second[0]["range"] == rng(4, 10, 14)  # print(rate, ...), not item.rate
    assert counts["shown"] >= 1 and counts["accepted"] == 1


async def test_member_of_the_same_name_is_left_alone() -> None:
    """Renaming the variable never touches ``item.rate``; after the last use nothing is left."""
    async with start_session(settings=fake_settings("x")) as client:
        open_text(client, SOURCE)
        version = type_rename(client, 0, 17, "rate", "factor")
        version = type_rename(client, 3, 31, "rate", "factor", version + 1)
        version = type_rename(client, 4, 10, "rate", "factor", version + 1)
        result = await inline_edit(client, 4, 0, version)
    assert result["edits"] == []


async def test_stale_version_gets_nothing() -> None:
    """A request for a version the server no longer has is answered with no edits."""
    async with start_session(settings=fake_settings("x")) as client:
        open_text(client, SOURCE)
        version = type_rename(client, 0, 17, "rate", "factor")
        result = await inline_edit(client, 3, 0, version - 1)
    assert result["edits"] == []


async def test_same_change_at_sibling_call() -> None:
    """An argument added to one call of ``log_event`` is suggested at the next call."""
    text = "def run(ctx):\n    log_event('start', 1)\n    work()\n    log_event('stop', 2)\n"
    async with start_session(settings=fake_settings("x")) as client:
        open_text(client, text)
        version = 2
        change(client, version, 1, 24, 24, ",")
        for i, ch in enumerate(" ctx", start=1):
            version += 1
            change(client, version, 1, 24 + i, 24 + i, ch)
        result = await inline_edit(client, 2, 0, version)
    assert result["edits"][0]["range"] == rng(3, 23, 23)
    assert result["edits"][0]["text"] == ", ctx"


async def test_disabled_by_setting() -> None:
    """nextEdit.enabled = false: no suggestions."""
    settings = {**fake_settings("x"), "nextEdit": {"enabled": False}}
    async with start_session(settings=settings) as client:
        open_text(client, SOURCE)
        version = type_rename(client, 0, 17, "rate", "factor")
        result = await inline_edit(client, 3, 0, version)
    assert result["edits"] == []


async def test_invalid_params_get_an_error() -> None:
    """Params without a position are answered with InvalidParams, and the server keeps going."""
    async with start_session(settings=fake_settings("x")) as client:
        open_text(client, SOURCE)
        fut = send_raw(client, "textDocument/copilotInlineEdit", {"textDocument": {"uri": URI}})
        with pytest.raises(Exception) as info:
            await asyncio.wait_for(fut, 5)
        assert "position" in str(info.value) or "-32602" in str(info.value)
        assert (await inline_edit(client, 0, 0, 1))["edits"] == []


async def test_rename_reaches_other_open_file() -> None:
    """A renamed top-level function is suggested at its call in another open file."""
    lib = "def compute_total(xs):\n    return sum(xs)\n"
    app = "from lib import compute_total\n\nprint(compute_total([1, 2]))\n"
    lib_uri, app_uri = "file:///tmp/mimi-test/lib.py", "file:///tmp/mimi-test/app.py"
    async with start_session(settings=fake_settings("x")) as client:
        open_text(client, lib, lib_uri)
        open_text(client, app, app_uri)
        type_rename(client, 0, 4, "compute_total", "grand_total", uri=lib_uri)
        result = await inline_edit(client, 0, 0, 1, app_uri)
    edits = result["edits"]
    assert edits and edits[0]["textDocument"]["uri"] == app_uri
    assert edits[0]["range"] == rng(0, 16, 29) and edits[0]["text"] == "grand_total"


MODEL_SOURCE = "def area(w, h):\n    return w * h\n\n\nprint(area(2, 3))\n"


async def test_model_suggests_from_its_rewritten_window() -> None:
    """With a next-edit model set, its rewritten window (OpenAI wire) becomes the edit."""
    from tests.standins.openai import OpenAIStandin

    window = MODEL_SOURCE.rstrip("\n").replace("area(2, 3)", "area(2, 3) + 1")
    with OpenAIStandin(replies=[window + "\n<|file_sep|>"], models=["sweep-next-edit-0.5b"]) as srv:
        settings = {
            **fake_settings("x"),
            "nextEdit": {
                "model": "sweep-next-edit-0.5b",
                "backend": {"kind": "openai", "baseUrl": srv.base_url, "timeoutMs": 60_000},
                "timeoutMs": 60_000,
            },
        }
        async with start_session(settings=settings) as client:
            open_text(client, MODEL_SOURCE)
            change(client, 2, 1, 15, 15, " ")  # "w * h " : not a rename, nothing model-free
            result = await inline_edit(client, 1, 16, 2)
            prompt = srv.calls("/v1/completions")[0].body["prompt"]
    assert prompt.endswith("<|file_sep|>updated/pricing.py\n")
    assert "<|file_sep|>current/pricing.py" in prompt
    assert result["edits"][0]["range"] == rng(4, 16, 16)
    assert result["edits"][0]["text"] == " + 1"


async def test_model_answer_that_undoes_the_edit_is_dropped() -> None:
    """A model answer restoring what the user just changed is dropped and counted reversed;
    an answer that is not a window gives nothing."""
    from tests.standins.openai import OpenAIStandin

    with OpenAIStandin(
        replies=[MODEL_SOURCE.rstrip("\n") + "\n<|file_sep|>", "<|file_sep|>"],
        models=["sweep-next-edit-0.5b"],
    ) as srv:
        settings = {
            **fake_settings("x"),
            "nextEdit": {
                "model": "sweep-next-edit-0.5b",
                "backend": {"kind": "openai", "baseUrl": srv.base_url, "timeoutMs": 60_000},
                "timeoutMs": 60_000,
            },
        }
        async with start_session(settings=settings) as client:
            open_text(client, MODEL_SOURCE)
            change(client, 2, 1, 15, 15, " ")
            reverted = await inline_edit(client, 1, 16, 2)
            garbage = await inline_edit(client, 1, 16, 2)
            counts = await status(client)
    assert reverted["edits"] == [] and garbage["edits"] == []
    assert counts["reversed"] == 1 and counts["unparsable"] == 1
