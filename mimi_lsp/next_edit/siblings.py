"""Model-free prediction 2: the same textual change at look-alike sibling sites.

The newest edit, reduced to what it changed (``trimmed``), is applied again where the code
looks the same around it:

- a replacement or deletion (``log.info(`` -> ``log.debug(``, ``x: int,`` -> ``x: i64,``,
  ``.unwrap()`` dropped): other places where the replaced text stands between neighbours of
  the same kind (punctuation equal, words and literals of the same class);
- an insertion at the end or the start of a bracket group (an argument added to ``foo(...)``):
  the other groups of the same head (``foo(``), when they do not have it yet;
- an insertion before a word (``await `` before ``fetch(``): the other places of that word and
  the punctuation after it;
- an insertion at the start of a line (``pub `` before a struct field): the neighbouring lines of
  the same indentation that start with the same kinds of tokens.

Sites in the request's document come first (at or after the cursor, then from the top), then
the other open documents of the same language. Lines longer than ``MAX_LINE`` are skipped.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from mimi_lsp.domain import DocumentSnapshot, Span
from mimi_lsp.next_edit.edits import NextEdit, PredictionContext, trimmed
from mimi_lsp.next_edit.rename import renamed_identifier
from mimi_lsp.next_edit.syntax import grammar_language

MAX_LINE = 400
NEIGHBOUR_LINES = 60
_TOKEN = re.compile(r"\w+|\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'|`[^`]*`|\s+|.", re.UNICODE)
_OPEN = {"(": ")", "[": "]", "{": "}", "<": ">"}
_CLOSE = {v: k for k, v in _OPEN.items()}


def _kind(token: str) -> str:
    """A token's class: words and literals by kind, punctuation as itself."""
    if not token:
        return "^"
    first = token[0]
    if first.isalnum() or first == "_":
        return "w"
    if first in "\"'`":
        return "s"
    if first.isspace():
        return " "
    return token


def _left_token(line: str, col: int) -> str:
    """The kind of the nearest non-space token before ``col`` ('^' at the line start)."""
    head = line[:col].rstrip()
    if not head:
        return "^"
    tokens = _TOKEN.findall(head)
    return _kind(tokens[-1]) if tokens else "^"


_LITERAL = re.compile(r"-?\d[\w.]*|\"[^\"]*\"|'[^']*'")


def _left_text(line: str, col: int) -> str:
    """The two non-space tokens before ``col``, exactly (a literal's name and its ``:``/``=``)."""
    tokens = [t for t in _TOKEN.findall(line[:col]) if not t.isspace()]
    return " ".join(tokens[-2:]) if tokens else "^"


def _right_token(line: str, col: int) -> str:
    """The kind of the nearest non-space token from ``col`` ('$' at the line end)."""
    tail = line[col:].lstrip()
    if not tail:
        return "$"
    match = _TOKEN.match(tail)
    return _kind(match.group(0)) if match else "$"


def predict(ctx: PredictionContext) -> list[NextEdit]:
    """The newest edit repeated at its look-alike sites, nearest after the cursor first."""
    edit = ctx.last_edit()
    if edit is None or not edit.single_line or renamed_identifier(ctx, edit):
        return []  # a renamed identifier changes in its scope only (rename.py), never by look
    edited = ctx.snapshot_of(edit.uri)
    if edited is None:
        return []
    after = edited.line_text(edit.line)
    if len(after) > MAX_LINE:
        return []
    before = after[: edit.col] + edit.old + after[edit.col + len(edit.new) :]
    inside = trimmed(edit.line, edit.col, edit.old, edit.new)
    whole = _whole_words(before, after, *inside)
    documents = _documents(ctx, edited)
    # The change as whole words first (``info`` -> ``debug``); a change inside a word is also
    # read as itself (``APP_ADDR`` -> ``SVC_ADDR``: ``APP`` -> ``SVC`` before ``_``).
    for line, col, old, new in [whole] if whole == inside else [whole, inside]:
        if old == new:
            continue
        finder = _finder(before, col, old, new, edit.line, edited.uri)
        if finder is None:
            continue
        out = _collect(ctx, documents, finder, edited.uri, line, col, old, new)
        if out:
            return out
    return []


def _finder(before: str, col: int, old: str, new: str, line: int, uri: str) -> Any:
    if old:
        return _replacements(before, col, old, new)
    if (group := _group_insertion(before, col, new)) is not None:
        return group
    if not before[:col].strip():
        return _line_start(before, col, new, line, uri)
    return _before_word(before, col, new) or _after_word(before, col, new)


def _collect(
    ctx: PredictionContext,
    documents: list[DocumentSnapshot],
    finder: Any,
    uri: str,
    line: int,
    col: int,
    old: str,
    new: str,
) -> list[NextEdit]:
    site = (line, col, len(old))
    out: list[NextEdit] = []
    for snapshot in documents:
        found = []
        for hit_line, hit_col, length, text in finder(snapshot):
            if snapshot.uri == uri and (hit_line, hit_col, length) == site:
                continue
            if (
                snapshot.uri == uri
                and hit_line == line
                and _overlaps(hit_col, length, col, len(new))
            ):
                continue
            found.append((hit_line, hit_col, length, text))
        out.extend(_ordered(ctx, snapshot, found))
    return out


def _is_word(ch: str) -> bool:
    return bool(ch) and (ch.isalnum() or ch in "_$")


def _whole_words(
    before: str, after: str, line: int, col: int, old: str, new: str
) -> tuple[int, int, str, str]:
    """Widen a change that starts or ends inside a word to that whole word."""
    start, old_end, new_end = col, col + len(old), col + len(new)
    if start > 0 and _is_word(before[start - 1]) and (_is_word(old[:1]) or _is_word(new[:1])):
        while start > 0 and _is_word(before[start - 1]):
            start -= 1
    if (
        old_end < len(before)
        and _is_word(before[old_end])
        and (_is_word(old[-1:]) or _is_word(new[-1:]))
    ):
        while old_end < len(before) and _is_word(before[old_end]):
            old_end += 1
            new_end += 1
    return line, start, before[start:old_end], after[start:new_end]


def _overlaps(a: int, a_len: int, b: int, b_len: int) -> bool:
    return a < b + max(b_len, 1) and b < a + max(a_len, 1)


def _documents(ctx: PredictionContext, edited: DocumentSnapshot) -> list[DocumentSnapshot]:
    """The request's document, the edited one, then the other open ones of the same language."""
    language = grammar_language(edited.language_id) or edited.language_id
    out = [ctx.snapshot]
    if edited.uri != ctx.snapshot.uri:
        out.append(edited)
    for other in ctx.open_documents():
        if other.uri in (ctx.snapshot.uri, edited.uri):
            continue
        if (grammar_language(other.language_id) or other.language_id) == language:
            out.append(other)
    return [s for s in out if (grammar_language(s.language_id) or s.language_id) == language]


Hit = tuple[int, int, int, str]
"""(line, column, length replaced, new text)."""


def _lines(snapshot: DocumentSnapshot) -> Iterator[tuple[int, str]]:
    for i in range(len(snapshot.lines)):
        text = snapshot.line_text(i)
        if len(text) <= MAX_LINE:
            yield i, text


def _replacements(before: str, col: int, old: str, new: str):
    """Sites where ``old`` stands between neighbours like the edited one's."""
    if not re.search(r"\w", old) and len(old.strip()) < 2:
        return None  # one punctuation character: far too common to repeat blindly
    end = col + len(old)
    literal = bool(_LITERAL.fullmatch(old))
    prev_char = before[col - 1] if col > 0 else ""
    next_char = before[end] if end < len(before) else ""
    in_word = (_is_word(prev_char) and _is_word(old[:1])) or (
        _is_word(next_char) and _is_word(old[-1:])
    )
    if in_word:
        # Part of a word: anchored on the character that joins it to the rest of the word.
        left = right = ""
        head = (
            re.escape(prev_char)
            if _is_word(prev_char) and _is_word(old[:1])
            else (r"(?<![\w$])" if _is_word(old[:1]) else "")
        )
        tail = (
            re.escape(next_char)
            if _is_word(next_char) and _is_word(old[-1:])
            else (r"(?![\w$])" if _is_word(old[-1:]) else "")
        )
        lookbehind = f"(?<={head})" if head and not head.startswith("(?") else head
        lookahead = f"(?={tail})" if tail and not tail.startswith("(?") else tail
        pattern = re.compile(lookbehind + re.escape(old) + lookahead)
    else:
        # A value (a number, a string) changes for one name, not for every value alike:
        # ``retries: 3`` -> ``5`` says nothing about ``pageSize: 3``. Anchor on the name.
        left = _left_text(before, col) if literal else _left_token(before, col)
        right = _right_token(before, end)
        word_start = _is_word(old[:1])
        word_end = _is_word(old[-1:])
        pattern = re.compile(
            (r"(?<![\w$])" if word_start else "")
            + re.escape(old)
            + (r"(?![\w$])" if word_end else "")
        )

    def find(snapshot: DocumentSnapshot) -> list[Hit]:
        hits = []
        for i, text in _lines(snapshot):
            if old not in text:
                continue
            for match in pattern.finditer(text):
                s, e = match.start(), match.end()
                left_here = _left_text(text, s) if literal else _left_token(text, s)
                if in_word or (left_here == left and _right_token(text, e) == right):
                    hits.append((i, s, len(old), new))
        return hits

    return find


def _group_insertion(before: str, col: int, new: str):
    """An insertion at the end (or start) of a bracket group: the same in groups of that head."""
    rest = before[col:]
    head_text = before[:col]
    if rest[:1] in _CLOSE:
        closer = rest[0]
        opener = _CLOSE[closer]
        open_at = _matching_open(before, col, opener, closer)
        at_end = True
    elif head_text[-1:] in _OPEN:
        opener = head_text[-1]
        closer = _OPEN[opener]
        open_at = col - 1
        at_end = False
    else:
        return None
    if open_at is None:
        return None
    head_match = re.search(r"[\w$.]+$", before[:open_at])
    if head_match is None:
        return None
    head = head_match.group(0)
    was_empty = at_end and not before[open_at + 1 : col].strip()
    pattern = re.compile(r"(?<![\w$.])" + re.escape(head) + re.escape(opener))

    def find(snapshot: DocumentSnapshot) -> list[Hit]:
        hits = []
        for i, text in _lines(snapshot):
            if head not in text:
                continue
            for match in pattern.finditer(text):
                start = match.end() - 1
                end = _matching_close(text, start, opener, closer)
                if end is None:
                    continue
                inside = text[start + 1 : end]
                if at_end:
                    if (not inside.strip()) != was_empty or inside.endswith(new):
                        continue
                    hits.append((i, end, 0, new))
                else:
                    if inside.startswith(new) or not inside.strip():
                        continue
                    hits.append((i, start + 1, 0, new))
        return hits

    return find


def _matching_open(text: str, col: int, opener: str, closer: str) -> int | None:
    depth = 0
    for i in range(col - 1, -1, -1):
        ch = text[i]
        if ch == closer:
            depth += 1
        elif ch == opener:
            if depth == 0:
                return i
            depth -= 1
    return None


def _matching_close(text: str, start: int, opener: str, closer: str) -> int | None:
    depth = 0
    for i in range(start + 1, len(text)):
        ch = text[i]
        if ch == opener:
            depth += 1
        elif ch == closer:
            if depth == 0:
                return i
            depth -= 1
    return None


def _before_word(before: str, col: int, new: str):
    """An insertion right before a word (``await fetch(``): before that word elsewhere."""
    match = re.match(r"[\w$]+[^\w\s]?", before[col:])
    if match is None or (col > 0 and re.match(r"[\w$]", before[col - 1])):
        return None
    anchor = match.group(0)
    pattern = re.compile(r"(?<![\w$])" + re.escape(anchor))

    def find(snapshot: DocumentSnapshot) -> list[Hit]:
        hits = []
        for i, text in _lines(snapshot):
            if anchor not in text:
                continue
            for m in pattern.finditer(text):
                if text[: m.start()].endswith(new):
                    continue
                hits.append((i, m.start(), 0, new))
        return hits

    return find


def _after_word(before: str, col: int, new: str):
    """An insertion right after a word (``pub`` -> ``pub(crate)``): after that word elsewhere,
    where the same character follows it."""
    match = re.search(r"[\w$]+$", before[:col])
    following = before[col : col + 1]
    if match is None or (following and _is_word(following)):
        return None
    word = match.group(0)
    pattern = re.compile(
        r"(?<![\w$])" + re.escape(word) + (f"(?={re.escape(following)})" if following else "$")
    )

    def find(snapshot: DocumentSnapshot) -> list[Hit]:
        hits = []
        for i, text in _lines(snapshot):
            if word not in text:
                continue
            for m in pattern.finditer(text):
                if text[m.end() :].startswith(new):
                    continue
                hits.append((i, m.end(), 0, new))
        return hits

    return find


def _line_start(before: str, col: int, new: str, line: int, uri: str):
    """An insertion at a line's start: the neighbouring lines of the same indentation and shape."""
    indent = before[:col]
    shape = [_kind(t) for t in _TOKEN.findall(before[col:]) if not t.isspace()][:2]
    if not shape or shape[0] != "w":
        return None

    def find(snapshot: DocumentSnapshot) -> list[Hit]:
        hits: list[Hit] = []
        if snapshot.uri != uri:
            return hits  # line neighbours exist only in the edited document
        for step in (-1, 1):
            i = line + step
            while 0 <= i < len(snapshot.lines) and abs(i - line) <= NEIGHBOUR_LINES:
                text = snapshot.line_text(i)
                if not text.strip():
                    i += step
                    continue
                if not text.startswith(indent) or (text[len(indent) : len(indent) + 1].isspace()):
                    break
                rest = text[len(indent) :]
                tokens = [_kind(t) for t in _TOKEN.findall(rest) if not t.isspace()][:2]
                if tokens == shape and not rest.startswith(new):
                    hits.append((i, len(indent), 0, new))
                i += step
        return hits

    return find


def _ordered(ctx: PredictionContext, snapshot: DocumentSnapshot, hits: list[Hit]) -> list[NextEdit]:
    hits.sort()
    if snapshot.uri == ctx.snapshot.uri:
        cursor = (ctx.line, ctx.col)
        after = [h for h in hits if (h[0], h[1] + h[2]) >= cursor]
        hits = after + [h for h in hits if h not in after]
    return [
        NextEdit(snapshot.uri, snapshot.version, Span(i, c, i, c + n), text, "siblings")
        for i, c, n, text in hits
    ]
