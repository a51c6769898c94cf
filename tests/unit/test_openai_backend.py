"""OpenAIBackend against the OpenAI-compatible stand-in, through the real ``openai`` library."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterator

import pytest

from mimi_lsp.completion.engine import choose_fim
from mimi_lsp.completion.prompt import TEMPLATES
from mimi_lsp.domain import (
    ChatMessage,
    ChatRequest,
    GenerateRequest,
    HealthState,
    ToolCall,
    ToolSpec,
)
from mimi_lsp.errors import (
    BackendError,
    BackendTimeout,
    BackendUnavailable,
    FimUnsupported,
    ModelNotFound,
)
from mimi_lsp.inference.factory import create_backend
from mimi_lsp.inference.openai_compat import OpenAIBackend
from mimi_lsp.settings import OpenAIBackendSettings
from tests.standins.openai import OpenAIStandin

MODEL = "qwen2.5-coder-1.5b"
KEY_ENV = "MIMI_UNIT_OPENAI_CREDENTIAL"
KEY = "unit-credential-4f7c1d9e"


@pytest.fixture
def server() -> Iterator[OpenAIStandin]:
    with OpenAIStandin(replies=["return a + b"]) as s:
        yield s


@pytest.fixture
async def backend(server: OpenAIStandin) -> AsyncIterator[OpenAIBackend]:
    b = OpenAIBackend(OpenAIBackendSettings(base_url=server.base_url))
    yield b
    await b.aclose()


async def collect(stream: AsyncIterator[str]) -> str:
    return "".join([piece async for piece in stream])


def fim(**kw: object) -> GenerateRequest:
    base: dict[str, object] = {"prompt": "def add(a, b):\n    ", "suffix": "\n", "model": MODEL}
    base.update(kw)
    return GenerateRequest(**base)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------ completions


async def test_factory_builds_the_openai_backend(server: OpenAIStandin) -> None:
    """The factory returns an OpenAIBackend for kind 'openai'."""
    backend = create_backend(OpenAIBackendSettings(base_url=server.base_url))
    assert isinstance(backend, OpenAIBackend) and backend.name == "openai"
    await backend.aclose()


async def test_completion_with_suffix_streams(
    backend: OpenAIBackend, server: OpenAIStandin
) -> None:
    """Native FIM: /v1/completions with prompt and suffix, streamed."""
    assert await collect(backend.generate(fim(max_tokens=9, stop=("\n\n",)))) == "return a + b"
    body = server.calls("/v1/completions")[0].body
    assert body["prompt"] == "def add(a, b):\n    " and body["suffix"] == "\n"
    assert body["stream"] is True and body["max_tokens"] == 9 and body["stop"] == ["\n\n"]


async def test_raw_prompt_has_no_suffix(backend: OpenAIBackend, server: OpenAIStandin) -> None:
    """A raw FIM prompt is sent without a suffix field."""
    await collect(
        backend.generate(
            GenerateRequest("<|fim_prefix|>a<|fim_suffix|>b<|fim_middle|>", raw=True, model=MODEL)
        )
    )
    assert "suffix" not in server.calls("/v1/completions")[0].body


async def test_api_key_from_the_named_env_var(
    server: OpenAIStandin, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The key is read from the variable named in apiKeyEnv and sent as a bearer token."""
    monkeypatch.setenv(KEY_ENV, KEY)
    server.configure(api_key=KEY)
    backend = OpenAIBackend(OpenAIBackendSettings(base_url=server.base_url, api_key_env=KEY_ENV))
    assert await collect(backend.generate(fim())) == "return a + b"
    assert server.calls("/v1/completions")[0].headers["authorization"] == f"Bearer {KEY}"
    await backend.aclose()


async def test_wrong_key_is_reported_without_the_key(
    server: OpenAIStandin, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A refused key names the env var to check; neither the message nor the log holds the key."""
    monkeypatch.setenv(KEY_ENV, KEY)
    server.configure(api_key="the-right-one")
    backend = OpenAIBackend(OpenAIBackendSettings(base_url=server.base_url, api_key_env=KEY_ENV))
    caplog.set_level(logging.DEBUG)
    with pytest.raises(BackendError) as info:
        await collect(backend.generate(fim()))
    assert KEY_ENV in info.value.fix
    assert KEY not in info.value.user_message() and KEY not in caplog.text
    await backend.aclose()


async def test_no_key_configured_sends_a_placeholder(
    backend: OpenAIBackend, server: OpenAIStandin
) -> None:
    """Local servers without auth work with no apiKeyEnv at all."""
    await collect(backend.generate(fim()))
    assert server.calls("/v1/completions")[0].headers["authorization"] == "Bearer no-key"


async def test_closing_the_stream_closes_the_http_response(
    backend: OpenAIBackend, server: OpenAIStandin
) -> None:
    """aclose() mid-stream hangs up on the server before the answer is complete."""
    server.configure(replies=["tok " * 200], delay_ms=20)
    stream = backend.generate(fim())
    await anext(stream)
    await stream.aclose()  # type: ignore[attr-defined]
    rec = await asyncio.to_thread(server.wait_disconnect, "/v1/completions", 5)
    assert not rec.finished and rec.tokens_sent < 200


async def test_cancelling_the_consumer_closes_the_http_response(
    backend: OpenAIBackend, server: OpenAIStandin
) -> None:
    """Cancelling the consuming task hangs up on the server too."""
    server.configure(replies=["tok " * 200], delay_ms=20)
    first = asyncio.Event()

    async def consume() -> None:
        async for _ in backend.generate(fim()):
            first.set()

    task = asyncio.ensure_future(consume())
    await asyncio.wait_for(first.wait(), 5)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await asyncio.to_thread(server.wait_disconnect, "/v1/completions", 5)


# ------------------------------------------------------------------------------ errors


async def test_server_down_is_unavailable() -> None:
    """Nothing listening: BackendUnavailable telling the user to start the server."""
    s = OpenAIStandin().start()
    s.stop()
    backend = OpenAIBackend(OpenAIBackendSettings(base_url=s.base_url))
    with pytest.raises(BackendUnavailable) as info:
        await collect(backend.generate(fim()))
    assert info.value.fix == f"Start your OpenAI-compatible server at {s.base_url}."


async def test_unknown_model_is_model_not_found(
    backend: OpenAIBackend, server: OpenAIStandin
) -> None:
    """A 404 model_not_found becomes ModelNotFound."""
    server.configure(models=["other-model", "another"])
    with pytest.raises(ModelNotFound):
        await collect(backend.generate(fim()))


async def test_server_rejecting_suffix_is_fim_unsupported(
    backend: OpenAIBackend, server: OpenAIStandin
) -> None:
    """vLLM's 'suffix is not currently supported' becomes FimUnsupported naming fimTemplate."""
    server.configure(suffix_supported=False)
    with pytest.raises(FimUnsupported) as info:
        await collect(backend.generate(fim()))
    assert "fimTemplate" in info.value.fix


@pytest.mark.parametrize("mode", ["http500", "garbage", "truncate", "reset", "disconnect"])
async def test_broken_answers_are_backend_errors(
    backend: OpenAIBackend, server: OpenAIStandin, mode: str
) -> None:
    """HTTP 500, garbage SSE, a stream without [DONE] or a dropped connection: BackendError."""
    server.configure(fail=mode)
    with pytest.raises(BackendError):
        await collect(backend.generate(fim()))


async def test_slow_server_times_out(server: OpenAIStandin) -> None:
    """No answer within timeoutMs: BackendTimeout."""
    server.configure(fail="slow", slow_s=10)
    backend = OpenAIBackend(OpenAIBackendSettings(base_url=server.base_url, timeout_ms=200))
    with pytest.raises(BackendTimeout):
        await collect(backend.generate(fim()))
    await backend.aclose()


# ------------------------------------------------------------------------------ chat


async def test_chat_streams_text(backend: OpenAIBackend, server: OpenAIStandin) -> None:
    """Chat yields the text deltas and a final done."""
    server.configure(chat=["It adds two numbers."])
    deltas = [
        d async for d in backend.chat(ChatRequest((ChatMessage("user", "what?"),), model=MODEL))
    ]
    assert "".join(d.content for d in deltas) == "It adds two numbers."
    assert deltas[-1].done


async def test_streamed_tool_call_fragments_are_assembled(
    backend: OpenAIBackend, server: OpenAIStandin
) -> None:
    """Argument fragments streamed per index come out as complete ToolCalls with their ids."""
    args = {"path": "src/app.py", "text": "x = 1\n" * 5}
    server.configure(
        chat=[
            {
                "turns": [
                    {
                        "text": "Let me look.",
                        "toolCalls": [
                            {"name": "read_file", "arguments": {"path": "a.py"}, "id": "call_a"},
                            {"name": "write_file", "arguments": args, "id": "call_b"},
                        ],
                    }
                ]
            }
        ]
    )
    tool = ToolSpec("read_file", "Read", {"type": "object", "properties": {}})
    request = ChatRequest((ChatMessage("user", "go"),), model=MODEL, tools=(tool,))
    deltas = [d async for d in backend.chat(request)]
    calls = [c for d in deltas for c in d.tool_calls]
    assert calls == [
        ToolCall("call_a", "read_file", {"path": "a.py"}),
        ToolCall("call_b", "write_file", args),
    ]
    assert "".join(d.content for d in deltas) == "Let me look."
    assert (
        server.calls("/v1/chat/completions")[0].body["tools"][0]["function"]["name"] == "read_file"
    )


async def test_chat_history_in_openai_shape(backend: OpenAIBackend, server: OpenAIStandin) -> None:
    """Assistant tool calls carry JSON arguments; tool results carry tool_call_id."""
    server.configure(chat=[{"turns": ["unused", "Done."]}])
    history = (
        ChatMessage("user", "read a.py"),
        ChatMessage(
            "assistant", "", tool_calls=(ToolCall("call_1", "read_file", {"path": "a.py"}),)
        ),
        ChatMessage("tool", "print('hi')", tool_call_id="call_1", name="read_file"),
    )
    deltas = [d async for d in backend.chat(ChatRequest(history, model=MODEL))]
    assert "".join(d.content for d in deltas) == "Done."
    messages = server.calls("/v1/chat/completions")[0].body["messages"]
    assert messages[1]["tool_calls"][0]["function"] == {
        "name": "read_file",
        "arguments": '{"path": "a.py"}',
    }
    assert messages[2]["role"] == "tool" and messages[2]["tool_call_id"] == "call_1"


async def test_truncated_chat_stream_is_an_error(
    backend: OpenAIBackend, server: OpenAIStandin
) -> None:
    """A chat stream that ends without finish_reason is reported, not taken as complete."""
    server.configure(chat=["one two three"], fail="truncate")
    with pytest.raises(BackendError):
        async for _ in backend.chat(ChatRequest((ChatMessage("user", "hi"),), model=MODEL)):
            pass


# ------------------------------------------------------------------------------ embed, info, health


async def test_embeddings_in_input_order(backend: OpenAIBackend, server: OpenAIStandin) -> None:
    """One /v1/embeddings call, floats requested, one vector per text."""
    vectors = await backend.embed(["alpha beta", "gamma"], model="text-embedding-3-small")
    assert len(vectors) == 2 and len(vectors[0]) == 384
    body = server.calls("/v1/embeddings")[0].body
    assert body["input"] == ["alpha beta", "gamma"] and body["encoding_format"] == "float"


async def test_model_info_uses_raw_mode_for_known_families(backend: OpenAIBackend) -> None:
    """Known FIM families get our tokens (raw); unknown models rely on the server's suffix."""
    known = await backend.model_info(MODEL)
    unknown = await backend.model_info("my-own-model")
    assert known.present and known.suffix_unreliable
    assert choose_fim(known, MODEL, "auto") == (TEMPLATES["qwen"], False)
    assert choose_fim(unknown, "my-own-model", "auto") == (None, True)


async def test_model_info_missing_from_a_multi_model_server(
    backend: OpenAIBackend, server: OpenAIStandin
) -> None:
    """A server listing several models but not ours: not present."""
    server.configure(models=["a-model", "b-model"])
    assert not (await backend.model_info(MODEL)).present


async def test_single_model_servers_serve_any_name(
    backend: OpenAIBackend, server: OpenAIStandin
) -> None:
    """llama.cpp-style servers list one model and answer to any name: present."""
    server.configure(models=["/models/qwen2.5-coder-1.5b-q8_0.gguf"])
    assert (await backend.model_info("qwen2.5-coder:1.5b")).present


async def test_health_ok_and_down(server: OpenAIStandin) -> None:
    """health() is OK while /v1/models answers and UNAVAILABLE once the server is gone."""
    backend = OpenAIBackend(OpenAIBackendSettings(base_url=server.base_url))
    assert (await backend.health()).state == HealthState.OK
    server.stop()
    health = await backend.health()
    assert health.state == HealthState.UNAVAILABLE and server.base_url in health.fix
    await backend.aclose()
