"""The Triton backend against a real Triton server (nvidia-pytriton on CPU)."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from mimi_lsp.domain import ChatMessage, ChatRequest, GenerateRequest, HealthState, ToolSpec
from mimi_lsp.errors import BackendUnavailable, ModelNotFound
from mimi_lsp.inference.triton import TritonBackend
from mimi_lsp.inference.triton_models import parse_tool_calls, render_chat
from mimi_lsp.settings import TritonBackendSettings
from tests.triton.server import TritonProcess

FIM = "<|fim_prefix|>def add(a, b):\n    return <|fim_suffix|>\n<|fim_middle|>"
PROTOCOLS = ["grpc", "http"]


def backend(server: TritonProcess, protocol: str = "grpc") -> TritonBackend:
    url = server.grpc_url if protocol == "grpc" else server.http_url
    return TritonBackend(TritonBackendSettings(url=url, protocol=protocol))  # type: ignore[arg-type]


async def collect(stream) -> list[str]:  # noqa: ANN001
    return [piece async for piece in stream]


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_fim_through_text_input(triton: TritonProcess, protocol: str) -> None:
    """A FIM prompt sent as text_input comes back as text_output."""
    b = backend(triton, protocol)
    try:
        pieces = await collect(
            b.generate(GenerateRequest(FIM, raw=True, model="fim", stop=("\n\n",)))
        )
    finally:
        await b.aclose()
    assert "".join(pieces) == "a + b\n"


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_decoupled_model_streams_tokens(triton: TritonProcess, protocol: str) -> None:
    """A decoupled (vLLM-style) model streams one piece per token."""
    b = backend(triton, protocol)
    try:
        pieces = await collect(b.generate(GenerateRequest(FIM, raw=True, model="gen_stream")))
    finally:
        await b.aclose()
    assert pieces == ["a ", "+ ", "b\n"]


async def test_batch_goes_out_as_one_call(fresh: TritonProcess) -> None:
    """generate_batch sends several prompts in one request the model sees as one batch."""
    b = backend(fresh)
    try:
        texts = await b.generate_batch(
            [GenerateRequest(FIM, raw=True, model="fim"), GenerateRequest("x", model="fim")] * 3
        )
    finally:
        await b.aclose()
    assert texts == ["a + b\n", "pass\n"] * 3
    assert fresh.stats()["batches"]["fim"] == [6]


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_embeddings_are_minilm_vectors(triton: TritonProcess, protocol: str) -> None:
    """The embedding model returns one normalised 384-d vector per text, semantically ordered."""
    b = backend(triton, protocol)
    try:
        add, plus, cat = await b.embed(
            [
                "def add(a, b): return a + b",
                "function sum(x, y) { return x + y }",
                "a cat on a mat",
            ],
            "minilm",
        )
    finally:
        await b.aclose()
    assert len(add) == 384
    assert abs(sum(v * v for v in add) - 1.0) < 1e-4

    def cos(u: list[float], v: list[float]) -> float:
        return sum(a * b for a, b in zip(u, v, strict=True))

    assert cos(add, plus) > cos(add, cat)


async def test_model_info_reports_presence_and_dimension(triton: TritonProcess) -> None:
    """model_info tells loaded from missing models and the embedding dimension."""
    b = backend(triton)
    try:
        fim, emb, missing = (
            await b.model_info("fim"),
            await b.model_info("minilm"),
            await b.model_info("no-such-model"),
        )
    finally:
        await b.aclose()
    assert (fim.present, fim.native_fim, fim.embedding_dim) == (True, False, None)
    assert (emb.present, emb.embedding_dim) == (True, 384)
    assert missing.present is False


async def test_unknown_model_raises_model_not_found(triton: TritonProcess) -> None:
    """Generating with a model Triton does not have raises ModelNotFound with a fix."""
    b = backend(triton)
    try:
        with pytest.raises(ModelNotFound) as info:
            await collect(b.generate(GenerateRequest("x", model="nope")))
    finally:
        await b.aclose()
    assert info.value.fix


async def test_health_ok_and_unreachable(triton: TritonProcess) -> None:
    """health is OK for a live server and UNAVAILABLE, with a fix, for a dead port."""
    live, dead = backend(triton), TritonBackend(TritonBackendSettings(url="127.0.0.1:9"))
    try:
        assert (await live.health()).state == HealthState.OK
        down = await dead.health()
        with pytest.raises(BackendUnavailable):
            await dead.embed(["x"], "minilm")
    finally:
        await live.aclose()
        await dead.aclose()
    assert down.state == HealthState.UNAVAILABLE and "Triton" in down.fix


async def test_chat_renders_chatml_and_streams(triton: TritonProcess) -> None:
    """Chat messages become a ChatML prompt; the answer streams and ends with done."""
    b = backend(triton)
    try:
        deltas = [
            d
            async for d in b.chat(
                ChatRequest((ChatMessage("user", "hello there"),), model="gen_stream")
            )
        ]
    finally:
        await b.aclose()
    assert "".join(d.content for d in deltas) == "You said: hello there"
    assert deltas[-1].done


async def test_cancelling_a_stream_cancels_the_triton_request(triton: TritonProcess) -> None:
    """Cancelling mid-stream closes the gRPC stream and Triton cancels the request."""
    b = backend(triton)
    first = asyncio.Event()
    pieces: list[str] = []

    async def consume() -> None:
        prompt = "SLEEP=400 <|im_start|>user\none two three four five six<|im_end|>"
        async for piece in b.generate(GenerateRequest(prompt, model="gen_stream")):
            pieces.append(piece)
            first.set()

    task = asyncio.create_task(consume())
    try:
        await asyncio.wait_for(first.wait(), 10)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        for _ in range(100):
            if "Issuing cancellation" in triton.triton_log_text():
                break
            await asyncio.sleep(0.05)
    finally:
        await b.aclose()
    assert pieces == ["You "]
    assert (
        "Cancellation notification received for ModelStreamInferHandler" in triton.triton_log_text()
    )


async def test_cancelling_a_unary_call_cancels_the_rpc(triton: TritonProcess) -> None:
    """Cancelling a non-streamed call returns at once and Triton sees the RPC cancelled."""
    b = backend(triton)
    await b.spec("fim")
    before = triton.triton_log_text().count(
        "Cancellation notification received for ModelInferHandler"
    )
    task = asyncio.create_task(collect(b.generate(GenerateRequest("SLEEP=1500 x", model="fim"))))
    try:
        await asyncio.sleep(0.3)
        task.cancel()
        loop = asyncio.get_running_loop()
        started = loop.time()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        returned_after = loop.time() - started
        for _ in range(100):
            text = triton.triton_log_text()
            if text.count("Cancellation notification received for ModelInferHandler") > before:
                break
            await asyncio.sleep(0.05)
    finally:
        await b.aclose()
    assert returned_after < 1.0  # did not wait for the model's 1.5 s
    assert text.count("Cancellation notification received for ModelInferHandler") > before


def test_tool_calls_round_trip_through_the_prompt() -> None:
    """Tools are offered in the system prompt and Hermes tool calls are parsed back."""
    tool = ToolSpec("read_file", "Read a file", {"type": "object"})
    prompt = render_chat((ChatMessage("user", "open a.py"),), "chatml", (tool,))
    assert prompt.startswith("<|im_start|>system\n") and '"read_file"' in prompt
    assert prompt.endswith("<|im_start|>assistant\n")
    text, calls = parse_tool_calls(
        'Sure.<tool_call>\n{"name": "read_file", "arguments": {"path": "a.py"}}\n</tool_call>'
    )
    assert text == "Sure."
    assert [(c.name, c.arguments) for c in calls] == [("read_file", {"path": "a.py"})]
