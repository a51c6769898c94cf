"""Syntax at the cursor, cheaply: a window, a bracket lexer and tree-sitter.

Post-processing (``postprocess.py``) asks two kinds of questions about the text around the cursor:
"where is the cursor?" (in a comment or string, in an empty block, among declarations or
statements) and "which brackets are open?". Both are answered on a *window*: from the latest
least-indented line before the cursor (the start of the enclosing top-level construct) to where
that construct ends after it, a few KB at most, so a 1 MB document costs the same as a small one.

- ``scan()`` (``lexer.py``) skips comments and strings and reports brackets.
- ``analyze_cursor()`` parses the window with the language's tree-sitter grammar when one is
  installed (parsers cached per thread) and falls back to text heuristics when there is none or
  parsing fails. Results are memoised for the last few (prefix, suffix) pairs, because the engine
  asks before the model call (``decide_shape``) and again after it (``postprocess``).
LSP-free.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Literal

from mimi_lsp.completion.lexer import (
    TAB_WIDTH,
    first_line,
    indent_width,
    last_line,
    scan,
    starts_with_closer,
)
from mimi_lsp.languages import LanguageSpec, load_grammar, spec_for

log = logging.getLogger(__name__)

MAX_WINDOW_PREFIX = 3_000
MAX_WINDOW_SUFFIX = 1_500

Scope = Literal["declarations", "statements", "expression", "unknown"]


# --------------------------------------------------------------------------- window


@dataclass(frozen=True, slots=True)
class Window:
    """The enclosing construct around the cursor: ``prefix`` + cursor + ``suffix``."""

    prefix: str
    suffix: str
    anchor_indent: int


def cursor_window(
    prefix: str,
    suffix: str,
    max_prefix: int = MAX_WINDOW_PREFIX,
    max_suffix: int = MAX_WINDOW_SUFFIX,
    anchors: tuple[str, ...] = (),
) -> Window:
    """The window from the latest least-indented line before the cursor to its construct's end.

    ``prefix``/``suffix`` use ``\\n`` line ends. Lines starting with one of ``anchors`` (the
    language's definition keywords) are preferred as the start, so that a string or comment
    whose text sits at column 0 never becomes the anchor (the window would start inside it).
    """
    tail = prefix[-max_prefix:]
    base = 0
    if len(prefix) > max_prefix:
        newline = tail.find("\n")
        base = newline + 1 if newline != -1 else 0
    line_start = tail.rfind("\n") + 1
    cursor_line = tail[line_start:]
    best_start = line_start
    best_indent = 1 << 30
    key_start = -1
    key_indent = 1 << 30
    if cursor_line.strip() and not starts_with_closer(cursor_line.lstrip()):
        best_indent = indent_width(cursor_line)
        if anchors and cursor_line.lstrip().startswith(anchors):
            key_start, key_indent = line_start, best_indent
    pos = line_start - 1  # the "\n" ending the previous line
    while pos > base and (key_indent if anchors else best_indent) > 0:
        start = tail.rfind("\n", base, pos) + 1
        if start < base:
            start = base
        line = tail[start:pos]
        stripped = line.lstrip(" \t")
        if stripped and not starts_with_closer(stripped):
            width = (
                len(line)
                - len(stripped)
                + line.count("\t", 0, len(line) - len(stripped)) * (TAB_WIDTH - 1)
            )
            if width < best_indent:
                best_indent = width
                best_start = start
            if width < key_indent and anchors and stripped.startswith(anchors):
                key_indent = width
                key_start = start
        pos = start - 1
    if key_start != -1:
        best_indent, best_start = key_indent, key_start
    elif best_indent == 1 << 30:
        best_indent = 0
        best_start = base
    window_prefix = tail[best_start:]

    # The suffix runs to the first line that leaves the anchor's construct.
    first_newline = suffix.find("\n")
    if first_newline == -1:
        return Window(window_prefix, suffix[:max_suffix], best_indent)
    end = first_newline
    limit = min(len(suffix), max_suffix)
    while end < limit:
        start = end + 1
        next_newline = suffix.find("\n", start)
        stop = len(suffix) if next_newline == -1 else next_newline
        line = suffix[start:stop]
        stripped = line.lstrip(" \t")
        if stripped:
            width = indent_width(line)
            if width < best_indent:
                break
            if width == best_indent:
                if starts_with_closer(stripped):
                    end = stop
                break
        end = stop
    return Window(window_prefix, suffix[: min(end, max_suffix)], best_indent)


# --------------------------------------------------------------------------- tree-sitter


def anchors_for(spec: LanguageSpec) -> tuple[str, ...]:
    """Line starts that begin a construct: good places for a window to start."""
    return (
        spec.definition_keywords
        + spec.container_keywords
        + tuple(k for k in spec.top_level_keywords if k[:1].isalpha())
    )


_local = threading.local()


def _parser(spec: LanguageSpec) -> Any | None:
    language = load_grammar(spec)
    if language is None:
        return None
    parsers: dict[str, Any] | None = getattr(_local, "parsers", None)
    if parsers is None:
        parsers = {}
        _local.parsers = parsers
    parser = parsers.get(spec.name)
    if parser is None:
        import tree_sitter

        parser = tree_sitter.Parser(language)
        parsers[spec.name] = parser
    return parser


DECLARATION_NODES = frozenset(
    {
        "program",
        "module",
        "source_file",
        "translation_unit",
        "compilation_unit",
        "chunk",
        "class_body",
        "declaration_list",
        "field_declaration_list",
        "interface_body",
        "enum_body",
        "object_type",
        "enum_variant_list",
        "enum_class_body",
        "interface_declaration",
        "namespace_body",
        "struct_type",
        "interface_type",
    }
)
STATEMENT_NODES = frozenset(
    {
        "block",
        "statement_block",
        "compound_statement",
        "function_body",
        "constructor_body",
        "switch_body",
        "switch_block",
        "expression_switch_statement",
        "match_block",
        "closure_expression",
        "arrow_function",
        "else_clause",
    }
)
EXPRESSION_NODES = frozenset(
    {
        "arguments",
        "argument_list",
        "array",
        "object",
        "list",
        "dictionary",
        "set",
        "tuple",
        "parenthesized_expression",
        "formal_parameters",
        "parameters",
        "parameter_list",
        "array_expression",
        "tuple_expression",
        "composite_literal",
        "literal_value",
        "struct_expression",
        "field_initializer_list",
        "table_constructor",
        "template_substitution",
        "jsx_expression",
        "type_arguments",
        "type_parameters",
    }
)
BLOCK_NODES = (STATEMENT_NODES | DECLARATION_NODES | {"object", "literal_value"}) - {
    "program",
    "module",
    "source_file",
    "translation_unit",
    "compilation_unit",
    "chunk",
    "closure_expression",
    "arrow_function",
    "else_clause",
    "expression_switch_statement",
    "interface_declaration",
}


def _is_comment(node_type: str) -> bool:
    return "comment" in node_type


def _is_string(node_type: str) -> bool:
    return (
        node_type in ("string", "string_literal", "template_string", "char_literal", "rune_literal")
        or node_type.endswith("_string_literal")
        or node_type == "raw_string_literal"
    )


@dataclass(frozen=True, slots=True)
class TreeFacts:
    in_comment: bool
    in_string: bool
    scope: Scope
    block_empty: bool | None
    node_type: str


def _tree_facts(spec: LanguageSpec, window: Window) -> TreeFacts | None:
    parser = _parser(spec)
    if parser is None:
        return None
    head = window.prefix.encode("utf-8", "surrogatepass")
    data = head + window.suffix.encode("utf-8", "surrogatepass")
    try:
        tree = parser.parse(data)
    except Exception:  # never let a grammar problem break completion
        log.debug("tree-sitter parse failed for %s", spec.name, exc_info=True)
        return None
    off = len(head)
    root = tree.root_node
    inner = root.descendant_for_byte_range(off, off)
    before = root.descendant_for_byte_range(off - 1, off) if off > 0 else None

    in_comment = in_string = False
    node = before
    while node is not None:
        node_type = node.type
        if _is_comment(node_type) and node.start_byte < off:
            if off < node.end_byte:
                in_comment = True
            elif off == node.end_byte:
                text = data[node.start_byte : node.end_byte]
                in_comment = not any(text.endswith(c.encode()) for _, c in spec.block_comments)
            break
        if _is_string(node_type) and node.start_byte < off < node.end_byte:
            in_string = True
            break
        node = node.parent

    scope: Scope = "unknown"
    block_empty: bool | None = None
    node = inner
    node_type = inner.type if inner is not None else ""
    while node is not None:
        kind = node.type
        if block_empty is None and kind in BLOCK_NODES and node.start_byte < off < node.end_byte:
            block_empty = not any(not _is_comment(c.type) for c in node.named_children)
        if kind in EXPRESSION_NODES and node.start_byte < off < node.end_byte:
            scope = "expression"
            break
        if kind in STATEMENT_NODES:
            scope = "statements"
            break
        if kind in DECLARATION_NODES:
            scope = "declarations"
            break
        node = node.parent
    return TreeFacts(in_comment, in_string, scope, block_empty, node_type)


# --------------------------------------------------------------------------- cursor analysis


@dataclass(frozen=True, slots=True)
class CursorSyntax:
    """What the syntax says about the cursor position."""

    line_before: str
    """Text before the cursor on its line."""
    line_after: str
    """Text after the cursor on its line (no line end)."""
    in_comment: bool = False
    in_string: bool = False
    opens_block: bool = False
    """The text before the cursor on its line ends with a block opener (``:``, ``{``...)."""
    empty_block: bool = False
    """The cursor is in (or right after the opener of) a block with no body yet."""
    scope: Scope = "unknown"
    """What the enclosing block holds: declarations (top level, class, impl) or statements."""
    cursor_indent: int = 0
    """Width of the cursor line's indentation."""
    parsed: bool = False
    """True when tree-sitter parsed the window (False: text heuristics only)."""
    node_type: str = ""


def next_nonblank(suffix: str) -> str | None:
    """The first non-blank line after the cursor line."""
    pos = suffix.find("\n")
    while pos != -1:
        nxt = suffix.find("\n", pos + 1)
        line = suffix[pos + 1 : nxt if nxt != -1 else len(suffix)]
        if line.strip():
            return line
        pos = nxt
    return None


def prev_nonblank(prefix: str) -> str | None:
    """The last non-blank line before the cursor line."""
    end = prefix.rfind("\n")
    while end > 0:
        start = prefix.rfind("\n", 0, end) + 1
        line = prefix[start:end]
        if line.strip():
            return line
        end = start - 1
    return None


def _text_scope(spec: LanguageSpec, window_prefix: str, cursor_indent: int) -> Scope:
    """Scope from indentation: the nearest less-indented line before the cursor decides."""
    end = window_prefix.rfind("\n")
    while end > 0:
        start = window_prefix.rfind("\n", 0, end) + 1
        line = window_prefix[start:end]
        stripped = line.strip()
        if stripped and indent_width(line) < cursor_indent and not starts_with_closer(stripped):
            if stripped.startswith(spec.container_keywords):
                return "declarations"
            if stripped[-1] in "([" or re.search(r"[=:,(]\s*\{$", stripped):
                return "expression"
            return "statements"
        end = start - 1
    return "declarations"


def line_opens_block(spec: LanguageSpec, line: str) -> bool:
    """Whether ``line`` (text before the cursor) ends with something that opens a block."""
    stripped = line.strip()
    if not stripped:
        return False
    for token in spec.line_comments:  # `if x:  # note` still opens a block
        index = stripped.find(" " + token)
        if index != -1:
            stripped = stripped[:index].rstrip()
    return bool(spec.block_open_re.search(stripped))


_CACHE: OrderedDict[tuple[str, str, str], CursorSyntax] = OrderedDict()
_CACHE_SIZE = 8
_CACHE_LOCK = threading.Lock()


# Only text this close to the cursor is ever looked at (callers may pass whole documents).
NEAR_PREFIX = 4 * MAX_WINDOW_PREFIX
NEAR_SUFFIX = 4 * MAX_WINDOW_SUFFIX


def near_cursor(prefix: str, suffix: str) -> tuple[str, str]:
    """The text around the cursor that analysis uses, with ``\\n`` line ends."""
    if len(prefix) > NEAR_PREFIX:
        prefix = prefix[-NEAR_PREFIX:]
        prefix = prefix[prefix.find("\n") + 1 :]  # whole lines only
    if len(suffix) > NEAR_SUFFIX:
        suffix = suffix[: suffix.rfind("\n", 0, NEAR_SUFFIX) + 1 or NEAR_SUFFIX]
    if "\r" in prefix:
        prefix = prefix.replace("\r\n", "\n")
    if "\r" in suffix:
        suffix = suffix.replace("\r\n", "\n")
    return prefix, suffix


def analyze_cursor(prefix: str, suffix: str, language_id: str) -> CursorSyntax:
    """Classify the cursor position (memoised for the last few calls)."""
    prefix, suffix = near_cursor(prefix, suffix)
    key = (language_id, prefix, suffix)
    with _CACHE_LOCK:
        cached = _CACHE.get(key)
        if cached is not None:
            _CACHE.move_to_end(key)
            return cached
    result = _analyze(prefix, suffix, language_id)
    with _CACHE_LOCK:
        _CACHE[key] = result
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return result


def _analyze(prefix: str, suffix: str, language_id: str) -> CursorSyntax:
    spec = spec_for(language_id)
    line_before = last_line(prefix)
    line_after = first_line(suffix).rstrip("\r")
    window = cursor_window(prefix, suffix, anchors=anchors_for(spec))
    scanned = scan(spec, window.prefix)
    in_comment = scanned.tail == "comment"
    in_string = scanned.tail == "string"

    cursor_indent = indent_width(line_before if line_before.strip() else line_before + line_after)

    opens = line_opens_block(spec, line_before)
    after = line_after.strip()
    empty = False
    if opens:
        if after and starts_with_closer(after):
            empty = True  # `{|}`
        elif not after:
            following = next_nonblank(suffix)
            empty = following is None or indent_width(following) <= cursor_indent
    elif not line_before.strip() and not after:
        prev = prev_nonblank(prefix)
        following = next_nonblank(suffix)
        if prev is not None and line_opens_block(spec, prev):
            empty = following is None or indent_width(following) <= indent_width(prev)

    scope: Scope = _text_scope(spec, window.prefix, cursor_indent)
    parsed = False
    node_type = ""
    facts = None
    try:
        facts = _tree_facts(spec, window)
    except Exception:  # pragma: no cover - defensive: grammar bugs must not break completion
        log.debug("tree-sitter analysis failed", exc_info=True)
    if facts is not None:
        parsed = True
        node_type = facts.node_type
        in_comment = in_comment or facts.in_comment
        in_string = in_string or facts.in_string
        if not spec.indent_based and facts.scope != "unknown":
            scope = facts.scope
        if facts.block_empty is False and after and starts_with_closer(after):
            empty = False
        elif facts.block_empty is True and after and starts_with_closer(after) and opens:
            empty = True
    return CursorSyntax(
        line_before=line_before,
        line_after=line_after,
        in_comment=in_comment,
        in_string=in_string,
        opens_block=opens,
        empty_block=empty,
        scope=scope,
        cursor_indent=cursor_indent,
        parsed=parsed,
        node_type=node_type,
    )
