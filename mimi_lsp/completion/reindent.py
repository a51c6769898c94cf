"""Indentation of a suggestion: as the document indents, under the cursor's block.

Step 5 of ``postprocess``: tabs vs spaces and the indentation unit (2 vs 4) as the document uses
them; a first line whose indentation doubles what the cursor already stands on; a block body the
model indented relative to column 0 instead of under its opener. LSP-free.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

from mimi_lsp.completion.lexer import indent_of, indent_width, starts_with_closer
from mimi_lsp.completion.syntax import CursorSyntax, line_opens_block
from mimi_lsp.languages import LanguageSpec


@dataclass(frozen=True, slots=True)
class IndentStyle:
    tabs: bool
    unit: int  # spaces per level (for tabs: 1)
    evidence: int


def _doc_indent_style(prefix: str, suffix: str, spec: LanguageSpec) -> IndentStyle:
    # The cursor line counts too: auto-indent put the cursor where the editor expects code.
    marker = "x" if prefix.endswith((" ", "\t")) else ""
    sample = prefix[-3_000:] + marker + suffix[:1_500]
    tabs = spaces = 0
    deltas: Counter[int] = Counter()
    previous = None
    for line in sample.split("\n"):
        if not line.strip():
            continue
        if line[0] == "\t":
            tabs += 1
        elif line[0] == " ":
            spaces += 1
            width = indent_width(line)
            if previous is not None and width > previous:
                deltas[width - previous] += 1
        if line[0] != "\t":
            previous = indent_width(line)
    if tabs > spaces:
        return IndentStyle(True, 1, tabs)
    if deltas:
        unit, count = deltas.most_common(1)[0]
        if unit in (2, 3, 4, 8):
            return IndentStyle(False, unit, count)
    default = spec.default_indent
    if tabs and not spaces or (not spaces and default == "\t"):
        return IndentStyle(True, 1, tabs)
    return IndentStyle(False, len(default.replace("\t", "    ")) or 4, 0)


def _model_space_unit(lines: list[str]) -> int | None:
    widths = [
        len(indent_of(line)) for line in lines if line.strip() and "\t" not in indent_of(line)
    ]
    widths = [w for w in widths if w]
    if not widths:
        return None
    g = 0
    for w in widths:
        g = math.gcd(g, w)
    if g % 4 == 0:
        return 4
    if g % 2 == 0:
        return 2
    return None


def reindent(text: str, syn: CursorSyntax, prefix: str, suffix: str, spec: LanguageSpec) -> str:
    """Make the suggestion's indentation match the document and the cursor's block."""
    lines = text.split("\n")
    blank_cursor_line = not syn.line_before.strip()
    if len(lines) == 1 and not (blank_cursor_line and lines[0][:1].isspace()):
        return text
    style = _doc_indent_style(prefix, suffix, spec)
    first_index = 0 if blank_cursor_line else 1

    # Tabs vs spaces, as the document does.
    if style.tabs:
        unit = _model_space_unit(lines[first_index:]) or 4
        for i in range(first_index, len(lines)):
            ws = indent_of(lines[i])
            if " " in ws and lines[i].strip():
                spaces = ws.count(" ")
                lines[i] = (
                    "\t" * (ws.count("\t") + spaces // unit)
                    + " " * (spaces % unit)
                    + (lines[i][len(ws) :])
                )
    else:
        pad = " " * style.unit
        for i in range(first_index, len(lines)):
            ws = indent_of(lines[i])
            if "\t" in ws:
                lines[i] = ws.replace("\t", pad) + lines[i][len(ws) :]

    cur = indent_width(syn.line_before) if blank_cursor_line else 0
    base = (cur + indent_width(lines[0])) if blank_cursor_line else syn.cursor_indent
    doc_unit = 1 if style.tabs else style.unit
    unit_width = 4 if style.tabs else style.unit

    # The first line's indentation doubled (the cursor already stands indented).
    if blank_cursor_line and lines[0][:1] in (" ", "\t"):
        expected = _expected_indent(prefix, spec, unit_width)
        lead = indent_width(lines[0])
        if cur + lead > expected:
            delta = lead - max(0, expected - cur)
            lines[0] = _dedent(lines[0], delta, style)
            rest = [ln for ln in lines[1:] if ln.strip()]
            if rest and all(indent_width(ln) >= cur + lead for ln in rest):
                lines[1:] = [_dedent(ln, delta, style) for ln in lines[1:]]
            base = cur + indent_width(lines[0])

    # A body indented relative to column 0 instead of under its opener.
    opener_line = (syn.line_before + lines[0]) if lines else syn.line_before
    if line_opens_block(spec, opener_line) and base > 0:
        body = next((ln for ln in lines[1:] if ln.strip()), None)
        if body is not None and not starts_with_closer(body.lstrip()):
            if indent_width(body) <= base:
                prefix_ws = (
                    indent_of(syn.line_before)
                    if not blank_cursor_line
                    else syn.line_before + indent_of(lines[0])
                )
                lines[1:] = [prefix_ws + ln if ln.strip() else ln for ln in lines[1:]]

    # The model's indentation unit differs from the document's (2 vs 4 spaces).
    trusted = style.evidence >= 2 or (
        style.evidence == 1 and " " * style.unit == spec.default_indent
    )
    if not style.tabs and trusted:
        deltas = [indent_width(ln) - base for ln in lines[1:] if ln.strip()]
        positive = [d for d in deltas if d > 0]
        if positive:
            g = 0
            for d in positive:
                g = math.gcd(g, d)
            if g in (2, 4) and doc_unit in (2, 4) and g != doc_unit and min(positive) == g:
                for i in range(1, len(lines)):
                    w = indent_width(lines[i])
                    if lines[i].strip() and w > base:
                        levels, extra = divmod(w - base, g)
                        lines[i] = " " * (base + levels * doc_unit + extra) + lines[i].lstrip(" ")
    return "\n".join(lines)


def _dedent(line: str, delta: int, style: IndentStyle) -> str:
    if not line.strip():
        return line
    ws = indent_of(line)
    if style.tabs:
        remove = max(1, delta // 4)
        return line[remove:] if ws.startswith("\t" * remove) else line
    return line[min(delta, len(ws)) :]


def _expected_indent(prefix: str, spec: LanguageSpec, unit: int) -> int:
    """Where a new line at the cursor should start, from the line above."""
    end = prefix.rfind("\n")
    while end > 0:
        start = prefix.rfind("\n", 0, end) + 1
        line = prefix[start:end]
        if line.strip():
            return indent_width(line) + (unit if line_opens_block(spec, line) else 0)
        end = start - 1
    return 0
