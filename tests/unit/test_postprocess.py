"""Post-processing API: single vs multi-line per language, stop sequences, invariants.

Case-by-case ghost-text expectations live in the golden files (test_postprocess_golden.py);
this module pins the decisions and guarantees that hold for every input.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mimi_lsp.completion.postprocess import (
    PostContext,
    Shape,
    Suggestion,
    decide_multiline,
    decide_shape,
    postprocess,
    stop_sequences,
)

CURSOR = "<CURSOR>"


def split(document: str) -> tuple[str, str]:
    at = document.index(CURSOR)
    return document[:at], document[at + len(CURSOR) :]


def multiline(language: str, document: str, mode: str = "auto") -> bool:
    prefix, suffix = split(document)
    return decide_multiline(prefix, suffix, language, mode)


# (language, document, shape) - one row per rule of decide_shape.
DECISIONS = [
    # Python
    ("python", "def f():\n    <CURSOR>\n", "multi"),
    ("python", "def f():<CURSOR>\n", "multi"),
    ("python", "def f():<CURSOR>\n    return 1\n", "block"),
    ("python", "class A:\n    <CURSOR>\n", "multi"),
    ("python", "<CURSOR>", "multi"),
    ("python", "def f():\n    x = 1\n\n    <CURSOR>\n    return x\n", "multi"),
    ("python", "x = <CURSOR>\n", "block"),
    ("python", "x = foo(<CURSOR>)\n", "block"),
    ("python", "    <CURSOR>return x\n", "block"),  # new lines above code: a header keeps its body
    ("python", "# a note <CURSOR>\n", "line"),
    ("python", "s = 'abc<CURSOR>'\n", "line"),
    ("python", 'def f():\n    """Docs.\n\n    <CURSOR>\n    """\n', "line"),
    ("python", "xs = [<CURSOR>\n", "multi"),
    # TypeScript / JavaScript
    ("typescript", "function f() {<CURSOR>}\n", "multi"),
    ("typescript", "function f() {\n  <CURSOR>\n}\n", "multi"),
    ("typescript", "if (x) {<CURSOR>\n", "multi"),
    ("typescript", "if (x) {<CURSOR>\n  go();\n}\n", "block"),
    ("typescript", "foo(<CURSOR>);\n", "block"),
    ("typescript", "const a = 1;<CURSOR>\n", "block"),
    ("typescript", "/*\n * <CURSOR>\n */\n", "line"),
    ("typescript", "const s = `first\n<CURSOR>\n`;\n", "line"),
    ("typescript", 'const s = "abc<CURSOR>";\n', "line"),
    ("typescriptreact", "const A = () => {<CURSOR>};\n", "multi"),
    ("javascript", "const o = {<CURSOR>\n", "multi"),
    # Rust
    ("rust", "fn f() {<CURSOR>}\n", "multi"),
    ("rust", "fn f() {\n    <CURSOR>\n}\n", "multi"),
    ("rust", "impl A {\n    <CURSOR>\n}\n", "multi"),
    ("rust", "    let x = <CURSOR>;\n", "block"),
    ("rust", "/// Docs <CURSOR>\nfn f() {}\n", "line"),
    ("rust", 'let s = "first\n<CURSOR>\n";\n', "line"),
    ("rust", "fn f<'a>(x: &'a str) -> &'a str {<CURSOR>}\n", "multi"),
    # Go
    ("go", "func f() {<CURSOR>}\n", "multi"),
    ("go", "func f() {\n\t<CURSOR>\n}\n", "multi"),
    ("go", "import (<CURSOR>\n", "multi"),
    ("go", "\tx := <CURSOR>\n", "block"),
    ("go", "\tfmt.Println(<CURSOR>)\n", "block"),
    ("go", "var s = `first\n<CURSOR>\n`\n", "line"),
    ("go", "// Add <CURSOR>\nfunc Add() {}\n", "line"),
    # Languages with a grammar wheel beyond the big four, and without one
    ("java", "class A {\n    void f() {<CURSOR>}\n}\n", "multi"),
    ("java", "class A {\n    void f() {\n        // <CURSOR>\n    }\n}\n", "line"),
    ("c", "int main(void) {\n    <CURSOR>\n}\n", "multi"),
    ("cpp", "int x = f(<CURSOR>);\n", "block"),
    ("lua", "local function f(x)<CURSOR>\nend\n", "multi"),
    ("lua", "-- <CURSOR>\n", "line"),
    ("kotlin", "fun f() {<CURSOR>}\n", "multi"),
    ("kotlin", "val x = <CURSOR>\n", "block"),
    ("some-new-language", "{\n    <CURSOR>\n}\n", "multi"),
    ("some-new-language", "x = f(<CURSOR>)\n", "block"),
]


@pytest.mark.parametrize(
    ("language", "document", "expected"),
    DECISIONS,
    ids=[f"{lang}:{doc!r}" for lang, doc, _ in DECISIONS],
)
def test_decide_shape(language: str, document: str, expected: str) -> None:
    """Several lines in empty bodies and at blank lines; one line mid-line, in comments and
    strings; at a line's end the line or the block it opens."""
    prefix, suffix = split(document)
    assert decide_shape(prefix, suffix, language).value == expected


def test_mode_setting_overrides_the_syntax() -> None:
    """multiline "always"/"never" win over what the syntax suggests."""
    assert multiline("python", "x = <CURSOR>\n", "always") is True
    assert multiline("python", "def f():\n    <CURSOR>\n", "never") is False


def test_crlf_documents_decide_like_lf_ones() -> None:
    """CRLF line ends do not change the decision."""
    lf = "def f():\n    <CURSOR>\n\nx = 1\n"
    assert multiline("python", lf.replace("\n", "\r\n")) is multiline("python", lf) is True
    assert multiline("go", "func f() {<CURSOR>}\r\n") is True


def test_stop_sequences_cut_only_at_column_zero_after_a_blank_line() -> None:
    """Python stops at a blank line + top-level keyword, never at a bare blank line."""
    stops = stop_sequences("python")
    assert "\n\ndef " in stops and "\n\nclass " in stops and "\n\nif __name__" in stops
    assert "\n\n" not in stops
    body = "x = 1\n\n    def inner():\n        pass\n\n    return x"
    assert not any(stop in body for stop in stops)


@pytest.mark.parametrize(
    ("language", "keyword"),
    [("typescript", "function "), ("javascript", "export "), ("rust", "fn "), ("go", "func ")],
)
def test_stop_sequences_per_language(language: str, keyword: str) -> None:
    """Each language stops at a blank line followed by its own top-level keyword."""
    stops = stop_sequences(language)
    assert f"\n\n{keyword}" in stops
    assert all(stop.startswith("\n\n") for stop in stops)


def test_stop_sequences_for_unknown_languages() -> None:
    """An unknown language still stops at two blank lines, and at nothing shorter."""
    assert stop_sequences("brainfuck") == ("\n\n\n",)


def test_postprocess_keeps_the_documented_api() -> None:
    """PostContext/Suggestion keep the fields the engine relies on."""
    ctx = PostContext(prefix="x = ", suffix="\n", language_id="python", shape=Shape.LINE)
    assert ctx.eol == "\n"
    assert postprocess("42", ctx) == Suggestion("42", 0)


def test_single_line_keeps_a_next_line_at_a_line_end() -> None:
    """At the end of a statement a single-line suggestion may start a new line."""
    ctx = PostContext("def f():\n    x = 1", "\n", "python", shape=Shape.LINE)
    assert postprocess("\n    y = 2\n    z = 3", ctx) == Suggestion("\n    y = 2")


def test_insert_above_existing_code_on_the_cursor_line() -> None:
    """Cursor in the indentation before code: the line goes above it, indentation kept."""
    ctx = PostContext("def f(x):\n    ", "return x\n", "python", shape=Shape.LINE)
    assert postprocess("y = x * 2\n    return y\n", ctx) == Suggestion("y = x * 2\n    ")


def test_crlf_output_uses_the_document_eol() -> None:
    """A CRLF document gets CRLF ghost text, whatever the model used."""
    ctx = PostContext("def f():\r\n    ", "\r\n", "python", shape=Shape.MULTI, eol="\r\n")
    for raw in ("a = 1\n    return a", "a = 1\r\n    return a"):
        assert postprocess(raw, ctx) == Suggestion("a = 1\r\n    return a")


CODE = st.text(
    alphabet=st.sampled_from(list("abcxyz_01 \t\n\r()[]{}:;,.=+\"'`#/*<|>")), max_size=120
)
LANGUAGES = st.sampled_from(["python", "typescript", "rust", "go", "java", "lua", "unknown"])


@settings(max_examples=300, deadline=None)
@given(prefix=CODE, suffix=CODE, raw=CODE, language=LANGUAGES, crlf=st.booleans())
def test_never_raises_and_never_returns_junk(
    prefix: str, suffix: str, raw: str, language: str, crlf: bool
) -> None:
    """Any input gives None or visible text in the document's eol, replacing only its line."""
    eol = "\r\n" if crlf else "\n"
    shape = decide_shape(prefix, suffix, language)
    result = postprocess(raw, PostContext(prefix, suffix, language, shape, eol))
    if result is None:
        return
    assert result.text.strip()
    if crlf:
        assert result.text.count("\n") == result.text.count("\r\n")
    else:
        assert "\r" not in result.text
    line_after = suffix.split("\n", 1)[0].rstrip("\r")
    assert 0 <= result.replace <= len(line_after)
    if shape is Shape.LINE:
        assert result.text.count("\n") <= 1
    if result.replace == 0:
        assert not suffix.replace("\r\n", "\n").startswith(result.text.replace("\r\n", "\n"))


def test_stop_sequences_for_crlf_documents() -> None:
    """A CRLF document's stop list holds the CRLF spellings first, then the LF ones."""
    stops = stop_sequences("python", eol="\r\n")
    assert stops[0] == "\r\n\r\ndef "
    assert "\n\ndef " in stops
    assert stop_sequences("python") == tuple(s for s in stops if "\r" not in s)


@pytest.mark.parametrize(
    ("language", "raw", "expected"),
    [
        ("python", "x + 1<|endoftext|>junk", "x + 1"),
        ("python", "x + 1<|fim_middle|>junk", "x + 1"),
        ("python", "x + 1<EOT>junk", "x + 1"),
        ("python", "x + 1</s>", "x + 1"),
        ("python", "x + 1<file_sep>other.py", "x + 1"),
        ("python", "x + 1 [SUFFIX]junk", "x + 1"),
        ("python", "x + 1<｜fim▁hole｜>junk", "x + 1"),
        ("python", "d[PREFIX] + 1", "d[PREFIX] + 1"),
        ("typescriptreact", "<s>old</s>", "<s>old</s>"),
        ("html", "<PRE>code</PRE>", "<PRE>code</PRE>"),
    ],
)
def test_model_artefacts_are_cut_but_code_is_kept(language: str, raw: str, expected: str) -> None:
    """Special tokens end the suggestion; look-alikes that are real code or markup stay."""
    ctx = PostContext("y = ", "\n", language, shape=Shape.LINE)
    result = postprocess(raw, ctx)
    assert result is not None and result.text == expected
