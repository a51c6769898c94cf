"""NVIDIA Triton Inference Server backend (``tritonclient``, gRPC asyncio or HTTP).

Sits under the scheduler like every backend. Generation follows the ``text_input`` /
``text_output`` convention of Triton's vLLM and TensorRT-LLM backends: the model's metadata says
which optional inputs it takes (``stream``, ``sampling_parameters``, ``exclude_input_in_output``
for vLLM; ``max_tokens``, ``temperature``, ``stop_words`` for TensorRT-LLM), and only those are
sent. Decoupled models stream one response per token (gRPC bidirectional stream, or HTTP
``generate_stream``); others answer once, and take batches (``generate_batch``), which the
scheduler uses to merge concurrent completions. Embeddings come from a model taking a BYTES batch
of texts and returning FP32 ``[n, dim]``. Cancelling the caller cancels the RPC (and so the
request inside Triton). Chat messages are rendered into the prompt (ChatML by default); tool
calls use the Hermes ``<tool_call>{json}</tool_call>`` form that Qwen2.5 models emit.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any

from mimi_lsp.domain import (
    BackendHealth,
    ChatDelta,
    ChatRequest,
    GenerateRequest,
    HealthState,
    ModelInfo,
)
from mimi_lsp.errors import (
    BackendError,
    BackendTimeout,
    BackendUnavailable,
    MimiError,
    ModelNotFound,
)
from mimi_lsp.inference.triton_models import (
    CHAT_STOPS,
    ModelSpec,
    _spec_from,
    parse_tool_calls,
    render_chat,
)
from mimi_lsp.settings import TritonBackendSettings

log = logging.getLogger(__name__)

# Triton priority levels per scheduler class (1 is the most urgent level in Triton).
TRITON_PRIORITY = {0: 1, 1: 2, 2: 3}


# --------------------------------------------------------------------------------------------
# The backend


class TritonBackend:
    """A ``Backend`` talking to Triton over gRPC (asyncio) or HTTP."""

    name = "triton"

    def __init__(self, settings: TritonBackendSettings) -> None:
        self.settings = settings
        self._client: Any = None
        self._specs: dict[str, ModelSpec] = {}
        self._http: Any = None

    # ------------------------------------------------------------------ plumbing

    @property
    def _grpc(self) -> bool:
        return self.settings.protocol == "grpc"

    def _url(self) -> str:
        url = self.settings.url
        return url.split("://", 1)[1] if "://" in url else url

    def client(self) -> Any:
        """The tritonclient asyncio client (created on first use)."""
        if self._client is None:
            if self._grpc:
                import tritonclient.grpc.aio as grpcclient

                self._client = grpcclient.InferenceServerClient(self._url())
            else:
                import tritonclient.http.aio as httpclient

                self._client = httpclient.InferenceServerClient(
                    self._url(), conn_timeout=self.settings.timeout_ms / 1000
                )
        return self._client

    def _module(self) -> Any:
        if self._grpc:
            import tritonclient.grpc as module
        else:
            import tritonclient.http as module
        return module

    def _error(self, exc: BaseException, model: str | None = None) -> MimiError:
        """Map client exceptions to the typed errors users get told about."""
        if isinstance(exc, MimiError):
            return exc
        text = str(exc)
        lowered = text.lower()
        where = f"Triton at {self.settings.url}"
        if isinstance(exc, (TimeoutError, asyncio.TimeoutError)) or "deadline" in lowered:
            return BackendTimeout(
                f"{where} did not answer within {self.settings.timeout_ms} ms.",
                fix="Raise timeoutMs of the Triton backend or check the server's load.",
            )
        if model and (
            "unknown model" in lowered
            or "is not found" in lowered
            or "not ready" in lowered
            or "is not available" in lowered
        ):
            self._specs.pop(model, None)
            return ModelNotFound(
                f"Model {model!r} is not loaded on {where}.",
                fix="Add it to the model repository (see deploy/triton/README.md) and check "
                "`curl <host>:8000/v2/models/<name>/ready`.",
            )
        if (
            "unavailable" in lowered
            or "connect" in lowered
            or "refused" in lowered
            or "failed to establish" in lowered
            or isinstance(exc, (ConnectionError, OSError))
        ):
            return BackendUnavailable(
                f"Cannot reach {where} ({self.settings.protocol}).",
                fix="Start Triton (deploy/triton/README.md) or fix the backend url "
                f"({'gRPC port 8001' if self._grpc else 'HTTP port 8000'}).",
            )
        return BackendError(f"{where} failed: {text[:300]}")

    async def spec(self, model: str) -> ModelSpec:
        """Metadata and config of ``model`` (cached)."""
        spec = self._specs.get(model)
        if spec is not None:
            return spec
        client = self.client()
        try:
            async with asyncio.timeout(self.settings.timeout_ms / 1000):
                if self._grpc:
                    metadata = await client.get_model_metadata(model, as_json=True)
                    config = await client.get_model_config(model, as_json=True)
                else:
                    metadata = await client.get_model_metadata(model)
                    config = await client.get_model_config(model)
        except Exception as exc:
            raise self._error(exc, model) from exc
        spec = _spec_from(model, metadata, config)
        self._specs[model] = spec
        return spec

    def _tensor(self, spec: ModelSpec, name: str, values: list[Any], datatype: str) -> Any:
        import numpy as np

        if datatype == "BYTES":
            array = np.array([v.encode("utf-8") for v in values], dtype=np.object_)
        elif datatype == "BOOL":
            array = np.array(values, dtype=np.bool_)
        elif datatype == "INT32":
            array = np.array(values, dtype=np.int32)
        elif datatype == "UINT32":
            array = np.array(values, dtype=np.uint32)
        elif datatype == "FP32":
            array = np.array(values, dtype=np.float32)
        else:
            raise BackendError(f"input {name!r} of {spec.name!r} has unsupported type {datatype}")
        if spec.batched:
            array = array.reshape(1, -1)
        tensor = self._module().InferInput(name, list(array.shape), datatype)
        tensor.set_data_from_numpy(array)
        return tensor

    def _priority(self, spec: ModelSpec) -> int:
        if not self.settings.priorities or spec.priority_levels < 3:
            return 0
        from mimi_lsp.inference.scheduler import Priority, current_priority

        return TRITON_PRIORITY[int(current_priority(Priority.INTERACTIVE))]

    def _generation_inputs(
        self, spec: ModelSpec, prompt: str, request: GenerateRequest, stream: bool
    ) -> list[Any]:
        if "text_input" not in spec.inputs:
            raise BackendError(
                f"Model {spec.name!r} has no text_input tensor; it is not a text generation model."
            )
        tensors = [self._tensor(spec, "text_input", [prompt], spec.inputs["text_input"][0])]
        optional: dict[str, list[Any]] = {
            "stream": [stream],
            "exclude_input_in_output": [True],
            "max_tokens": [request.max_tokens],
            "request_output_len": [request.max_tokens],
            "temperature": [request.temperature],
        }
        for name, values in optional.items():
            if name in spec.inputs:
                tensors.append(self._tensor(spec, name, values, spec.inputs[name][0]))
        if "sampling_parameters" in spec.inputs:
            params = {
                "max_tokens": request.max_tokens,
                "temperature": request.temperature,
                **({"stop": list(request.stop)} if request.stop else {}),
                **request.options,
            }
            tensors.append(self._tensor(spec, "sampling_parameters", [json.dumps(params)], "BYTES"))
        if "stop_words" in spec.inputs and request.stop:
            tensors.append(self._tensor(spec, "stop_words", list(request.stop), "BYTES"))
        return tensors

    @staticmethod
    def _texts(result: Any, name: str = "text_output") -> list[str]:
        array = result.as_numpy(name)
        if array is None:
            return []
        return [
            v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)
            for v in array.reshape(-1)
        ]

    # ------------------------------------------------------------------ generation

    async def batch_capacity(self, model: str) -> int:
        """How many prompts one call may carry (0: stream one by one)."""
        spec = await self.spec(model)
        if spec.decoupled and self.settings.stream:
            return 0
        return spec.max_batch_size

    async def _infer(self, spec: ModelSpec, inputs: list[Any]) -> Any:
        client = self.client()
        try:
            async with asyncio.timeout(self.settings.timeout_ms / 1000):
                return await client.infer(spec.name, inputs, priority=self._priority(spec))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            raise self._error(exc, spec.name) from exc

    async def _complete(self, spec: ModelSpec, prompt: str, request: GenerateRequest) -> str:
        """One non-streamed answer (decoupled models still answer through a stream)."""
        if spec.decoupled:
            pieces = [p async for p in self._stream(spec, prompt, request, stream=False)]
            text = "".join(pieces)
        else:
            text = "".join(
                self._texts(
                    await self._infer(
                        spec, self._generation_inputs(spec, prompt, request, stream=False)
                    )
                )
            )
        if "exclude_input_in_output" not in spec.inputs and text.startswith(prompt):
            text = text[len(prompt) :]  # models that echo the prompt
        return text

    async def _stream(
        self, spec: ModelSpec, prompt: str, request: GenerateRequest, *, stream: bool = True
    ) -> AsyncIterator[str]:
        """Responses of a decoupled model as they come; closing this cancels the request."""
        inputs = self._generation_inputs(spec, prompt, request, stream=stream)
        if not self._grpc:
            async for piece in self._http_stream(spec, prompt, request, stream):
                yield piece
            return
        client = self.client()
        request_id = uuid.uuid4().hex

        async def requests() -> AsyncIterator[dict[str, Any]]:
            yield {
                "model_name": spec.name,
                "inputs": inputs,
                "request_id": request_id,
                "priority": self._priority(spec),
                "enable_empty_final_response": True,
            }

        responses = client.stream_infer(requests(), stream_timeout=self.settings.timeout_ms / 1000)
        try:
            async for result, error in responses:
                if error is not None:
                    raise self._error(error, spec.name)
                for text in self._texts(result):
                    if text:
                        yield text
                params = result.get_response().parameters
                if "triton_final_response" in params and params["triton_final_response"].bool_param:
                    break
        except (asyncio.CancelledError, GeneratorExit, MimiError):
            raise
        except Exception as exc:
            raise self._error(exc, spec.name) from exc
        finally:
            # Cancel the gRPC call: Triton cancels the request and stops generating.
            with contextlib.suppress(Exception):
                responses.cancel()

    async def _http_stream(
        self, spec: ModelSpec, prompt: str, request: GenerateRequest, stream: bool
    ) -> AsyncIterator[str]:
        """Triton's HTTP generate extension (server-sent events) for decoupled models."""
        import httpx

        if self._http is None:
            base = (
                self.settings.url if "://" in self.settings.url else f"http://{self.settings.url}"
            )
            self._http = httpx.AsyncClient(base_url=base, timeout=self.settings.timeout_ms / 1000)
        body: dict[str, Any] = {"text_input": prompt}
        if "stream" in spec.inputs:
            body["stream"] = stream
        if "exclude_input_in_output" in spec.inputs:
            body["exclude_input_in_output"] = True
        if "sampling_parameters" in spec.inputs:
            body["sampling_parameters"] = json.dumps(
                {
                    "max_tokens": request.max_tokens,
                    "temperature": request.temperature,
                    **({"stop": list(request.stop)} if request.stop else {}),
                    **request.options,
                }
            )
        for name, value in (
            ("max_tokens", request.max_tokens),
            ("temperature", request.temperature),
        ):
            if name in spec.inputs:
                body[name] = value
        try:
            async with self._http.stream(
                "POST", f"/v2/models/{spec.name}/generate_stream", json=body
            ) as response:
                if response.status_code >= 400:
                    detail = (await response.aread()).decode("utf-8", "replace")
                    raise self._error(RuntimeError(detail), spec.name)
                async for line in response.aiter_lines():
                    if not line.startswith("data:"):
                        continue
                    data = json.loads(line[5:].strip() or "{}")
                    if "error" in data:
                        raise self._error(RuntimeError(str(data["error"])), spec.name)
                    text = data.get("text_output")
                    if isinstance(text, list):
                        text = "".join(str(t) for t in text)
                    if text:
                        yield str(text)
        except (asyncio.CancelledError, GeneratorExit, MimiError):
            raise
        except Exception as exc:
            raise self._error(exc, spec.name) from exc

    async def generate(self, request: GenerateRequest) -> AsyncIterator[str]:
        """Stream generated text (FIM prompts arrive already rendered: ``raw``)."""
        if not request.model:
            raise BackendError("No model given for Triton generation.")
        spec = await self.spec(request.model)
        # text_input models take no separate suffix: model_info says native_fim=False, so the
        # completion engine renders the FIM tokens into the prompt itself.
        prompt = request.prompt
        if spec.decoupled and self.settings.stream:
            async for piece in self._stream(spec, prompt, request):
                yield piece
            return
        text = await self._complete(spec, prompt, request)
        if text:
            yield text

    async def generate_batch(self, requests: Sequence[GenerateRequest]) -> list[str]:
        """Answers for several prompts to one model in one call (when it takes batches)."""
        if not requests:
            return []
        model = requests[0].model or ""
        spec = await self.spec(model)
        if (
            not spec.batched
            or spec.decoupled
            or len(requests) == 1
            or any(r.model != model for r in requests)
        ):
            return list(
                await asyncio.gather(*(self._complete(spec, r.prompt, r) for r in requests))
            )
        import numpy as np

        module = self._module()
        n = len(requests)
        tensors = []
        prompts = np.array([r.prompt.encode("utf-8") for r in requests], dtype=np.object_)
        t = module.InferInput("text_input", [n, 1], "BYTES")
        t.set_data_from_numpy(prompts.reshape(n, 1))
        tensors.append(t)
        columns: dict[str, tuple[Any, list[Any]]] = {
            "max_tokens": (np.int32, [r.max_tokens for r in requests]),
            "request_output_len": (np.int32, [r.max_tokens for r in requests]),
            "temperature": (np.float32, [r.temperature for r in requests]),
            "exclude_input_in_output": (np.bool_, [True] * n),
        }
        for name, (dtype, values) in columns.items():
            if name in spec.inputs:
                t = module.InferInput(name, [n, 1], spec.inputs[name][0])
                t.set_data_from_numpy(np.array(values, dtype=dtype).reshape(n, 1))
                tensors.append(t)
        if "stop_words" in spec.inputs:
            stops = sorted({s for r in requests for s in r.stop})
            if stops:
                array = np.array([[s.encode() for s in stops]] * n, dtype=np.object_)
                t = module.InferInput("stop_words", list(array.shape), "BYTES")
                t.set_data_from_numpy(array)
                tensors.append(t)
        result = await self._infer(spec, tensors)
        texts = self._texts(result)
        if len(texts) != n:
            raise BackendError(f"Triton model {model!r} answered {len(texts)} texts for {n}.")
        return [
            t[len(r.prompt) :]
            if "exclude_input_in_output" not in spec.inputs and t.startswith(r.prompt)
            else t
            for t, r in zip(texts, requests, strict=True)
        ]

    async def chat(self, request: ChatRequest) -> AsyncIterator[ChatDelta]:
        """Chat through a text generation model: messages rendered into its chat format."""
        if not request.model:
            raise BackendError("No model given for Triton chat.")
        template = self.settings.chat_template
        prompt = render_chat(request.messages, template, request.tools)
        gen = GenerateRequest(
            prompt=prompt,
            raw=True,
            model=request.model,
            max_tokens=request.max_tokens,
            temperature=request.temperature,
            stop=CHAT_STOPS[template],
        )
        stops = CHAT_STOPS[template]
        text = ""
        sent = 0
        holding = False
        stream = self.generate(gen)
        async with contextlib.aclosing(stream):  # type: ignore[type-var]
            async for piece in stream:
                text += piece
                cut = min((i for i in (text.find(s) for s in stops) if i != -1), default=-1)
                if cut != -1:
                    text = text[:cut]
                holding = holding or "<tool_call>" in text
                if not holding:
                    # Hold back what could be the start of a stop or a tool call.
                    safe = len(text) - max(len(s) for s in (*stops, "<tool_call>"))
                    if safe > sent:
                        yield ChatDelta(content=text[sent:safe])
                        sent = safe
                if cut != -1:
                    break
        rest, calls = parse_tool_calls(text[sent:]) if holding else (text[sent:], ())
        if rest:
            yield ChatDelta(content=rest)
        if calls:
            yield ChatDelta(tool_calls=calls)
        yield ChatDelta(done=True)

    # ------------------------------------------------------------------ embeddings

    async def embed(self, texts: Sequence[str], model: str | None = None) -> list[list[float]]:
        """One FP32 vector per text from an embedding model (BYTES in, FP32 [n, dim] out)."""
        if not texts:
            return []
        if not model:
            raise BackendError("No embedding model given for Triton.")
        spec = await self.spec(model)
        source = spec.input_of("BYTES")
        target = spec.output_of("FP32")
        if source is None or target is None:
            raise BackendError(
                f"Triton model {model!r} is not an embedding model (BYTES in, FP32 out)."
            )
        limit = spec.max_batch_size if spec.batched else len(texts)
        out: list[list[float]] = []
        for start in range(0, len(texts), max(1, limit)):
            chunk = [t.encode("utf-8") for t in texts[start : start + max(1, limit)]]
            out.extend(await self._embed_chunk(spec, source, target, chunk))
        return out

    async def _embed_chunk(
        self, spec: ModelSpec, source: str, target: str, chunk: list[bytes]
    ) -> list[list[float]]:
        import numpy as np

        array = np.array(chunk, dtype=np.object_)
        if spec.batched:
            array = array.reshape(len(chunk), 1)
        tensor = self._module().InferInput(source, list(array.shape), "BYTES")
        tensor.set_data_from_numpy(array)
        result = await self._infer(spec, [tensor])
        vectors = result.as_numpy(target)
        if vectors is None:
            raise BackendError(f"Triton model {spec.name!r} returned no {target!r}.")
        vectors = np.asarray(vectors, dtype=np.float32).reshape(len(chunk), -1)
        return vectors.tolist()

    # ------------------------------------------------------------------ health

    async def model_info(self, model: str) -> ModelInfo:
        """Whether ``model`` is loaded; text_input models take FIM tokens in the prompt."""
        try:
            ready = await self._call(self.client().is_model_ready(model))
        except MimiError as exc:
            if isinstance(exc, ModelNotFound):
                return ModelInfo(name=model, present=False)
            raise
        if not ready:
            return ModelInfo(name=model, present=False)
        spec = await self.spec(model)
        dim = None
        out = spec.output_of("FP32")
        if "text_input" not in spec.inputs and out is not None:
            dim = spec.outputs[out][1][-1] if spec.outputs[out][1] else None
        return ModelInfo(
            name=model,
            present=True,
            native_fim=False,
            family="triton",
            template=None,
            embedding_dim=dim if dim and dim > 0 else None,
        )

    async def _call(self, awaitable: Any) -> Any:
        try:
            async with asyncio.timeout(min(self.settings.timeout_ms, 5_000) / 1000):
                return await awaitable
        except Exception as exc:
            raise self._error(exc) from exc

    async def health(self) -> BackendHealth:
        """Live and ready, or what to do about it."""
        try:
            live = await self._call(self.client().is_server_live())
            ready = await self._call(self.client().is_server_ready())
        except MimiError as exc:
            return BackendHealth(HealthState.UNAVAILABLE, exc.message, exc.fix)
        if not live or not ready:
            return BackendHealth(
                HealthState.UNAVAILABLE,
                f"Triton at {self.settings.url} is up but not ready (models still loading?).",
                "Wait for the models to load, or check Triton's log.",
            )
        return BackendHealth(HealthState.OK)

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):
                await client.close()
        http, self._http = self._http, None
        if http is not None:
            with contextlib.suppress(Exception):
                await http.aclose()
