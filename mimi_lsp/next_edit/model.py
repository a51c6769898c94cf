"""Model prediction: a next-edit model rewrites a window around the cursor; the diff is the edit.

Runs only when the model-free predictors found nothing and ``nextEdit.model`` names a model whose
prompt format is known (``prompts.select_format``). The file's state before the session
(``original``) and each past edit as whole lines come from reversing the history on today's text
(``reconstruct``); an edit that no longer matches the text stops the walk, so a reloaded file
contributes nothing stale. The call goes through the scheduled backend at ghost-text priority;
the answer is parsed, diffed line by line against the window and turned into the smallest
replacement, nearest to the cursor. An answer that does not parse gives nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import difflib
from collections.abc import Sequence
from dataclasses import dataclass

from mimi_lsp.domain import GenerateRequest, Span
from mimi_lsp.errors import BackendTimeout
from mimi_lsp.inference.base import Backend
from mimi_lsp.inference.scheduler import Priority, priority
from mimi_lsp.next_edit.edits import NextEdit, PredictionContext, trimmed
from mimi_lsp.next_edit.history import Edit, offset_in
from mimi_lsp.next_edit.prompts import HistoryDiff, WindowPrompt, sweep_prompt, zeta_prompt
from mimi_lsp.uris import uri_to_path


@dataclass(frozen=True, slots=True)
class Reconstruction:
    """The file before its recorded edits, and each edit as whole lines (oldest first)."""

    original: str
    diffs: tuple[HistoryDiff, ...]


def _offset(text: str, line: int, col: int) -> int:
    return offset_in(text, (0, 0), (line, col))


def reconstruct(current: str, edits: Sequence[Edit]) -> Reconstruction:
    """Walk ``edits`` (one file's, oldest first) back from ``current``."""
    text = current
    diffs: list[HistoryDiff] = []
    for edit in reversed(edits):
        start = _offset(text, edit.line, edit.col)
        if start < 0 or text[start : start + len(edit.new)] != edit.new:
            break  # the text changed in ways the history did not see: stop here
        before = text[:start] + edit.old + text[start + len(edit.new) :]
        diffs.append(_line_diff(before, text, edit))
        text = before
    diffs.reverse()
    return Reconstruction(text, tuple(diffs))


def _line_diff(before: str, after: str, edit: Edit) -> HistoryDiff:
    b_lines = before.split("\n")
    a_lines = after.split("\n")
    first = edit.line
    b_last = first + edit.old.count("\n")
    a_last = first + edit.new.count("\n")
    return HistoryDiff(
        tuple(x.rstrip("\r") for x in b_lines[first : b_last + 1]),
        tuple(x.rstrip("\r") for x in a_lines[first : a_last + 1]),
    )


def build_prompt(ctx: PredictionContext, format_name: str) -> WindowPrompt:
    """The prompt of ``format_name`` for the request in ``ctx``."""
    snap = ctx.snapshot
    lines = [snap.line_text(i) for i in range(len(snap.lines))]
    rebuilt = reconstruct(snap.text, ctx.history.of(snap.uri))
    path = _display_path(snap.uri)
    if format_name == "zeta":
        events = [(path, d) for d in rebuilt.diffs]
        return zeta_prompt(path, lines, ctx.line, ctx.col, events)
    original = [x.rstrip("\r") for x in rebuilt.original.split("\n")]
    context_files = []
    for other in ctx.open_documents():
        if other.uri != snap.uri and other.uri in ctx.history.viewed:
            context_files.append((_display_path(other.uri), other.text))
    return sweep_prompt(path, lines, original, ctx.line, rebuilt.diffs, context_files)


def _display_path(uri: str) -> str:
    return uri_to_path(uri).lstrip("/")


def edits_from_window(
    ctx: PredictionContext, prompt: WindowPrompt, new_lines: Sequence[str]
) -> list[NextEdit]:
    """The window's changed hunks as replacements, the one nearest the cursor first."""
    snap = ctx.snapshot
    old_lines = list(prompt.window)
    new_lines = list(new_lines)
    # Models drop trailing blank lines (answers are read without them): keep the window's own,
    # so they never read as deleted.
    missing = _trailing_blank(old_lines) - _trailing_blank(new_lines)
    if missing > 0:
        new_lines += old_lines[len(old_lines) - missing :]
    matcher = difflib.SequenceMatcher(a=old_lines, b=list(new_lines), autojunk=False)
    out: list[tuple[int, NextEdit]] = []
    eol = snap.eol
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        start_line = prompt.start + i1
        old_text = eol.join(old_lines[i1:i2])
        new_text = eol.join(new_lines[j1:j2])
        if i1 == i2:  # pure insertion of lines before old line i1
            if start_line < len(snap.lines) and start_line < prompt.end:
                old_text, new_text, col = "", new_text + eol, 0
            else:  # after the window's last line
                start_line -= 1
                col = len(snap.line_text(start_line))
                old_text, new_text = "", eol + new_text
        elif j1 == j2:  # lines deleted: take their line breaks too
            col = 0
            end_line = prompt.start + i2
            if end_line < len(snap.lines):
                old_text += eol
            elif start_line > 0:
                start_line -= 1
                col = len(snap.line_text(start_line))
                old_text = eol + old_text
        else:
            col = 0
        line, col, old, new = trimmed(start_line, col, old_text, new_text)
        end_line = line + old.count(eol) if eol in old else line
        end_col = len(old) - old.rfind(eol) - len(eol) if eol in old else col + len(old)
        span = Span(line, col, end_line, end_col)
        distance = abs(line - ctx.line)
        out.append((distance, NextEdit(snap.uri, snap.version, span, new, "model")))
    out.sort(key=lambda item: item[0])
    return [edit for _, edit in out]


def _trailing_blank(lines: Sequence[str]) -> int:
    count = 0
    while count < len(lines) and not lines[len(lines) - 1 - count].strip():
        count += 1
    return count


class ModelPredictor:
    """Asks a next-edit model through the (scheduled) backend."""

    def __init__(
        self, backend: Backend, model: str, format_name: str, max_tokens: int, timeout_ms: int
    ) -> None:
        self.backend = backend
        self.model = model
        self.format_name = format_name
        self.max_tokens = max_tokens
        self.timeout_s = timeout_ms / 1000

    async def predict(self, ctx: PredictionContext) -> tuple[list[NextEdit], str]:
        """Edits and a reason ('' when the model answered with a usable window)."""
        prompt = build_prompt(ctx, self.format_name)
        request = GenerateRequest(
            prompt=prompt.prompt,
            raw=True,
            model=self.model,
            max_tokens=self.max_tokens,
            temperature=0.0,
            stop=prompt.stop,
        )
        output = await self._generate(request, prompt.done_marker)
        lines = prompt.parse(output)
        if lines is None:
            return [], "unparsable"
        return edits_from_window(ctx, prompt, lines), ""

    async def _generate(self, request: GenerateRequest, done_marker: str | None) -> str:
        pieces: list[str] = []
        tail = ""
        try:
            async with asyncio.timeout(self.timeout_s):
                with priority(Priority.INLINE):
                    stream = self.backend.generate(request)
                    async with contextlib.aclosing(stream):  # type: ignore[type-var]
                        async for piece in stream:
                            pieces.append(piece)
                            tail = (tail + piece)[-64:]
                            if done_marker is not None and done_marker in tail:
                                break
        except TimeoutError as exc:
            raise BackendTimeout(
                f"The next-edit model took longer than {int(self.timeout_s * 1000)} ms.",
                fix="Raise mimi.nextEdit.timeoutMs or use a smaller model.",
            ) from exc
        return "".join(pieces)
