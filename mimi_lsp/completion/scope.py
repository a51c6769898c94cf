"""Where a suggestion stops: its syntactic scope, echoes of the suffix, repetition.

Steps 6-8 of ``postprocess``: stop at a closing bracket the suffix already supplies (brackets
counted in the enclosing construct on both sides, skipping strings and comments), after the block
that contains the cursor closes, at a dedent out of the cursor's block (after a ``return`` line,
out of the block the document goes on in), and after one declaration
in a declaration scope; cut where the model starts repeating the document's next lines; keep a
repeated line or block once. LSP-free.
"""

from __future__ import annotations

import re

from mimi_lsp.completion.lexer import (
    OPENERS,
    PAIRS,
    continues_above,
    indent_width,
    open_brackets,
    scan,
    starts_with_closer,
    unmatched_closers,
)
from mimi_lsp.completion.surroundings import DEAD_END, continues_statement, next_code_line
from mimi_lsp.completion.syntax import CursorSyntax, anchors_for, cursor_window, line_opens_block
from mimi_lsp.languages import LanguageSpec

_WORD = re.compile(r"\w")
ECHO_LINES = 4
"""How many of the document's next non-blank lines an echo is looked for in (further down,
similar code is more often a sibling, as in tests, than the model rewriting the document)."""
CLOSING_WORDS = frozenset({"end", "fi", "done", "esac", "endif", "endfunction", "endwhile", "wend"})
"""Lines that close a block by keyword (Lua, Ruby, Julia, shell)."""


def _line_starts(text: str) -> list[int]:
    starts = [0]
    pos = text.find("\n")
    while pos != -1:
        starts.append(pos + 1)
        pos = text.find("\n", pos + 1)
    return starts


def _line_of(starts: list[int], pos: int) -> int:
    lo, hi = 0, len(starts) - 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if starts[mid] <= pos:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _missing_closers(stack: list[str], supplied: list[str]) -> int:
    """How many of the innermost open brackets the suggestion must close itself.

    The suffix's unmatched closers close the outer ones, outermost last; they must pair up by
    type: a ``}`` further down cannot close the ``(`` of ``if (a > b|`` on the cursor line.
    """
    low = max(0, len(stack) - len(supplied))
    for missing in range(low, len(stack) + 1):
        rest = stack[: len(stack) - missing]
        if all(PAIRS[ch] == rest[-1 - k] for k, ch in enumerate(supplied[: len(rest)])):
            return missing
    return low


def limit_scope(
    text: str,
    syn: CursorSyntax,
    prefix: str,
    suffix: str,
    spec: LanguageSpec,
    opened: bool = False,
) -> str:
    """Cut where the suggestion leaves the syntactic scope of the cursor.

    ``opened``: the suggestion's first line opens a block (``f(|)`` -> ``x) {``); closing the
    cursor's brackets on that line then does not end the suggestion.
    """
    window = cursor_window(prefix, suffix, anchors=anchors_for(spec))
    head = window.prefix
    scanned = scan(spec, head + text)
    cut = len(head)
    prefix_brackets = [b for b in scanned.brackets if b[0] < cut]
    text_brackets = [(p - cut, ch) for p, ch in scanned.brackets if p >= cut]
    stack = open_brackets(prefix_brackets)
    lb = syn.line_before
    suffix_scan = scan(spec, lb + window.suffix)
    supplied = unmatched_closers(
        [(p, ch) for p, ch in suffix_scan.brackets if p >= len(lb)], len(stack)
    )
    missing = _missing_closers(stack, [ch for _, ch in supplied])

    starts = _line_starts(text)
    n_lines = len(starts)
    depth_at_start = [0] * n_lines
    end_cut: int | None = None  # cut position in text

    depth = 0
    closed = 0
    pending_line: int | None = None
    current_line = 0
    for index, (pos, ch) in enumerate(text_brackets):
        line_no = _line_of(starts, pos)
        while current_line < line_no:
            current_line += 1
            depth_at_start[current_line] = depth
        if ch in OPENERS:
            depth += 1
        elif depth > 0:
            depth -= 1
        else:
            target = len(stack) - 1 - closed
            if closed >= missing or target < 0 or stack[target] != PAIRS[ch]:
                # The suffix already closes this (or it closes nothing): stop before it.
                line_start = starts[line_no]
                if line_no > 0 and not text[line_start:pos].strip():
                    end_cut = line_start - 1
                else:
                    end_cut = pos
                break
            closed += 1
            pending_line = line_no
        if pending_line is not None and depth == 0:
            following = text_brackets[index + 1][0] if index + 1 < len(text_brackets) else None
            if following is None or _line_of(starts, following) != line_no:
                nxt = starts[line_no + 1] - 1 if line_no + 1 < n_lines else len(text)
                # `if ok(|)` -> `x):`: closing the call on the cursor line opens a block.
                if line_no == 0 and opened:
                    pending_line = None
                    continue
                end_cut = nxt
                break
    while current_line < n_lines - 1:
        current_line += 1
        depth_at_start[current_line] = depth

    # Indentation: leaving the cursor's block, or a second declaration in a declaration scope.
    lines = text.split("\n")
    blank_cursor_line = not lb.strip()
    if blank_cursor_line:
        ref = indent_width(lb) + indent_width(lines[0]) if lines[0].strip() else indent_width(lb)
    elif syn.opens_block:
        ref = syn.cursor_indent + 1
    elif spec.indent_based and DEAD_END.match(lb.strip()):
        ref = _after_dead_end(syn, suffix, spec)
    else:
        ref = syn.cursor_indent
    went_deeper = depth_at_start[1] > 0 if n_lines > 1 else False
    if not blank_cursor_line and syn.opens_block:
        went_deeper = False
    elif lines and line_opens_block(spec, lines[0]):
        went_deeper = True
    # In a class/impl/interface body every line at the block's level starts a new member; at the
    # top level only a definition keyword does (scripts have plain statements there).
    declarations = syn.scope == "declarations"
    top_level = syn.cursor_indent == 0
    for i in range(1, n_lines):
        if end_cut is not None and starts[i] > end_cut:
            break
        line = lines[i]
        stripped = line.strip()
        if not stripped:
            continue
        if depth_at_start[i] > 0:
            went_deeper = True
            continue
        if starts_with_closer(stripped) or stripped.rstrip(";") in CLOSING_WORDS:
            continue  # a closer; whether it is needed is the brackets' (and echoes') business
        width = indent_width(line)
        if (
            width < ref
            and continues_above(stripped)
            and continues_statement(prefix, suffix, width, spec)
        ):
            ref = width  # `else:` of the `if` the cursor's block belongs to: the statement goes on
            continue
        if width < ref:
            end_cut = starts[i] - 1
            break
        if (
            declarations
            and went_deeper
            and width <= ref
            and not continues_above(stripped)
            and (not top_level or stripped.startswith(spec.definition_keywords or ("\0",)))
        ):
            end_cut = starts[i] - 1
            break
        if width > ref or line_opens_block(spec, line):
            went_deeper = True
    if end_cut is not None:
        text = text[:end_cut]
    return text


def _after_dead_end(syn: CursorSyntax, suffix: str, spec: LanguageSpec) -> int:
    """The cursor ends a ``return``/``raise``/``break`` line where indentation is syntax: nothing
    more belongs in its block, so a dedent continues the code (``return True`` after the loop
    that returns False), down to the block the document goes on in (its next code line), never
    out of an indented block to column 0."""
    nxt = next_code_line(suffix, spec)
    floor = indent_width(nxt) if nxt is not None else 0
    if syn.cursor_indent:
        floor = max(floor, 1)
    return min(syn.cursor_indent, floor)


def _next_lines(suffix: str, count: int) -> list[str]:
    out: list[str] = []
    pos = suffix.find("\n")
    while pos != -1 and len(out) < count:
        nxt = suffix.find("\n", pos + 1)
        line = suffix[pos + 1 : nxt if nxt != -1 else len(suffix)]
        if line.strip():
            out.append(line)
        pos = nxt
    return out


def _echo_key(line: str) -> str:
    """What two lines must share to be the same line: their code, whitespace aside; for a line
    of closers or a closing keyword (``}``, ``end``), its indentation too (which block it ends)."""
    stripped = line.strip()
    if not _WORD.search(stripped) or stripped.rstrip(";") in CLOSING_WORDS:
        return line.rstrip()
    return "".join(stripped.split())


def cut_suffix_echo(text: str, syn: CursorSyntax, suffix: str, replace: int = 0) -> str:
    """Cut where the suggestion starts repeating the document's next lines.

    Compared are the lines the document would hold after accepting (the cursor line whole:
    what is before the cursor, the suggestion, and what stays after it), so a trim such as a
    ``;`` the cursor stands before cannot hide a duplicate. A line equal to the next line is an
    echo; further down, a run of two equal lines is. The suggestion's
    lines just before an echo of the document's line ``j`` are taken as its rewrite of the ``j``
    lines before that one, and go too (the first line, the one the user asked for, stays).
    """
    following = [_echo_key(line) for line in _next_lines(suffix, ECHO_LINES)]
    if not following:
        return text
    lines = text.split("\n")
    produced = list(lines)
    produced[0] = syn.line_before + produced[0]
    produced[-1] += syn.line_after[replace:]
    keys = [_echo_key(line) for line in produced]
    for i, key in enumerate(keys):
        if not key.strip() or (i == 0 and syn.line_before.strip() and len(lines) > 1):
            continue
        for j, target in enumerate(following):
            if key != target:
                continue
            run = 1
            while (
                i + run < len(keys)
                and j + run < len(following)
                and keys[i + run] == following[j + run]
            ):
                run += 1
            if run == 1 and _own_block(keys, i, following, j):
                continue
            if j == 0 or run >= 2:
                cut = i if i == 0 else max(1, i - j)
                return "\n".join(lines[:cut])
    return text


def _own_block(keys: list[str], i: int, following: list[str], j: int) -> bool:
    """The suggestion's line ``i`` is a block header equal to the document's (``for s in
    strings:``) but the body it goes on with is another: the model writes its own loop there,
    not a copy of the one below."""
    if not keys[i].endswith((":", "{")) or j + 1 >= len(following):
        return False
    body = next((key for key in keys[i + 1 :] if key.strip()), None)
    return body is not None and body != following[j + 1]


def remove_repetition(text: str, first_indent: str = "", max_block: int = 8) -> str:
    """A line repeated 3+ times or a block of lines repeated 2+ times is kept once."""
    lines = text.split("\n")
    n = len(lines)
    if n < 3:
        return text
    keys = [line.rstrip() for line in lines]
    keys[0] = first_indent + keys[0]  # the cursor line's indentation is in the document
    best: int | None = None
    for size in range(1, min(max_block, n // 2) + 1):
        copies = 3 if size == 1 else 2
        for i in range(0, n - size * copies + 1):
            if best is not None and i + size >= best:
                break
            block = keys[i : i + size]
            if not any(_WORD.search(line) for line in block):
                continue
            if all(keys[i + c * size : i + (c + 1) * size] == block for c in range(1, copies)):
                best = i + size
                break
    if best is None:
        return text
    return "\n".join(lines[:best])
