"""The real server process completing through the Ollama stand-in (real ``ollama`` client)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from lsprotocol import types

from tests.lsp_harness import EDITORS, inline, open_doc, start_session, wait_until
from tests.standins.ollama import OllamaStandin

MODEL = "qwen2.5-coder:1.5b-base"
URI = "file:///tmp/mimi-test/example.py"
DOC = "def add(a, b):\n    return <CURSOR>\n"


def ollama_settings(server: OllamaStandin, **completion: Any) -> dict[str, Any]:
    """Settings pointing the server's completion backend at the stand-in."""
    return {
        "completion": {
            "backend": {"kind": "ollama", "host": server.url},
            "model": MODEL,
            "debounceMs": 0,
            "context": False,
            **completion,
        },
        "index": {"enabled": False},
    }


@pytest.fixture
def ollama() -> Iterator[OllamaStandin]:
    with OllamaStandin(replies=["a + b"]) as server:
        yield server


def _plain(params: Any) -> dict[str, Any]:
    """A notification's params as a dict (pygls hands them over as a namedtuple-like Object)."""
    if isinstance(params, dict):
        return params
    return params._asdict() if hasattr(params, "_asdict") else dict(vars(params))


def statuses(client: Any, feature: str = "completion") -> list[dict[str, Any]]:
    """The mimi/status notifications about ``feature`` received so far."""
    found = [_plain(params) for m, params in client.notifications if m == "mimi/status"]
    return [s for s in found if feature in s]


def started_streaming(reqs: list[Any]) -> bool:
    return any(r.path == "/api/generate" and r.tokens_sent > 0 for r in reqs)


@pytest.mark.parametrize("editor", EDITORS)
async def test_ghost_text_from_ollama(ollama: OllamaStandin, editor: str) -> None:
    """Ghost text arrives from Ollama, asked with native FIM (prompt + suffix)."""
    async with start_session(editor=editor, settings=ollama_settings(ollama)) as client:
        pos = open_doc(client, DOC)
        items = await inline(client, pos)
    assert [i.insert_text for i in items] == ["a + b"]
    body = ollama.calls("/api/generate")[0].body
    assert body["model"] == MODEL and body["prompt"].endswith("return ") and body["suffix"] == "\n"
    assert body["keep_alive"] and "raw" not in body


async def test_model_without_native_fim_gets_raw_family_tokens(ollama: OllamaStandin) -> None:
    """A model whose Ollama template has no suffix slot is driven in raw mode with its tokens."""
    # The cursor's line opens the middle but for its last piece (the space after return),
    # which the model writes first, as a real one does.
    ollama.configure(models=[{"name": MODEL, "fim": False}], replies=[" a + b"])
    async with start_session(settings=ollama_settings(ollama)) as client:
        items = await inline(client, open_doc(client, DOC))
    assert [i.insert_text for i in items] == ["a + b"]
    [call] = ollama.calls("/api/generate")
    body = call.body
    assert body["raw"] is True and "suffix" not in body
    assert (
        body["prompt"] == "<|fim_prefix|>def add(a, b):\n<|fim_suffix|>\n<|fim_middle|>    return"
    )
    assert "<|endoftext|>" in body["options"]["stop"]


async def test_fim_template_setting_overrides_native_fim(ollama: OllamaStandin) -> None:
    """fimTemplate forces raw mode with the named family's tokens."""
    async with start_session(settings=ollama_settings(ollama, fimTemplate="codellama")) as client:
        await inline(client, open_doc(client, DOC))
    body = ollama.calls("/api/generate")[0].body
    assert (
        body["raw"] is True
        and body["prompt"].startswith("<PRE> ")
        and "<EOT>" in body["options"]["stop"]
    )


async def test_newer_request_closes_the_older_stream(ollama: OllamaStandin) -> None:
    """A newer request for the document cancels the older one and closes its HTTP stream."""
    ollama.configure(replies=["slow" + " tok" * 300, "b"], delay_ms=30)
    async with start_session(settings=ollama_settings(ollama)) as client:
        pos = open_doc(client, DOC)
        first = asyncio.ensure_future(inline(client, pos, invoked=False))
        await asyncio.to_thread(ollama.wait_for, started_streaming)
        second = await inline(client, pos)
        first_items = await first
        closed = await asyncio.to_thread(ollama.wait_disconnect, "/api/generate")
    assert first_items == []
    assert [i.insert_text for i in second] == ["b"]
    assert not closed.finished and closed.tokens_sent < 300


async def test_edit_closes_the_inflight_stream(ollama: OllamaStandin) -> None:
    """Typing while the model generates cancels the request and closes the stream."""
    ollama.configure(replies=["slow" + " tok" * 300], delay_ms=30)
    async with start_session(settings=ollama_settings(ollama)) as client:
        pos = open_doc(client, DOC)
        pending = asyncio.ensure_future(inline(client, pos))
        await asyncio.to_thread(ollama.wait_for, started_streaming)
        client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=URI, version=2),
                content_changes=[
                    types.TextDocumentContentChangePartial(
                        range=types.Range(start=pos, end=pos), text="a"
                    )
                ],
            )
        )
        assert await pending == []
        closed = await asyncio.to_thread(ollama.wait_disconnect, "/api/generate")
    assert not closed.finished


async def test_cancel_request_closes_the_stream(ollama: OllamaStandin) -> None:
    """$/cancelRequest from the editor closes the backend stream too."""
    ollama.configure(replies=["slow" + " tok" * 300], delay_ms=30)
    async with start_session(settings=ollama_settings(ollama)) as client:
        pos = open_doc(client, DOC)
        msg_id = f"cancel-{uuid.uuid4()}"
        answer: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        client.protocol._request_futures[msg_id] = answer  # type: ignore[assignment]  # noqa: SLF001
        client.protocol._send_data(  # noqa: SLF001
            {
                "jsonrpc": "2.0",
                "id": msg_id,
                "method": types.TEXT_DOCUMENT_INLINE_COMPLETION,
                "params": {
                    "textDocument": {"uri": URI},
                    "position": {"line": pos.line, "character": pos.character},
                    "context": {"triggerKind": 1},
                },
            }
        )
        await asyncio.to_thread(ollama.wait_for, started_streaming)
        client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id=msg_id))
        closed = await asyncio.to_thread(ollama.wait_disconnect, "/api/generate")
        # The server keeps serving.
        ollama.configure(replies=["a + b"], delay_ms=0)
        items = await inline(client, pos)
    assert not closed.finished
    assert [i.insert_text for i in items] == ["a + b"]


async def test_ollama_down_one_message_then_recovery(ollama: OllamaStandin) -> None:
    """Ollama down: one status and one message naming 'ollama serve'; back up: status ok."""
    ollama.stop()
    async with start_session(settings=ollama_settings(ollama)) as client:
        pos = open_doc(client, DOC)
        assert await asyncio.wait_for(inline(client, pos), 10) == []
        assert await asyncio.wait_for(inline(client, pos), 10) == []
        down = statuses(client)
        shown = [m.message for m in client.messages if "ollama" in m.message.lower()]
        ollama.start()  # same port
        items = await inline(client, pos)
        after = statuses(client)
    assert len(down) == 1 and down[0]["completion"] == "unavailable"
    assert "ollama serve" in down[0]["message"]
    assert len(shown) == 1 and "ollama serve" in shown[0] and ollama.url in shown[0]
    assert [i.insert_text for i in items] == ["a + b"]
    assert after[-1]["completion"] == "ok"


async def test_missing_model_names_the_pull_command(ollama: OllamaStandin) -> None:
    """A model Ollama lacks: the message says 'ollama pull <model>'."""
    ollama.configure(models=["qwen2.5-coder:7b-instruct"])
    async with start_session(settings=ollama_settings(ollama)) as client:
        assert await inline(client, open_doc(client, DOC)) == []
        messages = [m.message for m in client.messages]
        status = statuses(client)
    assert any(f"ollama pull {MODEL}" in m for m in messages)
    assert status and f"ollama pull {MODEL}" in status[-1]["message"]
    assert ollama.calls("/api/generate") == []


async def test_chat_model_without_fim_is_reported(ollama: OllamaStandin) -> None:
    """A chat model with neither native FIM nor known tokens: reported, no model call."""
    ollama.configure(models=[{"name": "llama3.2:3b", "fim": False, "family": "llama"}])
    async with start_session(settings=ollama_settings(ollama, model="llama3.2:3b")) as client:
        assert await inline(client, open_doc(client, DOC)) == []
        status = statuses(client)
    assert status and status[-1]["completion"] == "unavailable"
    assert "fill-in-the-middle" in status[-1]["message"]
    assert ollama.calls("/api/generate") == []


@pytest.mark.parametrize("mode", ["garbage", "truncate", "reset", "http500"])
async def test_broken_stream_gives_empty_result_and_server_keeps_serving(
    ollama: OllamaStandin, mode: str
) -> None:
    """Garbage, truncated or dropped streams: empty result; the next request works."""
    ollama.configure(replies=["a + b"], fail=mode, fail_count=1)
    async with start_session(settings=ollama_settings(ollama)) as client:
        pos = open_doc(client, DOC)
        assert await inline(client, pos) == []
        items = await inline(client, pos)
    assert [i.insert_text for i in items] == ["a + b"]


async def test_slow_model_times_out_without_hanging(ollama: OllamaStandin) -> None:
    """A model slower than timeoutMs: empty results at the deadline; the first late answer is
    followed to measure the model, any further one's stream is closed at its deadline."""
    ollama.configure(fail="slow", slow_s=30, fail_count=2)
    async with start_session(settings=ollama_settings(ollama, timeoutMs=300)) as client:
        pos = open_doc(client, DOC)
        assert await asyncio.wait_for(inline(client, pos), 10) == []
        assert await asyncio.wait_for(inline(client, pos), 10) == []
        closed = await asyncio.to_thread(ollama.wait_disconnect, "/api/generate")
    assert closed is ollama.calls("/api/generate")[1]


async def test_slow_model_told_once_with_setting_and_measured_time(ollama: OllamaStandin) -> None:
    """A model slower than mimi.completion.timeoutMs: one message names the setting, the
    model's measured time and the value to set, instead of a bare 'error'."""
    ollama.configure(first_token_ms=600)
    settings = ollama_settings(ollama)
    settings["completion"]["timeoutMs"] = 200
    async with start_session(settings=settings) as client:
        pos = open_doc(client, DOC)
        assert await inline(client, pos) == []
        await wait_until(lambda: any("timeoutMs" in m.message for m in client.messages))
        assert await inline(client, pos) == []
        shown = [m.message for m in client.messages if "timeoutMs" in m.message]
    assert len(shown) == 1
    assert "mimi.completion.timeoutMs (200 ms)" in shown[0]
    assert "Set mimi.completion.timeoutMs to" in shown[0]
    assert " s to answer" in shown[0]
