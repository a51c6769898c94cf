"""OpenAI-compatible backend (llama.cpp server, vLLM, LM Studio, Ollama's /v1, ...) on ``AsyncOpenAI``.

Built by ``inference.factory`` from ``OpenAIBackendSettings``. ``generate`` streams
``/v1/completions`` (a raw prompt holding the family's FIM tokens, or ``prompt`` + ``suffix``
for servers that take one), ``chat`` streams ``/v1/chat/completions`` and assembles the streamed
tool-call fragments into complete ``ToolCall``s, ``embed`` calls ``/v1/embeddings``,
``model_info`` and ``health`` read ``/v1/models``. The API key is read from the environment
variable *named* in ``apiKeyEnv`` when the client is first built; it is never logged and never
put in an error message. Closing a stream closes its HTTP response. The ``openai`` package
(~0.7 s to import) is loaded on first use.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import AsyncIterator, Iterator, Sequence
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
from mimi_lsp.settings import DEFAULT_CHAT_MODEL, DEFAULT_COMPLETION_MODEL, OpenAIBackendSettings

if TYPE_CHECKING:
    import openai

log = logging.getLogger(__name__)

DEFAULT_EMBED_MODEL = "text-embedding-3-small"
NO_KEY = "no-key"
"""Sent when no key is configured: local servers ignore it, the client library requires one."""


class OpenAIBackend:
    """Talks to one OpenAI-compatible server at ``baseUrl`` (which includes ``/v1``)."""

    name = "openai"

    def __init__(self, settings: OpenAIBackendSettings) -> None:
        self.settings = settings
        self.base_url = settings.base_url.rstrip("/")
        self._client: openai.AsyncOpenAI | None = None
        self._key: str | None = None
        self._llama_cpp = False
        """The server lists its models as llama.cpp's server does (``owned_by: llamacpp``)."""

    # ------------------------------------------------------------------ plumbing

    @property
    def client(self) -> openai.AsyncOpenAI:
        """The ``AsyncOpenAI`` client, built on first use with the key from the environment."""
        if self._client is None:
            import openai

            env = self.settings.api_key_env
            key = os.environ.get(env) if env else None
            if env and not key:
                log.warning("the environment variable %s (mimi apiKeyEnv) is not set", env)
            self._key = key or None
            self._client = openai.AsyncOpenAI(
                base_url=self.base_url,
                api_key=key or NO_KEY,
                timeout=self.settings.timeout_ms / 1000,
                max_retries=0,  # the engine has its own deadline; retries would hide outages
            )
        return self._client

    def _scrub(self, text: str) -> str:
        """``text`` without the API key, whatever a server echoed back."""
        if self._key:
            text = text.replace(self._key, "***")
        return text

    def _key_fix(self) -> str:
        env = self.settings.api_key_env
        if env:
            return f"Check the API key in the environment variable {env}."
        return (
            "Put the key in an environment variable and name it in "
            "mimi.completion.backend.apiKeyEnv."
        )

    def _map_error(self, exc: BaseException, model: str | None, endpoint: str) -> MimiError:
        """The typed error for anything the client raised (never carrying the key)."""
        import openai
        import pydantic

        if isinstance(exc, MimiError):
            return exc
        if isinstance(exc, openai.APITimeoutError):
            return BackendTimeout(
                f"The server at {self.base_url} did not answer within {self.settings.timeout_ms} ms.",
                fix="Raise mimi.completion.backend.timeoutMs or use a smaller model.",
            )
        if isinstance(exc, openai.APIConnectionError) and not _refused(exc):
            return BackendError(
                f"The connection to {self.base_url} broke: {type(exc.__cause__ or exc).__name__}."
            )
        if isinstance(exc, openai.APIConnectionError):
            return BackendUnavailable(
                f"No OpenAI-compatible server answers at {self.base_url}.",
                fix=f"Start your OpenAI-compatible server at {self.base_url}.",
            )
        if isinstance(exc, (openai.AuthenticationError, openai.PermissionDeniedError)):
            return BackendError(
                f"The server at {self.base_url} refused the API key (HTTP {exc.status_code}).",
                fix=self._key_fix(),
            )
        if isinstance(exc, openai.APIStatusError):
            detail = self._scrub(_error_message(exc))[:300]
            lowered = detail.lower()
            if exc.status_code == 404 and ("model" in lowered or model and model in detail):
                return ModelNotFound(
                    f"The server at {self.base_url} does not serve the model {model!r}.",
                    fix="Load that model in the server, or set mimi.completion.model to one it "
                    "lists at /v1/models.",
                )
            if exc.status_code == 404:
                return BackendError(
                    f"The server at {self.base_url} has no {endpoint} endpoint.",
                    fix="Check mimi.completion.backend.baseUrl (it usually ends in /v1).",
                )
            if exc.status_code == 400 and "suffix" in lowered:
                return FimUnsupported(
                    f"The server at {self.base_url} does not accept a FIM suffix.",
                    fix="Set mimi.completion.fimTemplate to the model's family (e.g. 'qwen') so "
                    "mimi-lsp writes the FIM tokens itself.",
                )
            return BackendError(
                f"The server at {self.base_url} answered HTTP {exc.status_code}: {detail}"
            )
        if isinstance(exc, openai.APIError):
            return BackendError(
                f"The server at {self.base_url} reported an error mid-answer: "
                f"{self._scrub(str(exc.message))[:300]}"
            )
        if isinstance(exc, (json.JSONDecodeError, pydantic.ValidationError, UnicodeDecodeError)):
            return BackendError(f"The server at {self.base_url} sent a malformed stream.")
        return BackendError(
            f"Request to {self.base_url} failed: {type(exc).__name__}: {self._scrub(str(exc))}"[
                :300
            ]
        )

    @contextlib.contextmanager
    def _errors(self, model: str | None, endpoint: str) -> Iterator[None]:
        try:
            yield
        except Exception as exc:  # cancellation and generator closing are BaseExceptions
            raise self._map_error(exc, model, endpoint) from None

    # ------------------------------------------------------------------ generation

    async def generate(self, request: GenerateRequest) -> AsyncIterator[str]:
        """Stream ``/v1/completions`` (``suffix`` sent for native FIM, omitted for raw prompts)."""
        model = request.model or DEFAULT_COMPLETION_MODEL
        kwargs: dict[str, Any] = {
            "model": model,
            "prompt": request.prompt,
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "stream": True,
        }
        if request.stop:
            kwargs["stop"] = list(request.stop)
        if not request.raw and request.suffix is not None:
            kwargs["suffix"] = request.suffix
        extra = dict(request.options)
        if self._llama_cpp:
            # llama.cpp's server reuses its KV cache for the prompt's common start only with
            # cache_prompt (the default since late 2024; older servers need it asked for).
            extra.setdefault("cache_prompt", True)
        if extra:
            kwargs["extra_body"] = extra
        log.debug("openai completions model=%s raw=%s url=%s", model, request.raw, self.base_url)
        finished = False
        with self._errors(model, "/v1/completions"):
            stream = await self.client.completions.create(**kwargs)
            async with contextlib.aclosing(stream):
                async for chunk in stream:
                    for choice in chunk.choices or ():
                        if choice.text:
                            yield choice.text
                        if choice.finish_reason:
                            finished = True
        if not finished:
            log.warning("openai completion stream for %s ended without finish_reason", model)
            raise BackendError(
                f"The answer from {self.base_url} was cut off (stream ended without finish_reason)."
            )

    async def chat(self, request: ChatRequest) -> AsyncIterator[ChatDelta]:
        """Stream ``/v1/chat/completions``; tool calls are yielded once complete."""
        model = request.model or DEFAULT_CHAT_MODEL
        kwargs: dict[str, Any] = {
            "model": model,
            "messages": [_openai_message(m) for m in request.messages],
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "stream": True,
        }
        if request.tools:
            kwargs["tools"] = [
                {
                    "type": "function",
                    "function": {
                        "name": t.name,
                        "description": t.description,
                        "parameters": t.parameters,
                    },
                }
                for t in request.tools
            ]
        calls = _ToolCallAssembler()
        finished = False
        with self._errors(model, "/v1/chat/completions"):
            stream = await self.client.chat.completions.create(**kwargs)
            async with contextlib.aclosing(stream):
                async for chunk in stream:
                    for choice in chunk.choices or ():
                        delta = choice.delta
                        if delta is not None:
                            if delta.content:
                                yield ChatDelta(content=delta.content)
                            for fragment in delta.tool_calls or ():
                                calls.add(fragment)
                        if choice.finish_reason:
                            finished = True
        if not finished:
            raise BackendError(
                f"The answer from {self.base_url} was cut off (stream ended without finish_reason)."
            )
        complete = calls.complete()
        if complete:
            yield ChatDelta(tool_calls=complete)
        yield ChatDelta(done=True)

    async def embed(self, texts: Sequence[str], model: str | None = None) -> list[list[float]]:
        """One vector per text from ``/v1/embeddings`` (floats, in input order)."""
        if not texts:
            return []
        model = model or DEFAULT_EMBED_MODEL
        with self._errors(model, "/v1/embeddings"):
            response = await self.client.embeddings.create(
                model=model, input=list(texts), encoding_format="float"
            )
        rows = sorted(response.data, key=lambda d: d.index)
        if len(rows) != len(texts):
            raise BackendError(
                f"{self.base_url} returned {len(rows)} embeddings for {len(texts)} texts."
            )
        return [list(map(float, row.embedding)) for row in rows]

    # ------------------------------------------------------------------ status

    async def _listed_models(self) -> list[str] | None:
        """Model ids from ``/v1/models``; None when the server does not list them."""
        import openai

        try:
            with self._errors(None, "/v1/models"):
                try:
                    page = await self.client.models.list()
                except openai.NotFoundError:
                    return None
                models = [m async for m in page]
        except BackendError:
            return None
        self._llama_cpp = any(getattr(m, "owned_by", None) == "llamacpp" for m in models)
        return [m.id for m in models]

    async def model_info(self, model: str) -> ModelInfo:
        """Present when listed (or when the server lists none / only one: it serves whatever
        it loaded). The server's ``suffix`` is unreliable (vLLM rejects it; others silently drop
        it), so the completion engine writes a known family's FIM tokens itself."""
        listed = await self._listed_models()
        present = True
        if listed is not None and len(listed) > 1:
            present = any(_same_model(model, m) for m in listed)
            if not present:
                log.warning(
                    "model %s is not among those %s lists: %s",
                    model,
                    self.base_url,
                    ", ".join(listed[:10]),
                )
        return ModelInfo(name=model, present=present, native_fim=True, suffix_unreliable=True)

    async def health(self) -> BackendHealth:
        """Reachability (and key acceptance) via ``/v1/models``."""
        import openai

        try:
            with self._errors(None, "/v1/models"):
                try:
                    page = await self.client.models.list()
                    count = len(page.data)
                except openai.NotFoundError:
                    count = 0  # answers, just does not list models
        except MimiError as exc:
            state = (
                HealthState.UNAVAILABLE
                if isinstance(exc, (BackendUnavailable, BackendTimeout))
                else HealthState.ERROR
            )
            return BackendHealth(state, exc.message, exc.fix)
        return BackendHealth(HealthState.OK, f"{self.base_url} ({count} models)")

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.close()


def _refused(exc: BaseException) -> bool:
    """Whether a connection error means nobody is listening (vs. a connection that broke)."""
    seen: set[int] = set()
    cause: BaseException | None = exc.__cause__ or exc.__context__
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, ConnectionRefusedError) or type(cause).__name__ in (
            "ConnectError",
            "ConnectTimeout",
        ):
            return True
        cause = cause.__cause__ or cause.__context__
    return False


def _same_model(wanted: str, listed: str) -> bool:
    a, b = wanted.strip().lower(), listed.strip().lower()
    return a == b or a.rsplit("/", 1)[-1] == b.rsplit("/", 1)[-1]


def _error_message(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            return inner["message"]
        if isinstance(inner, str):
            return inner
        if isinstance(body.get("message"), str):
            return body["message"]
    return str(getattr(exc, "message", "") or exc)


def _openai_message(message: ChatMessage) -> dict[str, Any]:
    """A domain ``ChatMessage`` in the OpenAI chat shape."""
    out: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.tool_calls:
        out["content"] = message.content or None
        out["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": json.dumps(call.arguments)},
            }
            for call in message.tool_calls
        ]
    if message.role == "tool":
        out["tool_call_id"] = message.tool_call_id or ""
        if message.name:
            out["name"] = message.name
    return out


class _ToolCallAssembler:
    """Joins streamed tool-call fragments (by ``index``) into complete calls."""

    def __init__(self) -> None:
        self._calls: dict[int, dict[str, Any]] = {}

    def add(self, fragment: Any) -> None:
        index = fragment.index if fragment.index is not None else len(self._calls)
        slot = self._calls.setdefault(index, {"id": None, "name": "", "arguments": []})
        if fragment.id:
            slot["id"] = fragment.id
        function = fragment.function
        if function is not None:
            # Most servers send the name once; some repeat it whole in every fragment.
            if function.name and function.name != slot["name"]:
                slot["name"] += function.name
            if function.arguments:
                slot["arguments"].append(function.arguments)

    def complete(self) -> tuple[ToolCall, ...]:
        out = []
        for index in sorted(self._calls):
            slot = self._calls[index]
            raw = "".join(slot["arguments"]).strip() or "{}"
            try:
                arguments = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise BackendError(
                    f"The model called {slot['name'] or 'a tool'} with arguments that are not JSON."
                ) from exc
            if not isinstance(arguments, dict):
                arguments = {"value": arguments}
            out.append(
                ToolCall(id=slot["id"] or f"call_{index}", name=slot["name"], arguments=arguments)
            )
        return tuple(out)
