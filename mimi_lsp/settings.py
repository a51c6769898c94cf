"""Settings: one frozen pydantic model, camelCase on the wire.

Precedence: defaults < environment (``MIMI_*`` and ``OLLAMA_HOST``) < ``initializationOptions``
< ``workspace/configuration`` section ``mimi``. Invalid input never crashes the server:
``resolve_settings`` returns defaults plus a list of problems to show the user once. The JSON
schema (``settings_schema()``) feeds the VS Code extension's ``contributes.configuration``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic.json_schema import SkipJsonSchema

from mimi_lsp.backend_fields import (
    API_KEY_ENV_DESCRIPTION,
    PROVIDER_DESCRIPTION,
    URL_DESCRIPTION,
    Provider,
    fold_plain_fields,
    with_kind,
)

DEFAULT_OLLAMA_HOST = "http://127.0.0.1:11434"
DEFAULT_COMPLETION_MODEL = "qwen2.5-coder:1.5b-base"
DEFAULT_CHAT_MODEL = "qwen2.5-coder:7b-instruct"


class _Model(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        frozen=True,
        extra="forbid",
    )

    @model_validator(mode="before")
    @classmethod
    def _blank_is_unset(cls, data: Any) -> Any:
        """An empty string for an optional setting means "not set" (a cleared Settings UI field)."""
        if not isinstance(data, Mapping) or "" not in data.values():
            return data
        out = dict(data)
        for name, field in cls.model_fields.items():
            if field.default is None:
                for key in (name, field.alias):
                    if key is not None and out.get(key) == "":
                        del out[key]
        return out


# --------------------------------------------------------------------------------------------
# Backends: a union discriminated on ``kind``


class OllamaBackendSettings(_Model):
    """An Ollama server (the default)."""

    kind: Literal["ollama"] = "ollama"
    host: str | None = Field(
        default=None,
        description="Ollama URL; defaults to $OLLAMA_HOST, then http://127.0.0.1:11434.",
    )
    keep_alive: str = Field(
        default="30m", description="How long Ollama keeps the model loaded after a request."
    )
    timeout_ms: int = Field(default=30_000, ge=100, description="Per-request timeout.")
    num_ctx: int | None = Field(default=None, ge=256, description="Context window override.")

    def resolved_host(self) -> str:
        host = (self.host or os.environ.get("OLLAMA_HOST") or DEFAULT_OLLAMA_HOST).strip()
        if "://" not in host:
            # Ollama's convention: a bare 'host', ':port' or 'host:port' means http on port 11434
            # unless given (so OLLAMA_HOST=0.0.0.0 or =localhost keep working).
            name, sep, port = host.rpartition(":")
            if not sep or not port.isdigit() or (":" in name and not name.endswith("]")):
                name, port = host, ""  # no port given (or a bare IPv6 address)
            if ":" in name and not name.startswith("["):
                name = f"[{name}]"
            host = f"http://{name or '127.0.0.1'}:{port or '11434'}"
        return host.rstrip("/")


class OpenAIBackendSettings(_Model):
    """Any OpenAI-compatible server (llama.cpp server, vLLM, LM Studio, …)."""

    kind: Literal["openai"] = "openai"
    base_url: str = Field(default="http://127.0.0.1:8000/v1", description="Base URL including /v1.")
    api_key_env: str | None = Field(
        default=None,
        description="Name of the environment variable holding the API key (never the key).",
    )
    timeout_ms: int = Field(default=30_000, ge=100, description="Per-request timeout.")


class TritonBackendSettings(_Model):
    """NVIDIA Triton Inference Server (text_input/text_output models)."""

    kind: Literal["triton"] = "triton"
    url: str = Field(default="127.0.0.1:8001", description="gRPC host:port of Triton.")
    protocol: Literal["grpc", "http"] = Field(default="grpc", description="Client protocol.")
    timeout_ms: int = Field(default=30_000, ge=100, description="Per-request timeout.")
    chat_template: Literal["chatml", "llama3", "plain"] = Field(
        default="chatml",
        description="How chat messages become the model's text_input (chatml: Qwen, Yi, …).",
    )
    stream: bool = Field(
        default=True, description="Stream tokens through decoupled models (vLLM, TensorRT-LLM)."
    )
    priorities: bool = Field(
        default=True,
        description="Send request priorities (1 inline, 2 chat, 3 indexing) to models whose "
        "dynamic_batching declares priority_levels.",
    )


class FakeBackendSettings(_Model):
    """Scripted replies for tests and benchmarks; never talks to a network."""

    kind: Literal["fake"] = "fake"
    replies: list[str] = Field(
        default_factory=list,
        description="Completion replies, used in turn (the last one repeats).",
    )
    chat_replies: list[str] = Field(default_factory=list, description="Chat replies in turn.")
    delay_ms: float = Field(default=0.0, ge=0, description="Simulated model latency.")
    chunk_chars: int = Field(default=0, ge=0, description="Stream in pieces of this size (0: one).")
    native_fim: bool = Field(default=True, description="Pretend the model takes a suffix.")


# The fake backend is for tests and benchmarks: accepted, but not in the user-facing schema
# (editors offer the schema's fields as completions in their settings files).
BackendSettings = Annotated[
    OllamaBackendSettings
    | OpenAIBackendSettings
    | TritonBackendSettings
    | SkipJsonSchema[FakeBackendSettings],
    Field(discriminator="kind"),
    BeforeValidator(with_kind),
]


class LocalEmbeddingSettings(_Model):
    """sentence-transformers in-process (CUDA when available)."""

    kind: Literal["local"] = "local"
    device: str | None = Field(default=None, description="'cpu', 'cuda', or auto.")
    onnx_queries: bool = Field(
        default=True,
        description="On CPU, embed search queries through ONNX Runtime (same vectors, 3-4x "
        "faster; exported from the model once into the user cache).",
    )


EmbeddingBackendSettings = Annotated[
    LocalEmbeddingSettings
    | OllamaBackendSettings
    | OpenAIBackendSettings
    | TritonBackendSettings
    | SkipJsonSchema[FakeBackendSettings],
    Field(discriminator="kind"),
    BeforeValidator(lambda value: with_kind(value, "local")),
]


# --------------------------------------------------------------------------------------------
# Features


class CompletionSettings(_Model):
    """Inline (ghost-text) completion."""

    enabled: bool = Field(default=True, description="Offer AI completions.")
    provider: Provider | None = Field(default=None, description=PROVIDER_DESCRIPTION)
    url: str | None = Field(default=None, description=URL_DESCRIPTION)
    model: str = Field(default=DEFAULT_COMPLETION_MODEL, description="Completion (base) model.")
    api_key_env: str | None = Field(default=None, description=API_KEY_ENV_DESCRIPTION)
    backend: BackendSettings = Field(
        default_factory=OllamaBackendSettings,
        description="The model server in full (timeouts, keepAlive, Triton's protocol…); "
        "provider, url and apiKeyEnv above override its fields.",
    )
    fim_template: str = Field(
        default="auto",
        description="FIM template: 'auto' (by model name / server template) or a family name "
        "such as 'qwen', 'starcoder', 'codellama', 'deepseek', 'codestral', 'codegemma', "
        "'granite'.",
    )
    max_tokens: int = Field(default=128, ge=1, le=4096, description="Max tokens generated.")
    temperature: float = Field(default=0.2, ge=0, le=2, description="Sampling temperature.")
    debounce_ms: int | Literal["auto"] = Field(
        default="auto", description="Delay before asking the model; 'auto' adapts to typing."
    )
    multiline: Literal["auto", "always", "never"] = Field(
        default="auto", description="Multi-line suggestions: from syntax, always, or never."
    )
    timeout_ms: int = Field(default=5_000, ge=50, description="Give up on a completion after.")
    max_prefix_chars: int = Field(default=6_000, ge=100, description="Prompt prefix budget.")
    max_suffix_chars: int = Field(default=2_000, ge=0, description="Prompt suffix budget.")
    max_document_bytes: int = Field(
        default=5_000_000, ge=1_000, description="No completions in larger documents."
    )
    context: bool = Field(
        default=True, description="Add definitions and similar snippets from the index."
    )


class NextEditSettings(_Model):
    """Next-edit suggestions (``textDocument/copilotInlineEdit``)."""

    enabled: bool = Field(
        default=True, description="Suggest the next edit from your recent edits (renames, repeats)."
    )
    model: str = Field(
        default="",
        description="A next-edit model (e.g. 'sweep-next-edit-1.5b', 'zeta'); empty: the "
        "model-free predictions only.",
    )
    backend: BackendSettings | None = Field(
        default=None, description="Backend of the next-edit model; defaults to the completion one."
    )
    prompt_format: Literal["auto", "sweep", "zeta"] = Field(
        default="auto",
        description="Prompt format of the model: 'auto' (from its name), 'sweep' or 'zeta'.",
    )
    max_tokens: int = Field(default=512, ge=16, le=4096, description="Max tokens the model writes.")
    timeout_ms: int = Field(default=10_000, ge=100, description="Give up on the model after.")
    open_files: bool = Field(
        default=True, description="Also suggest edits in other open files (renamed definitions)."
    )


class ChatSettings(_Model):
    """Chat and the agent."""

    provider: Provider | None = Field(
        default=None,
        description="Kind of the chat model server, when not the completion one's: 'ollama', "
        "'openai' or 'triton'.",
    )
    url: str | None = Field(
        default=None,
        description="Address of the chat model server, when not the completion one's.",
    )
    model: str = Field(default=DEFAULT_CHAT_MODEL, description="Chat (instruct) model.")
    api_key_env: str | None = Field(default=None, description=API_KEY_ENV_DESCRIPTION)
    backend: BackendSettings | None = Field(
        default=None,
        description="The chat model server in full; unset (or empty): the completion one.",
    )
    max_tokens: int = Field(default=2048, ge=1, description="Max tokens per answer.")

    @field_validator("backend", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        return None if isinstance(value, Mapping) and not value else value


class EmbeddingSettings(_Model):
    """Embeddings for the index."""

    backend: EmbeddingBackendSettings = Field(
        default_factory=LocalEmbeddingSettings, description="Where embeddings come from."
    )
    model: str = Field(
        default="all-MiniLM-L6-v2",
        description="Embedding model (local: the packaged MiniLM; ollama: nomic-embed-text).",
    )
    batch_size: int = Field(default=32, ge=1, le=1024, description="Texts per embed call.")


class IndexSettings(_Model):
    """The workspace index."""

    enabled: bool = Field(default=True, description="Index workspace folders.")
    cache_dir: str | None = Field(
        default=None, description="Where index databases live (default: per-user cache)."
    )
    exclude: list[str] = Field(
        default_factory=list, description="Extra gitignore-style patterns to skip."
    )
    max_file_bytes: int = Field(default=1_000_000, ge=1_000, description="Skip larger files.")
    embeddings: bool = Field(default=True, description="Compute vectors (BM25 works without).")


class AgentSettings(_Model):
    """The editing agent."""

    max_steps: int = Field(default=12, ge=1, le=100, description="Tool calls per run.")
    timeout_ms: int = Field(default=120_000, ge=1_000, description="Wall time per run.")
    max_tokens: int = Field(
        default=100_000,
        ge=1_000,
        description="Approximate token budget per run: every prompt and answer (4 chars a token).",
    )
    tool_mode: Literal["auto", "native", "text"] = Field(
        default="auto",
        description="Tool calling: the model's native tools ('auto' falls back to text blocks "
        "for models without them), or always the text protocol.",
    )
    allow_shell: bool = Field(
        default=False, description="Let the agent run shell commands (off by default)."
    )
    mcp_servers: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="External MCP servers for the agent: name -> {command, args, env}.",
    )


class GitSettings(_Model):
    """Commit messages written from the diff (mimi.git.commitMessage)."""

    max_diff_tokens: int | None = Field(
        default=None,
        ge=500,
        le=1_000_000,
        description="Budget for the diff in the prompt (4 characters a token); larger diffs are "
        "summarised per file. Default: from the chat backend's context window (Ollama's numCtx, "
        "4096 when unset; 8192 for other backends).",
    )
    history: int = Field(
        default=20, ge=0, le=200, description="Recent commit subjects read to learn the style."
    )


class SchedulerSettings(_Model):
    """How requests share each model server: priorities, concurrency, batching."""

    enabled: bool = Field(
        default=True, description="Schedule requests (off: call backends directly)."
    )
    max_concurrency: int | None = Field(
        default=None,
        ge=1,
        le=1024,
        description="Calls in flight per backend; default by kind (ollama 2, openai 8, triton 16).",
    )
    reserved_inline: int = Field(
        default=1,
        ge=0,
        description="Slots per backend that chat and indexing never take, so ghost text never waits.",
    )
    max_queue: int = Field(
        default=256, ge=1, description="Waiting calls per priority class before 'busy'."
    )
    batch_window_ms: float = Field(
        default=3.0, ge=0, le=100, description="How long an embedding call waits for company."
    )
    max_batch: int = Field(default=64, ge=1, le=4096, description="Texts per batched embed call.")
    batch_embeddings: bool = Field(
        default=True, description="Merge concurrent embedding calls into one batch."
    )
    batch_generation: bool = Field(
        default=True,
        description="Merge concurrent completions for backends that take batches (Triton).",
    )


class RateLimitSettings(_Model):
    """A token bucket: ``perMinute`` requests on average, ``burst`` at once (0: no limit)."""

    per_minute: int = Field(default=0, ge=0, description="Requests per minute (0: unlimited).")
    burst: int | None = Field(
        default=None,
        ge=1,
        description="Requests allowed at once before the rate applies (default: 12 seconds' "
        "worth, at least 3).",
    )

    def capacity(self) -> int:
        """The bucket size: ``burst``, or 12 seconds' worth of the rate (at least 3)."""
        return self.burst if self.burst is not None else max(3, self.per_minute // 5)


class LimitSettings(_Model):
    """Protection against runaway or hostile clients: request rates and sizes, per client."""

    completion: RateLimitSettings = Field(
        default_factory=lambda: RateLimitSettings(per_minute=600),
        description="Model calls for ghost text (typed-through cache hits are never limited).",
    )
    chat: RateLimitSettings = Field(
        default_factory=lambda: RateLimitSettings(per_minute=60),
        description="mimi.chat and mimi.explain.",
    )
    agent: RateLimitSettings = Field(
        default_factory=lambda: RateLimitSettings(per_minute=20),
        description="Agent runs (mimi.agent.edit, code action resolve).",
    )
    search: RateLimitSettings = Field(
        default_factory=lambda: RateLimitSettings(per_minute=240),
        description="mimi.search (embeds the query).",
    )
    max_document_bytes: int = Field(
        default=20_000_000,
        ge=1_000,
        description="Documents larger than this are not tracked (no AI features for them).",
    )
    max_command_bytes: int = Field(
        default=1_000_000,
        ge=1_000,
        description="Largest arguments a mimi.* command accepts (JSON size).",
    )


class Settings(_Model):
    """Everything mimi-lsp reads from the editor (section `mimi`)."""

    completion: CompletionSettings = Field(default_factory=CompletionSettings)
    next_edit: NextEditSettings = Field(default_factory=NextEditSettings)
    chat: ChatSettings = Field(default_factory=ChatSettings)
    embedding: EmbeddingSettings = Field(default_factory=EmbeddingSettings)
    index: IndexSettings = Field(default_factory=IndexSettings)
    agent: AgentSettings = Field(default_factory=AgentSettings)
    git: GitSettings = Field(default_factory=GitSettings)
    scheduler: SchedulerSettings = Field(default_factory=SchedulerSettings)
    limits: LimitSettings = Field(default_factory=LimitSettings)
    log_level: Literal["error", "warning", "info", "debug"] = Field(
        default="info", description="Server log level."
    )

    @model_validator(mode="before")
    @classmethod
    def _plain_backend_fields(cls, data: Any) -> Any:
        """Fold the plain ``provider``/``url``/``apiKeyEnv`` fields into the backend objects
        (chat's start from the completion backend)."""
        if not isinstance(data, Mapping):
            return data
        out = dict(data)
        completion = out.get("completion")
        if isinstance(completion, Mapping):
            out["completion"] = completion = fold_plain_fields(completion, None)
        chat = out.get("chat")
        if isinstance(chat, Mapping):
            base = completion.get("backend") if isinstance(completion, Mapping) else None
            out["chat"] = fold_plain_fields(chat, base if isinstance(base, Mapping) else None)
        return out

    def chat_backend(self) -> BackendSettings:
        return self.chat.backend or self.completion.backend

    def next_edit_backend(self) -> BackendSettings:
        return self.next_edit.backend or self.completion.backend


# --------------------------------------------------------------------------------------------
# Resolution


def _deep_merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            # A backend with another `kind` replaces the old one instead of merging into it.
            if "kind" in value and out[key].get("kind") not in (None, value["kind"]):
                out[key] = dict(value)
            else:
                out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def environment_layer(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Settings from the environment: ``MIMI_SETTINGS`` (JSON) and a few shortcuts."""
    env = os.environ if env is None else env
    layer: dict[str, Any] = {}
    raw = env.get("MIMI_SETTINGS")
    if raw:
        try:
            parsed = json.loads(raw)
            if isinstance(parsed, dict):
                layer = _deep_merge(layer, parsed)
        except json.JSONDecodeError:
            pass  # reported by resolve_settings through validation of the other layers
    if model := env.get("MIMI_COMPLETION_MODEL"):
        layer = _deep_merge(layer, {"completion": {"model": model}})
    if model := env.get("MIMI_CHAT_MODEL"):
        layer = _deep_merge(layer, {"chat": {"model": model}})
    return layer


def _unwrap(layer: Any) -> Mapping[str, Any]:
    """Accept both ``{...}`` and ``{"mimi": {...}}`` from clients."""
    if not isinstance(layer, Mapping):
        return {}
    if set(layer.keys()) == {"mimi"} and isinstance(layer["mimi"], Mapping):
        return layer["mimi"]
    return layer


def resolve_settings(
    *layers: Any, env: Mapping[str, str] | None = None
) -> tuple[Settings, list[str]]:
    """Merge layers over defaults and the environment; never raises.

    Returns the settings and human-readable problems. A layer that fails validation is
    dropped as a whole (the others still apply), so one typo cannot silently half-apply.
    """
    problems: list[str] = []
    merged: dict[str, Any] = {}
    for layer in (environment_layer(env), *layers):
        if layer is None:
            continue
        if not isinstance(layer, Mapping):
            problems.append(f"ignored settings of type {type(layer).__name__}: expected an object")
            continue
        candidate = _deep_merge(merged, _unwrap(layer))
        try:
            Settings.model_validate(candidate)
        except ValidationError as exc:
            problems.extend(_describe(exc))
            continue
        merged = candidate
    return Settings.model_validate(merged), problems


def _describe(exc: ValidationError) -> list[str]:
    out = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err["loc"])
        out.append(f"mimi.{where}: {err['msg']}")
    return out


def settings_schema() -> dict[str, Any]:
    """JSON schema of the settings (camelCase), for editors and docs."""
    return Settings.model_json_schema(by_alias=True)


def user_cache_dir() -> str:
    """``<per-user cache>/mimi-lsp``: index databases and exported models live below it."""
    base = os.environ.get("XDG_CACHE_HOME")
    if not base:
        if os.name == "nt":
            base = os.environ.get("LOCALAPPDATA") or os.path.expanduser("~\\AppData\\Local")
        elif os.uname().sysname == "Darwin":
            base = os.path.expanduser("~/Library/Caches")
        else:
            base = os.path.expanduser("~/.cache")
    return os.path.join(base, "mimi-lsp")
