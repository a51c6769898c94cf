"""Settings: precedence, camelCase, validation that never crashes, exported schema."""

from __future__ import annotations

import json

from mimi_lsp.settings import (
    FakeBackendSettings,
    OllamaBackendSettings,
    OpenAIBackendSettings,
    resolve_settings,
    settings_schema,
)


def test_defaults_need_no_configuration() -> None:
    """With nothing configured: Ollama, the default base model, no problems."""
    settings, problems = resolve_settings(env={})
    assert problems == []
    assert isinstance(settings.completion.backend, OllamaBackendSettings)
    assert settings.completion.model == "qwen2.5-coder:1.5b-base"
    assert settings.completion.backend.resolved_host() == "http://127.0.0.1:11434"


def test_ollama_host_from_environment() -> None:
    """$OLLAMA_HOST is honoured (scheme added when missing)."""
    settings, _ = resolve_settings(env={})
    import os

    old = os.environ.get("OLLAMA_HOST")
    os.environ["OLLAMA_HOST"] = "10.1.2.3:9999"
    try:
        assert settings.completion.backend.resolved_host() == "http://10.1.2.3:9999"  # type: ignore[union-attr]
    finally:
        if old is None:
            del os.environ["OLLAMA_HOST"]
        else:
            os.environ["OLLAMA_HOST"] = old


def test_precedence_env_then_init_options_then_configuration() -> None:
    """Later layers win key by key; camelCase on the wire."""
    env = {"MIMI_SETTINGS": '{"completion": {"maxTokens": 10, "temperature": 0.5}}'}
    settings, problems = resolve_settings(
        {"completion": {"maxTokens": 20}},
        {"mimi": {"completion": {"temperature": 0.1}}},
        env=env,
    )
    assert problems == []
    assert settings.completion.max_tokens == 20
    assert settings.completion.temperature == 0.1


def test_invalid_layer_is_reported_and_ignored() -> None:
    """A bad value gives one readable problem and leaves the other layers applied."""
    settings, problems = resolve_settings(
        {"completion": {"maxTokens": 64}},
        {"completion": {"maxTokens": "lots"}},
        env={},
    )
    assert settings.completion.max_tokens == 64
    assert len(problems) == 1 and "maxTokens" in problems[0]


def test_unknown_keys_and_wrong_types_never_raise() -> None:
    """Garbage of any shape yields defaults plus problems, never an exception."""
    for junk in (
        42,
        "x",
        [1, 2],
        {"completion": []},
        {"nope": 1},
        {"completion": {"backend": {"kind": "?"}}},
    ):
        settings, problems = resolve_settings(junk, env={})
        assert settings.completion.enabled
        assert problems


def test_switching_backend_kind_replaces_it() -> None:
    """A layer with another backend kind replaces the backend instead of merging fields."""
    settings, problems = resolve_settings(
        {"completion": {"backend": {"kind": "ollama", "host": "http://h:1"}}},
        {"completion": {"backend": {"kind": "fake", "replies": ["x"]}}},
        env={},
    )
    assert problems == []
    assert isinstance(settings.completion.backend, FakeBackendSettings)


def test_schema_is_camel_case_with_descriptions() -> None:
    """The exported JSON schema uses wire names and documents fields."""
    schema = settings_schema()
    completion = schema["$defs"]["CompletionSettings"]["properties"]
    assert "maxTokens" in completion and "debounceMs" in completion
    assert all("description" in prop for prop in completion.values())


def test_plain_fields_set_the_model_server() -> None:
    """provider, url and apiKeyEnv (plain Settings-UI fields) fill in the backend object."""
    settings, problems = resolve_settings(
        {"completion": {"provider": "openai", "url": "127.0.0.1:8080", "apiKeyEnv": "MY_KEY"}},
        env={},
    )
    assert problems == []
    backend = settings.completion.backend
    assert isinstance(backend, OpenAIBackendSettings)
    assert backend.base_url == "http://127.0.0.1:8080/v1"  # /v1 added to a bare address
    assert backend.api_key_env == "MY_KEY"


def test_plain_url_overrides_the_object_and_keeps_its_other_fields() -> None:
    """url wins over the object's address; the object's timeouts stay."""
    settings, problems = resolve_settings(
        {"completion": {"backend": {"kind": "ollama", "host": "http://a:1", "timeoutMs": 900}}},
        {"completion": {"url": "http://127.0.0.1:11500"}},
        env={},
    )
    assert problems == []
    backend = settings.completion.backend
    assert isinstance(backend, OllamaBackendSettings)
    assert (backend.host, backend.timeout_ms) == ("http://127.0.0.1:11500", 900)


def test_chat_plain_fields_start_from_the_completion_server() -> None:
    """chat.url alone: the completion server's kind at another address."""
    settings, problems = resolve_settings(
        {
            "completion": {"provider": "openai", "url": "http://h:1/v1"},
            "chat": {"url": "http://h:2"},
        },
        env={},
    )
    assert problems == []
    chat = settings.chat_backend()
    assert isinstance(chat, OpenAIBackendSettings) and chat.base_url == "http://h:2/v1"
    assert settings.completion.backend.base_url == "http://h:1/v1"  # type: ignore[union-attr]


def test_empty_or_partial_backend_objects_get_defaults() -> None:
    """{} (what an editor writes for "Edit in settings.json") and objects without kind are
    accepted: defaults, or the kind their keys name."""
    settings, problems = resolve_settings(
        {"completion": {"backend": {}}, "chat": {"backend": {}}, "embedding": {"backend": {}}},
        env={},
    )
    assert problems == []
    assert isinstance(settings.completion.backend, OllamaBackendSettings)
    assert settings.chat.backend is None  # {}: the completion backend
    assert settings.embedding.backend.kind == "local"
    settings, problems = resolve_settings(
        {"completion": {"backend": {"baseUrl": "http://x:8000/v1"}}}, env={}
    )
    assert problems == []
    assert isinstance(settings.completion.backend, OpenAIBackendSettings)


def test_a_cleared_field_means_unset() -> None:
    """An empty string for an optional setting (a cleared Settings UI field) means unset."""
    settings, problems = resolve_settings(
        {"completion": {"url": "", "provider": ""}, "index": {"cacheDir": ""}}, env={}
    )
    assert problems == []
    assert settings.index.cache_dir is None
    assert isinstance(settings.completion.backend, OllamaBackendSettings)


def test_schema_leaves_out_the_test_backend() -> None:
    """The user-facing schema offers no test-only fields; the fake backend still validates."""
    text = json.dumps(settings_schema())
    for field in ("chatReplies", "chunkChars", "delayMs", '"fake"'):
        assert field not in text
    settings, problems = resolve_settings(
        {"completion": {"backend": {"kind": "fake", "replies": ["x"]}}}, env={}
    )
    assert problems == [] and isinstance(settings.completion.backend, FakeBackendSettings)
