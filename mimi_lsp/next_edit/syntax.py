"""Identifiers and their scopes, from tree-sitter, for the model-free predictors.

The grammars are the index's (``languages/grammars.py``: per-language wheels that work offline).
A document is parsed once per version (``SyntaxCache``); finding the uses of a name costs a
regular-expression scan of the bytes plus one tree lookup per hit, not a walk of every node. A
language without a grammar gives no tree: the predictors then stay silent rather than guess
from plain text. A document over ``WHOLE_FILE_BYTES`` is parsed in a window of lines around the
edit (tree-sitter holds the GIL while it parses).
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from mimi_lsp.domain import DocumentSnapshot
from mimi_lsp.languages import GRAMMARS, normalize_language, parser_for

WHOLE_FILE_BYTES = 192_000
"""Larger documents are parsed in a window of lines around the edit: tree-sitter holds the GIL
while it parses (~2-5 MB/s here), so a whole 1 MB file would stall every request for ~300 ms."""
WINDOW_LINES = 600

IDENTIFIER_TYPES = frozenset(
    {
        "identifier",
        "field_identifier",
        "property_identifier",
        "type_identifier",
        "shorthand_property_identifier",
        "shorthand_property_identifier_pattern",
        "private_property_identifier",
        "simple_identifier",
        "constant",
        "name",
    }
)
SCOPE_TYPES = frozenset(
    {
        "function_definition",
        "function_declaration",
        "function_item",
        "function_signature_item",
        "method_definition",
        "method_declaration",
        "constructor_declaration",
        "arrow_function",
        "function_expression",
        "function",
        "generator_function_declaration",
        "generator_function",
        "lambda",
        "closure_expression",
        "func_literal",
        "class_definition",
        "class_declaration",
        "abstract_class_declaration",
        "interface_declaration",
        "impl_item",
        "trait_item",
        "method",
        "singleton_method",
        "local_function",
        "function_definition_statement",
    }
)
CLASS_TYPES = frozenset(
    {
        "class_definition",
        "class_declaration",
        "abstract_class_declaration",
        "interface_declaration",
        "impl_item",
        "trait_item",
    }
)
DEFINITION_TYPES = SCOPE_TYPES | frozenset(
    {"struct_item", "enum_item", "type_item", "type_declaration", "type_spec", "enum_declaration"}
)


@dataclass(frozen=True, slots=True)
class Occurrence:
    """One identifier in a document: line and code-point columns, and what kind of name it is."""

    line: int
    col: int
    end_col: int
    family: str
    """'plain' (variables, functions), 'member' (obj.x), 'type', 'keyword' (f(x=1)) or
    'shorthand' ({x}), so a variable rename never touches a field of the same name."""
    start_byte: int


class Parsed:
    """One parsed document version: source bytes, tree, and name lookups."""

    def __init__(
        self,
        snapshot: DocumentSnapshot,
        language: str,
        tree: Any,
        source: bytes,
        first_line: int = 0,
        last_line: int | None = None,
    ):
        self.snapshot = snapshot
        self.language = language
        self.tree = tree
        self.source = source
        self.first_line = first_line
        """The tree covers lines ``first_line``..``last_line`` (exclusive) of the document."""
        self.last_line = len(snapshot.lines) if last_line is None else last_line
        self._line_starts: list[int] | None = None

    @property
    def whole(self) -> bool:
        return self.first_line == 0 and self.last_line >= len(self.snapshot.lines)

    def covers(self, line: int) -> bool:
        return self.first_line <= line < self.last_line

    def line_starts(self) -> list[int]:
        if self._line_starts is None:
            starts, offset = [], 0
            for line in self.snapshot.lines[self.first_line : self.last_line]:
                starts.append(offset)
                offset += len(line.encode("utf-8")) if not line.isascii() else len(line)
            self._line_starts = starts
        return self._line_starts

    def byte_of(self, line: int, col: int) -> int:
        text = self.snapshot.lines[line]
        head = text[:col]
        start = self.line_starts()[line - self.first_line]
        return start + (len(head) if head.isascii() else len(head.encode()))

    def node_at(self, line: int, col: int, end_col: int) -> Any:
        if not self.covers(line):
            return None
        start, end = self.byte_of(line, col), self.byte_of(line, end_col)
        return self.tree.root_node.named_descendant_for_byte_range(start, end)

    def occurrence(self, node: Any) -> Occurrence | None:
        """The node as an ``Occurrence`` when it is a one-line identifier."""
        if node is None or node.type not in IDENTIFIER_TYPES:
            return None
        (line, bcol), (end_line, bend) = node.start_point, node.end_point
        line, end_line = line + self.first_line, end_line + self.first_line
        if line != end_line or line >= len(self.snapshot.lines):
            return None
        raw = self.snapshot.lines[line].encode("utf-8")
        col = len(raw[:bcol].decode("utf-8", errors="ignore"))
        end_col = len(raw[:bend].decode("utf-8", errors="ignore"))
        return Occurrence(line, col, end_col, family_of(node), node.start_byte)

    def uses(self, name: str, within: Any | None = None) -> list[Occurrence]:
        """Every identifier spelled ``name`` (inside the node ``within`` when given)."""
        needle = name.encode("utf-8")
        pattern = re.compile(rb"(?<![\w$])" + re.escape(needle) + rb"(?![\w$])")
        lo = within.start_byte if within is not None else 0
        hi = within.end_byte if within is not None else len(self.source)
        root = self.tree.root_node
        out = []
        for match in pattern.finditer(self.source, lo, hi):
            node = root.named_descendant_for_byte_range(match.start(), match.end())
            if node is None or node.start_byte != match.start() or node.end_byte != match.end():
                continue
            occ = self.occurrence(node)
            if occ is not None:
                out.append(occ)
        return out


def family_of(node: Any) -> str:
    """What kind of name an identifier node is (see ``Occurrence.family``)."""
    kind = node.type
    parent = node.parent
    if kind.startswith("shorthand") or (parent is not None and parent.type.startswith("shorthand")):
        return "shorthand"
    if kind in ("field_identifier", "property_identifier", "private_property_identifier"):
        return "member"
    if kind == "type_identifier":
        return "type"
    if parent is not None:
        if parent.type in (
            "attribute",
            "member_expression",
            "selector_expression",
            "field_expression",
        ):
            for field in ("attribute", "property", "field"):
                if _is_field(parent, field, node):
                    return "member"
        if parent.type in ("keyword_argument", "named_argument") and _is_field(
            parent, "name", node
        ):
            return "keyword"
        # Go's composite literal keys (Config{Addr: v}) name struct fields.
        grand = parent.parent
        if (
            parent.type == "literal_element"
            and grand is not None
            and grand.type == "keyed_element"
            and _is_field(grand, "key", parent)
        ):
            return "member"
    return "plain"


def _is_field(parent: Any, field: str, node: Any) -> bool:
    child = parent.child_by_field_name(field)
    return child is not None and child.id == node.id


def scopes(parsed: Parsed, line: int, col: int, end_col: int) -> list[Any]:
    """Scopes around an identifier, innermost first, ending with the whole file.

    The name of a definition (``def f``, ``class C``, ``fn f``) belongs to the scope *around*
    the definition: that is where it is used.
    """
    node = parsed.node_at(line, col, end_col)
    if node is None:
        return [parsed.tree.root_node]
    parent = node.parent
    if parent is not None and parent.type in DEFINITION_TYPES and _is_field(parent, "name", node):
        node = parent
    out = []
    current = node.parent
    while current is not None:
        if current.type in SCOPE_TYPES:
            out.append(current)
        current = current.parent
    out.append(parsed.tree.root_node)
    return out


def grammar_language(language_id: str) -> str | None:
    """The grammar name for an LSP language id, or None when there is no grammar."""
    name = normalize_language(language_id)
    if name == "typescriptreact" or name == "tsx":
        name = "typescriptreact"
    return name if name in GRAMMARS else None


class SyntaxCache:
    """Parsed trees of recent document versions (a few, least recently used dropped)."""

    def __init__(self, size: int = 8) -> None:
        self._size = size
        self._trees: OrderedDict[tuple[str, int, int], Parsed | None] = OrderedDict()
        self._lock = threading.Lock()

    def parse(self, snapshot: DocumentSnapshot, around: int | None = None) -> Parsed | None:
        """The document's tree; a large one only in a window of lines around ``around`` (None
        when it is large and no line is given)."""
        first, last = 0, len(snapshot.lines)
        if snapshot.size > WHOLE_FILE_BYTES:
            if around is None:
                return None
            first = max(0, around - WINDOW_LINES // 2)
            last = min(len(snapshot.lines), first + WINDOW_LINES)
            first = max(0, last - WINDOW_LINES)
        key = (snapshot.uri, snapshot.version, first)
        with self._lock:
            if key in self._trees:
                self._trees.move_to_end(key)
                return self._trees[key]
        parsed = _parse(snapshot, first, last)
        with self._lock:
            self._trees[key] = parsed
            while len(self._trees) > self._size:
                self._trees.popitem(last=False)
        return parsed


def _parse(snapshot: DocumentSnapshot, first: int, last: int) -> Parsed | None:
    language = grammar_language(snapshot.language_id)
    if language is None:
        return None
    parser = parser_for(language)
    if parser is None:
        return None
    source = "".join(snapshot.lines[first:last]).encode("utf-8")
    try:
        tree = parser.parse(source)
    except Exception:
        return None
    return Parsed(snapshot, language, tree, source, first, last)
