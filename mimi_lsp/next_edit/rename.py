"""Model-free prediction 1: a renamed identifier is renamed at its next use.

When the newest edit turned one whole identifier into another (at its definition or at one
use), the remaining uses of the old name in the same scope are the next edits, the one at or
after the cursor first. The scope comes from the start of the rename chain (the user's first
site; accepted suggestions continue it): a parameter or local is renamed inside its function,
a top-level definition in the whole file and then in the other open files of its language.
Only names of the same kind change (renaming variable ``count`` leaves ``obj.count`` alone).
Files without a grammar get nothing: a text search cannot tell a use from a string.
"""

from __future__ import annotations

import re
from typing import Any

from mimi_lsp.domain import Span
from mimi_lsp.next_edit.edits import NextEdit, PredictionContext
from mimi_lsp.next_edit.history import Edit
from mimi_lsp.next_edit.syntax import (
    CLASS_TYPES,
    DEFINITION_TYPES,
    Occurrence,
    Parsed,
    grammar_language,
    scopes,
)

_IDENT = re.compile(r"[^\W\d]\w*|\$[\w$]*", re.UNICODE)
_WORD = re.compile(r"[\w$]")
_DECLARATIONS = frozenset(
    {
        "variable_declarator",
        "let_declaration",
        "short_var_declaration",
        "var_spec",
        "const_spec",
        "assignment",
        "assignment_expression",
        "for_statement",
        "for_in_clause",
        "for_in_statement",
        "for_expression",
        "range_clause",
        "const_item",
        "static_item",
        "local_variable_declaration",
        "variable_declaration",
    }
)


def word_around(line_text: str, start: int, end: int) -> tuple[int, int]:
    """Widen [start, end) to whole word characters."""
    while start > 0 and _WORD.match(line_text[start - 1]):
        start -= 1
    while end < len(line_text) and _WORD.match(line_text[end]):
        end += 1
    return start, end


def rename_of(edit: Edit, line_text: str) -> tuple[int, int, str, str] | None:
    """(start, end, old name, new name) when ``edit`` renamed one identifier, else None."""
    if not edit.single_line:
        return None
    start, end = word_around(line_text, edit.col, edit.col + len(edit.new))
    new = line_text[start:end]
    old = line_text[start : edit.col] + edit.old + line_text[edit.col + len(edit.new) : end]
    if old == new or not _IDENT.fullmatch(old) or not _IDENT.fullmatch(new):
        return None
    return start, end, old, new


def predict(ctx: PredictionContext) -> list[NextEdit]:
    """The remaining uses of a just-renamed identifier, nearest after the cursor first."""
    edit = ctx.last_edit()
    if edit is None:
        return []
    edited = ctx.snapshot_of(edit.uri)
    if edited is None:
        return []
    found = rename_of(edit, edited.line_text(edit.line))
    if found is None:
        return []
    start, end, old, new = found
    parsed = ctx.syntax.parse(edited, edit.line)
    if parsed is None:
        return []
    site = parsed.occurrence(parsed.node_at(edit.line, start, end))
    if site is None or (site.line, site.col, site.end_col) != (edit.line, start, end):
        return []
    if site.family in ("shorthand", "keyword"):
        return []
    origin = _chain_origin(ctx, edit, old, new, parsed) or site
    if site.family == "member":
        # A field or method is used through any object, in every method: its class, or the file.
        scope, module_level = _class_or_file(parsed, origin)
    else:
        scope, module_level = _scope(parsed, origin, old, new)
    families = {site.family}
    uses = [u for u in parsed.uses(old, scope) if u.family in families]
    per_uri: list[tuple[str, int, list[Occurrence]]] = [(edited.uri, edited.version, uses)]
    if module_level and parsed.whole:
        language = parsed.language
        for other in [ctx.snapshot, *ctx.open_documents()]:
            if other.uri == edited.uri or grammar_language(other.language_id) != language:
                continue
            other_parsed = ctx.syntax.parse(other)  # None for a large one: not parsed whole
            if other_parsed is None:
                continue
            other_uses = [
                u for u in other_parsed.uses(old) if u.family in ("plain", "member", "type")
            ]
            if other_uses:
                per_uri.append((other.uri, other.version, other_uses))
    return _ordered(ctx, per_uri, new)


def _chain_origin(
    ctx: PredictionContext, last: Edit, old: str, new: str, parsed: Parsed
) -> Occurrence | None:
    """The first site of the rename ``old`` -> ``new`` still visible in the edited file."""
    origin = None
    snapshot = parsed.snapshot
    for edit in reversed(ctx.history.of(last.uri)):
        if not edit.single_line or edit.line >= len(snapshot.lines):
            break
        line_text = snapshot.line_text(edit.line)
        found = rename_of(edit, line_text) if edit.still_applies(snapshot) else None
        if found is None or found[2:] != (old, new):
            if edit is last:
                continue
            break
        occ = parsed.occurrence(parsed.node_at(edit.line, found[0], found[1]))
        if occ is not None:
            origin = occ
    return origin


def _scope(parsed: Parsed, origin: Occurrence, old: str, new: str) -> tuple[Any, bool]:
    """The scope a rename applies in, and whether that is the whole file (a top-level name)."""
    node = parsed.node_at(origin.line, origin.col, origin.end_col)
    chain = scopes(parsed, origin.line, origin.col, origin.end_col)
    if node is not None and _is_definition(node):
        return chain[0], len(chain) == 1
    for scope in chain:
        for name in (old, new):
            for occ in parsed.uses(name, scope):
                if _is_definition(parsed.node_at(occ.line, occ.col, occ.end_col)):
                    return scope, scope is chain[-1]
    return chain[-1], True


def _class_or_file(parsed: Parsed, origin: Occurrence) -> tuple[Any, bool]:
    for scope in scopes(parsed, origin.line, origin.col, origin.end_col):
        if scope.type in CLASS_TYPES:
            return scope, False
    return parsed.tree.root_node, True


def renamed_identifier(ctx: PredictionContext, edit: Edit) -> bool:
    """Whether ``edit`` renamed an identifier the syntax tree knows (the rename predictor's
    case: other predictors leave it alone, whatever the rename found)."""
    edited = ctx.snapshot_of(edit.uri)
    if edited is None:
        return False
    found = rename_of(edit, edited.line_text(edit.line))
    if found is None:
        return False
    parsed = ctx.syntax.parse(edited, edit.line)
    if parsed is None:
        return False
    site = parsed.occurrence(parsed.node_at(edit.line, found[0], found[1]))
    return site is not None and (site.line, site.col, site.end_col) == (edit.line, *found[:2])


def _is_definition(node: Any) -> bool:
    """Whether an identifier node declares its name (a parameter, a binding, a definition)."""
    if node is None:
        return False
    child, parent = node, node.parent
    for _ in range(4):
        if parent is None:
            return False
        kind = parent.type
        if kind in DEFINITION_TYPES:
            name = parent.child_by_field_name("name")
            return name is not None and name.id == child.id
        if "parameter" in kind:
            return True
        if kind in _DECLARATIONS:
            for field in ("left", "name", "pattern"):
                target = parent.child_by_field_name(field)
                if target is not None and target.start_byte <= node.start_byte < target.end_byte:
                    return True
            return False
        child, parent = parent, parent.parent
    return False


def _ordered(
    ctx: PredictionContext, per_uri: list[tuple[str, int, list[Occurrence]]], new: str
) -> list[NextEdit]:
    """The request's document first (at or after the cursor, then from the top), then others."""
    cursor = (ctx.line, ctx.col)
    out: list[NextEdit] = []
    per_uri.sort(key=lambda item: item[0] != ctx.snapshot.uri)
    for uri, version, uses in per_uri:
        ordered = sorted(uses, key=lambda u: (u.line, u.col))
        if uri == ctx.snapshot.uri:
            after = [u for u in ordered if (u.line, u.end_col) >= cursor]
            ordered = after + [u for u in ordered if u not in after]
        for use in ordered:
            span = Span(use.line, use.col, use.line, use.end_col)
            out.append(NextEdit(uri, version, span, new, "rename"))
    return out
