"""The Ollama stand-in itself: script rules other engineers rely on, and the script mode."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import ollama
import pytest

from tests.lsp_harness import ROOT
from tests.standins.ollama import OllamaStandin


@pytest.fixture
def server() -> Iterator[OllamaStandin]:
    with OllamaStandin() as s:
        yield s


def chat(client: ollama.Client, *messages: dict[str, Any]) -> ollama.Message:
    return client.chat(model="m", messages=list(messages)).message


def test_replies_are_used_in_turn_and_the_last_repeats(server: OllamaStandin) -> None:
    """Completion replies come in order; the last one repeats."""
    server.configure(replies=["one", "two"])
    client = ollama.Client(host=server.url)
    got = [client.generate(model="m", prompt="p").response for _ in range(3)]
    assert got == ["one", "two", "two"]


def test_reply_chosen_by_prompt_match(server: OllamaStandin) -> None:
    """A reply with `match` answers prompts matching its regex, whatever the turn."""
    server.configure(replies=["default", {"match": r"def add", "text": "a + b"}])
    client = ollama.Client(host=server.url)
    assert client.generate(model="m", prompt="def add(a, b): return ").response == "a + b"
    assert client.generate(model="m", prompt="x = ").response == "default"


def test_chat_turns_follow_the_conversation(server: OllamaStandin) -> None:
    """The number of assistant messages so far picks the scripted turn (agent loops)."""
    server.configure(
        chat=[
            {"turns": [{"toolCalls": [{"name": "read_file", "arguments": {"path": "a"}}]}, "Done."]}
        ]
    )
    client = ollama.Client(host=server.url)
    first = chat(client, {"role": "user", "content": "fix a"})
    assert first.tool_calls and first.tool_calls[0].function.name == "read_file"
    second = chat(
        client,
        {"role": "user", "content": "fix a"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [{"function": {"name": "read_file", "arguments": {"path": "a"}}}],
        },
        {"role": "tool", "content": "x = 1", "tool_name": "read_file"},
    )
    assert second.content == "Done." and not second.tool_calls


def test_chat_entry_chosen_by_latest_user_message(server: OllamaStandin) -> None:
    """An entry with `match` answers user messages matching it; others get the default."""
    server.configure(chat=["default answer", {"match": "(?i)rename", "turns": ["Renamed."]}])
    client = ollama.Client(host=server.url)
    assert chat(client, {"role": "user", "content": "Please RENAME foo"}).content == "Renamed."
    assert chat(client, {"role": "user", "content": "hello"}).content == "default answer"


def test_new_conversations_take_default_entries_in_turn(server: OllamaStandin) -> None:
    """Each new conversation gets the next default entry; a conversation keeps its own."""
    server.configure(chat=["first chat", "second chat"])
    client = ollama.Client(host=server.url)
    assert chat(client, {"role": "user", "content": "a"}).content == "first chat"
    assert chat(client, {"role": "user", "content": "b"}).content == "second chat"
    assert chat(client, {"role": "user", "content": "a"}).content == "first chat"


def test_unknown_model_is_a_404_like_ollama(server: OllamaStandin) -> None:
    """With a model list, other names get Ollama's 'try pulling it first' 404."""
    server.configure(models=["qwen2.5-coder:1.5b-base"])
    client = ollama.Client(host=server.url)
    with pytest.raises(ollama.ResponseError) as info:
        client.generate(model="llama3", prompt="x")
    assert info.value.status_code == 404 and "try pulling it first" in info.value.error
    assert client.generate(model="qwen2.5-coder:1.5b-base", prompt="x").done


def test_requests_are_recorded(server: OllamaStandin) -> None:
    """Every request is recorded with its JSON body and whether it finished."""
    ollama.Client(host=server.url).generate(model="m", prompt="hello", suffix="bye")
    [rec] = server.calls("/api/generate")
    assert rec.body["prompt"] == "hello" and rec.body["suffix"] == "bye"
    assert rec.finished and not rec.disconnected and rec.status == 200


def test_script_mode_and_control_endpoints() -> None:
    """`python -m tests.standins.ollama` prints its URL and takes config over HTTP."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.standins.ollama",
            "--port",
            "0",
            "--reply",
            "from the script",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line.startswith("READY http://127.0.0.1:")
        url = line.split()[1]
        client = ollama.Client(host=url)
        assert client.generate(model="m", prompt="x").response == "from the script"
        httpx.post(
            f"{url}/_standin/config", json={"replies": ["changed"], "delayMs": 0}
        ).raise_for_status()
        assert client.generate(model="m", prompt="x").response == "changed"
        recorded = httpx.get(f"{url}/_standin/requests").json()["requests"]
        assert [r["path"] for r in recorded] == ["/api/generate", "/api/generate"]
        bad = httpx.post(f"{url}/_standin/config", json={"fail": "explode"})
        assert bad.status_code == 400 and "explode" in json.dumps(bad.json())
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0
