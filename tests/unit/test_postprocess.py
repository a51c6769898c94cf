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
    Suggestion,
    decide_multiline,
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


# (language, document, multi-line?) - one row per rule of decide_multiline.
DECISIONS = [
    # Python
    ("python", "def f():\n    <CURSOR>\n", True),
    ("python", "def f():<CURSOR>\n", True),
    ("python", "def f():<CURSOR>\n    return 1\n", False),
    ("python", "class A:\n    <CURSOR>\n", True),
    ("python", "<CURSOR>", True),
    ("python", "def f():\n    x = 1\n\n    <CURSOR>\n    return x\n", True),
    ("python", "x = <CURSOR>\n", False),
    ("python", "x = foo(<CURSOR>)\n", False),
    ("python", "    <CURSOR>return x\n", False),
    ("python", "# a note <CURSOR>\n", False),
    ("python", "s = 'abc<CURSOR>'\n", False),
    ("python", 'def f():\n    """Docs.\n\n    <CURSOR>\n    """\n', False),
    ("python", "xs = [<CURSOR>\n", True),
    # TypeScript / JavaScript
    ("typescript", "function f() {<CURSOR>}\n", True),
    ("typescript", "function f() {\n  <CURSOR>\n}\n", True),
    ("typescript", "if (x) {<CURSOR>\n", True),
    ("typescript", "if (x) {<CURSOR>\n  go();\n}\n", False),
    ("typescript", "foo(<CURSOR>);\n", False),
    ("typescript", "const a = 1;<CURSOR>\n", False),
    ("typescript", "/*\n * <CURSOR>\n */\n", False),
    ("typescript", "const s = `first\n<CURSOR>\n`;\n", False),
    ("typescript", 'const s = "abc<CURSOR>";\n', False),
    ("typescriptreact", "const A = () => {<CURSOR>};\n", True),
    ("javascript", "const o = {<CURSOR>\n", True),
    # Rust
    ("rust", "fn f() {<CURSOR>}\n", True),
    ("rust", "fn f() {\n    <CURSOR>\n}\n", True),
    ("rust", "impl A {\n    <CURSOR>\n}\n", True),
    ("rust", "    let x = <CURSOR>;\n", False),
    ("rust", "/// Docs <CURSOR>\nfn f() {}\n", False),
    ("rust", 'let s = "first\n<CURSOR>\n";\n', False),
    ("rust", "fn f<'a>(x: &'a str) -> &'a str {<CURSOR>}\n", True),
    # Go
    ("go", "func f() {<CURSOR>}\n", True),
    ("go", "func f() {\n\t<CURSOR>\n}\n", True),
    ("go", "import (<CURSOR>\n", True),
    ("go", "\tx := <CURSOR>\n", False),
    ("go", "\tfmt.Println(<CURSOR>)\n", False),
    ("go", "var s = `first\n<CURSOR>\n`\n", False),
    ("go", "// Add <CURSOR>\nfunc Add() {}\n", False),
    # Languages with a grammar wheel beyond the big four, and without one
    ("java", "class A {\n    void f() {<CURSOR>}\n}\n", True),
    ("java", "class A {\n    void f() {\n        // <CURSOR>\n    }\n}\n", False),
    ("c", "int main(void) {\n    <CURSOR>\n}\n", True),
    ("cpp", "int x = f(<CURSOR>);\n", False),
    ("lua", "local function f(x)<CURSOR>\nend\n", True),
    ("lua", "-- <CURSOR>\n", False),
    ("kotlin", "fun f() {<CURSOR>}\n", True),
    ("kotlin", "val x = <CURSOR>\n", False),
    ("some-new-language", "{\n    <CURSOR>\n}\n", True),
    ("some-new-language", "x = f(<CURSOR>)\n", False),
]


@pytest.mark.parametrize(
    ("language", "document", "expected"),
    DECISIONS,
    ids=[f"{lang}:{doc!r}" for lang, doc, _ in DECISIONS],
)
def test_decide_multiline(language: str, document: str, expected: bool) -> None:
    """Multi-line in empty bodies and at blank lines; single-line mid-line, in comments, strings."""
    assert multiline(language, document) is expected


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
    ctx = PostContext(prefix="x = ", suffix="\n", language_id="python", multiline=False)
    assert ctx.eol == "\n"
    assert postprocess("42", ctx) == Suggestion("42", 0)


def test_single_line_keeps_a_next_line_at_a_line_end() -> None:
    """At the end of a statement a single-line suggestion may start a new line."""
    ctx = PostContext("def f():\n    x = 1", "\n", "python", multiline=False)
    assert postprocess("\n    y = 2\n    z = 3", ctx) == Suggestion("\n    y = 2")


def test_insert_above_existing_code_on_the_cursor_line() -> None:
    """Cursor in the indentation before code: the line goes above it, indentation kept."""
    ctx = PostContext("def f(x):\n    ", "return x\n", "python", multiline=False)
    assert postprocess("y = x * 2\n    return y\n", ctx) == Suggestion("y = x * 2\n    ")


def test_crlf_output_uses_the_document_eol() -> None:
    """A CRLF document gets CRLF ghost text, whatever the model used."""
    ctx = PostContext("def f():\r\n    ", "\r\n", "python", multiline=True, eol="\r\n")
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
    is_multi = decide_multiline(prefix, suffix, language)
    result = postprocess(raw, PostContext(prefix, suffix, language, is_multi, eol))
    if result is None:
        return
    assert result.text.strip()
    if crlf:
        assert result.text.count("\n") == result.text.count("\r\n")
    else:
        assert "\r" not in result.text
    line_after = suffix.split("\n", 1)[0].rstrip("\r")
    assert 0 <= result.replace <= len(line_after)
    if not is_multi:
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
    ctx = PostContext("y = ", "\n", language, multiline=False)
    result = postprocess(raw, ctx)
    assert result is not None and result.text == expected
