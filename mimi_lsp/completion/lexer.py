"""Text helpers and the bracket lexer behind completion post-processing.

``scan()`` is a regex lexer (one compiled pattern per language, from ``languages.py``) that skips
comments and strings and reports brackets, and whether the text ends inside a comment or string;
``open_brackets`` and ``unmatched_closers`` do the bracket bookkeeping on its output. Used by
``syntax.py`` (cursor analysis) and ``postprocess.py``/``scope.py``. LSP-free.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from mimi_lsp.languages import LanguageSpec, StringDelim

OPENERS = "([{"
CLOSERS = ")]}"
PAIRS = {")": "(", "]": "[", "}": "{"}
TAB_WIDTH = 4


# --------------------------------------------------------------------------- text helpers


def indent_of(line: str) -> str:
    """The leading whitespace of ``line``."""
    return line[: len(line) - len(line.lstrip(" \t"))]


def indent_width(line: str) -> int:
    """Width of the leading whitespace (a tab counts as four columns)."""
    ws = indent_of(line)
    return len(ws) + ws.count("\t") * (TAB_WIDTH - 1)


def first_line(text: str) -> str:
    index = text.find("\n")
    return text if index == -1 else text[:index]


def last_line(text: str) -> str:
    return text[text.rfind("\n") + 1 :]


def starts_with_closer(stripped: str) -> bool:
    return bool(stripped) and stripped[0] in CLOSERS


CONTINUATIONS = (
    "else",
    "elif ",
    "except",
    "finally",
    "catch",
    "} else",
    "case ",
    "default:",
    "when ",
    "rescue",
    "ensure",
)
"""How a line that goes on with the statement above it starts (``else:``, ``} else {``, a
``case`` of a switch): it belongs to that statement, not after it."""


def continues_above(stripped: str) -> bool:
    """``stripped`` (a line without its indentation) goes on with the statement above it."""
    return stripped.startswith(CONTINUATIONS)


# --------------------------------------------------------------------------- lexer


@dataclass(frozen=True, slots=True)
class ScanResult:
    """Brackets outside comments and strings, and how the text ends."""

    brackets: list[tuple[int, str]]
    tail: Literal["comment", "string"] | None


_LEXERS: dict[str, re.Pattern[str]] = {}


def _string_pattern(delim: StringDelim) -> str:
    o, c = re.escape(delim.open), re.escape(delim.close)
    newline = "" if delim.multiline else r"\n"
    if len(delim.close) == 1:
        body = rf"(?:\\[\s\S]|[^{c}\\{newline}])*" if delim.escapes else rf"[^{c}{newline}]*"
        end = rf"(?:{c}|\Z)" if delim.multiline else rf"{c}?"
        return o + body + end
    body = r"[\s\S]*?" if delim.multiline else r".*?"
    end = rf"(?:{c}|\Z)" if delim.multiline else rf"(?:{c}|(?=\n)|\Z)"
    return o + body + end


def lexer(spec: LanguageSpec) -> re.Pattern[str]:
    """One compiled pattern per language: comment | string | bracket (earliest match wins)."""
    pattern = _LEXERS.get(spec.name)
    if pattern is None:
        comments = [
            re.escape(o) + r"[\s\S]*?(?:" + re.escape(c) + r"|\Z)" for o, c in spec.block_comments
        ]
        comments += [re.escape(t) + r"[^\n]*" for t in spec.line_comments]
        strings = list(spec.extra_token_patterns)
        strings += [_string_pattern(d) for d in sorted(spec.strings, key=lambda d: -len(d.open))]
        alternatives = []
        if comments:
            alternatives.append("(?P<c>" + "|".join(comments) + ")")
        if strings:
            alternatives.append("(?P<s>" + "|".join(strings) + ")")
        alternatives.append(r"(?P<b>[()\[\]{}])")
        pattern = re.compile("|".join(alternatives))
        _LEXERS[spec.name] = pattern
    return pattern


def _unterminated(spec: LanguageSpec, token: str, kind: str) -> bool:
    if kind == "c":
        for opener, closer in spec.block_comments:
            if token.startswith(opener):
                return not (len(token) >= len(opener) + len(closer) and token.endswith(closer))
        return True  # a line comment runs to the end of its line
    for delim in sorted(spec.strings, key=lambda d: -len(d.open)):
        if token.startswith(delim.open):
            if len(token) < len(delim.open) + len(delim.close) or not token.endswith(delim.close):
                return True
            if delim.escapes:
                body = token[: len(token) - len(delim.close)]
                backslashes = len(body) - len(body.rstrip("\\"))
                return backslashes % 2 == 1
            return False
    return False


def scan(spec: LanguageSpec, text: str) -> ScanResult:
    """Brackets of ``text`` outside comments/strings, and whether it ends inside one."""
    brackets: list[tuple[int, str]] = []
    tail: Literal["comment", "string"] | None = None
    end = len(text)
    last = None
    for match in lexer(spec).finditer(text):
        kind = match.lastgroup
        if kind == "b":
            brackets.append((match.start(), match.group()))
        else:
            last = match
    if last is not None and last.end() == end and last.lastgroup in ("c", "s"):
        kind = last.lastgroup
        if _unterminated(spec, last.group(), kind):
            tail = "comment" if kind == "c" else "string"
    return ScanResult(brackets, tail)


def open_brackets(brackets: list[tuple[int, str]]) -> list[str]:
    """The stack of brackets left open (tolerant of stray closers)."""
    stack: list[str] = []
    for _, ch in brackets:
        if ch in OPENERS:
            stack.append(ch)
        elif stack and stack[-1] == PAIRS[ch]:
            stack.pop()
        elif PAIRS[ch] in stack:  # recover from a missing closer inside
            while stack and stack.pop() != PAIRS[ch]:
                pass
    return stack


def unmatched_closers(brackets: list[tuple[int, str]], limit: int) -> list[tuple[int, str]]:
    """Closers that close something opened before the text (at most ``limit``)."""
    depth = 0
    found: list[tuple[int, str]] = []
    for pos, ch in brackets:
        if ch in OPENERS:
            depth += 1
        elif depth > 0:
            depth -= 1
        else:
            found.append((pos, ch))
            if len(found) >= limit:
                break
    return found
