"""The workspace folder's git repository, through the real ``git`` binary.

Every call runs ``git`` as a subprocess (an argument list, never a shell) in the folder, with
``GIT_CEILING_DIRECTORIES`` at the folder's parent: git never finds a repository above the
workspace folder, and whatever it reads or writes is the folder's own. Variables that redirect
git elsewhere (``GIT_DIR``, ``GIT_WORK_TREE``, ``GIT_INDEX_FILE``…) are dropped; external diff
drivers, text conversion filters, the fsmonitor hook and pagers are off for every read, so
looking at a repository runs none of its configured programs (``commit`` runs its hooks, as the
user expects of a commit). Output is read up to a bound, so a huge diff cannot fill memory.

``Repository.ready`` refuses, with one clear ``GitProblem``, what no commit message should be
written for: no repository, a detached HEAD, a merge, rebase, cherry-pick or revert in progress.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from mimi_lsp.errors import GitProblem

GIT_TIMEOUT_S = 30.0
MAX_OUTPUT = 8 * 1024 * 1024
"""Bytes of one git command's output read at most (the rest is dropped and reported)."""

# Read-only commands get these: none of the repository's configured programs runs.
SAFE_CONFIG = (
    "-c",
    "core.fsmonitor=false",
    "-c",
    "core.quotePath=false",
    "-c",
    "color.ui=false",
    "-c",
    "diff.noprefix=false",
    "-c",
    "diff.mnemonicPrefix=false",
    "-c",
    "diff.relative=false",
    "-c",
    "core.pager=cat",
)
_REDIRECTING = (
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_COMMON_DIR",
    "GIT_NAMESPACE",
    "GIT_CEILING_DIRECTORIES",
    "GIT_DISCOVERY_ACROSS_FILESYSTEM",
    "GIT_EXTERNAL_DIFF",
    "GIT_CONFIG_PARAMETERS",
    "GIT_CONFIG_COUNT",
)
OPERATIONS = (
    (
        "MERGE_HEAD",
        "merge",
        "finish it (git commit uses the message git prepared) or git merge --abort",
    ),
    ("rebase-merge", "rebase", "git rebase --continue, or git rebase --abort"),
    ("rebase-apply", "rebase", "git rebase --continue, or git rebase --abort"),
    ("CHERRY_PICK_HEAD", "cherry-pick", "git cherry-pick --continue, or --abort"),
    ("REVERT_HEAD", "revert", "git revert --continue, or --abort"),
)


@dataclass(frozen=True, slots=True)
class GitResult:
    code: int
    stdout: bytes
    stderr: str
    truncated: bool = False

    @property
    def text(self) -> str:
        return self.stdout.decode("utf-8", errors="replace")


@dataclass(frozen=True, slots=True)
class FileStat:
    """One changed file: its path (relative, ``/``), lines added and deleted (None: binary)."""

    path: str
    added: int | None
    deleted: int | None
    old_path: str | None = None

    @property
    def binary(self) -> bool:
        return self.added is None


@dataclass(frozen=True, slots=True)
class StatusEntry:
    """A path in ``git status``: its staged (index) and unstaged (worktree) states.

    States are git's letters: ``M`` modified, ``A`` added, ``D`` deleted, ``R`` renamed, ``C``
    copied, ``T`` type changed, ``U`` unmerged, ``?`` untracked, ``.`` unchanged.
    """

    path: str
    index: str
    worktree: str
    old_path: str | None = None


@dataclass(frozen=True, slots=True)
class RepoState:
    branch: str | None
    """The current branch (None: detached HEAD)."""
    head: str | None
    """The commit HEAD points at (None: no commit yet)."""
    git_dir: str


def git_binary() -> str:
    """The ``git`` executable (``GitProblem`` with the fix when it is missing)."""
    found = shutil.which("git")
    if found is None:
        raise GitProblem("git is not installed or not on PATH.", fix="Install git.")
    return found


def check_relative(path: str) -> str:
    """``path`` as a repository-relative POSIX path; ``GitProblem`` when it could leave it."""
    if not path or "\0" in path or "\\" in path:
        raise GitProblem(f"not a path inside the repository: {path!r}")
    pure = PurePosixPath(path)
    if pure.is_absolute() or any(part in ("..", "") for part in pure.parts) or ":" in pure.parts[0]:
        raise GitProblem(f"not a path inside the repository: {path!r}")
    return pure.as_posix()


def literal(paths: Iterable[str]) -> list[str]:
    """Pathspecs that match exactly these paths (no globs, no magic)."""
    return [f":(literal){check_relative(p)}" for p in paths]


class Repository:
    """The git repository whose top level is ``folder`` (nothing above it is ever used)."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(os.path.realpath(folder))

    # ------------------------------------------------------------------ running git

    def _env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in _REDIRECTING}
        env.update(
            GIT_CEILING_DIRECTORIES=str(self.folder.parent),
            GIT_TERMINAL_PROMPT="0",
            GIT_OPTIONAL_LOCKS="0",
            GIT_PAGER="cat",
            LC_ALL="C",
            LANGUAGE="C",
        )
        env.update(extra or {})
        return env

    async def run(
        self,
        *args: str,
        stdin: bytes | None = None,
        limit: int = MAX_OUTPUT,
        safe: bool = True,
        env: dict[str, str] | None = None,
        deadline_s: float = GIT_TIMEOUT_S,
    ) -> GitResult:
        """Run ``git ARGS`` in the folder; its exit code, output (up to ``limit`` bytes), errors."""
        command = [git_binary(), *(SAFE_CONFIG if safe else ()), *args]
        try:
            proc = await asyncio.create_subprocess_exec(
                *command,
                cwd=str(self.folder),
                env=self._env(env),
                stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
        except OSError as exc:
            raise GitProblem(
                f"could not run git: {exc}", fix="Check that git is installed."
            ) from exc
        try:
            return await asyncio.wait_for(self._collect(proc, stdin, limit), deadline_s)
        except TimeoutError:
            raise GitProblem(
                f"git {args[0]} took longer than {deadline_s:g} s; stopped it."
            ) from None
        finally:
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()

    async def _collect(
        self, proc: asyncio.subprocess.Process, stdin: bytes | None, limit: int
    ) -> GitResult:
        assert proc.stdout is not None and proc.stderr is not None

        async def feed() -> None:
            if stdin is not None and proc.stdin is not None:
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    proc.stdin.write(stdin)
                    await proc.stdin.drain()
                proc.stdin.close()

        async def errors() -> bytes:
            assert proc.stderr is not None
            return await proc.stderr.read(64 * 1024)

        feeding = asyncio.ensure_future(feed())
        reading_errors = asyncio.ensure_future(errors())
        chunks: list[bytes] = []
        size, truncated = 0, False
        while chunk := await proc.stdout.read(65536):
            if size + len(chunk) > limit:
                chunks.append(chunk[: limit - size])
                truncated = True
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                break
            chunks.append(chunk)
            size += len(chunk)
        await feeding
        stderr = await reading_errors
        code = await proc.wait()
        return GitResult(
            code if not truncated else 0,
            b"".join(chunks),
            stderr.decode("utf-8", errors="replace").strip(),
            truncated,
        )

    async def git(self, *args: str, **kwargs: object) -> GitResult:
        """Like ``run``, but a failure raises ``GitProblem`` with git's own words."""
        result = await self.run(*args, **kwargs)  # type: ignore[arg-type]
        if result.code != 0:
            first = result.stderr.splitlines()[-1] if result.stderr else f"exit code {result.code}"
            raise GitProblem(f"git {args[0]} failed: {first.removeprefix('fatal: ')}")
        return result

    # ------------------------------------------------------------------ state

    async def ready(self) -> RepoState:
        """The repository's state; ``GitProblem`` when there is none or an operation is open."""
        result = await self.run("rev-parse", "--show-toplevel", "--absolute-git-dir")
        if result.code != 0:
            raise self._no_repository(result.stderr)
        top, git_dir = (result.text.splitlines() + ["", ""])[:2]
        await asyncio.to_thread(self._check_layout, top, git_dir)
        branch = await self.run("symbolic-ref", "-q", "--short", "HEAD")
        if branch.code != 0:
            raise GitProblem(
                f"HEAD is detached in {self.folder.name} (not on a branch): "
                "no commit message was written.",
                fix="Switch to a branch first (git switch -c NAME keeps these changes).",
            )
        head = await self.run("rev-parse", "-q", "--verify", "HEAD")
        return RepoState(
            branch=branch.text.strip(),
            head=head.text.strip() if head.code == 0 else None,
            git_dir=git_dir,
        )

    def _check_layout(self, top: str, git_dir: str) -> None:
        """The folder is the repository's top, and no merge, rebase… is open."""
        if os.path.realpath(top) != str(self.folder):
            raise GitProblem(
                f"{self.folder} is not the top folder of its git repository ({top}).",
                fix=f"Open {top} as the workspace folder.",
            )
        for marker, operation, fix in OPERATIONS:
            if os.path.exists(os.path.join(git_dir, marker)):
                raise GitProblem(
                    f"A {operation} is in progress in {self.folder.name}: "
                    "no commit message was written.",
                    fix=f"Finish it first: {fix}.",
                )

    def _no_repository(self, stderr: str) -> GitProblem:
        if "dubious ownership" in stderr:
            return GitProblem(
                f"git refuses {self.folder}: it belongs to another user.",
                fix=f"If you trust it: git config --global --add safe.directory {self.folder}",
            )
        for parent in self.folder.parents:
            if (parent / ".git").exists():
                return GitProblem(
                    f"{self.folder} is inside the git repository at {parent}, "
                    "outside the workspace folder.",
                    fix=f"Open {parent} as the workspace folder.",
                )
        return GitProblem(
            f"{self.folder} is not a git repository.", fix="Run git init there first."
        )

    # ------------------------------------------------------------------ reading

    async def numstat(self, staged: bool) -> list[FileStat]:
        """Changed files with their line counts: the index against HEAD, or the worktree
        against the index."""
        args = ["diff", "--numstat", "-z", "-M", "--no-ext-diff", "--no-textconv"]
        result = await self.git(*args, *(["--cached"] if staged else []))
        return parse_numstat(result.stdout)

    async def diff(self, staged: bool, paths: Sequence[str], limit: int = MAX_OUTPUT) -> GitResult:
        """The unified diff (3 lines of context) of ``paths``."""
        args = ["diff", "--no-color", "--no-ext-diff", "--no-textconv", "-M", "-U3"]
        if staged:
            args.append("--cached")
        return await self.git(*args, "--", *literal(paths), limit=limit)

    async def status(self) -> list[StatusEntry]:
        """Every changed, staged and untracked path (``git status``)."""
        result = await self.git("status", "--porcelain=v2", "-z", "--untracked-files=all")
        return parse_status(result.stdout)

    async def subjects(self, count: int = 20) -> list[tuple[str, str]]:
        """(subject, body) of the last ``count`` commits that are not merges (none: [])."""
        result = await self.run("log", f"-n{count}", "--no-merges", "--format=%s%x1f%b%x1e")
        if result.code != 0:
            return []  # no commit yet
        out = []
        for record in result.text.split("\x1e"):
            subject, _, body = record.strip("\n").partition("\x1f")
            if subject.strip():
                out.append((subject.strip(), body.strip()))
        return out

    async def attributes(self, paths: Sequence[str], names: Sequence[str]) -> dict[str, set[str]]:
        """Which of the gitattributes ``names`` are set (true) on each path."""
        if not paths:
            return {}
        stdin = b"\0".join(p.encode() for p in paths) + b"\0"
        result = await self.run("check-attr", "-z", "--stdin", *names, stdin=stdin)
        out: dict[str, set[str]] = {}
        if result.code != 0:
            return out
        fields = result.stdout.decode("utf-8", errors="replace").split("\0")
        for i in range(0, len(fields) - 2, 3):
            path, name, value = fields[i : i + 3]
            if value in ("set", "true") or (name == "diff" and value == "unset"):
                out.setdefault(path, set()).add(name if value != "unset" else "-" + name)
        return out

    async def show(self, revision_path: str, limit: int = MAX_OUTPUT) -> GitResult:
        """``git show REV:PATH`` (the file's text at a commit, or ``:PATH`` in the index)."""
        return await self.run("show", "--no-textconv", revision_path, limit=limit)

    # ------------------------------------------------------------------ writing

    async def stage(self, paths: Sequence[str]) -> None:
        """``git add`` exactly these paths (deletions too)."""
        await self.git("add", "--all", "--", *literal(paths))

    async def unstage(self, paths: Sequence[str], has_head: bool) -> None:
        """Take these paths out of the index again (their worktree state stays)."""
        if has_head:
            await self.git("reset", "-q", "--", *literal(paths))
        else:
            await self.git("rm", "--cached", "-q", "-r", "--", *literal(paths))

    async def commit(self, message: str, *, all_tracked: bool) -> str:
        """Commit the index (``all_tracked``: every tracked change, like ``git commit -a``)
        with ``message``; the new commit's id. Hooks run, as for any commit."""
        await self.ready()
        args = ["commit", "-q", "--cleanup=strip", "-F", "-"]
        if all_tracked:
            args.insert(1, "-a")
        result = await self.run(*args, stdin=message.encode("utf-8"), safe=False, deadline_s=300)
        if result.code != 0:
            detail = result.stderr or "git commit failed"
            raise GitProblem(f"git commit failed: {detail[-800:]}")
        head = await self.git("rev-parse", "HEAD")
        return head.text.strip()


def parse_numstat(raw: bytes) -> list[FileStat]:
    """``git diff --numstat -z`` output as ``FileStat``s."""
    fields = raw.decode("utf-8", errors="replace").split("\0")
    out: list[FileStat] = []
    i = 0
    while i < len(fields) and fields[i]:
        added, deleted, path = fields[i].split("\t", 2)
        old = None
        if path == "":  # a rename or copy: the old and new paths follow
            old, path = fields[i + 1], fields[i + 2]
            i += 3
        else:
            i += 1
        if added == "-":
            out.append(FileStat(path, None, None, old))
        else:
            out.append(FileStat(path, int(added), int(deleted), old))
    return out


def parse_status(raw: bytes) -> list[StatusEntry]:
    """``git status --porcelain=v2 -z`` output as ``StatusEntry``s (ignored files left out)."""
    fields = raw.decode("utf-8", errors="replace").split("\0")
    out: list[StatusEntry] = []
    i = 0
    while i < len(fields):
        record = fields[i]
        i += 1
        if not record:
            continue
        kind = record[0]
        if kind == "?":
            out.append(StatusEntry(record[2:], "?", "?"))
        elif kind == "1":
            parts = record.split(" ", 8)
            out.append(StatusEntry(parts[8], parts[1][0], parts[1][1]))
        elif kind == "2":
            parts = record.split(" ", 9)
            out.append(StatusEntry(parts[9], parts[1][0], parts[1][1], fields[i]))
            i += 1
        elif kind == "u":
            parts = record.split(" ", 10)
            out.append(StatusEntry(parts[10], "U", "U"))
    return out
