"""OllamaBackend against the Ollama stand-in, through the real ``ollama`` client library."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator

import pytest

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
from mimi_lsp.inference.ollama import OllamaBackend
from mimi_lsp.settings import OllamaBackendSettings
from tests.standins.ollama import OllamaStandin

MODEL = "qwen2.5-coder:1.5b-base"


@pytest.fixture
def ollama() -> Iterator[OllamaStandin]:
    with OllamaStandin(replies=["return a + b"]) as server:
        yield server


@pytest.fixture
async def backend(ollama: OllamaStandin) -> AsyncIterator[OllamaBackend]:
    b = OllamaBackend(OllamaBackendSettings(host=ollama.url, keep_alive="5m"))
    yield b
    await b.aclose()


async def collect(stream: AsyncIterator[str]) -> str:
    return "".join([piece async for piece in stream])


def fim(**kw: object) -> GenerateRequest:
    base: dict[str, object] = {"prompt": "def add(a, b):\n    ", "suffix": "\n", "model": MODEL}
    base.update(kw)
    return GenerateRequest(**base)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------ generate


async def test_factory_builds_the_ollama_backend(ollama: OllamaStandin) -> None:
    """The factory returns an OllamaBackend for kind 'ollama'."""
    backend = create_backend(OllamaBackendSettings(host=ollama.url))
    assert isinstance(backend, OllamaBackend) and backend.name == "ollama"
    await backend.aclose()


async def test_native_fim_streams_the_reply(backend: OllamaBackend, ollama: OllamaStandin) -> None:
    """Native FIM sends prompt and suffix apart and streams the model's tokens."""
    assert await collect(backend.generate(fim())) == "return a + b"
    body = ollama.calls("/api/generate")[0].body
    assert body["prompt"] == "def add(a, b):\n    " and body["suffix"] == "\n"
    assert "raw" not in body and body["stream"] is True


async def test_generation_options_are_sent(backend: OllamaBackend, ollama: OllamaStandin) -> None:
    """max_tokens, temperature, stop sequences and keep_alive reach Ollama."""
    await collect(
        backend.generate(fim(max_tokens=7, temperature=0.1, stop=("\n\n", "<|endoftext|>")))
    )
    body = ollama.calls("/api/generate")[0].body
    assert body["options"] == {
        "num_predict": 7,
        "temperature": 0.1,
        "stop": ["\n\n", "<|endoftext|>"],
    }
    assert body["keep_alive"] == "5m"


async def test_raw_mode_sends_no_suffix(backend: OllamaBackend, ollama: OllamaStandin) -> None:
    """A raw FIM prompt goes with raw=true and no suffix."""
    prompt = "<|fim_prefix|>x = <|fim_suffix|>\n<|fim_middle|>"
    await collect(backend.generate(GenerateRequest(prompt=prompt, raw=True, model=MODEL)))
    body = ollama.calls("/api/generate")[0].body
    assert body["raw"] is True and body["prompt"] == prompt and "suffix" not in body


async def test_num_ctx_setting_is_sent(ollama: OllamaStandin) -> None:
    """numCtx from the settings becomes options.num_ctx."""
    backend = OllamaBackend(OllamaBackendSettings(host=ollama.url, num_ctx=4096))
    await collect(backend.generate(fim()))
    await backend.aclose()
    assert ollama.calls("/api/generate")[0].body["options"]["num_ctx"] == 4096


async def test_ollama_host_from_environment(
    ollama: OllamaStandin, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a host setting, $OLLAMA_HOST (host:port, no scheme) is used."""
    monkeypatch.setenv("OLLAMA_HOST", f"127.0.0.1:{ollama.port}")
    backend = OllamaBackend(OllamaBackendSettings())
    assert backend.host == ollama.url
    assert await collect(backend.generate(fim())) == "return a + b"
    await backend.aclose()


async def test_stop_sequences_end_the_stream_early(
    backend: OllamaBackend, ollama: OllamaStandin
) -> None:
    """Ollama stops at a stop sequence; the backend yields only what came before it."""
    ollama.configure(replies=["a + b\n\ndef other():"])
    assert await collect(backend.generate(fim(stop=("\n\n",)))) == "a + b"


# ------------------------------------------------------------------------------ cancellation


async def test_closing_the_stream_closes_the_http_response(
    backend: OllamaBackend, ollama: OllamaStandin
) -> None:
    """aclose() after two pieces hangs up on Ollama before the answer is complete."""
    ollama.configure(replies=[" ".join(f"tok{i}" for i in range(200))], delay_ms=20)
    stream = backend.generate(fim())
    pieces = [await anext(stream), await anext(stream)]
    await stream.aclose()  # type: ignore[attr-defined]
    rec = await asyncio.to_thread(ollama.wait_disconnect, "/api/generate", 5)
    assert pieces == ["tok0", " tok1"]
    assert 2 <= rec.tokens_sent < 200 and not rec.finished


async def test_cancelling_the_consumer_closes_the_http_response(
    backend: OllamaBackend, ollama: OllamaStandin
) -> None:
    """Cancelling the task that iterates the stream hangs up on Ollama too."""
    ollama.configure(replies=["slow " * 200], delay_ms=20)
    first = asyncio.Event()

    async def consume() -> None:
        async for _ in backend.generate(fim()):
            first.set()

    task = asyncio.ensure_future(consume())
    await asyncio.wait_for(first.wait(), 5)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    rec = await asyncio.to_thread(ollama.wait_disconnect, "/api/generate", 5)
    assert not rec.finished


# ------------------------------------------------------------------------------ errors


async def test_ollama_down_is_unavailable_with_the_fix() -> None:
    """Nothing listening: BackendUnavailable naming the host and 'ollama serve'."""
    server = OllamaStandin().start()
    url = server.url
    server.stop()
    backend = OllamaBackend(OllamaBackendSettings(host=url))
    with pytest.raises(BackendUnavailable) as info:
        await collect(backend.generate(fim()))
    assert url in info.value.message
    assert info.value.fix == "Start it: ollama serve"
    await backend.aclose()


async def test_backend_recovers_when_ollama_comes_back(ollama: OllamaStandin) -> None:
    """The same backend works again once the server is back on its port."""
    backend = OllamaBackend(OllamaBackendSettings(host=ollama.url))
    assert await collect(backend.generate(fim())) == "return a + b"
    ollama.stop()
    with pytest.raises(BackendUnavailable):
        await collect(backend.generate(fim()))
    ollama.start()
    assert await collect(backend.generate(fim())) == "return a + b"
    await backend.aclose()


async def test_missing_model_says_ollama_pull(
    backend: OllamaBackend, ollama: OllamaStandin
) -> None:
    """A model Ollama does not have: ModelNotFound with the pull command."""
    ollama.configure(models=["qwen2.5-coder:7b-instruct"])
    with pytest.raises(ModelNotFound) as info:
        await collect(backend.generate(fim()))
    assert info.value.fix == f"Run: ollama pull {MODEL}"


async def test_suffix_on_a_model_without_fim(backend: OllamaBackend, ollama: OllamaStandin) -> None:
    """Ollama's 'does not support insert' becomes FimUnsupported."""
    ollama.configure(models=[{"name": MODEL, "fim": False}])
    with pytest.raises(FimUnsupported):
        await collect(backend.generate(fim()))


@pytest.mark.parametrize("mode", ["http500", "garbage", "truncate", "reset", "disconnect"])
async def test_broken_answers_are_backend_errors(
    backend: OllamaBackend, ollama: OllamaStandin, mode: str
) -> None:
    """HTTP 500, garbage NDJSON, a truncated stream or a dropped connection: BackendError."""
    ollama.configure(fail=mode)
    with pytest.raises(BackendError):
        await collect(backend.generate(fim()))


async def test_server_keeps_working_after_a_failure(
    backend: OllamaBackend, ollama: OllamaStandin
) -> None:
    """One failed request does not poison the client's connection pool."""
    ollama.configure(fail="reset", fail_count=1)
    with pytest.raises(BackendError):
        await collect(backend.generate(fim()))
    assert await collect(backend.generate(fim())) == "return a + b"


async def test_slow_server_times_out(ollama: OllamaStandin) -> None:
    """No answer within timeoutMs: BackendTimeout, and the request is abandoned."""
    ollama.configure(fail="slow", slow_s=10)
    backend = OllamaBackend(OllamaBackendSettings(host=ollama.url, timeout_ms=200))
    with pytest.raises(BackendTimeout):
        await collect(backend.generate(fim()))
    await backend.aclose()
    await asyncio.to_thread(ollama.wait_disconnect, "/api/generate", 5)


# ------------------------------------------------------------------------------ chat


async def test_chat_streams_text_then_done(backend: OllamaBackend, ollama: OllamaStandin) -> None:
    """Chat yields text deltas and a final done delta."""
    ollama.configure(chat=["Hello there, friend."])
    deltas = [
        d async for d in backend.chat(ChatRequest((ChatMessage("user", "hi"),), model="chat"))
    ]
    assert "".join(d.content for d in deltas) == "Hello there, friend."
    assert deltas[-1].done and not any(d.done for d in deltas[:-1])


async def test_chat_tool_calls_become_tool_calls(
    backend: OllamaBackend, ollama: OllamaStandin
) -> None:
    """Ollama's tool calls arrive as complete ToolCalls; tools are sent in Ollama's shape."""
    ollama.configure(
        chat=[
            {
                "turns": [
                    {"toolCalls": [{"name": "read_file", "arguments": {"path": "a.py"}}]},
                    "Done.",
                ]
            }
        ]
    )
    tool = ToolSpec(
        "read_file", "Read a file", {"type": "object", "properties": {"path": {"type": "string"}}}
    )
    request = ChatRequest((ChatMessage("user", "read a.py"),), model="chat", tools=(tool,))
    deltas = [d async for d in backend.chat(request)]
    calls = [c for d in deltas for c in d.tool_calls]
    assert [(c.name, c.arguments) for c in calls] == [("read_file", {"path": "a.py"})]
    assert calls[0].id
    sent = ollama.calls("/api/chat")[0].body
    assert sent["tools"][0]["function"]["name"] == "read_file"
    assert sent["tools"][0]["type"] == "function"


async def test_chat_history_with_tool_results(
    backend: OllamaBackend, ollama: OllamaStandin
) -> None:
    """Assistant tool calls and tool results go back in Ollama's message shape."""
    ollama.configure(chat=[{"turns": ["unused", "All done."]}])
    history = (
        ChatMessage("user", "read a.py"),
        ChatMessage(
            "assistant", "", tool_calls=(ToolCall("call_1", "read_file", {"path": "a.py"}),)
        ),
        ChatMessage("tool", "print('hi')", tool_call_id="call_1", name="read_file"),
    )
    deltas = [d async for d in backend.chat(ChatRequest(history, model="chat"))]
    assert "".join(d.content for d in deltas) == "All done."
    messages = ollama.calls("/api/chat")[0].body["messages"]
    assert messages[1]["tool_calls"] == [
        {"function": {"name": "read_file", "arguments": {"path": "a.py"}}}
    ]
    assert messages[2] == {"role": "tool", "content": "print('hi')", "tool_name": "read_file"}


async def test_chat_on_a_missing_model(backend: OllamaBackend, ollama: OllamaStandin) -> None:
    """Chat with a model Ollama lacks: ModelNotFound with the pull command."""
    ollama.configure(models=[MODEL])
    with pytest.raises(ModelNotFound) as info:
        async for _ in backend.chat(ChatRequest((ChatMessage("user", "hi"),), model="llama3")):
            pass
    assert info.value.fix == "Run: ollama pull llama3"


# ------------------------------------------------------------------------------ embed, info, health


async def test_embed_sends_one_batched_request(
    backend: OllamaBackend, ollama: OllamaStandin
) -> None:
    """Texts are embedded in one /api/embed call, one vector each."""
    vectors = await backend.embed(
        ["def a(): pass", "class B: ...", "x = 1"], model="nomic-embed-text"
    )
    assert len(vectors) == 3 and len(vectors[0]) == 384
    calls = ollama.calls("/api/embed")
    assert len(calls) == 1 and calls[0].body["input"] == ["def a(): pass", "class B: ...", "x = 1"]


async def test_embed_of_nothing_makes_no_request(
    backend: OllamaBackend, ollama: OllamaStandin
) -> None:
    """An empty batch returns at once."""
    assert await backend.embed([]) == []
    assert ollama.calls("/api/embed") == []


async def test_model_info_reports_native_fim(backend: OllamaBackend) -> None:
    """A model whose template takes a suffix is native FIM; family and size come along."""
    info = await backend.model_info(MODEL)
    assert info.present and info.native_fim and info.family == "qwen2"
    assert info.template is not None and ".Suffix" in info.template


async def test_model_info_without_fim_template(
    backend: OllamaBackend, ollama: OllamaStandin
) -> None:
    """A model without a suffix template is present but not native FIM."""
    ollama.configure(models=[{"name": "llama3:8b", "fim": False, "family": "llama"}])
    info = await backend.model_info("llama3:8b")
    assert info.present and not info.native_fim and info.family == "llama"


async def test_model_info_of_missing_model(backend: OllamaBackend, ollama: OllamaStandin) -> None:
    """A 404 from /api/show means not present (no exception)."""
    ollama.configure(models=["other:1b"])
    info = await backend.model_info(MODEL)
    assert not info.present


async def test_model_info_embedding_length(backend: OllamaBackend, ollama: OllamaStandin) -> None:
    """Embedding models report their vector size from model_info."""
    ollama.configure(
        models=[
            {"name": "nomic-embed-text", "embedding": True, "fim": False, "embeddingLength": 768}
        ]
    )
    info = await backend.model_info("nomic-embed-text")
    assert info.embedding_dim == 768


async def test_model_info_when_down_raises_unavailable() -> None:
    """model_info cannot tell 'missing' from 'down': it raises BackendUnavailable."""
    server = OllamaStandin().start()
    server.stop()
    backend = OllamaBackend(OllamaBackendSettings(host=server.url))
    with pytest.raises(BackendUnavailable):
        await backend.model_info(MODEL)


async def test_health_ok_and_down(ollama: OllamaStandin) -> None:
    """health() is OK while Ollama answers and UNAVAILABLE with 'ollama serve' when it does not."""
    backend = OllamaBackend(OllamaBackendSettings(host=ollama.url))
    assert (await backend.health()).state == HealthState.OK
    ollama.stop()
    health = await backend.health()
    assert health.state == HealthState.UNAVAILABLE and "ollama serve" in health.fix
    await backend.aclose()


async def test_health_of_a_server_that_is_not_ollama() -> None:
    """Pointing the Ollama backend at another kind of server is an error naming the host setting."""
    from tests.standins.openai import OpenAIStandin

    with OpenAIStandin() as other:
        backend = OllamaBackend(OllamaBackendSettings(host=other.url))
        health = await backend.health()
        await backend.aclose()
    assert health.state == HealthState.ERROR and "backend.host" in health.fix
