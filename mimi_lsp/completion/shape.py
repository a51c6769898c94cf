"""The shape of a suggestion: one line, the line or the block it opens, or several lines.

``decide_shape`` answers before the model call (how much to ask for), ``stream_done`` while the
answer streams (whether the first line decided it), and the helpers here apply the shape to the
answer: the first line only, the first line and the block it opens (to the closer that matches its
opener, or while lines are deeper for indentation-based languages), a just-opened multi-line
string up to its closing delimiter. Used by ``postprocess.py``; LSP-free.
"""

from __future__ import annotations

import enum

from mimi_lsp.completion.lexer import (
    OPENERS,
    continues_above,
    first_line,
    indent_of,
    indent_width,
    open_brackets,
    scan,
    starts_with_closer,
)
from mimi_lsp.completion.line_after import only_closers
from mimi_lsp.completion.syntax import CursorSyntax, analyze_cursor, line_opens_block
from mimi_lsp.languages import LanguageSpec, spec_for


class Shape(enum.Enum):
    """How much a suggestion at the cursor may hold."""

    LINE = "line"
    """One line (a statement's end, text after the cursor, a comment)."""
    BLOCK = "block"
    """One line, or the block that line opens (``def f(x)`` -> ``:`` and its body)."""
    MULTI = "multi"
    """Several lines (a blank line, an empty block body, a just-opened multi-line string)."""


def decide_shape(prefix: str, suffix: str, language_id: str, mode: str = "auto") -> Shape:
    """How much of a suggestion fits the syntax at the cursor.

    ``mode`` is the ``completion.multiline`` setting: "always", "never" or "auto". In auto mode
    (llm-ls ``should_complete`` idea): a comment or string -> one line, except right after the
    opening delimiter of a multi-line string; text after the cursor on its line -> one line (in
    the indentation before code: the line above it, or the block that line opens), but only
    closers after it (``f(|)``, ``{|}``) -> the line or the block it opens, and several lines
    in an empty block; a blank line (block body, top level) -> several lines; the end of a line
    that opens a block whose body is still empty -> several lines; the end of any other line ->
    the line, or the block the model's continuation opens (``get foo(): number`` -> `` {...}``);
    in prose (Markdown), several lines.
    """
    if mode == "always":
        return Shape.MULTI
    if mode == "never":
        return Shape.LINE
    syn = analyze_cursor(prefix, suffix, language_id)
    after = syn.line_after.strip()
    if syn.in_string and not after and opens_multiline_string(syn, spec_for(language_id)):
        return Shape.MULTI
    if syn.in_comment or syn.in_string:
        return Shape.LINE
    if after:
        if not syn.line_before.strip():
            return Shape.BLOCK  # new line(s) above existing code: a header needs its body
        if not only_closers(after):
            return Shape.LINE
        return Shape.MULTI if syn.opens_block and syn.empty_block else Shape.BLOCK
    if not syn.line_before.strip() or spec_for(language_id).prose:
        return Shape.MULTI
    return Shape.MULTI if syn.opens_block and syn.empty_block else Shape.BLOCK


def decide_multiline(prefix: str, suffix: str, language_id: str, mode: str = "auto") -> bool:
    """Whether to ask the model for more than one line (``decide_shape`` is not LINE)."""
    return decide_shape(prefix, suffix, language_id, mode) is not Shape.LINE


def stream_done(text: str, shape: Shape, prefix: str, language_id: str, suffix: str = "") -> bool:
    """Whether the streamed ``text`` already holds all that ``shape`` can keep (stop reading).

    LINE: its first line is complete. BLOCK: its first line is complete and opens no block (for a
    header ending in ``)`` the next line must show whether a ``{`` follows, Allman style), unless
    it ends a member of a member list (struct fields, interface members) the model goes on with.
    """
    if shape is Shape.MULTI:
        return False
    body = text.lstrip("\r\n")
    if "\n" not in body:
        return False
    if shape is Shape.LINE:
        return True
    lines = body.split("\n")
    cursor_line = prefix[prefix.rfind("\n") + 1 :]
    after = suffix.split("\n", 1)[0].strip()
    if not cursor_line.strip() and after and not only_closers(after):
        # Before existing code: the answer may rejoin it a few lines on (`else:`, then that
        # code); the stream watch stops reading once nothing more can be kept.
        return False
    line_before = cursor_line if text[:1] not in "\r\n" else ""
    opens = _line_opens_block(spec_for(language_id), line_before, lines)
    if opens is False and text[:1] not in "\r\n":
        return not in_member_list(analyze_cursor(prefix, suffix, language_id))
    return opens is False


MEMBER_LISTS = frozenset(
    {
        "field_declaration_list",
        "interface_body",
        "object_type",
        "enum_body",
        "enum_variant_list",
        "enum_class_body",
        "struct_type",
    }
)
"""Tree-sitter nodes whose lines are sibling members (struct fields, interface members)."""


def in_member_list(syn: CursorSyntax) -> bool:
    """The cursor ends a line inside a struct/interface/enum member list (not at top level)."""
    return syn.node_type in MEMBER_LISTS and syn.cursor_indent > 0 and not syn.line_after.strip()


# --------------------------------------------------------------------------- block or line


def single_line(text: str, syn: CursorSyntax) -> str:
    if not text.startswith("\n"):
        return first_line(text)
    # A leading newline: only sensible at the end of a non-blank line (suggest the next line).
    if syn.line_after.strip() or not syn.line_before.strip():
        return ""
    rest = text.lstrip("\n")
    line = first_line(rest)
    return "\n" + line if line.strip() else ""


def start_on_blank_line(text: str, line_before: str) -> str:
    """The cursor line is blank: start on it, not below it. A line the model began with a newline
    is indented from column 0, and the cursor already stands on ``line_before``'s indentation."""
    if not text.startswith("\n"):
        return text
    text = text.lstrip("\n")
    lead = indent_of(text)
    if line_before and lead.startswith(line_before):
        text = text[len(line_before) :]
    return text


_ALLMAN = frozenset({"csharp", "java", "c", "cpp", "php"})
"""Languages where a block's `{` often stands alone on the line under its header."""


def _line_opens_block(spec: LanguageSpec, line_before: str, lines: list[str]) -> bool | None:
    """Whether the suggestion's first line (on ``line_before``) opens a block: True, False, or
    None while a header ending in ``)`` waits for its next line (an Allman-style ``{``)."""
    first = lines[0]
    if line_opens_block(spec, line_before + first):
        return True
    if spec.name == "yaml" and line_before.strip().startswith("- ") and not first.strip():
        return False
    stripped = (line_before + first).rstrip()
    if spec.indent_based or not stripped.endswith((")", ":")):
        return False
    if stripped.endswith(")") and spec.name not in _ALLMAN:
        return False
    if len(lines) < 3 and not (len(lines) == 2 and lines[1].strip()):
        return None  # the second line is not complete yet
    second = lines[1] if len(lines) > 1 else ""
    if stripped.endswith(")"):
        return second.strip() == "{"  # Allman style
    # A header ending in `:` with a deeper line under it (`case 1:`, Python pasted anywhere).
    return bool(second.strip()) and indent_width(second) > indent_width(line_before + first)


def line_or_block(text: str, syn: CursorSyntax, spec: LanguageSpec) -> tuple[str, bool]:
    """One line, or (when that line opens a block) the line and its block; True for a block."""
    line_before = syn.line_before
    body = text
    if text.startswith("\n"):
        if syn.line_after.strip() or not syn.line_before.strip():
            return "", False
        body = text.lstrip("\n")
        line_before = indent_of(first_line(body))
        body = body[len(line_before) :]
    lines = body.split("\n")
    if (
        text.startswith("\n")
        and continues_above(body)
        and indent_width(line_before) < syn.cursor_indent
    ):
        # The cursor's block is done and the answer goes on with the statement holding it
        # (`else:` after the last line of an `if` body): that line, and its block if it opens one.
        end = _block_end(lines, line_before, spec) if line_opens_block(spec, lines[0]) else 1
        return text[: len(text) - len(body)] + "\n".join(lines[:end]), False
    if not _line_opens_block(spec, line_before, lines):
        if text.startswith("\n") or not in_member_list(syn):
            return single_line(text, syn), False
        # The member is done; the model goes on with its siblings (more fields) at its level.
        end = 1
        while (
            end < len(lines)
            and lines[end].strip()
            and indent_width(lines[end]) == (syn.cursor_indent)
        ):
            if line_opens_block(spec, lines[end]) or starts_with_closer(lines[end].strip()):
                break
            end += 1
        return "\n".join(lines[:end]), False
    end = _block_end(lines, line_before, spec)
    kept = "\n".join(lines[:end])
    return text[: len(text) - len(body)] + kept, not text.startswith("\n")


def lines_above_code(lines: list[str], line_before: str, spec: LanguageSpec) -> int:
    """How many of ``lines`` to insert above the code the cursor stands before (its indentation
    is ``line_before``): the first line, or the block it opens (``if n == 0:`` and its body, and
    ``elif``/``else`` with theirs); never that code as a header's body."""
    lead = line_before + indent_of(lines[0])
    body = [lines[0].lstrip(" \t"), *lines[1:]]
    if not _line_opens_block(spec, lead, body):
        return 1
    return _block_end(body, lead, spec)


def _block_end(lines: list[str], line_before: str, spec: LanguageSpec) -> int:
    """How many of ``lines`` (the first opens a block) belong to that block."""
    if spec.indent_based:
        ref = indent_width(line_before)
        yaml_list = spec.name == "yaml"
        for i in range(1, len(lines)):
            stripped = lines[i].strip()
            if not stripped:
                continue
            width = indent_width(lines[i])
            if width > ref or (yaml_list and width == ref and stripped.startswith("- ")):
                continue
            if width == ref and continues_above(stripped):
                continue
            return i
        return len(lines)
    # Bracketed: the block ends on the line of the closer that matches its opener (which is on
    # the first line, or alone on the second: Allman style).
    text = line_before + "\n".join(lines)
    opener_end = len(line_before) + len(lines[0])
    if not line_opens_block(spec, line_before + lines[0]) and len(lines) > 1:
        opener_end += 1 + len(lines[1])
    brackets = scan(spec, text).brackets
    depth = len(open_brackets([b for b in brackets if b[0] < opener_end]))
    level = depth
    for pos, ch in brackets:
        if pos < opener_end:
            continue
        level += 1 if ch in OPENERS else -1
        if level < depth:
            line_no = text.count("\n", 0, pos)
            nxt = lines[line_no + 1].strip() if line_no + 1 < len(lines) else ""
            if continues_above(nxt):
                depth = level  # `}` then `else {` on the next line: the statement goes on
                continue
            return line_no + 1
    return len(lines)


def opens_multiline_string(syn: CursorSyntax, spec: LanguageSpec) -> bool:
    """The cursor stands right after the opening delimiter of a multi-line string."""
    before = syn.line_before.rstrip()
    return any(d.multiline and len(d.open) > 1 and before.endswith(d.open) for d in spec.strings)


def limit_string(text: str, spec: LanguageSpec, prefix: str, suffix: str) -> str:
    """A just-opened multi-line string: keep the suggestion up to the line that closes it (the
    whole suggestion when the suffix closes it: then up to, not including, the model's closer)."""
    before = prefix.rstrip()
    delim = next(
        (d for d in spec.strings if d.multiline and len(d.open) > 1 and before.endswith(d.open)),
        None,
    )
    if delim is None:
        return text
    closes_later = delim.close in suffix[: suffix.find("\n\n") if "\n\n" in suffix else None]
    at = text.find(delim.close)
    if at == -1:
        return text
    if closes_later:
        return text[: text.rfind("\n", 0, at)] if "\n" in text[:at] else text[:at]
    end = text.find("\n", at)
    return text if end == -1 else text[:end]
