"""mimi.chat and mimi.explain end to end: streaming, context, citations, cancellation."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types

from tests.e2e.test_agent_edit import copy_repo, open_file, rng, scripted
from tests.lsp_harness import start_session
from tests.standins.ollama import OllamaStandin


@pytest.fixture
def model() -> Iterator[OllamaStandin]:
    """The Ollama stand-in as the chat model."""
    with OllamaStandin() as server:
        yield server


async def chat(client: Any, **args: Any) -> dict[str, Any]:
    return await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="mimi.chat", arguments=[args])
    )


def deltas(client: Any, chat_id: str) -> str:
    return "".join(
        p["delta"] if isinstance(p, dict) else p.delta
        for m, p in client.notifications
        if m == "mimi/chatDelta" and (p["chatId"] if isinstance(p, dict) else p.chatId) == chat_id
    )


def last_prompt(model: OllamaStandin) -> list[dict[str, Any]]:
    return model.calls("/api/chat")[-1].body["messages"]


async def test_answer_streams_as_chat_deltas(tmp_path: Path, model: OllamaStandin) -> None:
    """Every piece of the answer arrives as mimi/chatDelta before the result, in order."""
    root = copy_repo(tmp_path)
    reply = "apply_discount rounds down to a whole cent [1]."
    async with start_session(root=root, settings=scripted(model, reply)) as client:
        uri = open_file(client, root / "shop" / "pricing.py")
        result = await chat(
            client,
            chatId="c1",
            message="How are discounts rounded?",
            uri=uri,
            range=rng(5, 0, 7, 0),
        )
        assert deltas(client, "c1") == reply
        assert (
            sum(1 for m, _ in client.notifications if m == "mimi/chatDelta") > 3
        )  # streamed, not one blob
    assert result["chatId"] == "c1" and result["reply"] == reply


async def test_context_has_selection_file_and_search_hits(
    tmp_path: Path, model: OllamaStandin
) -> None:
    """The prompt carries the selection, the current file and search hits from other files, numbered."""
    root = copy_repo(tmp_path)
    async with start_session(root=root, settings=scripted(model, "ok")) as client:
        uri = open_file(client, root / "shop" / "pricing.py")
        await chat(
            client, chatId="c", message="who calls apply_discount?", uri=uri, range=rng(5, 0, 7, 0)
        )
    prompt = last_prompt(model)[-1]["content"]
    assert "[1] selected code shop/pricing.py:6-8" in prompt
    assert "[2] current file shop/pricing.py" in prompt
    assert "search result shop/cart.py" in prompt
    assert prompt.rstrip().endswith("Question: who calls apply_discount?")


async def test_citations_point_at_what_the_answer_cites(
    tmp_path: Path, model: OllamaStandin
) -> None:
    """[n] in the answer become {uri, range} citations of those sources."""
    root = copy_repo(tmp_path)
    async with start_session(
        root=root, settings=scripted(model, "Cart.total calls it [3].")
    ) as client:
        uri = open_file(client, root / "shop" / "pricing.py")
        result = await chat(
            client, chatId="c", message="who calls apply_discount?", uri=uri, range=rng(5, 0, 7, 0)
        )
    prompt = last_prompt(model)[-1]["content"]
    assert "[3] search result shop/cart.py" in prompt
    (citation,) = result["citations"]
    assert citation["uri"].endswith("/shop/cart.py")
    start, end = citation["range"]["start"]["line"], citation["range"]["end"]["line"]
    cart = (root / "shop" / "cart.py").read_text().splitlines()
    assert any("apply_discount" in line for line in cart[start : end + 1])


async def test_history_is_sent_to_the_model(tmp_path: Path, model: OllamaStandin) -> None:
    """Earlier turns are part of the conversation the model sees."""
    root = copy_repo(tmp_path)
    history = [
        {"role": "user", "content": "What is TAX_RATE?"},
        {"role": "assistant", "content": "It is 0.2."},
    ]
    async with start_session(
        root=root, settings=scripted(model, "Change it in pricing.py.")
    ) as client:
        await chat(client, chatId="c", message="How do I change it?", history=history)
    roles = [(m["role"], m["content"]) for m in last_prompt(model)]
    assert roles[1:3] == [("user", "What is TAX_RATE?"), ("assistant", "It is 0.2.")]
    assert roles[0][0] == "system"


async def test_model_can_read_files_with_tools(tmp_path: Path, model: OllamaStandin) -> None:
    """A tool-calling model reads more of the workspace; what it read is cited."""
    root = copy_repo(tmp_path)
    turns = [
        json.dumps(
            {"tool_calls": [{"name": "read_file", "arguments": {"path": "shop/inventory.py"}}]}
        ),
        "reserve() never checks the stock.",
    ]
    async with start_session(root=root, settings=scripted(model, *turns)) as client:
        result = await chat(client, chatId="c", message="Can stock go negative?")
    tools = model.calls("/api/chat")[0].body["tools"]
    assert {t["function"]["name"] for t in tools} == {
        "read_file",
        "list_files",
        "search",
        "find_symbol",
    }
    assert result["reply"] == "reserve() never checks the stock."
    assert any(c["uri"].endswith("/shop/inventory.py") for c in result["citations"])


async def test_cancel_stops_the_model_stream(tmp_path: Path, model: OllamaStandin) -> None:
    """$/cancelRequest answers the request as cancelled and closes the HTTP stream to the model."""
    root = copy_repo(tmp_path)
    settings = scripted(model, "a long answer " * 50)
    model.configure(delay_ms=50)
    async with start_session(root=root, settings=settings) as client:
        msg_id = f"chat-{uuid.uuid4()}"
        pending = asyncio.ensure_future(
            client.protocol.send_request_async(
                types.WORKSPACE_EXECUTE_COMMAND,
                types.ExecuteCommandParams(
                    command="mimi.chat", arguments=[{"chatId": "c", "message": "hi"}]
                ),
                msg_id=msg_id,
            )
        )
        async with asyncio.timeout(20):
            while not deltas(client, "c"):
                await client.wait_for_notification("mimi/chatDelta")
        client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id=msg_id))
        with pytest.raises(Exception, match="(?i)cancel"):
            await pending
        gone = await asyncio.to_thread(model.wait_disconnect, "/api/chat")
        assert gone.disconnected and not gone.finished


async def test_unreachable_model_is_one_clear_error(tmp_path: Path, model: OllamaStandin) -> None:
    """A model server that is down gives an error with the fix, and mimi/status says so."""
    root = copy_repo(tmp_path)
    settings = scripted(model, "x")
    model.stop()
    async with start_session(root=root, settings=settings) as client:
        with pytest.raises(Exception) as info:
            await chat(client, chatId="c", message="hi")
        statuses = [p for m, p in client.notifications if m == "mimi/status"]
    assert "ollama" in str(info.value).lower()
    assert any(
        (p.get("chat") if isinstance(p, dict) else getattr(p, "chat", None)) == "unavailable"
        for p in statuses
    )


async def test_explain_without_chat_panel_shows_the_answer(
    tmp_path: Path, model: OllamaStandin
) -> None:
    """mimi.explain without a chatId streams and also shows the answer as a message."""
    root = copy_repo(tmp_path)
    async with start_session(root=root, settings=scripted(model, "It reserves stock.")) as client:
        uri = open_file(client, root / "shop" / "inventory.py")
        result = await client.workspace_execute_command_async(
            types.ExecuteCommandParams(
                command="mimi.explain", arguments=[{"uri": uri, "range": rng(14, 0, 16, 0)}]
            )
        )
        shown = [m.message for m in client.messages]
        streamed = deltas(client, result["chatId"])
    assert result["reply"] == streamed == "It reserves stock."
    assert "Mimi: It reserves stock." in shown
    assert "Explain what the selected code does" in last_prompt(model)[-1]["content"]


async def test_bad_arguments_are_invalid_params(tmp_path: Path, model: OllamaStandin) -> None:
    """A chat without chatId/message is refused with InvalidParams, not silence."""
    async with start_session(settings=scripted(model, "x")) as client:
        with pytest.raises(Exception, match="chatId|chat_id"):
            await chat(client, message="hi")
