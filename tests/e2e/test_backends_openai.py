"""The real server process completing through the OpenAI-compatible stand-in (real ``openai``)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.lsp_harness import inline, open_doc, start_session
from tests.standins.openai import OpenAIStandin

MODEL = "qwen2.5-coder-1.5b"
DOC = "def add(a, b):\n    return <CURSOR>\n"
# A name and a value the log scrubber's patterns would not catch: the test proves that mimi-lsp
# never writes the key, not that the scrubber hides it.
KEY_ENV = "MIMI_E2E_LLM_CREDENTIAL"
KEY = "e2e-cred-9b3f2a71c5d8"


def openai_settings(
    server: OpenAIStandin, *, key_env: str | None = KEY_ENV, **completion: Any
) -> dict[str, Any]:
    backend: dict[str, Any] = {"kind": "openai", "baseUrl": server.base_url}
    if key_env:
        backend["apiKeyEnv"] = key_env
    return {
        "completion": {
            "backend": backend,
            "model": MODEL,
            "debounceMs": 0,
            "context": False,
            **completion,
        },
        "index": {"enabled": False},
    }


@pytest.fixture
def server() -> Iterator[OpenAIStandin]:
    with OpenAIStandin(replies=["a + b"], api_key=KEY) as s:
        yield s


async def test_ghost_text_from_an_openai_compatible_server(server: OpenAIStandin) -> None:
    """Ghost text arrives via /v1/completions, with the key from the named env var."""
    async with start_session(settings=openai_settings(server), env={KEY_ENV: KEY}) as client:
        items = await inline(client, open_doc(client, DOC))
    assert [i.insert_text for i in items] == ["a + b"]
    call = server.calls("/v1/completions")[0]
    assert call.headers["authorization"] == f"Bearer {KEY}"
    # A known family: mimi-lsp writes the FIM tokens itself (servers differ on `suffix`).
    assert call.body["prompt"].startswith("<|fim_prefix|>") and "suffix" not in call.body
    assert "cache_prompt" not in call.body  # only llama.cpp's server knows it


async def test_llama_cpp_server_is_asked_to_reuse_its_prompt_cache(server: OpenAIStandin) -> None:
    """A server listing its models as llama.cpp's does gets cache_prompt (old ones need it)."""
    server.configure(owned_by="llamacpp")
    async with start_session(settings=openai_settings(server), env={KEY_ENV: KEY}) as client:
        items = await inline(client, open_doc(client, DOC))
    assert [i.insert_text for i in items] == ["a + b"]
    assert server.calls("/v1/completions")[0].body["cache_prompt"] is True


async def test_unknown_model_uses_the_servers_suffix(server: OpenAIStandin) -> None:
    """A model whose FIM tokens we do not know is asked with prompt + suffix."""
    server.configure(models=["house-model-v3", "text-embedding-3-small"])
    settings = openai_settings(server, model="house-model-v3")
    async with start_session(settings=settings, env={KEY_ENV: KEY}) as client:
        items = await inline(client, open_doc(client, DOC))
    assert [i.insert_text for i in items] == ["a + b"]
    body = server.calls("/v1/completions")[0].body
    assert body["prompt"].endswith("return ") and body["suffix"] == "\n"


async def test_api_key_never_reaches_the_log(
    server: OpenAIStandin, capfd: pytest.CaptureFixture[str]
) -> None:
    """With debug logging, the server's stderr and log messages never contain the key."""
    async with start_session(settings=openai_settings(server), env={KEY_ENV: KEY}) as client:
        pos = open_doc(client, DOC)
        await inline(client, pos)
        server.configure(api_key="another-key")  # now refused: the error path logs too
        other = "file:///tmp/mimi-test/other.py"
        await inline(client, open_doc(client, "x = <CURSOR>\n", uri=other), uri=other)
        log = await _stderr_until(capfd, "openai completions")
        client_side = " ".join(
            [m.message for m in client.messages] + [m.message for m in client.log_messages]
        )
    assert "openai completions" in log and server.base_url in log
    assert KEY not in log and KEY not in client_side
    assert KEY_ENV in client_side  # the refusal names the variable to check


async def _stderr_until(capfd: pytest.CaptureFixture[str], marker: str, wait_s: float = 5.0) -> str:
    """Server stderr captured so far, once ``marker`` shows up (it is forwarded asynchronously)."""
    text = ""
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        text += capfd.readouterr().err
        if marker in text:
            break
        await asyncio.sleep(0.05)
    return text


async def test_server_down_names_the_url(server: OpenAIStandin) -> None:
    """Nothing at baseUrl: one message telling the user to start their server."""
    server.stop()
    async with start_session(settings=openai_settings(server, key_env=None)) as client:
        assert await asyncio.wait_for(inline(client, open_doc(client, DOC)), 10) == []
        messages = [m.message for m in client.messages]
    assert (
        len(messages) == 1
        and f"Start your OpenAI-compatible server at {server.base_url}" in messages[0]
    )


async def test_newer_request_closes_the_older_stream(server: OpenAIStandin) -> None:
    """Latest-wins closes the older SSE stream at the server."""
    server.configure(replies=["slow" + " tok" * 300, "b"], delay_ms=30)
    async with start_session(settings=openai_settings(server), env={KEY_ENV: KEY}) as client:
        pos = open_doc(client, DOC)
        first = asyncio.ensure_future(inline(client, pos, invoked=False))
        await asyncio.to_thread(
            server.wait_for,
            lambda reqs: any(r.path == "/v1/completions" and r.tokens_sent > 0 for r in reqs),
        )
        second = await inline(client, pos)
        assert await first == []
        closed = await asyncio.to_thread(server.wait_disconnect, "/v1/completions")
    assert [i.insert_text for i in second] == ["b"]
    assert not closed.finished


async def test_garbage_stream_gives_empty_result_and_recovers(server: OpenAIStandin) -> None:
    """A malformed SSE stream: empty result; the next request works."""
    # The model writes the space after return that the prompt's middle leaves out first (a
    # reply that does not would be asked again: the garbage would never be read).
    server.configure(fail="garbage", fail_count=1, replies=[" a + b"])
    async with start_session(settings=openai_settings(server), env={KEY_ENV: KEY}) as client:
        pos = open_doc(client, DOC)
        assert await inline(client, pos) == []
        items = await inline(client, pos)
    assert [i.insert_text for i in items] == ["a + b"]
