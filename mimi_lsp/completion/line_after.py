"""Post-processing step 4: the text after the cursor on its line.

A single-line suggestion that repeats what follows the cursor is trimmed; one that closes what
the closers after the cursor close (``f(|)`` -> ``n) {...}``) replaces them. Used by
``postprocess.py``; LSP-free.
"""

from __future__ import annotations

from mimi_lsp.completion.lexer import CLOSERS, OPENERS, open_brackets, scan, unmatched_closers
from mimi_lsp.completion.syntax import CursorSyntax, line_opens_block
from mimi_lsp.languages import LanguageSpec

_CLOSING_PUNCT = set(CLOSERS + "\"'`;:,.>") | {" "}


def only_closers(text: str) -> bool:
    return bool(text) and all(ch in _CLOSING_PUNCT for ch in text) and text.strip() != ""


def _is_subsequence(needle: str, haystack: str) -> bool:
    it = iter(haystack)
    return all(ch in it for ch in needle)


def overlap_with_line_after(
    text: str, syn: CursorSyntax, spec: LanguageSpec, opened: bool = False
) -> tuple[str, int]:
    """Text after the cursor on its line that the suggestion repeats: trim it or replace it."""
    line_after = syn.line_after
    after = line_after.strip()
    if not after:
        return text, 0
    if "\n" in text:
        return _replace_closers(text, syn, spec, opened)
    stripped = text.rstrip()
    if stripped.endswith(after):
        kept = stripped[: len(stripped) - len(after)]
        return (kept.rstrip() if line_after[:1].isspace() else kept), 0
    if only_closers(after):
        compact = after.replace(" ", "")
        # The suggestion closes what the line already closes, and adds more (`a);` vs `)`).
        first_close = next((i for i, ch in enumerate(stripped) if ch in compact), -1)
        if first_close != -1 and _is_subsequence(compact, stripped[first_close:]):
            if _closes_something(stripped, compact[0]):
                return stripped, len(line_after)
    return text, 0


def _replace_closers(
    text: str, syn: CursorSyntax, spec: LanguageSpec, opened: bool
) -> tuple[str, int]:
    """A multi-line suggestion that closes, in order, what the closers after the cursor close
    (``f(|)`` -> ``n) {...}``, ``{|})`` -> ``...\n});``): it replaces them and ends on the line
    of its last closer, keeping what follows it there (``;``). Without brackets (``if |:``), a
    first line that ends with them replaces them."""
    after = syn.line_after.strip()
    closers = [ch for ch in after if ch in CLOSERS]
    if syn.in_string or not only_closers(after):
        return text, 0
    if not closers:
        # `if |:` -> `x > 0:` + its body: the first line ends with what follows the cursor.
        first = text.split("\n", 1)[0].rstrip()
        return text, (len(syn.line_after) if first.strip() and first.endswith(after) else 0)
    brackets = scan(spec, text).brackets
    found = unmatched_closers(brackets, len(closers))
    if [ch for _, ch in found] != closers:
        return text, 0
    last = found[-1][0]
    end = text.find("\n", last)
    if end == -1:
        return text, len(syn.line_after)
    # That line goes on to open a block (`n) -> u32 {`, `items):`): the block is the suggestion.
    line = text[text.rfind("\n", 0, last) + 1 : end]
    opens = open_brackets([b for b in brackets if last < b[0] < end])
    if opens or line_opens_block(spec, line) or (opened and "\n" not in text[:last]):
        return text, len(syn.line_after)
    return text[:end], len(syn.line_after)


def _closes_something(text: str, closer: str) -> bool:
    """Whether ``text`` has an unmatched ``closer`` (it closes what was open before it)."""
    if closer not in CLOSERS:
        return closer in text  # a quote or `;`: present is enough
    depth = 0
    for ch in text:
        if ch in OPENERS:
            depth += 1
        elif ch in CLOSERS:
            if depth == 0:
                return ch == closer
            depth -= 1
    return False
