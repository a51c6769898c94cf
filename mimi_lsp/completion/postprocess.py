"""Post-processing: raw model output -> the ghost text an editor shows.

Called by the completion engine (``engine.py``) twice per model call: ``decide_multiline()`` before
it (how much to ask for; stops the stream at the first line end when single-line),
``stop_sequences()`` for cutting the stream, and ``postprocess()`` on what came back. Doing this in
the server means every thin client (VS Code, Neovim, Monaco, Helix...) gets the same quality.

``postprocess`` runs a fixed pipeline of small steps, each fixing one failure shape seen from FIM
models (the golden files under ``tests/golden/completion/`` hold one case per shape):

1. clean: CRLF, FIM special tokens and chat artefacts (cut at the first), Markdown code fences;
2. single-line: keep the first line (or one new line when the cursor ends a non-blank line);
3. echo: drop text the model repeated from before the cursor (``foo(`` -> ``foo(a)``) or a
   repeat of the previous line;
4. closers after the cursor on its line: trim them from the suggestion or replace them
   (``Suggestion.replace``), never duplicate them;
5. indentation: tabs/spaces and unit (2 vs 4) as the document uses; the first line's doubled
   indentation removed; a block body indented relative to column 0 re-based under its opener;
6. scope: stop at a closing bracket the suffix already supplies (brackets counted in the enclosing
   construct on both sides, skipping strings and comments), stop after the block that contains the
   cursor closes, stop at a dedent out of the cursor's block, and in declaration scopes (top level,
   class, impl) keep one declaration;
7. suffix echo: cut where the model starts repeating the next line of the document;
8. repetition: a line repeated three times or a block repeated twice is kept once;
9. no whitespace-only or no-op suggestions; the document's line ending restored.
LSP-free and synchronous: a few hundred microseconds for typical cursors (see
``benchmarks/postprocess_latency.py``).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass

from mimi_lsp.completion.languages import LanguageSpec, spec_for
from mimi_lsp.completion.syntax import (
    CLOSERS,
    OPENERS,
    PAIRS,
    CursorSyntax,
    analyze_cursor,
    anchors_for,
    cursor_window,
    first_line,
    indent_of,
    indent_width,
    line_opens_block,
    near_cursor,
    open_brackets,
    scan,
    starts_with_closer,
    unmatched_closers,
)


@dataclass(frozen=True, slots=True)
class PostContext:
    """What post-processing knows about the cursor."""

    prefix: str
    suffix: str
    language_id: str
    multiline: bool
    eol: str = "\n"


@dataclass(frozen=True, slots=True)
class Suggestion:
    """Text to insert at the cursor, replacing ``replace`` characters after it on its line."""

    text: str
    replace: int = 0


# --------------------------------------------------------------------------- public API


def decide_multiline(prefix: str, suffix: str, language_id: str, mode: str = "auto") -> bool:
    """Whether a multi-line suggestion fits the syntax at the cursor.

    ``mode`` is the ``completion.multiline`` setting: "always", "never" or "auto". In auto mode
    (llm-ls ``should_complete`` idea): comments and strings -> single line; text after the cursor
    on its line -> single line, unless it is only the closer of an empty block (``{|}``); a blank
    line (block body, top level) -> multi-line; the end of a line that opens a block whose body is
    still empty -> multi-line; anything else (end of a statement) -> single line.
    """
    if mode == "always":
        return True
    if mode == "never":
        return False
    syn = analyze_cursor(prefix, suffix, language_id)
    if syn.in_comment or syn.in_string:
        return False
    after = syn.line_after.strip()
    if after:
        return _only_closers(after) and syn.opens_block and syn.empty_block
    if not syn.line_before.strip():
        return True
    return syn.opens_block and syn.empty_block


def stop_sequences(language_id: str, eol: str = "\n") -> tuple[str, ...]:
    """Strings that end a completion stream for ``language_id`` (cut at the first found).

    A blank line followed by a top-level keyword at column 0 (``"\\n\\ndef "``), and two blank
    lines. Never a bare ``"\\n\\n"``: blank lines inside a body followed by indented code are
    legitimate. Most important first, for servers that accept only a few stop strings. For a
    CRLF document (``eol="\\r\\n"``) the CRLF spellings come first, as models shown CRLF text
    tend to answer in CRLF; post-processing cuts the same places whichever one arrives.
    """
    spec = spec_for(language_id)
    stops = [f"\n\n{keyword}" for keyword in spec.top_level_keywords]
    stops.insert(min(2, len(stops)), "\n\n\n")
    if eol == "\r\n":
        stops = [stop.replace("\n", "\r\n") for stop in stops] + stops
    return tuple(dict.fromkeys(stops))


def postprocess(raw: str, ctx: PostContext) -> Suggestion | None:
    """Turn raw model output into a suggestion (None for nothing worth showing)."""
    spec = spec_for(ctx.language_id)
    prefix, suffix = near_cursor(ctx.prefix, ctx.suffix)
    syn = analyze_cursor(prefix, suffix, ctx.language_id)

    text = _clean(raw, spec, ctx.language_id)
    if not text.strip():
        return None
    # The cursor stands in the indentation before existing code: a suggestion that ends lines
    # is spliced in as new line(s) above that code, which keeps its indentation.
    after = syn.line_after.strip()
    tail = ""
    if not syn.line_before.strip() and after and not _only_closers(after):
        body = text.lstrip("\n")
        if "\n" in body:
            lines = body.rstrip().split("\n")
            if lines[0].strip() == after:
                return None
            text = "\n".join(lines) if ctx.multiline else lines[0]
            tail = "\n" + syn.line_before
        else:
            text = body
    if not ctx.multiline and not tail:
        text = _single_line(text, syn)
    elif not syn.line_before.strip() and not after:
        text = text.lstrip("\n")  # the cursor line is blank: start on it, not below it
    text = _drop_echo_of_line_before(text, syn.line_before)
    text = _drop_echo_of_previous_line(text, syn, prefix)
    if not text.strip():
        return None

    text, replace = (text, 0) if tail else _overlap_with_line_after(text, syn.line_after)
    text = _reindent(text, syn, prefix, suffix, spec)
    text = _limit_scope(text, syn, prefix, suffix[replace:], spec)
    text = _cut_suffix_echo(text, syn, suffix)
    text = _remove_repetition(text, syn.line_before if not syn.line_before.strip() else "")
    text = _strip_trailing_space(text, keep_last=bool(syn.line_after.strip()) and not replace)
    if not text.strip():
        return None
    if tail:
        text += tail
    elif "\n" in text and not replace:
        text, replace = _move_line_after_down(text, syn)

    if replace:
        if text == syn.line_after[:replace]:
            return None
    elif suffix.startswith(text):
        return None
    if ctx.eol != "\n":
        text = text.replace("\n", ctx.eol)
    return Suggestion(text, replace)


# --------------------------------------------------------------------------- 1. clean

_ARTEFACTS = re.compile(
    r"<\|[A-Za-z0-9_]+\|>"  # Qwen, StarCoder, CodeGemma, Llama 3: <|endoftext|>, <|fim_middle|>
    r"|<(?:fim_(?:prefix|suffix|middle|pad)|file_sep|filename|reponame|gh_stars"
    r"|commit_before|commit_msg|commit_after|end_of_turn|start_of_turn)>"
    r"|(?<![\w\])])\[(?:PREFIX|SUFFIX|MIDDLE)\]"  # Codestral (not `d[PREFIX]`)
    r"|<｜(?:fim▁(?:begin|hole|end)|end▁of▁sentence|begin▁of▁sentence)｜>"  # DeepSeek
)
# Tokens that are also markup (HTML <PRE>, strikethrough </s>): artefacts only outside markup.
_ARTEFACTS_OUTSIDE_MARKUP = re.compile(r"</s>|<EOT>|<PRE>|<SUF>|<MID>|<eos>")
_MARKUP_LANGUAGES = frozenset(
    {
        "html",
        "xml",
        "markdown",
        "javascriptreact",
        "typescriptreact",
        "vue",
        "svelte",
        "php",
        "astro",
        "mdx",
    }
)
_FENCE = re.compile(r"^[ \t]*```[\w+#.-]*[ \t]*$", re.MULTILINE)


def _clean(raw: str, spec: LanguageSpec, language_id: str) -> str:
    """CRLF -> LF, cut at the first special token, strip Markdown code fences."""
    text = raw.replace("\r\n", "\n").replace("\r", "\n") if "\r" in raw else raw
    match = _ARTEFACTS.search(text)
    if match:
        text = text[: match.start()]
    if language_id not in _MARKUP_LANGUAGES:
        match = _ARTEFACTS_OUTSIDE_MARKUP.search(text)
        if match:
            text = text[: match.start()]
    if not spec.code_fences_are_code and "```" in text:
        fence = _FENCE.search(text)
        if fence is not None:
            if not text[: fence.start()].strip():  # an opening fence: drop it, keep its body
                body = text[fence.end() + 1 :] if fence.end() < len(text) else ""
                closing = _FENCE.search(body)
                text = body[: closing.start()] if closing else body
            else:  # a closing fence: the code ended before it
                text = text[: fence.start()]
            text = text.rstrip(" \t")
            if text.endswith("\n"):
                text = text.rstrip("\n")
    return text


# --------------------------------------------------------------------------- 2. single line


def _single_line(text: str, syn: CursorSyntax) -> str:
    if not text.startswith("\n"):
        return first_line(text)
    # A leading newline: only sensible at the end of a non-blank line (suggest the next line).
    if syn.line_after.strip() or not syn.line_before.strip():
        return ""
    rest = text.lstrip("\n")
    line = first_line(rest)
    return "\n" + line if line.strip() else ""


# --------------------------------------------------------------------------- 3. echoes

_WORD = re.compile(r"\w")
_WORDS = re.compile(r"\w\w")


def _drop_echo_of_line_before(text: str, line_before: str) -> str:
    """The model re-typed the end of the line before the cursor (``foo(`` -> ``foo(a)``)."""
    before = line_before.lstrip()
    if not before or not text or text[0].isspace():
        return text
    head = first_line(text)
    for k in range(min(len(before), len(head)), 2, -1):
        piece = head[:k]
        if not before.endswith(piece):
            continue
        if k == len(before):
            return text[k:]  # the whole line again (`retu` -> `return x`: keep `rn x`)
        # A partial repeat counts only up to an opener or separator, and only when it holds a
        # real word, so `f(x, ` + `x, y)` (a plausible `x, x, y`) is left alone.
        ends_open = piece[-1] in OPENERS or piece.rstrip()[-1:] in ("=", ":", ",")
        if (
            ends_open
            and _WORDS.search(piece)
            and not (
                piece[:1].isalnum() and before[len(before) - k - 1 : len(before) - k].isalnum()
            )
        ):
            return text[k:]
    return text


def _drop_echo_of_previous_line(text: str, syn: CursorSyntax, prefix: str) -> str:
    """On a fresh line, the model first repeated the line above the cursor."""
    if syn.line_before.strip():
        return text
    head = first_line(text)
    if not _WORD.search(head):
        return text
    end = prefix.rfind("\n")
    while end > 0:
        start = prefix.rfind("\n", 0, end) + 1
        previous = prefix[start:end]
        if previous.strip():
            if previous.strip() != head.strip():
                return text
            rest = text[len(head) + 1 :] if "\n" in text else ""
            if not rest.strip():
                return ""
            # The next line becomes the first one; the cursor already has its indentation.
            nxt = first_line(rest)
            cur = indent_width(syn.line_before)
            lead = indent_of(nxt)
            trimmed = lead[: max(0, len(lead) - cur)] if indent_width(nxt) >= cur else ""
            return trimmed + rest.lstrip(" \t")
        end = start - 1
    return text


# --------------------------------------------------------------------------- 4. line after

_CLOSING_PUNCT = set(CLOSERS + "\"'`;:,.>") | {" "}


def _only_closers(text: str) -> bool:
    return bool(text) and all(ch in _CLOSING_PUNCT for ch in text) and text.strip() != ""


def _is_subsequence(needle: str, haystack: str) -> bool:
    it = iter(haystack)
    return all(ch in it for ch in needle)


def _overlap_with_line_after(text: str, line_after: str) -> tuple[str, int]:
    """Text after the cursor on its line that the suggestion repeats: trim it or replace it."""
    after = line_after.strip()
    if not after or "\n" in text:
        return text, 0
    stripped = text.rstrip()
    if stripped.endswith(after):
        kept = stripped[: len(stripped) - len(after)]
        return (kept.rstrip() if line_after[:1].isspace() else kept), 0
    if _only_closers(after):
        compact = after.replace(" ", "")
        # The suggestion closes what the line already closes, and adds more (`a);` vs `)`).
        first_close = next((i for i, ch in enumerate(stripped) if ch in compact), -1)
        if first_close != -1 and _is_subsequence(compact, stripped[first_close:]):
            if _closes_something(stripped, compact[0]):
                return stripped, len(line_after)
    return text, 0


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


# --------------------------------------------------------------------------- 5. indentation


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


def _reindent(text: str, syn: CursorSyntax, prefix: str, suffix: str, spec: LanguageSpec) -> str:
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


# --------------------------------------------------------------------------- 6. scope


def _line_starts(text: str) -> list[int]:
    starts = [0]
    pos = text.find("\n")
    while pos != -1:
        starts.append(pos + 1)
        pos = text.find("\n", pos + 1)
    return starts


def _line_of(starts: list[int], pos: int) -> int:
    lo, hi = 0, len(starts) - 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if starts[mid] <= pos:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _limit_scope(text: str, syn: CursorSyntax, prefix: str, suffix: str, spec: LanguageSpec) -> str:
    """Cut where the suggestion leaves the syntactic scope of the cursor."""
    window = cursor_window(prefix, suffix, anchors=anchors_for(spec))
    head = window.prefix
    scanned = scan(spec, head + text)
    cut = len(head)
    prefix_brackets = [b for b in scanned.brackets if b[0] < cut]
    text_brackets = [(p - cut, ch) for p, ch in scanned.brackets if p >= cut]
    stack = open_brackets(prefix_brackets)
    lb = syn.line_before
    suffix_scan = scan(spec, lb + window.suffix)
    supplied = len(
        unmatched_closers([(p, ch) for p, ch in suffix_scan.brackets if p >= len(lb)], len(stack))
    )
    missing = max(0, len(stack) - supplied)

    starts = _line_starts(text)
    n_lines = len(starts)
    depth_at_start = [0] * n_lines
    end_cut: int | None = None  # cut position in text

    depth = 0
    closed = 0
    pending_line: int | None = None
    current_line = 0
    for index, (pos, ch) in enumerate(text_brackets):
        line_no = _line_of(starts, pos)
        while current_line < line_no:
            current_line += 1
            depth_at_start[current_line] = depth
        if ch in OPENERS:
            depth += 1
        elif depth > 0:
            depth -= 1
        else:
            target = len(stack) - 1 - closed
            if closed >= missing or target < 0 or stack[target] != PAIRS[ch]:
                # The suffix already closes this (or it closes nothing): stop before it.
                line_start = starts[line_no]
                if line_no > 0 and not text[line_start:pos].strip():
                    end_cut = line_start - 1
                else:
                    end_cut = pos
                break
            closed += 1
            pending_line = line_no
        if pending_line is not None and depth == 0:
            following = text_brackets[index + 1][0] if index + 1 < len(text_brackets) else None
            if following is None or _line_of(starts, following) != line_no:
                nxt = starts[line_no + 1] - 1 if line_no + 1 < n_lines else len(text)
                end_cut = nxt
                break
    while current_line < n_lines - 1:
        current_line += 1
        depth_at_start[current_line] = depth

    # Indentation: leaving the cursor's block, or a second declaration in a declaration scope.
    lines = text.split("\n")
    blank_cursor_line = not lb.strip()
    if blank_cursor_line:
        ref = indent_width(lb) + indent_width(lines[0]) if lines[0].strip() else indent_width(lb)
    elif syn.opens_block:
        ref = syn.cursor_indent + 1
    else:
        ref = syn.cursor_indent
    went_deeper = depth_at_start[1] > 0 if n_lines > 1 else False
    if not blank_cursor_line and syn.opens_block:
        went_deeper = False
    elif lines and line_opens_block(spec, lines[0]):
        went_deeper = True
    # In a class/impl/interface body every line at the block's level starts a new member; at the
    # top level only a definition keyword does (scripts have plain statements there).
    declarations = syn.scope == "declarations"
    top_level = syn.cursor_indent == 0
    for i in range(1, n_lines):
        if end_cut is not None and starts[i] > end_cut:
            break
        line = lines[i]
        stripped = line.strip()
        if not stripped:
            continue
        if depth_at_start[i] > 0:
            went_deeper = True
            continue
        if starts_with_closer(stripped):
            continue
        width = indent_width(line)
        if width < ref:
            end_cut = starts[i] - 1
            break
        if (
            declarations
            and went_deeper
            and width <= ref
            and not _continues(stripped)
            and (not top_level or stripped.startswith(spec.definition_keywords or ("\0",)))
        ):
            end_cut = starts[i] - 1
            break
        if width > ref or line_opens_block(spec, line):
            went_deeper = True
    if end_cut is not None:
        text = text[:end_cut]
    return text


_CONTINUATIONS = ("else", "elif ", "except", "finally", "catch", "} else", "case ", "default:")


def _continues(stripped: str) -> bool:
    return stripped.startswith(_CONTINUATIONS)


# --------------------------------------------------------------------------- 7. suffix echo


def _next_lines(suffix: str, count: int) -> list[str]:
    out: list[str] = []
    pos = suffix.find("\n")
    while pos != -1 and len(out) < count:
        nxt = suffix.find("\n", pos + 1)
        line = suffix[pos + 1 : nxt if nxt != -1 else len(suffix)]
        if line.strip():
            out.append(line)
        pos = nxt
    return out


def _cut_suffix_echo(text: str, syn: CursorSyntax, suffix: str) -> str:
    """Cut where the suggestion starts repeating the document's next line."""
    following = _next_lines(suffix, 1)
    if not following:
        return text
    target = following[0].strip()
    meaningful = bool(_WORD.search(target)) and len(target) >= 2
    lines = text.split("\n")
    first = 0 if not syn.line_before.strip() else 1
    offset = 0
    for i, line in enumerate(lines):
        if i >= first:
            same = line.strip() == target if meaningful else line.rstrip() == following[0].rstrip()
            if same and line.strip():
                return text[: max(0, offset - 1)] if i else ""
        offset += len(line) + 1
    return text


# --------------------------------------------------------------------------- 8. repetition


def _remove_repetition(text: str, first_indent: str = "", max_block: int = 8) -> str:
    """A line repeated 3+ times or a block of lines repeated 2+ times is kept once."""
    lines = text.split("\n")
    n = len(lines)
    if n < 3:
        return text
    keys = [line.rstrip() for line in lines]
    keys[0] = first_indent + keys[0]  # the cursor line's indentation is in the document
    best: int | None = None
    for size in range(1, min(max_block, n // 2) + 1):
        copies = 3 if size == 1 else 2
        for i in range(0, n - size * copies + 1):
            if best is not None and i + size >= best:
                break
            block = keys[i : i + size]
            if not any(_WORD.search(line) for line in block):
                continue
            if all(keys[i + c * size : i + (c + 1) * size] == block for c in range(1, copies)):
                best = i + size
                break
    if best is None:
        return text
    return "\n".join(lines[:best])


# --------------------------------------------------------------------------- 9. finish


def _strip_trailing_space(text: str, keep_last: bool) -> str:
    lines = [line.rstrip() for line in text.split("\n")[:-1]]
    last = text[text.rfind("\n") + 1 :]
    if "\n" in text or not keep_last:
        last = last.rstrip()
    lines.append(last)
    out = "\n".join(lines)
    if not keep_last:
        out = out.rstrip()
    return out


def _move_line_after_down(text: str, syn: CursorSyntax) -> tuple[str, int]:
    """A multi-line suggestion before ``}`` on the cursor line: end with that line, replacing it."""
    after = syn.line_after.strip()
    if not after or not _only_closers(after):
        return text, 0
    last = text[text.rfind("\n") + 1 :]
    if last.strip() == after:
        return text, len(syn.line_after)
    indent = indent_of(syn.line_before)
    return text + "\n" + indent + after, len(syn.line_after)
