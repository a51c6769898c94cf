"""Ollama backend: the official ``ollama`` package's ``AsyncClient`` behind the ``Backend`` protocol.

Built by ``inference.factory`` from ``OllamaBackendSettings``; used by the completion engine
(``generate``: ``/api/generate`` with Ollama's native FIM ``suffix`` or ``raw`` prompts carrying
the family's tokens), by chat and the agent (``chat``: ``/api/chat`` with tools), by the index
(``embed``: ``/api/embed``) and by status checks (``model_info``: ``/api/show``; ``health``:
``/api/tags``). Every failure becomes a typed ``MimiError`` whose ``fix`` is what to run
(``ollama serve``, ``ollama pull <model>``). Streams are async generators over the client's
stream: closing them (``aclose()`` or cancelling the consuming task) closes the HTTP response,
which makes Ollama stop generating. The client library is imported on first use, keeping it off
the server's ``initialize`` path.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from mimi_lsp.domain import (
    BackendHealth,
    ChatDelta,
    ChatMessage,
    ChatRequest,
    GenerateRequest,
    HealthState,
    ModelInfo,
    ToolCall,
)
from mimi_lsp.errors import (
    BackendError,
    BackendTimeout,
    BackendUnavailable,
    FimUnsupported,
    MimiError,
    ModelNotFound,
)
from mimi_lsp.settings import DEFAULT_CHAT_MODEL, DEFAULT_COMPLETION_MODEL, OllamaBackendSettings

if TYPE_CHECKING:
    import ollama

log = logging.getLogger(__name__)

DEFAULT_EMBED_MODEL = "nomic-embed-text"
CONNECT_TIMEOUT_S = 5.0
_call_ids = itertools.count(1)


class OllamaBackend:
    """Talks to one Ollama server (``host`` → ``$OLLAMA_HOST`` → 127.0.0.1:11434)."""

    name = "ollama"

    def __init__(self, settings: OllamaBackendSettings) -> None:
        self.settings = settings
        self.host = settings.resolved_host()
        self._client: ollama.AsyncClient | None = None

    # ------------------------------------------------------------------ plumbing

    @property
    def client(self) -> ollama.AsyncClient:
        """The ``ollama.AsyncClient``, created on first use (the import costs ~0.3 s)."""
        if self._client is None:
            import httpx
            import ollama

            timeout_s = self.settings.timeout_ms / 1000
            self._client = ollama.AsyncClient(
                host=self.host,
                timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, CONNECT_TIMEOUT_S)),
            )
        return self._client

    def _unavailable(self) -> BackendUnavailable:
        return BackendUnavailable(
            f"Ollama is not running at {self.host}.", fix="Start it: ollama serve"
        )

    def _map_error(self, exc: BaseException, model: str | None) -> MimiError:
        """The typed error for anything the client or the transport raised."""
        import httpx
        import ollama
        import pydantic

        if isinstance(exc, MimiError):
            return exc
        # ollama raises a bare ConnectionError when it cannot connect; its subclasses
        # (ConnectionResetError, BrokenPipeError) mean a connection that broke instead.
        if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, ConnectionRefusedError)) or (
            type(exc) is ConnectionError
        ):
            return self._unavailable()
        if isinstance(exc, httpx.TimeoutException):
            return BackendTimeout(
                f"Ollama at {self.host} did not answer within {self.settings.timeout_ms} ms.",
                fix="Check that the model fits your machine, or raise "
                "mimi.completion.backend.timeoutMs.",
            )
        if isinstance(exc, ollama.ResponseError):
            text = str(exc.error or "")
            lowered = text.lower()
            if "does not support insert" in lowered:
                return FimUnsupported(
                    f"The Ollama model {model!r} has no fill-in-the-middle template.",
                    fix="Use a base coder model (e.g. qwen2.5-coder:1.5b-base) or set "
                    "mimi.completion.fimTemplate.",
                )
            if model is None and exc.status_code == 404:
                return BackendError(
                    f"{self.host} does not answer like an Ollama server (HTTP 404).",
                    fix="Check mimi.completion.backend.host (and $OLLAMA_HOST).",
                )
            if exc.status_code == 404 or ("not found" in lowered and "model" in lowered):
                shown = model or "the model"
                return ModelNotFound(
                    f"Ollama at {self.host} does not have the model {shown!r}.",
                    fix=f"Run: ollama pull {shown}",
                )
            where = f"HTTP {exc.status_code}" if exc.status_code > 0 else "mid-stream"
            return BackendError(f"Ollama answered with an error ({where}): {text[:300]}")
        if isinstance(exc, (json.JSONDecodeError, pydantic.ValidationError, UnicodeDecodeError)):
            return BackendError(f"Ollama at {self.host} sent a malformed stream.")
        if isinstance(exc, httpx.HTTPError):
            return BackendError(
                f"The connection to Ollama at {self.host} broke: {type(exc).__name__}."
            )
        return BackendError(f"Ollama request failed: {type(exc).__name__}: {exc}"[:300])

    @contextlib.contextmanager
    def _errors(self, model: str | None) -> Iterator[None]:
        """Translate client/transport failures; cancellation and closing pass through."""
        try:
            yield
        except (GeneratorExit, KeyboardInterrupt, SystemExit):
            raise
        except Exception as exc:  # mapped to one typed error, logged once by the caller
            raise self._map_error(exc, model) from exc

    def _options(
        self, max_tokens: int, temperature: float, stop: Sequence[str] = ()
    ) -> dict[str, Any]:
        options: dict[str, Any] = {"num_predict": max_tokens, "temperature": temperature}
        if stop:
            options["stop"] = list(stop)
        if self.settings.num_ctx:
            options["num_ctx"] = self.settings.num_ctx
        return options

    # ------------------------------------------------------------------ generation

    async def generate(self, request: GenerateRequest) -> AsyncIterator[str]:
        """Stream ``/api/generate``: native FIM (prompt + suffix) or a raw FIM prompt."""
        model = request.model or DEFAULT_COMPLETION_MODEL
        kwargs: dict[str, Any] = {
            "model": model,
            "prompt": request.prompt,
            "stream": True,
            "options": {
                **self._options(request.max_tokens, request.temperature, request.stop),
                **request.options,
            },
            "keep_alive": self.settings.keep_alive,
        }
        if request.raw:
            kwargs["raw"] = True
        elif request.suffix is not None:
            kwargs["suffix"] = request.suffix
        log.debug("ollama generate model=%s raw=%s host=%s", model, request.raw, self.host)
        done = False
        with self._errors(model):
            stream = await self.client.generate(**kwargs)
            async with contextlib.aclosing(stream):
                async for part in stream:
                    if part.response:
                        yield part.response
                    if part.done:
                        done = True  # read on to the end of the body: the connection is reused
        if not done:
            log.warning("ollama stream for %s ended without 'done' (truncated)", model)
            raise BackendError(
                f"The answer from Ollama at {self.host} was cut off (truncated stream)."
            )

    async def chat(self, request: ChatRequest) -> AsyncIterator[ChatDelta]:
        """Stream ``/api/chat``: text deltas, tool calls as complete ``ToolCall``s, then done."""
        model = request.model or DEFAULT_CHAT_MODEL
        tools = [
            {
                "type": "function",
                "function": {
                    "name": tool.name,
                    "description": tool.description,
                    "parameters": tool.parameters,
                },
            }
            for tool in request.tools
        ]
        done = False
        with self._errors(model):
            stream = await self.client.chat(
                model=model,
                messages=[_ollama_message(m) for m in request.messages],
                tools=tools or None,
                stream=True,
                options=self._options(request.max_tokens, request.temperature),
                keep_alive=self.settings.keep_alive,
            )
            async with contextlib.aclosing(stream):  # type: ignore[type-var]
                async for part in stream:
                    message = part.message
                    calls = tuple(
                        ToolCall(
                            id=f"call_{next(_call_ids)}",
                            name=call.function.name,
                            arguments=dict(call.function.arguments or {}),
                        )
                        for call in message.tool_calls or ()
                    )
                    if message.content or calls:
                        yield ChatDelta(content=message.content or "", tool_calls=calls)
                    if part.done:
                        done = True
        if not done:
            raise BackendError(
                f"The answer from Ollama at {self.host} was cut off (truncated stream)."
            )
        yield ChatDelta(done=True)

    async def embed(self, texts: Sequence[str], model: str | None = None) -> list[list[float]]:
        """One vector per text from ``/api/embed`` (one request for the whole batch)."""
        if not texts:
            return []
        model = model or DEFAULT_EMBED_MODEL
        with self._errors(model):
            response = await self.client.embed(
                model=model, input=list(texts), keep_alive=self.settings.keep_alive
            )
        vectors = [list(map(float, v)) for v in response.embeddings]
        if len(vectors) != len(texts):
            raise BackendError(f"Ollama returned {len(vectors)} embeddings for {len(texts)} texts.")
        return vectors

    # ------------------------------------------------------------------ status

    async def model_info(self, model: str) -> ModelInfo:
        """``/api/show``: present (404 → not), native FIM (``insert`` / ``.Suffix``), family."""
        import ollama

        try:
            with self._errors(model):
                try:
                    show = await self.client.show(model)
                except ollama.ResponseError as exc:
                    if exc.status_code == 404:
                        return ModelInfo(name=model, present=False)
                    raise
        except ModelNotFound:
            return ModelInfo(name=model, present=False)
        template = show.template or ""
        capabilities = list(show.capabilities or [])
        native = "insert" in capabilities or ".Suffix" in template
        family = show.details.family if show.details and show.details.family else None
        dim = _embedding_length(show.modelinfo or {})
        if capabilities and "completion" not in capabilities and "embedding" in capabilities:
            log.warning("Ollama model %s is an embedding model, not a completion model", model)
        return ModelInfo(
            name=model,
            present=True,
            native_fim=native,
            family=family,
            template=template or None,
            embedding_dim=dim,
        )

    async def health(self) -> BackendHealth:
        """Reachability via ``/api/tags`` (cheap, and proves the API answers)."""
        try:
            with self._errors(None):
                listed = await self.client.list()
        except MimiError as exc:
            state = (
                HealthState.UNAVAILABLE
                if isinstance(exc, (BackendUnavailable, BackendTimeout))
                else HealthState.ERROR
            )
            return BackendHealth(state, exc.message, exc.fix)
        count = len(listed.models or [])
        return BackendHealth(HealthState.OK, f"Ollama at {self.host} ({count} models)")

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.close()


def _embedding_length(model_info: Mapping[str, Any]) -> int | None:
    for key, value in model_info.items():
        if key.endswith(".embedding_length") and isinstance(value, int):
            return value
    return None


def _ollama_message(message: ChatMessage) -> dict[str, Any]:
    """A domain ``ChatMessage`` in Ollama's shape (tool results carry ``tool_name``)."""
    out: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.tool_calls:
        out["tool_calls"] = [
            {"function": {"name": call.name, "arguments": call.arguments}}
            for call in message.tool_calls
        ]
    if message.role == "tool" and message.name:
        out["tool_name"] = message.name
    return out
