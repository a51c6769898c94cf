"""Commit messages written from the diff: ``mimi.git.commitMessage`` and ``mimi-lsp
commit-message``. LSP-free.

``CommitMessages.write(folder)`` checks the repository (``repo.py``), takes the staged diff (or
the worktree's when nothing is staged), fits it to the chat model's budget (``diff.py``), reads
the repository's style from its last subjects (``style.py``) and asks the chat backend (through
the scheduler, at chat priority) for a message, streaming its text through ``on_delta``.
Nothing is written: committing is the caller's separate, explicit step.
"""

from __future__ import annotations

import logging
import re
import textwrap
from collections.abc import Callable
from dataclasses import dataclass

from mimi_lsp import tracing
from mimi_lsp.domain import ChatMessage, ChatRequest
from mimi_lsp.errors import GitProblem
from mimi_lsp.git import diff as diffs
from mimi_lsp.git.repo import FileStat, Repository
from mimi_lsp.git.style import analyse, instructions
from mimi_lsp.inference.base import Backend
from mimi_lsp.settings import Settings

log = logging.getLogger(__name__)

CHARS_PER_TOKEN = 4
ANSWER_TOKENS = 400
MAX_PATHSPECS = 2_000
"""More files than this are read with one plain ``git diff`` (no command line overflow)."""
PROMPT_TOKENS = 700
"""The instructions, the style rules and the recent subjects, about."""

SYSTEM = (
    "You write git commit messages. Read the diff and say what the change does and, when the "
    "diff shows it, why. Follow the repository's style rules exactly. Reply with the commit "
    "message only: no quotes, no code fences, no preamble, no sign-off. Lines marked [mimi: …] "
    "are notes about parts of the diff left out for room, not part of the change."
)


@dataclass(frozen=True, slots=True)
class CommitMessage:
    message: str
    staged: bool
    """From the staged changes (else from the worktree's tracked changes)."""
    files: int
    summarised: bool
    """Part of the diff was left out for the model's budget (and named in the prompt)."""


def diff_budget(settings: Settings) -> int:
    """Characters of diff the chat model is given."""
    if settings.git.max_diff_tokens is not None:
        return settings.git.max_diff_tokens * CHARS_PER_TOKEN
    backend = settings.chat_backend()
    context = 8192
    if backend.kind == "ollama":
        context = getattr(backend, "num_ctx", None) or 4096
    return max(2_000, (context - ANSWER_TOKENS - PROMPT_TOKENS) * CHARS_PER_TOKEN)


class CommitMessages:
    """Writes commit messages with the chat backend."""

    def __init__(self, settings: Callable[[], Settings], backend: Callable[[], Backend]) -> None:
        self._settings = settings
        self._backend = backend

    async def prompt(self, folder: str) -> tuple[list[ChatMessage], bool, int, bool]:
        """(messages, staged, files, summarised) for the changes in ``folder``."""
        settings = self._settings()
        repo = Repository(folder)
        await repo.ready()
        stats = await repo.numstat(staged=True)
        staged = bool(stats)
        if not staged:
            stats = await repo.numstat(staged=False)
        if not stats:
            untracked = [e.path for e in await repo.status() if e.index == "?"]
            fix = "Change something first."
            if untracked:
                fix = f"Stage the new files first (git add), e.g. {', '.join(untracked[:3])}."
            raise GitProblem(f"Nothing to commit in {repo.folder.name}.", fix=fix)
        fitted = await self._fitted(repo, stats, staged, diff_budget(settings))
        style = analyse(await repo.subjects(settings.git.history))
        which = "staged changes" if staged else "changes (nothing is staged: the worktree's)"
        user = (
            f"Write the commit message for these {which}.\n\n"
            f"Style: {instructions(style)}\n\n"
            f"The diff ({fitted.files} file{'s' if fitted.files != 1 else ''}):\n"
            f"{fitted.text}"
        )
        messages = [ChatMessage("system", SYSTEM), ChatMessage("user", user)]
        return messages, staged, fitted.files, fitted.summarised

    async def _fitted(
        self, repo: Repository, stats: list[FileStat], staged: bool, budget: int
    ) -> diffs.Fitted:
        attributes = await repo.attributes(
            [s.path for s in stats], ["linguist-generated", "linguist-vendored", "diff"]
        )
        skipped: dict[str, str] = {}
        for s in stats:
            marks = attributes.get(s.path, set())
            if s.binary or "-diff" in marks:
                skipped[s.path] = "binary"
            elif marks & {"linguist-generated", "linguist-vendored"}:
                skipped[s.path] = "marked generated"
            elif reason := diffs.generated_reason(s.path):
                skipped[s.path] = reason
        wanted = [s.path for s in stats if s.path not in skipped]
        # Pathspecs only when some files are left out (and not so many that the command line
        # overflows); a rename needs its old path too, or git shows it as a new file.
        pathspecs: list[str] = []
        if len(wanted) < len(stats) and len(wanted) <= MAX_PATHSPECS:
            for s in stats:
                if s.path not in skipped:
                    pathspecs += [s.path, *([s.old_path] if s.old_path else [])]
        # Read a few times the budget at most: files past it are summarised from their stats.
        limit = max(budget * 4, 256 * 1024)
        result = await repo.diff(staged, pathspecs, limit=limit) if wanted else None
        parsed = diffs.parse_diff(result.text) if result is not None else []
        if result is not None and result.truncated and parsed:
            parsed.pop()  # the last file was cut by the read limit: named from its stats
        kept = []
        for d in parsed:
            if d.path in skipped:
                continue
            added = [line[1:] for h in d.hunks for line in h.lines if line.startswith("+")]
            if reason := diffs.generated_reason(d.path, added):
                skipped[d.path] = reason
            else:
                kept.append(d)
        truncated = bool(result is not None and result.truncated)
        return diffs.fit(stats, kept, budget, skipped, truncated)

    async def write(
        self, folder: str, on_delta: Callable[[str], None] | None = None
    ) -> CommitMessage:
        """A commit message for the changes in ``folder``, streamed through ``on_delta``."""
        with tracing.span("git.commit_message") as span:
            result = await self._write(folder, on_delta)
            span.set(
                staged=result.staged,
                files=result.files,
                summarised=result.summarised,
                message_chars=len(result.message),
            )
            return result

    async def _write(
        self, folder: str, on_delta: Callable[[str], None] | None = None
    ) -> CommitMessage:
        messages, staged, files, summarised = await self.prompt(folder)
        settings = self._settings()
        request = ChatRequest(
            messages=tuple(messages),
            model=settings.chat.model,
            max_tokens=min(settings.chat.max_tokens, ANSWER_TOKENS),
            temperature=0.2,
        )
        pieces: list[str] = []
        async for delta in self._backend().chat(request):
            if delta.content:
                pieces.append(delta.content)
                if on_delta is not None:
                    on_delta(delta.content)
        message = clean("".join(pieces))
        if not message:
            raise GitProblem(
                "The model returned an empty commit message.",
                fix="Try again, or use a larger chat model (mimi.chat.model).",
            )
        return CommitMessage(message, staged, files, summarised)


_FENCE = re.compile(r"^```[\w-]*\s*\n(.*?)\n?```\s*$", re.DOTALL)
_LABEL = re.compile(r"^(commit message|message|subject)\s*:\s*", re.IGNORECASE)


def clean(text: str) -> str:
    """The model's answer as a commit message: no fences, labels, quotes or think blocks;
    one blank line after the subject; body paragraphs wrapped at 72 columns."""
    text = re.sub(r"<think>.*?</think>", "", text, flags=re.DOTALL).strip()
    if m := _FENCE.match(text):
        text = m.group(1).strip()
    text = _LABEL.sub("", text)
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'`":
        text = text[1:-1].strip()
    lines = [line.rstrip() for line in text.splitlines()]
    while lines and not lines[0]:
        lines.pop(0)
    if not lines:
        return ""
    subject, body = lines[0].strip(), lines[1:]
    while body and not body[0]:
        body.pop(0)
    if not body:
        return subject
    return subject + "\n\n" + _wrap("\n".join(body)).strip()


def _wrap(body: str, width: int = 72) -> str:
    out = []
    for line in body.splitlines():
        if len(line) <= width or line.startswith(("    ", "\t")):
            out.append(line)
            continue
        bullet = re.match(r"^(\s*(?:[-*+]|\d+[.)])\s+)", line)
        indent = " " * len(bullet.group(1)) if bullet else ""
        out.append(textwrap.fill(line, width, subsequent_indent=indent, break_long_words=False))
    # Collapse runs of blank lines.
    return re.sub(r"\n{3,}", "\n\n", "\n".join(out))
