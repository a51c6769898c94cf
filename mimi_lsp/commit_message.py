"""``mimi-lsp commit-message [FOLDER] [--commit]``: the commit message on the command line.

Prints the message written from the staged diff (or the worktree's tracked changes when nothing
is staged), so ``git commit -m "$(mimi-lsp commit-message)"`` works. ``--commit`` shows it and
commits (asking first on a terminal unless ``--yes``; nothing staged: every tracked change, as
the message described). Problems (no repository, nothing to commit, detached HEAD, a merge in
progress, the model unreachable) go to stderr with exit code 1; nothing is written.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("folder", nargs="?", default=".", help="the repository (default: .)")
    parser.add_argument(
        "--commit", action="store_true", help="commit with the message after showing it"
    )
    parser.add_argument(
        "-y", "--yes", action="store_true", help="with --commit: do not ask before committing"
    )
    parser.add_argument(
        "--settings",
        default=None,
        metavar="JSON|@FILE",
        help="mimi settings (camelCase JSON, or @file.json), merged over $MIMI_SETTINGS",
    )
    parser.set_defaults(func=run_command)


def run_command(args: argparse.Namespace) -> int:
    from mimi_lsp.log import setup_logging

    setup_logging("warning", args.log_file, args.log_format)
    from mimi_lsp import tracing

    tracing.setup("mimi-lsp commit-message")
    try:
        folder = str(Path(args.folder).expanduser().resolve())
        return asyncio.run(_run(args, folder))
    except KeyboardInterrupt:
        sys.stderr.write("\nmimi-lsp commit-message: interrupted; nothing was committed\n")
        return 130


async def _run(args: argparse.Namespace, folder: str) -> int:
    from mimi_lsp.errors import MimiError
    from mimi_lsp.git.repo import Repository
    from mimi_lsp.services import Services
    from mimi_lsp.settings import resolve_settings
    from mimi_lsp.web.command import _load_settings

    def fail(message: str) -> int:
        sys.stderr.write(f"mimi-lsp commit-message: {message}\n")
        return 1

    try:
        layer = _load_settings(args.settings)
    except (OSError, ValueError) as exc:
        return fail(f"--settings: {exc}")
    settings, problems = resolve_settings(layer)
    for problem in problems:
        sys.stderr.write(f"mimi-lsp commit-message: settings: {problem} (ignored)\n")
    services = Services(settings)
    writer = services.commit_messages
    progress = _Progress() if sys.stderr.isatty() else None
    try:
        result = await writer.write(folder, on_delta=progress.add if progress else None)
    except MimiError as exc:
        return fail(exc.user_message())
    finally:
        if progress:
            progress.clear()
        await services.aclose()
    sys.stdout.write(result.message + "\n")
    sys.stdout.flush()
    if not args.commit:
        return 0
    if not args.yes and sys.stdin.isatty():
        what = "the staged changes" if result.staged else "every tracked change (nothing is staged)"
        sys.stderr.write(f"\nCommit {what} with this message? [y/N] ")
        sys.stderr.flush()
        if sys.stdin.readline().strip().lower() not in ("y", "yes"):
            sys.stderr.write("Nothing was committed.\n")
            return 1
    try:
        sha = await Repository(folder).commit(result.message, all_tracked=not result.staged)
    except MimiError as exc:
        return fail(exc.user_message())
    sys.stderr.write(f"Committed {sha[:12]}.\n")
    return 0


class _Progress:
    """A one-line 'writing…' counter on a terminal's stderr while the model writes."""

    def __init__(self) -> None:
        self.chars = 0
        sys.stderr.write("writing the commit message…")
        sys.stderr.flush()

    def add(self, piece: str) -> None:
        self.chars += len(piece)
        sys.stderr.write(f"\rwriting the commit message… {self.chars} characters")
        sys.stderr.flush()

    def clear(self) -> None:
        sys.stderr.write("\r\x1b[K")
        sys.stderr.flush()
