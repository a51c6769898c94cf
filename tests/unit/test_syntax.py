"""Syntax helpers: the bracket lexer, the cursor window, tree-sitter analysis and its fallback."""

from __future__ import annotations

import pytest

from mimi_lsp.completion import syntax
from mimi_lsp.completion.lexer import open_brackets, scan, unmatched_closers
from mimi_lsp.completion.syntax import analyze_cursor, cursor_window
from mimi_lsp.languages import load_grammar, spec_for

CURSOR = "<CURSOR>"


def analyze(language: str, document: str) -> syntax.CursorSyntax:
    at = document.index(CURSOR)
    return analyze_cursor(document[:at], document[at + len(CURSOR) :], language)


def brackets(language: str, text: str) -> str:
    return "".join(ch for _, ch in scan(spec_for(language), text).brackets)


@pytest.mark.parametrize(
    ("language", "text", "expected"),
    [
        ("python", "f(a, '(', \"[\")  # ) ]", "()"),
        ("python", 'x = """ { \n } """ + [1]', "[]"),
        ("typescript", "f(`${a} {`, /* ) */ 1) // }", "()"),
        ("rust", "fn f<'a>(x: &'a str) { let c = '}'; }", "(){}"),
        ("rust", 'let s = r#"{"#; g(s)', "()"),
        ("go", 'x := `{\n}` + f("}")', "()"),
        ("lua", "t = { '}' } -- {", "{}"),
    ],
)
def test_scan_skips_strings_and_comments(language: str, text: str, expected: str) -> None:
    """Only brackets outside strings, char literals and comments count."""
    assert brackets(language, text) == expected


@pytest.mark.parametrize(
    ("language", "text", "tail"),
    [
        ("python", "x = 1  # note", "comment"),
        ("python", "x = 'abc", "string"),
        ("python", 'x = """doc\nmore', "string"),
        ("python", "x = 'abc'", None),
        ("typescript", "/* open\n * still", "comment"),
        ("typescript", "/* closed */", None),
        ("typescript", 'f("a\\"', "string"),
        ("go", "s := `raw\nstill", "string"),
    ],
)
def test_scan_reports_an_unterminated_tail(language: str, text: str, tail: str | None) -> None:
    """Text ending inside a comment or string says so (the text fallback for the cursor)."""
    assert scan(spec_for(language), text).tail == tail


def test_open_brackets_and_unmatched_closers() -> None:
    """The prefix's open stack and the suffix's closers are counted independently."""
    assert open_brackets([(0, "{"), (1, "("), (2, ")"), (3, "[")]) == ["{", "["]
    assert unmatched_closers([(0, ")"), (1, "("), (2, ")"), (3, "}")], 5) == [(0, ")"), (3, "}")]
    assert unmatched_closers([(0, ")"), (3, "}")], 1) == [(0, ")")]


def test_window_spans_the_enclosing_top_level_construct() -> None:
    """The window starts at the enclosing definition and ends at its closing line."""
    prefix = "import x\n\nclass A {\n  m() {\n    "
    suffix = "\n  }\n}\n\nfunction other() {\n}\n"
    window = cursor_window(prefix, suffix)
    assert window.prefix == "class A {\n  m() {\n    "
    assert window.suffix == "\n  }\n}"
    assert window.anchor_indent == 0


def test_window_is_bounded_in_huge_documents() -> None:
    """A 1 MB single construct still yields a window of a few KB."""
    body = "    x = 1\n" * 100_000
    window = cursor_window("def f():\n" + body + "    ", "\n" + body)
    assert len(window.prefix) <= syntax.MAX_WINDOW_PREFIX
    assert len(window.suffix) <= syntax.MAX_WINDOW_SUFFIX


@pytest.mark.parametrize(
    "language",
    [
        "python",
        "typescript",
        "typescriptreact",
        "javascript",
        "rust",
        "go",
        "java",
        "c",
        "cpp",
        "csharp",
        "kotlin",
        "php",
        "ruby",
        "shellscript",
        "lua",
    ],
)
def test_declared_grammars_load(language: str) -> None:
    """Every grammar wheel named in the language table is installed and loads."""
    assert load_grammar(spec_for(language)) is not None


@pytest.mark.parametrize(
    ("language", "document", "scope"),
    [
        ("python", "class A:\n    <CURSOR>\n", "declarations"),
        ("python", "def f():\n    <CURSOR>\n", "statements"),
        ("python", "<CURSOR>\n", "declarations"),
        ("typescript", "class A {\n  <CURSOR>\n}\n", "declarations"),
        ("typescript", "function f() {\n  <CURSOR>\n}\n", "statements"),
        ("typescript", "const o = foo(\n  <CURSOR>\n);\n", "expression"),
        ("rust", "impl A {\n    <CURSOR>\n}\n", "declarations"),
        ("rust", "fn f() {\n    <CURSOR>\n}\n", "statements"),
        ("go", "type T struct {\n\t<CURSOR>\n}\n", "declarations"),
        ("go", "func f() {\n\t<CURSOR>\n}\n", "statements"),
    ],
)
def test_scope_at_the_cursor(language: str, document: str, scope: str) -> None:
    """Declarations (top level, class, impl, struct) vs statements (function bodies)."""
    result = analyze(language, document)
    assert result.parsed
    assert result.scope == scope


def test_tree_sitter_finds_comments_the_line_cannot_show() -> None:
    """A blank line inside a block comment is recognised as comment by the parser."""
    result = analyze("c", "/*\n<CURSOR>\n*/\nint x;\n")
    assert result.parsed and result.in_comment


def test_without_a_grammar_text_heuristics_decide(monkeypatch: pytest.MonkeyPatch) -> None:
    """With no grammar installed, the same questions are answered from the text."""
    monkeypatch.setattr(syntax, "load_grammar", lambda spec: None)
    syntax._CACHE.clear()
    body = analyze("python", "class A:\n    def f(self):\n        <CURSOR>\n")
    assert not body.parsed
    assert body.scope == "statements" and body.empty_block
    assert analyze("python", "class A:\n    <CURSOR>\n").scope == "declarations"
    assert analyze("typescript", "// note <CURSOR>\n").in_comment
    assert analyze("typescript", "const s = 'ab<CURSOR>';\n").in_string
    assert analyze("typescript", "function f() {<CURSOR>}\n").empty_block
    syntax._CACHE.clear()


def test_analysis_is_memoised_for_the_engines_second_call() -> None:
    """decide_multiline and postprocess on the same strings share one analysis."""
    prefix, suffix = "def f():\n    ", "\n"
    first = analyze_cursor(prefix, suffix, "python")
    assert analyze_cursor(prefix, suffix, "python") is first


def test_a_broken_grammar_never_breaks_completion(monkeypatch: pytest.MonkeyPatch) -> None:
    """If the parser raises, the analysis falls back to text heuristics."""

    class Exploding:
        def parse(self, data: bytes) -> None:
            raise RuntimeError("boom")

    monkeypatch.setattr(syntax, "_parser", lambda spec: Exploding())
    syntax._CACHE.clear()
    result = analyze("rust", "fn f() {<CURSOR>}\n")
    assert not result.parsed and result.empty_block
    syntax._CACHE.clear()


def test_text_at_column_zero_inside_a_string_is_not_an_anchor() -> None:
    """A multi-line string with column-0 lines does not put the cursor 'inside a string'."""
    document = 'def f():\n    sql = """\nSELECT 1\n"""\n    <CURSOR>\n'
    result = analyze("python", document)
    assert not result.in_string and not result.in_comment
