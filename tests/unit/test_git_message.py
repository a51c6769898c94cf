"""Commit messages from the diff: the repository through real git, the budget, the style."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from mimi_lsp.errors import GitProblem
from mimi_lsp.git import diff as diffs
from mimi_lsp.git.message import CommitMessages, clean
from mimi_lsp.git.repo import FileStat, Repository, check_relative
from mimi_lsp.git.style import analyse, instructions
from mimi_lsp.inference.fake import FakeBackend
from mimi_lsp.settings import FakeBackendSettings, resolve_settings


def git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=root, check=True, capture_output=True, text=True
    ).stdout


def conflict(root: Path, branch: str) -> None:
    """Merge ``branch`` into the current one, leaving the conflict open."""
    subprocess.run(["git", "merge", "-q", branch], cwd=root, capture_output=True)


def make_repo(root: Path, subjects: list[str] | None = None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.email", "dev@example.com")
    git(root, "config", "user.name", "Dev")
    for n, subject in enumerate(subjects or []):
        (root / "log.txt").write_text(f"{n}\n", encoding="utf-8")
        git(root, "add", "log.txt")
        git(root, "commit", "-q", "-m", subject)
    return root


def writer(
    reply: str = "Add the thing", max_diff_tokens: int | None = None
) -> tuple[CommitMessages, FakeBackend]:
    layer = {"git": {"maxDiffTokens": max_diff_tokens}} if max_diff_tokens else {}
    settings = resolve_settings(layer, env={})[0]
    backend = FakeBackend(FakeBackendSettings(chat_replies=[reply], chunk_chars=4))
    return CommitMessages(lambda: settings, lambda: backend), backend


# ---------------------------------------------------------------- repository states


async def test_no_repository_is_a_clear_problem(tmp_path: Path) -> None:
    """A folder without git says so and how to fix it."""
    (tmp_path / "plain").mkdir()
    with pytest.raises(GitProblem, match="is not a git repository") as caught:
        await Repository(tmp_path / "plain").ready()
    assert "git init" in caught.value.fix


async def test_repository_above_the_folder_is_not_used(tmp_path: Path) -> None:
    """A folder inside a repository does not reach up into it (confined to the folder)."""
    root = make_repo(tmp_path / "outer", ["Add log"])
    (root / "sub").mkdir()
    with pytest.raises(GitProblem, match="inside the git repository at"):
        await Repository(root / "sub").ready()


async def test_detached_head_is_refused(tmp_path: Path) -> None:
    """On a detached HEAD no message is written."""
    root = make_repo(tmp_path / "r", ["One", "Two"])
    git(root, "checkout", "-q", "--detach", "HEAD~1")
    with pytest.raises(GitProblem, match="detached"):
        await Repository(root).ready()


async def test_merge_in_progress_is_refused(tmp_path: Path) -> None:
    """During a conflicted merge no message is written and the merge is named."""
    root = make_repo(tmp_path / "r", ["One"])
    git(root, "checkout", "-q", "-b", "other")
    (root / "log.txt").write_text("other\n", encoding="utf-8")
    git(root, "commit", "-qam", "Other")
    git(root, "checkout", "-q", "main")
    (root / "log.txt").write_text("main\n", encoding="utf-8")
    git(root, "commit", "-qam", "Main")
    conflict(root, "other")
    with pytest.raises(GitProblem, match="merge is in progress") as caught:
        await writer()[0].write(str(root))
    assert "merge --abort" in caught.value.fix


async def test_nothing_to_commit_names_untracked_files(tmp_path: Path) -> None:
    """No changes: a clear message; untracked files are named with the fix (git add)."""
    root = make_repo(tmp_path / "r", ["One"])
    service, backend = writer()
    with pytest.raises(GitProblem, match="Nothing to commit"):
        await service.write(str(root))
    (root / "new.py").write_text("x = 1\n", encoding="utf-8")
    with pytest.raises(GitProblem) as caught:
        await service.write(str(root))
    assert "new.py" in caught.value.fix and "git add" in caught.value.fix
    assert backend.chat_calls == []


def test_paths_that_leave_the_repository_are_refused() -> None:
    """Pathspecs from a client cannot name anything outside the repository."""
    for bad in ["../x", "/etc/passwd", "a/../../b", "", "a\\b", "C:/x"]:
        with pytest.raises(GitProblem):
            check_relative(bad)
    assert check_relative("src/a:b.py") == "src/a:b.py"


# ---------------------------------------------------------------- the prompt


async def test_staged_diff_is_preferred_and_streams(tmp_path: Path) -> None:
    """With staged changes, only they are described; the answer streams through on_delta."""
    root = make_repo(tmp_path / "r", ["Add log"])
    (root / "a.py").write_text("def staged():\n    return 1\n", encoding="utf-8")
    (root / "b.py").write_text("def unstaged():\n    return 2\n", encoding="utf-8")
    git(root, "add", "a.py")
    git(root, "add", "-N", "b.py")  # tracked but not staged: in the worktree diff only
    service, backend = writer("Add staged()\n\nIt returns one.")
    pieces: list[str] = []
    result = await service.write(str(root), on_delta=pieces.append)
    assert result.staged and result.files == 1
    assert result.message == "Add staged()\n\nIt returns one."
    assert len(pieces) > 2 and "".join(pieces) == "Add staged()\n\nIt returns one."
    prompt = backend.chat_calls[0].messages[-1].content
    assert "def staged" in prompt and "unstaged" not in prompt
    assert "staged changes" in prompt


async def test_worktree_diff_when_nothing_is_staged(tmp_path: Path) -> None:
    """Nothing staged: the worktree's tracked changes are described."""
    root = make_repo(tmp_path / "r", ["Add log"])
    (root / "log.txt").write_text("changed\n", encoding="utf-8")
    service, backend = writer()
    result = await service.write(str(root))
    assert not result.staged
    assert "+changed" in backend.chat_calls[0].messages[-1].content


async def test_binary_and_generated_files_are_named_not_sent(tmp_path: Path) -> None:
    """A PNG, a lock file and a file marked @generated appear by name only."""
    root = make_repo(tmp_path / "r", ["Add log"])
    (root / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\0\0secretbytes")
    (root / "package-lock.json").write_text('{"lockfileVersion": 3, "x": "LOCKDATA"}\n')
    (root / "api_gen.py").write_text("# @generated by protoc\nGENERATED_BODY = 1\n")
    (root / "main.py").write_text("print('hello')\n")
    git(root, "add", ".")
    service, backend = writer()
    await service.write(str(root))
    prompt = backend.chat_calls[0].messages[-1].content
    assert "logo.png (binary" in prompt
    assert "package-lock.json (lock file, +1 -0)" in prompt
    assert "api_gen.py (marked generated" in prompt
    for secret in ("secretbytes", "LOCKDATA", "GENERATED_BODY"):
        assert secret not in prompt
    assert "print('hello')" in prompt


async def test_large_diff_is_summarised_per_file_within_budget(tmp_path: Path) -> None:
    """Over budget: every file is present, whole hunks only, and left-out hunks are named."""
    root = make_repo(tmp_path / "r", ["Add log"])
    for n in range(6):
        lines = []
        for f in range(12):
            lines += (
                [f"def func_{n}_{f}():"] + [f"    value_{i} = {i}" for i in range(8)] + ["", ""]
            )
        (root / f"mod{n}.py").write_text("\n".join(lines), encoding="utf-8")
    git(root, "add", ".")
    git(root, "commit", "-qm", "Add modules")
    for n in range(6):
        path = root / f"mod{n}.py"
        text = path.read_text().replace("= 3\n", "= 33\n")
        path.write_text(text, encoding="utf-8")
    service, backend = writer(max_diff_tokens=500)  # 2,000 characters
    result = await service.write(str(root))
    assert result.summarised
    prompt = backend.chat_calls[0].messages[-1].content
    diff_part = prompt.split("The diff (6 files):\n", 1)[1]
    assert len(diff_part) <= 2_000
    for n in range(6):
        assert f"mod{n}.py" in diff_part
    assert "more hunks (+" in diff_part and "not shown]" in diff_part
    assert "def func_" in diff_part  # the hunk's function is named
    # Every hunk shown is whole: its header's line counts match its lines.
    for file in diffs.parse_diff(diff_part):
        for hunk in file.hunks:
            m = diffs._HUNK.match(hunk.header)
            assert m is not None
            old = int(m.group(2) or 1)
            assert sum(1 for line in hunk.lines if line[:1] in (" ", "-")) == old


def test_a_hunk_too_big_for_its_share_is_cut_and_says_so() -> None:
    """A single huge hunk is cut at a line, and the cut tells how many lines are missing."""
    body = "\n".join(f"+line {i}" for i in range(500))
    text = f"diff --git a/big.txt b/big.txt\nnew file mode 100644\n--- /dev/null\n+++ b/big.txt\n@@ -0,0 +1,500 @@\n{body}\n"
    fitted = diffs.fit([FileStat("big.txt", 500, 0)], diffs.parse_diff(text), 1_000)
    assert len(fitted.text) <= 1_000
    assert fitted.cut_hunks == 1
    assert "[mimi: hunk cut here:" in fitted.text and "more lines not shown]" in fitted.text


# ---------------------------------------------------------------- style


def test_conventional_commits_are_detected() -> None:
    """feat/fix subjects: Conventional Commits with the types used, imperative, lowercase."""
    style = analyse(
        [("feat(api): add login", ""), ("fix: handle empty input", ""), ("docs: update readme", "")]
    )
    assert style.conventional and style.types == ("feat", "fix", "docs")
    assert style.tense == "imperative" and not style.capitalised
    text = instructions(style)
    assert "Conventional Commits" in text and "feat, fix, docs" in text
    assert "lowercase" in text


def test_past_tense_and_plain_subjects() -> None:
    """'Added …, Fixed …': no prefix, past tense, capitalised."""
    style = analyse(
        [
            ("Added caching to the loader", ""),
            ("Fixed a crash on empty files", "body"),
            ("Removed dead code", ""),
        ]
    )
    assert not style.conventional and not style.area_prefix
    assert style.tense == "past" and style.capitalised
    assert 'past tense ("Added"' in instructions(style)


def test_area_prefixes_like_this_repository() -> None:
    """'index: …', 'web terminal: …' subjects of noun phrases (this repository's own): an area
    prefix, not Conventional Commits, and no tense rule forced on them."""
    style = analyse(
        [
            ("index: faster hybrid search at 100k chunks", ""),
            ("web terminal: tokens a short read did not use are refunded", ""),
            ("commit messages: a rename keeps its old path", ""),
            ("scheduler: one batch in flight per model", ""),
        ]
    )
    assert style.area_prefix and not style.conventional
    assert style.tense is None and not style.capitalised
    assert "the way the examples below do" in instructions(style)


def test_no_history_gets_gits_advice() -> None:
    assert "imperative" in instructions(analyse([]))


# ---------------------------------------------------------------- the answer


def test_clean_strips_fences_labels_and_wraps_the_body() -> None:
    """Model chatter around the message is removed; the body is wrapped at 72."""
    raw = "```\nCommit message: Add retry to uploads\n\n\n" + "word " * 30 + "\n```"
    message = clean(raw)
    subject, _, body = message.partition("\n\n")
    assert subject == "Add retry to uploads"
    assert all(len(line) <= 72 for line in body.splitlines())
    assert clean('"Fix typo"') == "Fix typo"
    assert clean("<think>hmm</think>\nFix typo") == "Fix typo"


async def test_commit_writes_the_message(tmp_path: Path) -> None:
    """Repository.commit commits the index with the message (all_tracked: like -a)."""
    root = make_repo(tmp_path / "r", ["One"])
    (root / "log.txt").write_text("two\n", encoding="utf-8")
    sha = await Repository(root).commit("Change the log\n\nBecause.", all_tracked=True)
    assert git(root, "log", "-1", "--format=%H%n%B").startswith(
        sha + "\nChange the log\n\nBecause."
    )


async def test_a_rename_stays_a_rename_when_other_files_are_left_out(tmp_path: Path) -> None:
    """A renamed file next to a lock file (left out) is shown as a rename, not a new file."""
    root = make_repo(tmp_path / "r", ["Add log"])
    (root / "old_name.py").write_text("def f():\n    return 1\n" * 20)
    git(root, "add", ".")
    git(root, "commit", "-qm", "Add old_name")
    git(root, "mv", "old_name.py", "new_name.py")
    (root / "uv.lock").write_text("lock\n")
    git(root, "add", ".")
    service, backend = writer()
    await service.write(str(root))
    prompt = backend.chat_calls[0].messages[-1].content
    assert "rename from old_name.py" in prompt and "rename to new_name.py" in prompt
    assert "uv.lock (lock file" in prompt
