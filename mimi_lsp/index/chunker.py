"""Chunks along the syntax: functions, methods and classes, sized for retrieval.

First stage of indexing (``indexer.py`` calls ``chunk_file`` for every file it reads). Each
definition found by tree-sitter becomes one chunk (with the comments and decorators right above
it); a definition too big for one chunk is split into its members (a class into its methods) or
into line windows that all point at the definition. Code between definitions (imports,
module-level statements) becomes its own chunks, small runs of it merged; definitions never
merge, so every chunk of a definition names it and knows its lines (``focus_*``). Languages without a grammar get line windows
split at blank lines; Markdown gets one chunk per section. Every definition, nested or not, is
also returned as a symbol for ``workspace/symbol`` and completion context.

A class (struct, impl, ...) with members is always cut into a head chunk plus one chunk per
member, so search points at the method a query is about rather than at its class: in the
retrieval eval (``benchmarks/search_eval.py``) whole-class chunks and merged groups sent ~40%
of the answers to a range that did not start at the right definition. Each chunk carries the
signatures of its definitions (``def f(x) -> int``, ``fn f(&self)``...), embedded on their own
next to the chunk's head (see ``text.embed_texts``).

Sizes are in characters (~4 per token): chunks stay under ``max_chars`` (~800 tokens) and
anonymous neighbours under ``min_chars`` (imports, one-line statements) are merged up to
``merge_chars``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from mimi_lsp.languages import GRAMMARS, PROSE, parser_for

CHUNKER_VERSION = "5"
"""Bumped whenever chunk boundaries change: indexes made by another version are re-chunked."""

MAX_CHARS = 3_000
MIN_CHARS = 120
MERGE_CHARS = 600
WINDOW_CHARS = 1_200


@dataclass(frozen=True, slots=True)
class Definition:
    """A named definition: lines are 0-based and inclusive, columns in code points."""

    name: str
    kind: str
    container: str | None
    start_line: int
    start_col: int
    end_line: int
    end_col: int
    name_line: int
    name_col: int


@dataclass(frozen=True, slots=True)
class Chunk:
    """A piece of a file to search: whole lines ``start_line..end_line`` (inclusive)."""

    start_line: int
    end_line: int
    text: str
    symbol: str | None = None
    kind: str = "code"
    container: str | None = None
    names: tuple[str, ...] = ()
    """Every definition name inside (weighted in BM25)."""
    focus_start: int | None = None
    focus_end: int | None = None
    """Lines of the definition the chunk belongs to (where a search hit points): the whole
    definition for a definition or a window of a big one, the declaration part for a class
    head; None for code outside any definition."""
    signature: str | None = None
    """Signatures of the definitions that start in the chunk (``; ``-separated), if any."""


@dataclass(slots=True)
class ChunkedFile:
    chunks: list[Chunk] = field(default_factory=list)
    definitions: list[Definition] = field(default_factory=list)


@dataclass(slots=True)
class _Def:
    name: str
    kind: str
    start: int  # first line (incl. wrapper such as a decorator)
    end: int
    node: Any
    name_node: Any
    children: list[_Def] = field(default_factory=list)
    container: str | None = None
    signature: str = ""


@dataclass(slots=True)
class _Seg:
    start: int
    end: int
    symbol: str | None
    kind: str
    container: str | None
    names: list[str]
    size: int = 0
    focus: tuple[int, int] | None = None
    sigs: list[str] = field(default_factory=list)
    group: str | None = None
    """Merge key: the container, or for a split class's head, the class itself (so a tiny
    head joins its first members, never the function before the class)."""

    def __post_init__(self) -> None:
        if self.group is None:
            self.group = self.container


# Node types below which no definition is worth looking for (keeps the walk cheap).
_LEAF_HINTS = ("identifier", "string", "comment", "literal", "number", "parameter", "escape")
_NAME_TYPES = frozenset(
    {
        "identifier", "field_identifier", "type_identifier", "property_identifier",
        "qualified_identifier", "destructor_name", "operator_name", "constant",
        "simple_identifier", "name", "scoped_identifier", "dot_index_expression",
        "method_index_expression", "word", "private_property_identifier",
    }
)  # fmt: skip
_FUNCTION_VALUES = frozenset(
    {
        "arrow_function", "function_expression", "function", "generator_function",
        "function_definition", "class", "class_expression",
    }
)  # fmt: skip
_CONTAINER_KINDS = frozenset(
    {"class", "struct", "interface", "trait", "impl", "module", "namespace", "enum"}
)
_COMMENT_RE = re.compile(r"^\s*(#(?!include|define|if|endif|else|pragma)|//|/\*|\*|--|@|\[|;;)")
_MD_HEADING = re.compile(r"^(#{1,6})\s+(.*\S)\s*$")


def split_text_lines(text: str) -> list[str]:
    """Lines with their endings (``str.splitlines(keepends=True)`` on \\r, \\n, \\r\\n only)."""
    return re.findall(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$", text)


def chunk_file(
    text: str,
    language: str | None,
    *,
    max_chars: int = MAX_CHARS,
    min_chars: int = MIN_CHARS,
    merge_chars: int = MERGE_CHARS,
) -> ChunkedFile:
    """Chunks and definitions of one file's text."""
    lines = split_text_lines(text)
    if not lines:
        return ChunkedFile()
    sizes = [len(line) for line in lines]
    parser = parser_for(language) if language else None
    result = ChunkedFile()
    if parser is not None and language is not None:
        data = text.encode("utf-8", "surrogatepass")
        tree = parser.parse(data)
        defs = _collect_definitions(tree.root_node, language)
        result.definitions = _flatten(defs, lines)
        segments = _segment(0, len(lines) - 1, defs, None, lines, sizes, max_chars)
    elif language == "markdown":
        segments = _markdown_sections(lines, sizes, max_chars)
    else:
        segments = _windows(0, len(lines) - 1, None, "code", None, lines, sizes, max_chars)
    if language not in PROSE:
        segments = _merge(segments, min_chars, merge_chars)
    for seg in segments:
        body = "".join(lines[seg.start : seg.end + 1])
        if not body.strip():
            continue
        result.chunks.append(
            Chunk(
                start_line=seg.start,
                end_line=seg.end,
                text=body,
                symbol=seg.symbol,
                kind=seg.kind,
                container=seg.container,
                names=tuple(dict.fromkeys(seg.names)),
                focus_start=seg.focus[0] if seg.focus else None,
                focus_end=seg.focus[1] if seg.focus else None,
                signature="; ".join(dict.fromkeys(seg.sigs)) or None,
            )
        )
    return result


# ------------------------------------------------------------------------------------------
# Definitions


def _node_text(node: Any) -> str:
    return node.text.decode("utf-8", "replace") if node is not None else ""


def _inner_definition(node: Any, language: str) -> Any | None:
    """The definition a wrapper node (decorator, export, template) holds."""
    defs = GRAMMARS[language].definitions
    inner = node.child_by_field_name("definition") or node.child_by_field_name("declaration")
    if inner is not None and inner.type in defs:
        return inner
    for child in reversed(node.named_children):
        if child.type in defs:
            return child
    return None


def _declarator_name(node: Any) -> Any | None:
    """Follow C/C++ declarator chains down to the declared name."""
    current = node
    for _ in range(12):
        nxt = current.child_by_field_name("declarator")
        if nxt is None:
            break
        current = nxt
    if current.type in _NAME_TYPES:
        return current
    for child in current.named_children:
        if child.type in _NAME_TYPES:
            return child
    return None


def _name_node(node: Any, language: str) -> Any | None:
    """The node naming a definition, or None when it does not define a name we index."""
    t = node.type
    if t in ("lexical_declaration", "variable_declaration"):
        # const f = () => ... (JS/TS); local f = function() end (Lua)
        for child in node.named_children:
            if child.type == "variable_declarator":
                value = child.child_by_field_name("value")
                if value is not None and value.type in _FUNCTION_VALUES:
                    return child.child_by_field_name("name")
            elif child.type == "assignment_statement":
                names = child.named_children
                if len(names) == 2 and any(
                    v.type in _FUNCTION_VALUES for v in names[1].named_children
                ):
                    first = names[0].named_children
                    return first[0] if first else None
        return None
    if t in ("struct_specifier", "enum_specifier", "union_specifier", "class_specifier"):
        if node.child_by_field_name("body") is None:
            return None
        return node.child_by_field_name("name")
    if t == "impl_item":
        return node.child_by_field_name("type")
    if t == "type_declaration":
        for child in node.named_children:
            if child.type in ("type_spec", "type_alias"):
                return child.child_by_field_name("name")
        return None
    if t in ("function_definition", "type_definition") and language in ("c", "cpp"):
        declarator = node.child_by_field_name("declarator")
        return _declarator_name(declarator) if declarator is not None else None
    name = node.child_by_field_name("name")
    if name is not None:
        return name
    for child in node.named_children:
        if child.type in _NAME_TYPES:
            return child
    return None


SIGNATURE_CHARS = 240


def _signature(target: Any, kind: str) -> str:
    """A definition's head without its body (``def f(x) -> int``), whitespace collapsed."""
    body = target.child_by_field_name("body")
    data = target.text or b""
    if body is not None and body.start_byte > target.start_byte:
        data = data[: body.start_byte - target.start_byte]
    else:
        data = data.split(b"\n", 1)[0]
    text = " ".join(data.decode("utf-8", "replace").split()).rstrip(" {:=")
    if len(text) > SIGNATURE_CHARS:
        text = text[:SIGNATURE_CHARS].rstrip() + "…"
    return text or kind


_LEAF_TYPES: dict[str, bool] = {}
# Simple statements that can never hold a definition, per language: the walk skips them (most
# of a file's nodes), which halves chunking time on Python. Other languages nest declarations
# in expressions (a JS module pattern's function expression), so nothing is skipped there.
_OPAQUE: dict[str, frozenset[str]] = {
    "python": frozenset(
        {
            "expression_statement", "return_statement", "import_statement",
            "import_from_statement", "future_import_statement", "raise_statement",
            "assert_statement", "pass_statement", "delete_statement", "global_statement",
            "nonlocal_statement", "print_statement", "exec_statement", "break_statement",
            "continue_statement", "type_alias_statement",
        }
    ),
}  # fmt: skip


def _is_leaf(node_type: str) -> bool:
    leaf = _LEAF_TYPES.get(node_type)
    if leaf is None:
        leaf = _LEAF_TYPES[node_type] = any(hint in node_type for hint in _LEAF_HINTS)
    return leaf


def _collect_definitions(root: Any, language: str) -> list[_Def]:
    """Definitions as a tree (members nested under their class), in source order."""
    grammar = GRAMMARS[language]
    opaque = _OPAQUE.get(language, frozenset())
    top: list[_Def] = []
    # Explicit stack: (node, list the definitions found under it go into, container name).
    stack: list[tuple[Any, list[_Def], _Def | None]] = [
        (child, top, None) for child in reversed(root.named_children)
    ]
    while stack:
        node, into, parent = stack.pop()
        t = node.type
        target = node
        if t in grammar.wrappers:
            inner = _inner_definition(node, language)
            if inner is None:
                stack.extend((c, into, parent) for c in reversed(node.named_children))
                continue
            target = inner
        kind = grammar.definitions.get(target.type)
        name_node = _name_node(target, language) if kind is not None else None
        if kind is None or name_node is None:
            if t not in opaque and not _is_leaf(t):
                stack.extend((c, into, parent) for c in reversed(node.named_children))
            continue
        name = _node_text(name_node).strip()
        if not name or len(name) > 200:
            continue
        if kind == "function" and parent is not None and parent.kind in _CONTAINER_KINDS:
            kind = "method"
        if target.type == "method_declaration" and language == "go":
            receiver = target.child_by_field_name("receiver")
            if receiver is not None:
                rtype = re.findall(r"[A-Za-z_]\w*", _node_text(receiver))
                parent_name = rtype[-1] if rtype else None
                d = _Def(name, "method", node.start_point[0], node.end_point[0], node, name_node)
                d.container = parent_name
                d.signature = _signature(target, "method")
                into.append(d)
                continue
        d = _Def(name, kind, node.start_point[0], node.end_point[0], node, name_node)
        d.container = parent.name if parent is not None else None
        d.signature = _signature(target, kind)
        into.append(d)
        stack.extend((c, d.children, d) for c in reversed(target.named_children))
    return top


def _byte_col_to_col(line: str, byte_col: int) -> int:
    if line.isascii():
        return byte_col
    return len(line.encode("utf-8", "surrogatepass")[:byte_col].decode("utf-8", "ignore"))


def _flatten(defs: list[_Def], lines: list[str]) -> list[Definition]:
    out: list[Definition] = []
    stack = list(reversed(defs))
    while stack:
        d = stack.pop()
        sr, sc = d.node.start_point
        er, ec = d.node.end_point
        nr, nc = d.name_node.start_point
        out.append(
            Definition(
                name=d.name,
                kind=d.kind,
                container=d.container,
                start_line=sr,
                start_col=_byte_col_to_col(lines[sr], sc) if sr < len(lines) else 0,
                end_line=er,
                end_col=_byte_col_to_col(lines[er], ec) if er < len(lines) else 0,
                name_line=nr,
                name_col=_byte_col_to_col(lines[nr], nc) if nr < len(lines) else 0,
            )
        )
        stack.extend(reversed(d.children))
    return out


# ------------------------------------------------------------------------------------------
# Segments


def _extend_up(start: int, floor: int, lines: list[str]) -> int:
    """Include comment/decorator lines directly above a definition."""
    line = start
    while line - 1 >= floor and lines[line - 1].strip() and _COMMENT_RE.match(lines[line - 1]):
        line -= 1
    return line


def _size(a: int, b: int, sizes: list[int]) -> int:
    return sum(sizes[a : b + 1])


def _segment(
    start: int,
    end: int,
    defs: list[_Def],
    container: str | None,
    lines: list[str],
    sizes: list[int],
    max_chars: int,
) -> list[_Seg]:
    out: list[_Seg] = []
    cursor = start
    for d in defs:
        if d.start < cursor or d.end > end:
            continue  # overlapping (e.g. two definitions on one line): covered already
        ds = _extend_up(d.start, cursor, lines)
        if ds > cursor:
            out += _windows(cursor, ds - 1, None, "code", container, lines, sizes, max_chars)
        out += _definition_segments(d, ds, container, lines, sizes, max_chars)
        cursor = d.end + 1
    if cursor <= end:
        out += _windows(cursor, end, None, "code", container, lines, sizes, max_chars)
    return out


def _all_names(d: _Def) -> list[str]:
    names = [d.name]
    for child in d.children:
        names += _all_names(child)
    return names


def _own_segment(d: _Def, start: int, end: int, container: str | None, size: int) -> _Seg:
    return _Seg(
        start, end, d.name, d.kind, container, _all_names(d), size, (d.start, d.end), [d.signature]
    )


def _definition_segments(
    d: _Def,
    start: int,
    container: str | None,
    lines: list[str],
    sizes: list[int],
    max_chars: int,
) -> list[_Seg]:
    size = _size(start, d.end, sizes)
    members = [c for c in d.children if c.start > start]
    if d.kind not in _CONTAINER_KINDS:
        # Nested functions stay inside their function unless it is too big.
        members = members if size > max_chars else []
    if not members and size <= max_chars:
        return [_own_segment(d, start, d.end, container, size)]
    if members:
        first = _extend_up(members[0].start, start, lines)
        out: list[_Seg] = []
        if first > start:
            head = _windows(start, first - 1, d.name, d.kind, container, lines, sizes, max_chars)
            if head:
                head[0].sigs = [d.signature]
            for seg in head:
                seg.group = d.name
                # A hit on the head points at the class's own lines (its declaration and
                # what comes before the first member), not at the members.
                seg.focus = (d.start, max(d.start, head[-1].end))
            out += head
        inner = _segment(first, d.end, members, d.name, lines, sizes, max_chars)
        # A member of a split class keeps its class as container; the closing lines of the
        # class join the last member.
        return out + inner
    windows = _windows(start, d.end, d.name, d.kind, container, lines, sizes, max_chars)
    for window in windows:
        window.sigs = [d.signature]
        window.focus = (d.start, d.end)  # a hit on any part points at the whole definition
    return windows


def _windows(
    start: int,
    end: int,
    symbol: str | None,
    kind: str,
    container: str | None,
    lines: list[str],
    sizes: list[int],
    max_chars: int,
) -> list[_Seg]:
    """Line windows of up to ``WINDOW_CHARS`` (``max_chars`` hard), cut at blank lines."""
    out: list[_Seg] = []
    a = start
    # Trim blank lines at both edges.
    while a <= end and not lines[a].strip():
        a += 1
    while end >= a and not lines[end].strip():
        end -= 1
    if a > end:
        return out
    target = min(WINDOW_CHARS, max_chars) if symbol is None else max_chars
    seg_start = a
    size = 0
    last_blank = -1
    i = a
    while i <= end:
        size += sizes[i]
        if not lines[i].strip():
            last_blank = i
        if size >= target and i < end:
            cut = i
            if size > max_chars or last_blank <= seg_start:
                cut = i
            elif symbol is None and last_blank > seg_start:
                cut = last_blank
            out.append(_Seg(seg_start, cut, symbol, kind, container, [symbol] if symbol else []))
            seg_start = cut + 1
            size = _size(seg_start, i, sizes)
            last_blank = -1
        i += 1
    if seg_start <= end:
        out.append(_Seg(seg_start, end, symbol, kind, container, [symbol] if symbol else []))
    for seg in out:
        seg.size = _size(seg.start, seg.end, sizes)
    return out


def _markdown_sections(lines: list[str], sizes: list[int], max_chars: int) -> list[_Seg]:
    out: list[_Seg] = []
    heading: str | None = None
    start = 0
    fenced = False
    for i, line in enumerate(lines):
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
        match = None if fenced else _MD_HEADING.match(line.rstrip("\r\n"))
        if match and i > start:
            out += _windows(start, i - 1, heading, "section", None, lines, sizes, max_chars)
            start = i
        if match:
            heading = match.group(2)
    out += _windows(start, len(lines) - 1, heading, "section", None, lines, sizes, max_chars)
    return out


def _merge(segments: list[_Seg], min_chars: int, merge_chars: int) -> list[_Seg]:
    """Merge runs of small anonymous neighbours (under ``min_chars``) up to ``merge_chars``.

    Only code outside any definition merges (imports, module-level statements): a definition
    stays one chunk of its own, so a search hit is always one definition with its own range and
    name. With merged groups of small definitions 18% of the eval's hits were named after
    another definition than the one they pointed at (0.2% without), and strict hybrid MRR@10
    was 0.459 / 0.375 (dev / held-out) against 0.566 / 0.563 with one chunk per definition.
    """
    groups: list[list[_Seg]] = []
    for seg in segments:
        if groups:
            group = groups[-1]
            size = sum(s.size for s in group)
            prev = group[-1]
            small = prev.size < min_chars or seg.size < min_chars
            anonymous = prev.symbol is None and seg.symbol is None
            if small and anonymous and prev.group == seg.group and size + seg.size <= merge_chars:
                group.append(seg)
                continue
        groups.append([seg])
    out: list[_Seg] = []
    for group in groups:
        if len(group) == 1:
            out.append(group[0])
            continue
        first = group[0]
        out.append(
            _Seg(
                first.start,
                group[-1].end,
                None,
                first.kind,
                first.container,
                [n for s in group for n in s.names],
                sum(s.size for s in group),
                None,
                [sig for s in group for sig in s.sigs],
            )
        )
    return out
