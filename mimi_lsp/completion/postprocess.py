"""Post-processing: raw model output -> the ghost text an editor shows.

Called by the completion engine (``engine.py``) around each model call: ``decide_shape()`` before
it (how much to ask for: one line, one line or the block it opens, several lines),
``stop_sequences()`` and ``stream_done()`` for cutting the stream, and ``postprocess()`` on what
came back. Doing this in the server means every thin client (VS Code, Neovim, Monaco, Helix...)
gets the same quality.

``postprocess`` runs a fixed pipeline of small steps, each fixing one failure shape seen from FIM
models (the golden files under ``tests/golden/completion/`` hold one case per shape):

1. clean: CRLF, FIM special tokens and chat artefacts (cut at the first), Markdown code fences;
2. shape: one line (or one new line when the cursor ends a non-blank line); or, at the end of a
   line, the block that line opens when the model's continuation opens one (``get foo()`` ->
   `` {...}``); a just-opened multi-line string up to its closing delimiter;
3. echo: drop text the model repeated from before the cursor (``foo(`` -> ``foo(a)``) or a
   repeat of the previous line;
4. closers after the cursor on its line: trim them from the suggestion or replace them
   (``Suggestion.replace``), never duplicate them;
5. indentation: tabs/spaces and unit (2 vs 4) as the document uses; the first line's doubled
   indentation removed; a block body indented relative to column 0 re-based under its opener;
6. scope: stop at a closing bracket the suffix already supplies (brackets counted in the enclosing
   construct on both sides, skipping strings and comments), stop after the block that contains the
   cursor closes, stop at a dedent out of the cursor's block, and in declaration scopes (top level,
   class, impl) keep one declaration; then fit between the lines around the cursor: a header only
   when its body is already below, nothing that makes the next line unreachable, nothing outside
   the cursor's block (``surroundings.py``);
7. suffix echo: cut where the model starts repeating the next line of the document;
8. repetition: a line repeated three times or a block repeated twice is kept once;
9. no whitespace-only or no-op suggestions; the document's line ending restored.
LSP-free and synchronous: a few hundred microseconds for typical cursors (see
``benchmarks/postprocess_latency.py``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mimi_lsp.completion.lexer import (
    OPENERS,
    first_line,
    indent_of,
    indent_width,
    open_brackets,
    scan,
)
from mimi_lsp.completion.line_after import only_closers, overlap_with_line_after
from mimi_lsp.completion.reindent import reindent
from mimi_lsp.completion.scope import (
    CLOSING_WORDS,
    cut_suffix_echo,
    limit_scope,
    remove_repetition,
)
from mimi_lsp.completion.shape import (
    Shape,
    decide_multiline,
    decide_shape,
    limit_string,
    line_or_block,
    lines_above_code,
    single_line,
    start_on_blank_line,
    stream_done,
)
from mimi_lsp.completion.surroundings import fit_surroundings
from mimi_lsp.completion.syntax import (
    CursorSyntax,
    analyze_cursor,
    near_cursor,
    next_nonblank,
)
from mimi_lsp.languages import LanguageSpec, spec_for

__all__ = [
    "PostContext",
    "Shape",
    "StreamWatch",
    "Suggestion",
    "decide_multiline",
    "decide_shape",
    "postprocess",
    "stop_sequences",
    "stream_done",
]


@dataclass(frozen=True, slots=True)
class PostContext:
    """What post-processing knows about the cursor."""

    prefix: str
    suffix: str
    language_id: str
    shape: Shape
    eol: str = "\n"


@dataclass(frozen=True, slots=True)
class Suggestion:
    """Text to insert at the cursor, replacing ``replace`` characters after it on its line."""

    text: str
    replace: int = 0


# --------------------------------------------------------------------------- public API


class StreamWatch:
    """Decides, as the answer streams in, when reading more cannot change the suggestion.

    Beyond ``stream_done``: once post-processing of the complete lines so far ends two lines or
    more before them (the model left the block, or started repeating the document), the rest of
    the answer would be cut anyway; stopping there saves the model's time on a local machine.
    """

    def __init__(self, ctx: PostContext) -> None:
        self.ctx = ctx
        self._checked_lines = 0

    def done(self, text: str) -> bool:
        ctx = self.ctx
        if stream_done(text, ctx.shape, ctx.prefix, ctx.language_id, ctx.suffix):
            return True
        if ctx.shape is Shape.LINE:
            return False
        complete = text[: text.rfind("\n") + 1].replace("\r\n", "\n").lstrip("\n")
        lines = complete.count("\n")
        if lines < 3 or lines == self._checked_lines:
            return False
        self._checked_lines = lines
        suggestion = postprocess(complete, ctx)
        kept = 0 if suggestion is None else suggestion.text.count("\n") + 1
        return kept <= lines - 2


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
    rejoined = False  # the answer's lines are anchored by the code below: its scope is theirs
    if not syn.line_before.strip() and after and not only_closers(after):
        body = text.lstrip("\n")
        if "\n" in body:
            lines = body.rstrip().split("\n")
            if lines[0].strip() == after:
                return None
            if rejoin := _rejoins_code(lines, syn, suffix):
                keep, rejoined = rejoin, True  # new lines, then the code after the cursor
            elif ctx.shape is Shape.MULTI:
                keep = len(lines)
            elif ctx.shape is Shape.BLOCK:
                keep = lines_above_code(lines, syn.line_before, spec)
            else:
                keep = 1
            text = "\n".join(lines[:keep]).rstrip()
            tail = "\n" + indent_of(syn.line_before)
        else:
            text = body
    opened = False  # the suggestion's first line opens a block on the cursor line
    if tail:
        pass
    elif ctx.shape is Shape.LINE:
        text = single_line(text, syn)
    elif ctx.shape is Shape.BLOCK:
        text, opened = line_or_block(text, syn, spec)
    elif not syn.line_before.strip() and not after:
        text = start_on_blank_line(text, syn.line_before)
    elif syn.opens_block and text[:2] in ("  ", "\t") or text[:1] == "\t":
        text = "\n" + text  # `{|` + `    body`: the model's indentation says a new line
    if syn.line_before.strip() and syn.line_before[-1:] in " \t" and text[:1] in " \t":
        text = text.lstrip(" \t")  # `return |` + ` this;`: one space, not two
    if syn.in_string and ctx.shape is Shape.MULTI:
        text = limit_string(text, spec, prefix, suffix)
    text = _drop_echo_of_line_before(text, syn.line_before)
    text = _drop_echo_of_previous_line(text, syn, prefix)
    if not text.strip():
        return None

    text, replace = (text, 0) if tail else overlap_with_line_after(text, syn, spec, opened)
    if not syn.in_string:  # a string's text is content: its indentation and brackets too
        text = reindent(text, syn, prefix, suffix, spec)
        if not rejoined:
            text = limit_scope(text, syn, prefix, suffix[replace:], spec, opened)
        text = fit_surroundings(text, syn, prefix, suffix, spec)
    text = cut_suffix_echo(text, syn, suffix, replace)
    text = remove_repetition(text, syn.line_before if not syn.line_before.strip() else "")
    text = _strip_trailing_space(text, keep_last=bool(syn.line_after.strip()) and not replace)
    if not tail and not syn.line_after.strip() and not syn.in_comment and not spec.prose:
        text = _drop_unfinished_last_line(text, spec)
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


def _rejoins_code(lines: list[str], syn: CursorSyntax, suffix: str) -> int:
    """Where the model's answer rejoins the code the cursor stands before: the index of its
    line that is that code at its indentation (followed by the next line below, when the model
    wrote one), or 0. The lines above it are what goes in, whatever they are: in
    ``if n % 2:`` / ``|    return a`` the answer ``    return b`` / ``else:`` / ``    return a``
    inserts the ``else:`` that makes the code below its body."""
    after = syn.line_after.strip()
    width = len(syn.line_before) + indent_width(syn.line_after)
    below = next_nonblank(suffix)
    for k in range(1, min(len(lines), _REJOIN_LINES + 1)):
        if lines[k].strip() != after or indent_width(lines[k]) != width:
            continue
        nxt = next((line for line in lines[k + 1 :] if line.strip()), None)
        if nxt is None or (below is not None and nxt.strip() == below.strip()):
            return k
        return 0
    return 0


_REJOIN_LINES = 8
"""How far into the answer a rejoin with the code after the cursor is looked for."""

_PY_HEADER = re.compile(r"(?:if|elif|while|for|def|class|with|try|except|else|finally)\b")
_DANGLING = re.compile(r"(?:[\\=]|\band|\bor|\bnot)$")
"""Line ends that leave an expression open (a trailing ``,`` or ``|`` can be whole: member
lists, YAML block scalars; ``VAR =`` is whole in a Makefile or shell script)."""
_EXPRESSION_LANGUAGES = frozenset(
    ("python", "javascript", "typescript", "typescriptreact", "rust", "go", "java", "c", "cpp")
    + ("csharp", "kotlin", "swift", "php", "lua", "ruby")
)


def _drop_unfinished_last_line(text: str, spec: LanguageSpec) -> str:
    """A multi-line suggestion whose last line cannot end there (the model was cut off by its
    token limit: ``if month == 1``, ``total =``, ``f(x,``) ends at the line before, as
    nothing after the cursor's line completes it; a one-line suggestion is left whole."""
    if "\n" not in text.strip("\n") or text.endswith("\n"):
        return text
    head, last = text.rsplit("\n", 1)
    stripped = last.strip()
    if not stripped:
        return text
    unfinished = (
        (spec.name in _EXPRESSION_LANGUAGES and bool(_DANGLING.search(stripped)))
        or any(ch in "([" for ch in open_brackets(scan(spec, last).brackets))
        or (spec.name == "python" and bool(_PY_HEADER.match(stripped)) and ":" not in stripped)
    )
    return head.rstrip() if unfinished and head.strip() else text


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
    """On a fresh line, the model first repeated the line above the cursor.

    Not a closing keyword: ``end`` after ``end`` closes the next block out, not the same one.
    """
    if syn.line_before.strip():
        return text
    head = first_line(text)
    if not _WORD.search(head) or head.strip().rstrip(";") in CLOSING_WORDS:
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
    if not after or not only_closers(after):
        return text, 0
    last = text[text.rfind("\n") + 1 :]
    if last.strip() == after:
        return text, len(syn.line_after)
    indent = indent_of(syn.line_before)
    return text + "\n" + indent + after, len(syn.line_after)
