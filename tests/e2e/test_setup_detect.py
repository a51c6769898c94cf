"""mimi.setup.detect: the model servers the editors' set-up offers, from the real server process."""

from __future__ import annotations

from typing import Any

import pytest
from lsprotocol import types

from tests.lsp_harness import start_session
from tests.standins.ollama import OllamaStandin
from tests.standins.openai import OpenAIStandin


async def detect(client: Any, **args: Any) -> list[dict[str, Any]]:
    result = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="mimi.setup.detect", arguments=[args])
    )
    return result["servers"]


@pytest.mark.asyncio
async def test_an_ollama_address_lists_its_models() -> None:
    """An address where Ollama answers: provider ollama and its models."""
    with OllamaStandin(models=["qwen2.5-coder:1.5b-base", "llama3:8b"]) as ollama:
        async with start_session(settings={"index": {"enabled": False}}) as client:
            servers = await detect(client, url=ollama.url.removeprefix("http://"))
    assert servers == [
        {
            "provider": "ollama",
            "url": ollama.url,
            "models": ["llama3:8b", "qwen2.5-coder:1.5b-base"],
            "reachable": True,
        }
    ]


@pytest.mark.asyncio
async def test_an_openai_compatible_address_gets_v1_and_its_models() -> None:
    """An OpenAI-compatible server at a bare address: found at /v1 with its models."""
    with OpenAIStandin(models=["qwen-coder"]) as server:
        origin = server.base_url.removesuffix("/v1")
        async with start_session(settings={"index": {"enabled": False}}) as client:
            servers = await detect(client, url=origin)
    assert [(s["provider"], s["url"], s["models"]) for s in servers] == [
        ("openai", f"{origin}/v1", ["qwen-coder"])
    ]


@pytest.mark.asyncio
async def test_a_server_that_wants_a_key_says_so() -> None:
    """401 without a key: reachable, needsKey; with apiKeyEnv naming the key: its models."""
    with OpenAIStandin(models=["m"], api_key="s3cret-key") as server:
        env = {"SETUP_TEST_KEY": "s3cret-key"}
        async with start_session(settings={"index": {"enabled": False}}, env=env) as client:
            without = await detect(client, url=server.base_url)
            with_key = await detect(client, url=server.base_url, apiKeyEnv="SETUP_TEST_KEY")
    assert [(s["provider"], s.get("needsKey")) for s in without] == [("openai", True)]
    assert [(s["provider"], s["models"]) for s in with_key] == [("openai", ["m"])]


@pytest.mark.asyncio
async def test_nothing_at_an_address_says_why() -> None:
    """An address where nothing answers: both kinds tried, each with the reason."""
    async with start_session(settings={"index": {"enabled": False}}) as client:
        servers = await detect(client, url="127.0.0.1:9")
    assert {s["provider"] for s in servers} == {"ollama", "openai"}
    assert all(not s["reachable"] and s["message"] for s in servers)


@pytest.mark.asyncio
async def test_without_an_address_the_configured_server_is_found() -> None:
    """No address: the configured one (here on a non-default port) is among those found."""
    with OllamaStandin(models=["tiny"]) as ollama:
        settings = {"completion": {"url": ollama.url}, "index": {"enabled": False}}
        async with start_session(settings=settings) as client:
            servers = await detect(client)
    assert {
        "provider": "ollama",
        "url": ollama.url,
        "models": ["tiny:latest"],
        "reachable": True,
    } in (servers)
