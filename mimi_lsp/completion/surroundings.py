"""The code around the cursor decides what of a suggestion fits in between.

Step 6b of ``postprocess``, for a cursor at the end of its line or on a blank line, from the
previous non-blank line (P) and the next one (N) of the document:

- a block whose body is already there: the suggestion's first line opens a block and N is indented
  deeper than that line, so the body follows in the document: keep the header only
  (``for x in xs:`` + a rewritten body, above the existing body);
- no dead code: a ``return``/``raise``/``break``/... at N's indentation would make N unreachable;
  the suggestion stops before it;
- where indentation is syntax (Python, YAML), inside a block (P and N indented): a line indented
  less than the block's code is outside it (a ``def`` at column 0 in a function body) and the
  suggestion stops before it; a first line with no indentation at all gets the block's (the
  cursor stood at column 0 of an empty line). Brace languages leave that to the brackets.
LSP-free.
"""

from __future__ import annotations

import re

from mimi_lsp.completion.lexer import (
    continues_above,
    indent_of,
    indent_width,
    starts_with_closer,
)
from mimi_lsp.completion.syntax import CursorSyntax, line_opens_block, prev_nonblank
from mimi_lsp.languages import LanguageSpec

DEAD_END = re.compile(r"(?:return|raise|throw|break|continue)\b")
_CLOSING_WORDS = frozenset({"end", "fi", "done", "esac", "endif"})


def _continues(stripped: str) -> bool:
    """A line that continues the statement above or closes its block (never outside it)."""
    return (
        starts_with_closer(stripped)
        or continues_above(stripped)
        or stripped.rstrip(";") in _CLOSING_WORDS
    )


def fit_surroundings(
    text: str, syn: CursorSyntax, prefix: str, suffix: str, spec: LanguageSpec
) -> str:
    """Cut (or indent) ``text`` so it fits between the lines around the cursor."""
    if syn.line_after.strip() or not text.strip():
        return text
    nxt = next_code_line(suffix, spec)
    if nxt is None:
        return text
    lines = text.split("\n")
    blank = not syn.line_before.strip()
    first = next((i for i, line in enumerate(lines) if line.strip()), 0)
    if blank and spec.indent_based:  # where indentation is syntax
        floor = _block_floor(prefix, nxt, spec)
        cur = indent_width(syn.line_before)
        for i in range(first + 1, len(lines)):
            stripped = lines[i].strip()
            if stripped and floor and indent_width(lines[i]) < floor and not _continues(stripped):
                lines = lines[:i]  # outside the block the cursor is in
                break
        if not cur:
            lines = _indent_first_line(lines, prefix, nxt, spec)

    def doc_indent(i: int) -> int:
        if i == 0:
            return indent_width(syn.line_before + lines[0]) if blank else syn.cursor_indent
        return indent_width(lines[i])

    nxt_indent = indent_width(nxt)
    nxt_continues = _continues(nxt.strip())
    header = (syn.line_before + lines[0]) if first == 0 else lines[first]
    if first + 1 < len(lines) and line_opens_block(spec, header):
        if nxt_indent > doc_indent(first) and not nxt_continues:
            return "\n".join(lines[: first + 1])  # the block's body is already below
    for i in range(first, len(lines)):
        stripped = lines[i].strip()
        if stripped and not nxt_continues and doc_indent(i) == nxt_indent:
            if DEAD_END.match(stripped):
                return "\n".join(lines[:i]) if i else ""  # N would be unreachable
    return "\n".join(lines)


def next_code_line(suffix: str, spec: LanguageSpec) -> str | None:
    """The first line after the cursor line that holds code (not blank, not a comment)."""
    for line in suffix.split("\n")[1:]:
        stripped = line.strip()
        if stripped and not stripped.startswith(spec.line_comments or ("\0",)):
            return line
    return None


def continues_statement(prefix: str, suffix: str, width: int, spec: LanguageSpec) -> bool:
    """An ``else``/``elif``/``except`` at ``width`` may continue the statement whose header is
    the nearest line above the cursor at that width, where the document ends that statement
    there (its next code line is shallower, or there is none). Where the document goes on at
    the header's level, the model's ``else`` would wedge a new branch in before that code."""
    header = None
    for line in reversed(prefix.split("\n")[:-1]):
        if line.strip() and indent_width(line) <= width:
            header = line
            break
    if header is None or indent_width(header) != width or not line_opens_block(spec, header):
        return False
    nxt = next_code_line(suffix, spec)
    return nxt is None or indent_width(nxt) < width


def _block_floor(prefix: str, nxt: str, spec: LanguageSpec) -> int | None:
    """The least indentation code at the cursor can have inside its block (None at top level)."""
    prev = prev_nonblank(prefix)
    if prev is None:
        return None
    prev_indent = indent_width(prev) + (1 if line_opens_block(spec, prev) else 0)
    floor = min(prev_indent, indent_width(nxt))
    return floor or None


def _indent_first_line(lines: list[str], prefix: str, nxt: str, spec: LanguageSpec) -> list[str]:
    """The cursor stood at column 0 of an empty line inside a block and the model wrote no
    indentation either: give the suggestion the block's."""
    if not lines[0].strip() or lines[0][0] in " \t":
        return lines
    if _continues(lines[0].strip()):
        return lines  # `else:` belongs to the block above, at its opener's indentation
    if line_opens_block(spec, lines[0]) and indent_width(nxt) > 0:
        return lines  # a header at column 0 whose body is the next line
    prev = prev_nonblank(prefix)
    floor = _block_floor(prefix, nxt, spec)
    if prev is None or not floor:
        return lines
    if line_opens_block(spec, prev):
        target = nxt if indent_width(nxt) > indent_width(prev) else None
        pad = indent_of(target) if target is not None else indent_of(prev) + spec.default_indent
    else:
        pad = indent_of(prev if indent_width(prev) <= indent_width(nxt) else nxt)
    return [pad + line if line.strip() else line for line in lines]
