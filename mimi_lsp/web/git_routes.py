"""The web page's Changes view: git status, a file's diff, stage, unstage and commit.

Routes (JSON, behind the same token/Host/Origin middleware as every route; paths relative to
the folder, with ``/``). Git runs through ``mimi_lsp.git.repo`` (the real binary, no shell,
confined to the folder); the commit message itself is written by the tab's language server
(``mimi.git.commitMessage``), like any other client's.

- ``GET /api/git/status`` → ``{repository, branch, problem?, changes: [{path, oldPath?, index,
  worktree}]}`` (``repository: false`` with ``error`` and ``fix`` when the folder is not one);
- ``GET /api/git/diff?path=&staged=0|1`` → ``{path, original, modified}`` (the texts for a diff
  editor: HEAD against the index when ``staged``, else the index against the file on disk);
- ``POST /api/git/stage`` / ``/api/git/unstage`` ``{paths}``;
- ``POST /api/git/commit`` ``{message}`` → ``{commit, subject, all}``: commits the index, or
  every tracked change when nothing is staged (what the generated message described).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from aiohttp import web

from mimi_lsp.errors import GitProblem, MimiError
from mimi_lsp.git.repo import Repository, check_relative

MAX_DIFF_TEXT = 2 * 1024 * 1024
"""Larger file versions are not shown in the diff view."""

REPO: web.AppKey[Repository] = web.AppKey("git_repository", Repository)


def _problem(exc: MimiError, status: int = 409) -> web.Response:
    return web.json_response({"error": exc.message, "fix": exc.fix}, status=status)


async def status(request: web.Request) -> web.Response:
    repo = request.app[REPO]
    problem: GitProblem | None = None
    branch = None
    try:
        state = await repo.ready()
        branch = state.branch
    except GitProblem as exc:
        problem = exc
    try:
        entries = await repo.status()
    except GitProblem:
        assert problem is not None
        return web.json_response(
            {"repository": False, "error": problem.message, "fix": problem.fix}
        )
    return web.json_response(
        {
            "repository": True,
            "branch": branch,
            "problem": problem.user_message() if problem else None,
            "changes": [
                {"path": e.path, "oldPath": e.old_path, "index": e.index, "worktree": e.worktree}
                for e in entries
            ],
        }
    )


async def _version(repo: Repository, spec: str) -> str | None:
    """A file's text at ``HEAD:path`` or ``:path`` (None when it is not there)."""
    result = await repo.show(spec, limit=MAX_DIFF_TEXT + 1)
    if result.code != 0:
        return None
    return _text(result.stdout)


def _text(data: bytes) -> str:
    if len(data) > MAX_DIFF_TEXT:
        raise GitProblem("This file is too large to show as a diff.")
    if b"\0" in data[:8192]:
        raise GitProblem("This is a binary file: no text diff to show.")
    return data.decode("utf-8", errors="replace")


def _worktree(root: Path, rel: str) -> str | None:
    path = root / rel
    real = Path(path).resolve()
    if not real.is_relative_to(root.resolve()):
        raise GitProblem(f"{rel} points outside the folder")
    if not real.is_file():
        return None
    with real.open("rb") as handle:
        return _text(handle.read(MAX_DIFF_TEXT + 1))


async def diff(request: web.Request) -> web.Response:
    repo = request.app[REPO]
    staged = request.query.get("staged") in ("1", "true")
    try:
        rel = check_relative(request.query.get("path", ""))
        if staged:
            original = await _version(repo, f"HEAD:{rel}")
            modified = await _version(repo, f":{rel}")
        else:
            original = await _version(repo, f":{rel}")
            modified = await asyncio.to_thread(_worktree, repo.folder, rel)
    except GitProblem as exc:
        return _problem(exc, 400)
    return web.json_response({"path": rel, "original": original or "", "modified": modified or ""})


async def _paths(request: web.Request) -> list[str]:
    try:
        body: Any = await request.json()
    except ValueError:
        body = None
    paths = body.get("paths") if isinstance(body, dict) else None
    if not isinstance(paths, list) or not paths or not all(isinstance(p, str) for p in paths):
        raise GitProblem("expected a JSON body {paths: [path, …]}")
    return [check_relative(p) for p in paths[:1000]]


async def stage(request: web.Request) -> web.Response:
    repo = request.app[REPO]
    try:
        await repo.stage(await _paths(request))
    except GitProblem as exc:
        return _problem(exc, 400)
    return web.json_response({"ok": True})


async def unstage(request: web.Request) -> web.Response:
    repo = request.app[REPO]
    try:
        paths = await _paths(request)
        head = await repo.run("rev-parse", "-q", "--verify", "HEAD")
        await repo.unstage(paths, has_head=head.code == 0)
    except GitProblem as exc:
        return _problem(exc, 400)
    return web.json_response({"ok": True})


async def commit(request: web.Request) -> web.Response:
    repo = request.app[REPO]
    try:
        body: Any = await request.json()
    except ValueError:
        body = None
    message = body.get("message") if isinstance(body, dict) else None
    if not isinstance(message, str) or not message.strip():
        return web.json_response({"error": "The commit message is empty."}, status=400)
    try:
        staged = await repo.numstat(staged=True)
        sha = await repo.commit(message, all_tracked=not staged)
    except GitProblem as exc:
        return _problem(exc)
    return web.json_response(
        {"commit": sha, "subject": message.strip().splitlines()[0], "all": not staged}
    )


def register(app: web.Application, root: Path) -> None:
    """Add the ``/api/git/*`` routes for the repository at ``root``."""
    app[REPO] = Repository(root)
    app.router.add_get("/api/git/status", status)
    app.router.add_get("/api/git/diff", diff)
    app.router.add_post("/api/git/stage", stage)
    app.router.add_post("/api/git/unstage", unstage)
    app.router.add_post("/api/git/commit", commit)
