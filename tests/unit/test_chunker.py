"""Chunks follow the syntax in every supported language; sizes stay within bounds."""

from __future__ import annotations

import pytest

from mimi_lsp.index.chunker import MAX_CHARS, chunk_file
from mimi_lsp.languages import GRAMMARS, language_for_path, supported_grammars

# language -> (source, {definition name: kind}, name whose chunk must start at the given line)
SAMPLES: dict[str, tuple[str, dict[str, str], tuple[str, int]]] = {
    "python": (
        "import os\n\n\n@cached\ndef load(path):\n    return open(path).read()\n\n\n"
        "class Store:\n    def get(self, key):\n        return key\n",
        {"load": "function", "Store": "class", "get": "method"},
        ("load", 3),
    ),
    "javascript": (
        "// Adds two numbers.\nfunction add(a, b) {\n  return a + b;\n}\n\n"
        "const mul = (a, b) => a * b;\n\nclass Box {\n  open() { return 1; }\n}\n",
        {"add": "function", "mul": "variable", "Box": "class", "open": "method"},
        ("add", 0),
    ),
    "typescript": (
        "export interface Shape { area(): number }\n\n"
        "export function area(s: Shape): number {\n  return s.area();\n}\n\n"
        "type Id = string;\nenum Color { Red }\n",
        {"Shape": "interface", "area": "function", "Id": "type", "Color": "enum"},
        ("area", 2),
    ),
    "typescriptreact": (
        "export function Button(props: { label: string }) {\n  return <button>{props.label}</button>;\n}\n",
        {"Button": "function"},
        ("Button", 0),
    ),
    "rust": (
        "/// A point.\nstruct Point { x: i32 }\n\nimpl Point {\n    fn norm(&self) -> i32 { self.x }\n}\n\n"
        "trait Shape { fn area(&self) -> f64; }\n\nfn main() {}\n",
        {"Point": "impl", "norm": "method", "Shape": "trait", "main": "function"},
        ("main", 9),
    ),
    "go": (
        "package main\n\n// Server serves.\ntype Server struct{}\n\n"
        "func (s *Server) Start(port int) error {\n\treturn nil\n}\n\nfunc main() {}\n",
        {"Server": "type", "Start": "method", "main": "function"},
        ("main", 9),
    ),
    "java": (
        "class Greeter {\n  Greeter() {}\n  String greet(String name) {\n    return name;\n  }\n}\n"
        "interface Named { String name(); }\n",
        {"Greeter": "constructor", "greet": "method", "Named": "interface"},
        ("Named", 6),
    ),
    "c": (
        "#include <stdio.h>\n\nstruct point { int x; };\n\n"
        "static int *find(int key) {\n  return 0;\n}\n\nint main(void) { return 0; }\n",
        {"point": "struct", "find": "function", "main": "function"},
        ("main", 8),
    ),
    "cpp": (
        "namespace geo {\nclass Circle {\n public:\n  double area() const { return 3.14; }\n};\n}\n\n"
        "template <typename T>\nT maximum(T a, T b) { return a > b ? a : b; }\n",
        {"geo": "namespace", "Circle": "class", "area": "method", "maximum": "function"},
        ("maximum", 7),
    ),
    "csharp": (
        "namespace App {\n  public class Account {\n    public decimal Balance { get; set; }\n"
        "    public void Deposit(decimal amount) { Balance += amount; }\n  }\n}\n",
        {"App": "namespace", "Account": "class", "Balance": "property", "Deposit": "method"},
        ("App", 0),
    ),
    "ruby": (
        "module Billing\n  class Invoice\n    def total\n      42\n    end\n\n"
        "    def self.build\n      new\n    end\n  end\nend\n",
        {"Billing": "module", "Invoice": "class", "total": "method", "build": "method"},
        ("Billing", 0),
    ),
    "php": (
        "<?php\nnamespace App;\n\nfunction helper($x) {\n  return $x;\n}\n\n"
        "class User {\n  public function name() { return 'n'; }\n}\n",
        {"helper": "function", "User": "class", "name": "method"},
        ("helper", 3),
    ),
    "lua": (
        "-- Adds.\nlocal function add(a, b)\n  return a + b\nend\n\nfunction M.greet(name)\n  return name\nend\n",
        {"add": "function", "M.greet": "function"},
        ("add", 0),
    ),
    "shellscript": (
        "#!/bin/sh\nset -e\n\ndeploy() {\n  echo deploying\n}\n\ndeploy\n",
        {"deploy": "function"},
        ("deploy", 3),
    ),
    "kotlin": (
        'class Repo {\n  fun find(id: Int): String = "x"\n}\n\nfun main() {}\n',
        {"Repo": "class", "find": "method", "main": "function"},
        ("main", 4),
    ),
}


def test_at_least_twelve_grammars_load_offline() -> None:
    """Every grammar wheel the index names loads here, without a network."""
    assert set(supported_grammars()) == set(GRAMMARS)
    assert len(GRAMMARS) >= 12


@pytest.mark.parametrize("language", sorted(SAMPLES))
def test_definitions_per_language(language: str) -> None:
    """Functions, methods and classes are found with their names and kinds."""
    source, expected, _ = SAMPLES[language]
    found = {d.name: d.kind for d in chunk_file(source, language).definitions}
    for name, kind in expected.items():
        assert name in found, (name, found)
        if kind != "constructor":
            assert found[name] == kind, (name, found)


@pytest.mark.parametrize("language", sorted(SAMPLES))
def test_chunks_cover_the_file_along_definitions(language: str) -> None:
    """Chunks are whole lines, in order, non-overlapping, and a definition starts a chunk."""
    source, _, (name, line) = SAMPLES[language]
    chunked = chunk_file(source, language, min_chars=0)
    starts = [c.start_line for c in chunked.chunks]
    assert starts == sorted(starts)
    for a, b in zip(chunked.chunks, chunked.chunks[1:], strict=False):
        assert a.end_line < b.start_line
    owner = [c for c in chunked.chunks if c.start_line <= line <= c.end_line]
    assert owner and owner[0].start_line == line and name in owner[0].names


def test_comments_and_decorators_stay_with_their_definition() -> None:
    """The doc comment above a function and a decorator belong to its chunk."""
    source = "x = 1\n\n\n# Loads a file.\n@cached\ndef load(path):\n    return path\n"
    chunks = chunk_file(source, "python", min_chars=0).chunks
    load = next(c for c in chunks if c.symbol == "load")
    assert load.start_line == 3
    assert load.text.startswith("# Loads a file.\n@cached\n")


def test_a_big_class_is_split_into_its_methods() -> None:
    """A class over the size limit becomes a header chunk plus one chunk per method."""
    body = "".join(
        f"    def method_{i}(self):\n"
        + "".join(f"        value_{j} = {j}\n" for j in range(20))
        + "\n"
        for i in range(12)
    )
    source = "class Big:\n    '''Big class.'''\n\n" + body
    chunked = chunk_file(source, "python", min_chars=0)
    assert len(source) > MAX_CHARS
    symbols = [c.symbol for c in chunked.chunks]
    assert symbols[0] == "Big"
    assert [s for s in symbols[1:]] == [f"method_{i}" for i in range(12)]
    assert all(c.container == "Big" for c in chunked.chunks[1:])


def test_a_huge_function_is_windowed_under_the_limit() -> None:
    """A function bigger than the limit is cut into windows that keep its name."""
    source = "def huge():\n" + "".join(
        f"    x_{i} = compute({i}) + other_value\n" for i in range(600)
    )
    chunks = chunk_file(source, "python").chunks
    assert len(chunks) > 3
    assert all(len(c.text) <= MAX_CHARS + 200 for c in chunks)
    assert {c.symbol for c in chunks} == {"huge"}


def test_small_definitions_stay_chunks_of_their_own() -> None:
    """Tiny definitions are never merged: each chunk names one definition and points at it."""
    source = (
        "def a():\n    return 1\n\n\ndef bigger(x):\n    y = x * 2\n    z = y + 3\n    return z\n"
    )
    chunks = chunk_file(source, "python").chunks
    assert [(c.symbol, c.focus_start, c.focus_end) for c in chunks] == [
        ("a", 0, 1),
        ("bigger", 4, 7),
    ]


def test_small_statements_outside_definitions_merge_without_a_name() -> None:
    """Imports and one-line statements merge into one anonymous chunk that names nothing."""
    source = "import os\nimport re\n\nX = 1\n\nY = 2\n\n\ndef f():\n    return X\n"
    chunks = chunk_file(source, "python").chunks
    assert [(c.symbol, c.start_line, c.end_line) for c in chunks] == [(None, 0, 5), ("f", 8, 9)]
    assert chunks[0].focus_start is None


def test_windows_of_a_big_function_and_a_class_head_point_at_their_definition() -> None:
    """Every window of a big function points at the whole function; a class head at its own
    lines, members at themselves."""
    body = "".join(f"        value_{i} = compute({i}) + other_{i}\n" for i in range(200))
    source = f"class Box:\n    size = 3\n\n    def big(self):\n{body}        return 1\n"
    chunks = chunk_file(source, "python").chunks
    head, *windows = chunks
    assert (head.symbol, head.focus_start, head.focus_end) == ("Box", 0, 1)
    assert len(windows) > 1
    assert {(w.symbol, w.container, w.focus_start, w.focus_end) for w in windows} == {
        ("big", "Box", 3, 204)
    }


def test_markdown_is_cut_into_sections() -> None:
    """Markdown chunks follow headings (never inside a code fence) and are named after them."""
    source = (
        "# Title\nintro\n\n## Install\nrun it\n```sh\n# not a heading\n```\n\n## Usage\nuse it\n"
    )
    chunks = chunk_file(source, "markdown").chunks
    assert [c.symbol for c in chunks] == ["Title", "Install", "Usage"]
    assert all(c.kind == "section" for c in chunks)


def test_unknown_languages_get_line_windows() -> None:
    """Without a grammar, text is cut into windows at blank lines."""
    source = "\n\n".join("\n".join(f"line {i}.{j}" for j in range(30)) for i in range(10))
    chunks = chunk_file(source, "scala").chunks
    assert len(chunks) > 1
    assert all(not c.text.startswith("\n") for c in chunks)
    assert chunks[-1].end_line == source.count("\n")


def test_crlf_and_non_ascii_positions() -> None:
    """CRLF files keep their line numbers; columns are code points, not bytes."""
    source = "x = 'é'\r\n\r\nclass Ünïcode:\r\n    pass\r\n"
    chunked = chunk_file(source, "python", min_chars=0)
    [cls] = chunked.definitions
    assert (cls.start_line, cls.name_col) == (2, 6)
    assert chunked.chunks[-1].text.endswith("pass\r\n")


def test_broken_syntax_still_chunks() -> None:
    """A file that does not parse still yields chunks and the definitions it can see."""
    source = "def ok():\n    return 1\n\ndef broken(:\n    pass\n"
    chunked = chunk_file(source, "python", min_chars=0)
    assert chunked.chunks
    assert "ok" in {d.name for d in chunked.definitions}


def test_language_detection_by_name() -> None:
    """Languages come from extensions and well-known file names."""
    assert language_for_path("a/b.tsx") == "typescriptreact"
    assert language_for_path("Makefile") == "makefile"
    assert language_for_path("x.unknownext") is None
