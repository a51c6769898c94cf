"""Limits against the real server process: rate limits per client and feature, document
size, command argument size and field bounds. Each refusal is a proper answer plus one
clear message; the server keeps serving."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from lsprotocol import types

from tests.lsp_harness import fake_settings, inline, open_doc, send_raw, start_session

URI = "file:///tmp/mimi-limits/a.py"


def limited(**limits: Any) -> dict[str, Any]:
    settings = fake_settings("total_sum(values)")
    settings["completion"]["backend"]["chatReplies"] = ["An answer."]
    settings["limits"] = limits
    return settings


async def command(client: Any, name: str, *args: Any) -> Any:
    return await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command=name, arguments=list(args))
    )


def warnings(client: Any, needle: str) -> list[str]:
    return [m.message for m in client.messages if needle in m.message]


async def test_completion_rate_limit_refuses_model_calls_and_says_so_once() -> None:
    """Past the burst, completions come back empty; one message names the limit."""
    async with start_session(settings=limited(completion={"perMinute": 6, "burst": 2})) as client:
        answers = []
        for i, prefix in enumerate(["a", "bb", "ccc", "dddd", "eeeee"]):
            uri = f"file:///tmp/mimi-limits/{i}.py"
            pos = open_doc(client, f"x = {prefix}<CURSOR>\n", uri=uri)
            answers.append(await inline(client, pos, uri=uri))
        status = await command(client, "mimi.status")
    assert [bool(a) for a in answers] == [True, True, False, False, False]
    (message,) = warnings(client, "Too many completion requests")
    assert "6 per minute" in message and "mimi.limits.completion.perMinute" in message
    assert status["metrics"]["rateLimits"]["completion"] == {"allowed": 2, "limited": 3}
    assert status["metrics"]["completion"]["rateLimited"] == 3
    assert status["metrics"]["ops"]["rateLimited"]["completion"] >= 3


async def test_cache_hits_are_never_rate_limited() -> None:
    """With the model budget spent, typing along the ghost text still shows it (cache)."""
    async with start_session(settings=limited(completion={"perMinute": 1, "burst": 1})) as client:
        text = "x = <CURSOR>\n"
        pos = open_doc(client, text, uri=URI)
        (first,) = await inline(client, pos, uri=URI)
        suggestion = first.insert_text
        for n, ch in enumerate(suggestion[:6], start=1):
            client.text_document_did_change(
                types.DidChangeTextDocumentParams(
                    text_document=types.VersionedTextDocumentIdentifier(uri=URI, version=1 + n),
                    content_changes=[
                        types.TextDocumentContentChangePartial(
                            range=types.Range(
                                start=types.Position(line=0, character=3 + n),
                                end=types.Position(line=0, character=3 + n),
                            ),
                            text=ch,
                        )
                    ],
                )
            )
            items = await inline(
                client, types.Position(line=0, character=4 + n), uri=URI, invoked=False
            )
            assert [i.insert_text for i in items] == [suggestion[n:]]
        status = await command(client, "mimi.status")
    assert status["metrics"]["rateLimits"]["completion"]["limited"] == 0
    assert status["metrics"]["ops"]["cache"]["hits"] >= 6


async def test_chat_rate_limit_is_a_request_failed_error_and_one_message() -> None:
    """A chat past its limit is answered at once with RequestFailed naming the limit."""
    async with start_session(settings=limited(chat={"perMinute": 2, "burst": 1})) as client:
        first = await command(client, "mimi.chat", {"chatId": "c", "message": "hi"})
        errors = []
        for _ in range(3):
            with pytest.raises(Exception) as caught:
                await asyncio.wait_for(
                    command(client, "mimi.chat", {"chatId": "c", "message": "hi"}), 5
                )
            errors.append(str(caught.value))
        search = await command(client, "mimi.search", {"query": "x"})  # other features unaffected
    assert first["reply"] == "An answer."
    assert all("Too many chat requests" in e and "2 per minute" in e for e in errors), errors
    assert len(warnings(client, "Too many chat requests")) == 1
    assert "hits" in search


async def test_oversized_document_is_not_tracked() -> None:
    """A document above maxDocumentBytes: one warning, no completion, the server stays fine."""
    async with start_session(settings=limited(maxDocumentBytes=2_000)) as client:
        big = open_doc(client, "x = 1\n" * 1_000 + "y = <CURSOR>\n", uri=URI)
        assert await inline(client, big, uri=URI) == []
        small_uri = "file:///tmp/mimi-limits/small.py"
        small = open_doc(client, "y = <CURSOR>\n", uri=small_uri)
        assert await inline(client, small, uri=small_uri)
        # A paste that grows the small document past the limit drops it as well.
        client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=small_uri, version=2),
                content_changes=[
                    types.TextDocumentContentChangeWholeDocument(text="z = 1\n" * 20_000)
                ],
            )
        )
        assert await inline(client, types.Position(line=0, character=4), uri=small_uri) == []
        status = await command(client, "mimi.status")
    assert status["version"]
    assert len(warnings(client, "a.py is larger than")) == 1
    assert len(warnings(client, "small.py is larger than")) == 1


OVERSIZED = [
    ("mimi.chat", {"chatId": "c", "message": "x" * 2_000_000}, "maxCommandBytes"),
    ("mimi.chat", {"chatId": "c", "message": "x" * 150_000}, "message"),
    ("mimi.chat", {"chatId": "c" * 1_000, "message": "hi"}, "chatId"),
    (
        "mimi.chat",
        {"chatId": "c", "message": "hi", "history": [{"role": "user", "content": "a"}] * 500},
        "history",
    ),
    ("mimi.agent.edit", {"instruction": "y" * 150_000}, "instruction"),
    ("mimi.agent.edit", {"uri": "file:///" + "a" * 10_000, "instruction": "x"}, "uri"),
    (
        "mimi.explain",
        {
            "uri": URI,
            "range": {"start": {"line": -1, "character": 0}, "end": {"line": 0, "character": 0}},
        },
        "line",
    ),
    ("mimi.search", {"query": "q" * 5_000}, "query"),
]


async def test_oversized_or_unbounded_arguments_are_invalid_params() -> None:
    """Too-large arguments get InvalidParams naming the field; the server keeps serving."""
    async with start_session(settings=limited()) as client:
        for name, args, needle in OVERSIZED:
            with pytest.raises(Exception) as caught:
                await asyncio.wait_for(
                    send_raw(
                        client, "workspace/executeCommand", {"command": name, "arguments": [args]}
                    ),
                    10,
                )
            assert needle in str(caught.value), (name, needle, str(caught.value)[:300])
        alive = await command(client, "mimi.status")
    assert alive["version"]
