"""mimi.git.commitMessage and `mimi-lsp commit-message` end to end: the real server process,
real git, and the real ollama client against the Ollama stand-in as the chat model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types

from tests.e2e.test_agent_edit import scripted
from tests.e2e.test_chat import deltas
from tests.lsp_harness import ROOT, start_session
from tests.standins.ollama import OllamaStandin
from tests.unit.test_git_message import git, make_repo

SUBJECTS = ["feat(cart): add totals", "fix: round prices down", "docs: explain discounts"]


@pytest.fixture
def model() -> Iterator[OllamaStandin]:
    with OllamaStandin() as server:
        yield server


def repo_with_change(tmp_path: Path) -> Path:
    root = make_repo(tmp_path / "shop", SUBJECTS)
    (root / "cart.py").write_text("def total(items):\n    return sum(items)\n", encoding="utf-8")
    git(root, "add", "cart.py")
    return root


async def commit_message(client: Any, **args: Any) -> dict[str, Any]:
    return await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="mimi.git.commitMessage", arguments=[args])
    )


async def test_message_streams_from_the_staged_diff_in_the_repo_style(
    tmp_path: Path, model: OllamaStandin
) -> None:
    """The message streams as mimi/chatDelta; the prompt has the staged diff and the style."""
    root = repo_with_change(tmp_path)
    reply = "feat(cart): add total()\n\nSums the items of a cart."
    async with start_session(root=root, settings=scripted(model, reply)) as client:
        result = await commit_message(client, chatId="cm1")
        assert deltas(client, "cm1") == reply
    assert result["message"] == reply and result["staged"] is True and result["files"] == 1
    prompt = model.calls("/api/chat")[-1].body["messages"][-1]["content"]
    assert "+def total(items):" in prompt
    assert "Conventional Commits" in prompt and "feat(cart): add totals" in prompt
    # Nothing was committed: the change is still staged on top of the same history.
    assert git(root, "log", "-1", "--format=%s").strip() == SUBJECTS[-1]
    assert git(root, "diff", "--cached", "--name-only").split() == ["cart.py"]


async def test_no_repository_is_an_error_the_editor_shows(
    tmp_path: Path, model: OllamaStandin
) -> None:
    """A folder without git: the command fails with a message that says so; no model call."""
    root = tmp_path / "plain"
    root.mkdir()
    async with start_session(root=root, settings=scripted(model, "x")) as client:
        with pytest.raises(Exception, match="is not a git repository"):
            await commit_message(client)
    assert model.calls("/api/chat") == []


async def test_folder_outside_the_workspace_is_refused(
    tmp_path: Path, model: OllamaStandin
) -> None:
    """Another folder than the workspace's (or one inside it) is refused."""
    root = repo_with_change(tmp_path)
    other = make_repo(tmp_path / "other", ["One"])
    async with start_session(root=root, settings=scripted(model, "x")) as client:
        with pytest.raises(Exception, match="not inside a workspace folder"):
            await commit_message(client, folder=other.as_uri())


def cli(*args: str, cwd: Path, settings: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mimi_lsp", "commit-message", *args],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(ROOT), "MIMI_SETTINGS": json.dumps(settings)},
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
    )


def test_cli_prints_then_commits(tmp_path: Path, model: OllamaStandin) -> None:
    """`commit-message` prints the message; `--commit` commits with it."""
    root = repo_with_change(tmp_path)
    reply = "feat(cart): add total()"
    settings = scripted(model, reply, reply)
    printed = cli(cwd=root, settings=settings)
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout == reply + "\n"
    assert git(root, "log", "-1", "--format=%s").strip() == SUBJECTS[-1]
    committed = cli(str(root), "--commit", cwd=tmp_path, settings=settings)
    assert committed.returncode == 0, committed.stderr
    assert git(root, "log", "-1", "--format=%s").strip() == reply


def test_cli_detached_head_writes_nothing(tmp_path: Path, model: OllamaStandin) -> None:
    """On a detached HEAD the CLI says so, exits 1, and neither asks the model nor commits."""
    root = repo_with_change(tmp_path)
    git(root, "checkout", "-q", "--detach")
    done = cli("--commit", cwd=root, settings=scripted(model, "x"))
    assert done.returncode == 1 and "detached" in done.stderr
    assert done.stdout == "" and model.calls("/api/chat") == []
