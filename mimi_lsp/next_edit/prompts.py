"""Prompt formats of open next-edit models, chosen from the model name as FIM templates are.

Two families, both "rewrite this window" models whose answer is diffed against the window:

- **Sweep Next-Edit** (0.5B/1.5B, Qwen2.5-Coder FIM tokens reused): context files, up to 15
  ``original:``/``updated:`` diff blocks of the file's recent edits, then a 21-line window as it
  was before the session (``original/f``), as it is now (``current/f``), and ``updated/f`` for
  the model to write (the layout of sweepai's ``run_model.py`` as documented in
  microsoft/vscode-copilot-chat ``xtab/common/sweep``).
- **Zeta** (Zed's zeta1, 7B): an instruction, the user's edits as unified diffs, and an excerpt
  whose editable region (``<|editable_region_start|>`` … ``<|editable_region_end|>``, cursor at
  ``<|user_cursor_is_here|>``) the model writes back (zed ``crates/zeta/src/zeta1.rs``).

``parse`` gives the new window lines, or None when the answer does not parse (no markers, a
window of implausible size): a bad answer gives no edit, never a wrong one.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass

FILE_SEP = "<|file_sep|>"
SWEEP_ABOVE = 10
SWEEP_BELOW = 10
SWEEP_MAX_DIFFS = 15
SWEEP_DIFF_CHARS = 6_000
CONTEXT_FILE_CHARS = 3_000
CONTEXT_FILES = 2

ZETA_CURSOR = "<|user_cursor_is_here|>"
ZETA_START_OF_FILE = "<|start_of_file|>"
ZETA_REGION_START = "<|editable_region_start|>"
ZETA_REGION_END = "<|editable_region_end|>"
ZETA_EDIT_CHARS = 1_400
"""~350 tokens of editable region (zeta1's MAX_REWRITE_TOKENS)."""
ZETA_CONTEXT_CHARS = 600
ZETA_EVENT_CHARS = 2_000
ZETA_INSTRUCTION = (
    "### Instruction:\n"
    "You are a code completion assistant and your task is to analyze user edits and then "
    "rewrite an excerpt that the user provides, suggesting the appropriate edits within the "
    "excerpt, taking into account the cursor location.\n\n"
)

FORMATS = ("sweep", "zeta")
_NAME_RULES = ((re.compile(r"sweep"), "sweep"), (re.compile(r"zeta"), "zeta"))


def select_format(model: str, override: str = "auto") -> str | None:
    """The prompt format for ``model`` ('sweep', 'zeta'), or None when it is not a next-edit
    model we know (then only the model-free predictors run)."""
    if override and override != "auto":
        return override if override in FORMATS else None
    lowered = model.lower()
    for pattern, name in _NAME_RULES:
        if pattern.search(lowered):
            return name
    return None


@dataclass(frozen=True, slots=True)
class HistoryDiff:
    """One past edit as whole lines before and after (no line endings)."""

    before: tuple[str, ...]
    after: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class WindowPrompt:
    """A prompt, the current lines ``start``..``end`` (exclusive) it asks the model to rewrite,
    and how to read the answer."""

    format: str
    prompt: str
    start: int
    end: int
    window: tuple[str, ...]
    stop: tuple[str, ...]
    max_lines: int
    done_marker: str | None = None
    """Text after which the answer is complete (the stream is closed there)."""

    def parse(self, output: str) -> list[str] | None:
        """The rewritten window's lines, or None when the answer is not a window."""
        if self.format == "zeta":
            lines = _parse_zeta(output)
        else:
            lines = _parse_sweep(output, self.stop)
        if lines is None or len(lines) > self.max_lines:
            return None
        if self.window and len(lines) < len(self.window) // 2:
            return None  # a cut-off or runaway answer, not a rewrite of the window
        return lines


# --------------------------------------------------------------------------------------------
# Sweep


def sweep_prompt(
    path: str,
    lines: Sequence[str],
    original: Sequence[str],
    cursor_line: int,
    diffs: Sequence[HistoryDiff],
    context_files: Sequence[tuple[str, str]],
) -> WindowPrompt:
    """The Sweep Next-Edit prompt for a cursor on ``cursor_line`` of ``lines`` (no endings)."""
    start = max(0, cursor_line - SWEEP_ABOVE)
    end = min(len(lines), cursor_line + SWEEP_BELOW + 1)
    window = tuple(lines[start:end])
    o_line = _map_line(original, lines, cursor_line)
    o_start = max(0, o_line - SWEEP_ABOVE)
    o_window = original[o_start : min(len(original), o_line + SWEEP_BELOW + 1)]
    name = path.rsplit("/", 1)[-1]
    parts: list[str] = []
    for ctx_path, text in context_files[:CONTEXT_FILES]:
        parts += [f"{FILE_SEP}{ctx_path}", text[:CONTEXT_FILE_CHARS]]
    budget = SWEEP_DIFF_CHARS
    blocks: list[str] = []
    for diff in list(diffs)[-SWEEP_MAX_DIFFS:]:
        old, new = "\n".join(diff.before).strip(), "\n".join(diff.after).strip()
        if not old and not new:
            continue
        block = [f"{FILE_SEP}{name}.diff", "original:", *([old] if old else [])]
        block += ["updated:", *([new] if new else [])]
        size = sum(len(b) + 1 for b in block)
        if size > budget:
            break
        budget -= size
        blocks += block
    parts += blocks
    parts += [f"{FILE_SEP}original/{name}", "\n".join(o_window)]
    parts += [f"{FILE_SEP}current/{name}", "\n".join(window)]
    parts += [f"{FILE_SEP}updated/{name}", ""]
    return WindowPrompt(
        "sweep",
        "\n".join(parts),
        start,
        end,
        window,
        (FILE_SEP, "<|endoftext|>", "<|im_end|>", "<|fim_prefix|>", "<|repo_name|>"),
        max_lines=len(window) + 10,
    )


def _map_line(original: Sequence[str], current: Sequence[str], line: int) -> int:
    """``line`` of ``current`` mapped into ``original`` around their differing middle."""
    if len(original) == 0:
        return 0
    first = 0
    limit = min(len(original), len(current))
    while first < limit and original[first] == current[first]:
        first += 1
    o_end, c_end = len(original) - 1, len(current) - 1
    while o_end > first and c_end > first and original[o_end] == current[c_end]:
        o_end, c_end = o_end - 1, c_end - 1
    if line < first:
        mapped = line
    elif line <= c_end:
        mapped = first + min(line - first, max(0, o_end - first))
    else:
        mapped = line - (c_end - o_end)
    return max(0, min(mapped, len(original) - 1))


def _parse_sweep(output: str, stops: Sequence[str]) -> list[str] | None:
    cut = len(output)
    for stop in stops:
        index = output.find(stop)
        if index != -1:
            cut = min(cut, index)
    text = output[:cut].replace("\r\n", "\n")
    lines = text.split("\n")
    while lines and not lines[-1].strip():
        lines.pop()
    return lines


# --------------------------------------------------------------------------------------------
# Zeta


def zeta_prompt(
    path: str,
    lines: Sequence[str],
    cursor_line: int,
    cursor_col: int,
    events: Sequence[tuple[str, HistoryDiff]],
) -> WindowPrompt:
    """The zeta1 prompt: edits as diffs, and an excerpt with an editable region at the cursor."""
    start, end = _expand(lines, cursor_line, cursor_line + 1, ZETA_EDIT_CHARS)
    c_start, c_end = _expand(lines, start, end, ZETA_CONTEXT_CHARS)
    excerpt = [f"```{path}"]
    if c_start == 0:
        excerpt.append(ZETA_START_OF_FILE)
    excerpt += list(lines[c_start:start])
    excerpt.append(ZETA_REGION_START)
    for i in range(start, end):
        text = lines[i]
        if i == cursor_line:
            text = text[:cursor_col] + ZETA_CURSOR + text[cursor_col:]
        excerpt.append(text)
    excerpt.append(ZETA_REGION_END)
    excerpt += list(lines[end:c_end])
    excerpt.append("```")
    rendered: list[str] = []
    budget = ZETA_EVENT_CHARS
    for event_path, diff in reversed(list(events)):
        body = "\n".join(
            difflib.unified_diff(diff.before, diff.after, event_path, event_path, lineterm="", n=1)
        )
        text = f"User edited {event_path}:\n```diff\n{body}\n```"
        if len(text) > budget:
            break
        budget -= len(text)
        rendered.insert(0, text)
    prompt = (
        ZETA_INSTRUCTION
        + "### User Edits:\n\n"
        + "\n\n".join(rendered)
        + "\n\n### User Excerpt:\n\n"
        + "\n".join(excerpt)
        + "\n\n### Response:\n"
    )
    window = tuple(lines[start:end])
    return WindowPrompt(
        "zeta",
        prompt,
        start,
        end,
        window,
        ("<|endoftext|>",),
        max_lines=len(window) + 10,
        done_marker=ZETA_REGION_END,
    )


def _expand(lines: Sequence[str], start: int, end: int, budget: int) -> tuple[int, int]:
    """Grow [start, end) a line at a time on each side while ``budget`` characters last."""
    while budget > 0 and (start > 0 or end < len(lines)):
        if start > 0:
            start -= 1
            budget -= len(lines[start]) + 1
        if end < len(lines) and budget > 0:
            budget -= len(lines[end]) + 1
            end += 1
    return start, end


def _parse_zeta(output: str) -> list[str] | None:
    content = output.replace(ZETA_CURSOR, "")
    if content.count(ZETA_REGION_START) != 1 or content.count(ZETA_REGION_END) != 1:
        return None
    after_start = content[content.index(ZETA_REGION_START) :]
    newline = after_start.find("\n")
    if newline < 0:
        return None
    body = after_start[newline + 1 :]
    end = body.rfind(ZETA_REGION_END)
    if end < 0:
        return None
    body = body[:end]
    if body.endswith("\n"):
        body = body[:-1]
    return body.replace("\r\n", "\n").split("\n")
