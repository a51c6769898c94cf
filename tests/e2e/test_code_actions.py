"""Code actions end to end: a cheap list, the agent in codeAction/resolve or in a command."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Union

import pytest
from lsprotocol import types

from tests.e2e.test_agent_edit import apply_workspace_edit, call, copy_repo, open_file, scripted
from tests.lsp_harness import start_session
from tests.standins.ollama import OllamaStandin


@pytest.fixture
def model() -> Iterator[OllamaStandin]:
    """The Ollama stand-in as the agent's model."""
    with OllamaStandin() as server:
        yield server


def decode_actions(client: Any) -> None:
    """lsprotocol decodes every item as a Command on the client side: tell them apart."""
    converter = client.protocol._converter

    def structure(obj: Any, _: Any) -> Any:
        if isinstance(obj.get("command"), str):
            return converter.structure(obj, types.Command)
        return converter.structure(obj, types.CodeAction)

    converter.register_structure_hook(Union[types.Command, types.CodeAction], structure)  # noqa: UP007


def diagnostic(line: int, message: str) -> types.Diagnostic:
    return types.Diagnostic(
        range=types.Range(
            start=types.Position(line=line, character=4),
            end=types.Position(line=line, character=20),
        ),
        message=message,
        source="pyright",
        severity=types.DiagnosticSeverity.Error,
    )


async def actions(
    client: Any,
    uri: str,
    sl: int,
    sc: int,
    el: int,
    ec: int,
    *,
    diags: list[types.Diagnostic] = (),
    only: list[str] | None = None,
) -> list[types.CodeAction]:
    decode_actions(client)
    result = await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=types.Range(
                start=types.Position(line=sl, character=sc),
                end=types.Position(line=el, character=ec),
            ),
            context=types.CodeActionContext(diagnostics=list(diags), only=only),
        )
    )
    return list(result or [])


def by_title(found: list[types.CodeAction], prefix: str) -> types.CodeAction:
    return next(a for a in found if a.title.startswith(prefix))


FIX = [
    call(
        "edit",
        path="shop/inventory.py",
        edits=[
            {
                "search": "        self.stock[sku] = self.available(sku) - quantity\n",
                "replace": "        if quantity > self.available(sku):\n            raise OutOfStock(sku)\n"
                "        self.stock[sku] = self.available(sku) - quantity\n",
            }
        ],
    ),
    "reserve() now refuses to go below zero.",
]


async def test_listing_is_cheap_and_complete(tmp_path: Path, model: OllamaStandin) -> None:
    """Inside a function with a diagnostic: fix, edit, docstrings, tests, explain, all where
    editors show them (VS Code's Ctrl+. leaves source.* out); no model call."""
    root = copy_repo(tmp_path)
    async with start_session(root=root, settings=scripted(model, "x")) as client:
        uri = open_file(client, root / "shop" / "inventory.py")
        found = await actions(
            client, uri, 16, 8, 16, 8, diags=[diagnostic(16, "stock can go negative")]
        )
    kinds = {a.title: a.kind for a in found}
    assert kinds == {
        "Mimi: fix “stock can go negative”": types.CodeActionKind.QuickFix,
        "Mimi: edit `reserve`…": types.CodeActionKind.RefactorRewrite,
        "Mimi: add docstrings": "refactor.rewrite.mimi.addDocstrings",
        "Mimi: write tests for `reserve`": "refactor.rewrite.mimi.writeTests",
        "Mimi: explain": types.CodeActionKind.Empty,
    }
    outside_source = [t for t, k in kinds.items() if k != "quickfix" and not k.startswith("source")]
    assert len(outside_source) >= 3
    assert model.calls("/api/chat") == []
    fix = by_title(found, "Mimi: fix")
    assert fix.edit is None and fix.data["mimi"]["instruction"].startswith(
        "Fix this diagnostic at line 17 (pyright)"
    )
    assert fix.diagnostics and fix.diagnostics[0].message == "stock can go negative"


async def test_automatic_requests_get_only_fixes(tmp_path: Path, model: OllamaStandin) -> None:
    """The lightbulb's automatic request gets the quick fixes only, not the whole menu."""
    root = copy_repo(tmp_path)
    async with start_session(root=root, settings=scripted(model, "x")) as client:
        uri = open_file(client, root / "shop" / "inventory.py")
        decode_actions(client)
        found = await client.text_document_code_action_async(
            types.CodeActionParams(
                text_document=types.TextDocumentIdentifier(uri=uri),
                range=types.Range(
                    start=types.Position(line=16, character=8),
                    end=types.Position(line=16, character=8),
                ),
                context=types.CodeActionContext(
                    diagnostics=[diagnostic(16, "x")],
                    trigger_kind=types.CodeActionTriggerKind.Automatic,
                ),
            )
        )
    assert [a.kind for a in found] == [types.CodeActionKind.QuickFix]


async def test_selection_offers_edit_selection(tmp_path: Path, model: OllamaStandin) -> None:
    """A selection adds 'edit selection…', whose command leaves the instruction to the client."""
    root = copy_repo(tmp_path)
    async with start_session(root=root, settings=scripted(model, "x")) as client:
        uri = open_file(client, root / "shop" / "cart.py")
        found = await actions(client, uri, 9, 0, 12, 0)
    edit = by_title(found, "Mimi: edit selection")
    assert edit.kind == types.CodeActionKind.RefactorRewrite
    assert edit.command.command == "mimi.agent.edit"
    assert "instruction" not in edit.command.arguments[0]


async def test_only_filters_by_kind(tmp_path: Path, model: OllamaStandin) -> None:
    """context.only = ['source'] ("Source Action…") returns docstrings and tests as source
    actions, and nothing else."""
    root = copy_repo(tmp_path)
    async with start_session(root=root, settings=scripted(model, "x")) as client:
        uri = open_file(client, root / "shop" / "inventory.py")
        found = await actions(
            client, uri, 16, 8, 16, 8, diags=[diagnostic(16, "x")], only=["source"]
        )
    assert sorted(a.kind for a in found) == ["source.mimi.addDocstrings", "source.mimi.writeTests"]


async def test_resolve_runs_the_agent_and_returns_the_edit(
    tmp_path: Path, model: OllamaStandin
) -> None:
    """codeAction/resolve fills in a versioned, annotated edit that fixes the diagnostic."""
    root = copy_repo(tmp_path)
    async with start_session(root=root, settings=scripted(model, *FIX)) as client:
        uri = open_file(client, root / "shop" / "inventory.py", version=3)
        found = await actions(
            client, uri, 16, 8, 16, 8, diags=[diagnostic(16, "stock can go negative")]
        )
        resolved = await client.code_action_resolve_async(by_title(found, "Mimi: fix"))
        assert client.applied_edits == []  # the editor applies a resolved action itself
    (change,) = resolved.edit.document_changes
    assert change.text_document.version == 3
    assert all(a.needs_confirmation for a in resolved.edit.change_annotations.values())
    after = apply_workspace_edit(resolved.edit, root.resolve())["shop/inventory.py"]
    assert "raise OutOfStock(sku)" in after
    first_prompt = model.calls("/api/chat")[0].body["messages"][1]["content"]
    assert "stock can go negative" in first_prompt and "shop/inventory.py" in first_prompt


async def test_write_tests_creates_the_test_file(tmp_path: Path, model: OllamaStandin) -> None:
    """'write tests' asks for tests/test_<module>.py and the resolved edit creates it."""
    root = copy_repo(tmp_path)
    content = "import pytest\n\nfrom shop.inventory import Inventory, OutOfStock\n"
    turns = [call("create_file", path="tests/test_inventory.py", content=content), "Added tests."]
    async with start_session(root=root, settings=scripted(model, *turns)) as client:
        uri = open_file(client, root / "shop" / "inventory.py")
        found = await actions(client, uri, 16, 8, 16, 8)
        action = by_title(found, "Mimi: write tests for `reserve`")
        assert "create tests/test_inventory.py" in action.data["mimi"]["instruction"]
        resolved = await client.code_action_resolve_async(action)
    create = resolved.edit.document_changes[0]
    assert isinstance(create, types.CreateFile) and create.uri.endswith("tests/test_inventory.py")


async def test_without_resolve_support_the_command_does_the_work(
    tmp_path: Path, model: OllamaStandin
) -> None:
    """Emacs (eglot) cannot resolve: the action carries mimi.agent.edit, which confirms and applies."""
    root = copy_repo(tmp_path)
    async with start_session(editor="emacs", root=root, settings=scripted(model, *FIX)) as client:

        @client.feature(types.WINDOW_SHOW_MESSAGE_REQUEST)
        def answer(params: types.ShowMessageRequestParams) -> types.MessageActionItem:
            return types.MessageActionItem(title="Apply")

        uri = open_file(client, root / "shop" / "inventory.py")
        found = await actions(
            client, uri, 16, 8, 16, 8, diags=[diagnostic(16, "stock can go negative")]
        )
        fix = by_title(found, "Mimi: fix")
        assert fix.data is None and fix.command.command == "mimi.agent.edit"
        assert model.calls("/api/chat") == []
        result = await client.workspace_execute_command_async(
            types.ExecuteCommandParams(command=fix.command.command, arguments=fix.command.arguments)
        )
        assert result["applied"] is True
        edit = client.applied_edits[0].edit
    assert edit.change_annotations is None  # eglot shows no annotations: it was asked instead
    after = apply_workspace_edit(edit, root.resolve())["shop/inventory.py"]
    assert "raise OutOfStock(sku)" in after


async def test_explain_action_opens_chat(tmp_path: Path, model: OllamaStandin) -> None:
    """'Mimi: explain' runs mimi.explain on the function around the cursor."""
    root = copy_repo(tmp_path)
    async with start_session(root=root, settings=scripted(model, "It takes stock out.")) as client:
        uri = open_file(client, root / "shop" / "inventory.py")
        found = await actions(client, uri, 16, 8, 16, 8)
        explain = by_title(found, "Mimi: explain")
        result = await client.workspace_execute_command_async(
            types.ExecuteCommandParams(
                command=explain.command.command, arguments=explain.command.arguments
            )
        )
    assert result["reply"] == "It takes stock out."
    prompt = json.dumps(model.calls("/api/chat")[0].body["messages"])
    assert "def reserve" in prompt


async def test_a_long_diagnostic_is_cut_at_a_word(tmp_path: Path, model: OllamaStandin) -> None:
    """A long diagnostic's fix title ends at a word boundary with an ellipsis."""
    root = copy_repo(tmp_path)
    message = "Argument of type 'str | None' cannot be assigned to parameter 'sku' of type 'str'"
    async with start_session(root=root, settings=scripted(model, "x")) as client:
        uri = open_file(client, root / "shop" / "inventory.py")
        found = await actions(client, uri, 16, 8, 16, 8, diags=[diagnostic(16, message)])
    title = by_title(found, "Mimi: fix").title
    quoted = title.removeprefix("Mimi: fix “").removesuffix("”")
    assert quoted.endswith("…") and len(quoted) <= 50
    assert message.startswith(quoted.removesuffix("…").rstrip()), title
    assert message[len(quoted.removesuffix("…").rstrip())] == " ", f"cut mid-word: {title}"
