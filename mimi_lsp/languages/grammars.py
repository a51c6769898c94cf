"""Which language a file is, and how its tree-sitter grammar names definitions.

The chunker (``index/chunker.py``) asks this module for a parser and for the node types that
define something (functions, methods, classes, ...) in each language. Grammars come from the
per-language ``tree-sitter-*`` wheels, which work offline (tree-sitter-language-pack 1.x would
download at first use). Grammars load lazily, once per process; a language whose wheel is
missing falls back to line windows, never to an error.
"""

from __future__ import annotations

import importlib
import logging
import os
import threading
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Grammar:
    """How to load one tree-sitter language and read definitions out of its trees."""

    module: str
    function: str = "language"
    definitions: dict[str, str] = field(default_factory=dict)
    """Node type -> symbol kind ('function', 'class', ...)."""
    wrappers: frozenset[str] = frozenset()
    """Node types that wrap a definition (decorators, export, templates): span the wrapper."""


_FUNC = "function"
_CLASS = "class"

_JS_DEFS = {
    "function_declaration": _FUNC,
    "generator_function_declaration": _FUNC,
    "class_declaration": _CLASS,
    "method_definition": "method",
    "lexical_declaration": "variable",
    "variable_declaration": "variable",
}
_TS_DEFS = {
    **_JS_DEFS,
    "abstract_class_declaration": _CLASS,
    "interface_declaration": "interface",
    "type_alias_declaration": "type",
    "enum_declaration": "enum",
    "function_signature": _FUNC,
    "internal_module": "module",
    "module": "module",
}
_C_DEFS = {
    "function_definition": _FUNC,
    "struct_specifier": "struct",
    "enum_specifier": "enum",
    "union_specifier": "struct",
    "type_definition": "type",
}

GRAMMARS: dict[str, Grammar] = {
    "python": Grammar(
        "tree_sitter_python",
        definitions={"function_definition": _FUNC, "class_definition": _CLASS},
        wrappers=frozenset({"decorated_definition"}),
    ),
    "javascript": Grammar(
        "tree_sitter_javascript", definitions=_JS_DEFS, wrappers=frozenset({"export_statement"})
    ),
    "typescript": Grammar(
        "tree_sitter_typescript",
        "language_typescript",
        definitions=_TS_DEFS,
        wrappers=frozenset({"export_statement"}),
    ),
    "typescriptreact": Grammar(
        "tree_sitter_typescript",
        "language_tsx",
        definitions=_TS_DEFS,
        wrappers=frozenset({"export_statement"}),
    ),
    "rust": Grammar(
        "tree_sitter_rust",
        definitions={
            "function_item": _FUNC,
            "function_signature_item": _FUNC,
            "impl_item": "impl",
            "struct_item": "struct",
            "enum_item": "enum",
            "union_item": "struct",
            "trait_item": "trait",
            "mod_item": "module",
            "macro_definition": "macro",
            "type_item": "type",
            "const_item": "constant",
            "static_item": "constant",
        },
    ),
    "go": Grammar(
        "tree_sitter_go",
        definitions={
            "function_declaration": _FUNC,
            "method_declaration": "method",
            "type_declaration": "type",
        },
    ),
    "java": Grammar(
        "tree_sitter_java",
        definitions={
            "class_declaration": _CLASS,
            "interface_declaration": "interface",
            "enum_declaration": "enum",
            "record_declaration": _CLASS,
            "annotation_type_declaration": "interface",
            "method_declaration": "method",
            "constructor_declaration": "constructor",
        },
    ),
    "c": Grammar("tree_sitter_c", definitions=_C_DEFS),
    "cpp": Grammar(
        "tree_sitter_cpp",
        definitions={
            **_C_DEFS,
            "class_specifier": _CLASS,
            "namespace_definition": "namespace",
        },
        wrappers=frozenset({"template_declaration"}),
    ),
    "csharp": Grammar(
        "tree_sitter_c_sharp",
        definitions={
            "class_declaration": _CLASS,
            "interface_declaration": "interface",
            "struct_declaration": "struct",
            "enum_declaration": "enum",
            "record_declaration": _CLASS,
            "method_declaration": "method",
            "constructor_declaration": "constructor",
            "property_declaration": "property",
            "namespace_declaration": "namespace",
            "file_scoped_namespace_declaration": "namespace",
        },
    ),
    "ruby": Grammar(
        "tree_sitter_ruby",
        definitions={
            "method": "method",
            "singleton_method": "method",
            "class": _CLASS,
            "module": "module",
        },
    ),
    "php": Grammar(
        "tree_sitter_php",
        "language_php",
        definitions={
            "function_definition": _FUNC,
            "method_declaration": "method",
            "class_declaration": _CLASS,
            "interface_declaration": "interface",
            "trait_declaration": "trait",
            "enum_declaration": "enum",
            "namespace_definition": "namespace",
        },
    ),
    "lua": Grammar(
        "tree_sitter_lua",
        definitions={"function_declaration": _FUNC, "variable_declaration": "variable"},
    ),
    "shellscript": Grammar("tree_sitter_bash", definitions={"function_definition": _FUNC}),
    "kotlin": Grammar(
        "tree_sitter_kotlin",
        definitions={
            "function_declaration": _FUNC,
            "class_declaration": _CLASS,
            "object_declaration": _CLASS,
        },
    ),
}

# Extensions -> language ids (LSP language identifiers where one exists).
EXTENSIONS: dict[str, str] = {
    ".py": "python", ".pyi": "python", ".pyw": "python",
    ".js": "javascript", ".mjs": "javascript", ".cjs": "javascript", ".jsx": "javascript",
    ".ts": "typescript", ".mts": "typescript", ".cts": "typescript",
    ".tsx": "typescriptreact",
    ".rs": "rust",
    ".go": "go",
    ".java": "java",
    ".c": "c", ".h": "c",
    ".cc": "cpp", ".cpp": "cpp", ".cxx": "cpp", ".hpp": "cpp", ".hh": "cpp", ".hxx": "cpp",
    ".ipp": "cpp", ".inl": "cpp",
    ".cs": "csharp",
    ".rb": "ruby", ".rake": "ruby", ".gemspec": "ruby",
    ".php": "php",
    ".lua": "lua",
    ".sh": "shellscript", ".bash": "shellscript", ".zsh": "shellscript",
    ".kt": "kotlin", ".kts": "kotlin",
    # Line-window fallback (no grammar wheel here, still worth searching).
    ".swift": "swift", ".scala": "scala", ".m": "objective-c", ".mm": "objective-cpp",
    ".dart": "dart", ".ex": "elixir", ".exs": "elixir", ".erl": "erlang", ".hs": "haskell",
    ".ml": "ocaml", ".mli": "ocaml", ".fs": "fsharp", ".clj": "clojure", ".r": "r",
    ".jl": "julia", ".pl": "perl", ".pm": "perl", ".zig": "zig", ".nim": "nim", ".v": "v",
    ".sql": "sql", ".proto": "proto", ".graphql": "graphql", ".vue": "vue", ".svelte": "svelte",
    ".html": "html", ".htm": "html", ".css": "css", ".scss": "scss", ".less": "less",
    ".json": "json", ".jsonc": "json", ".yaml": "yaml", ".yml": "yaml", ".toml": "toml",
    ".xml": "xml", ".ini": "ini", ".cfg": "ini", ".cmake": "cmake", ".gradle": "groovy",
    ".groovy": "groovy", ".tf": "terraform", ".nix": "nix", ".ps1": "powershell",
    ".bat": "bat", ".vim": "vim", ".el": "emacs-lisp",
    ".md": "markdown", ".markdown": "markdown", ".mdx": "markdown", ".rst": "restructuredtext",
    ".txt": "plaintext", ".adoc": "asciidoc", ".org": "org",
}  # fmt: skip

FILENAMES: dict[str, str] = {
    "Makefile": "makefile", "makefile": "makefile", "GNUmakefile": "makefile",
    "Dockerfile": "dockerfile", "CMakeLists.txt": "cmake", "Rakefile": "ruby",
    "Gemfile": "ruby", "Jenkinsfile": "groovy", "Justfile": "just", "justfile": "just",
    "README": "plaintext", "LICENSE": "plaintext",
}  # fmt: skip

PROSE = frozenset({"markdown", "restructuredtext", "plaintext", "asciidoc", "org"})
"""Languages whose chunks are weighed down so documentation does not crowd out code."""

LANGUAGE_ALIASES = {
    "py": "python", "js": "javascript", "ts": "typescript", "tsx": "typescriptreact",
    "rs": "rust", "golang": "go", "c++": "cpp", "c#": "csharp", "cs": "csharp",
    "rb": "ruby", "sh": "shellscript", "bash": "shellscript", "kt": "kotlin", "md": "markdown",
    "javascriptreact": "javascript",
}  # fmt: skip


def normalize_language(name: str) -> str:
    """The language id used in the index for a user- or editor-given name."""
    lowered = name.strip().lower()
    return LANGUAGE_ALIASES.get(lowered, lowered)


def language_for_path(path: str) -> str | None:
    """The language id of ``path`` from its name, or None when it is not a text file we know."""
    base = os.path.basename(path)
    if base in FILENAMES:
        return FILENAMES[base]
    _, ext = os.path.splitext(base)
    return EXTENSIONS.get(ext.lower())


_lock = threading.Lock()
_languages: dict[str, Any] = {}
_missing: set[str] = set()


def load_language(language: str) -> Any | None:
    """The ``tree_sitter.Language`` for ``language`` (cached), or None without a grammar."""
    grammar = GRAMMARS.get(language)
    if grammar is None or language in _missing:
        return None
    cached = _languages.get(language)
    if cached is not None:
        return cached
    with _lock:
        if language in _languages:
            return _languages[language]
        try:
            import tree_sitter

            module = importlib.import_module(grammar.module)
            lang = tree_sitter.Language(getattr(module, grammar.function)())
        except Exception as exc:  # missing wheel or ABI mismatch: use line windows
            log.warning("no tree-sitter grammar for %s (%s); using line windows", language, exc)
            _missing.add(language)
            return None
        _languages[language] = lang
        return lang


_parsers = threading.local()


def parser_for(language: str) -> Any | None:
    """A per-thread ``tree_sitter.Parser`` for ``language`` (parsers are not thread-safe)."""
    lang = load_language(language)
    if lang is None:
        return None
    cache: dict[str, Any] = getattr(_parsers, "cache", None) or {}
    _parsers.cache = cache
    parser = cache.get(language)
    if parser is None:
        import tree_sitter

        parser = tree_sitter.Parser(lang)
        cache[language] = parser
    return parser


def supported_grammars() -> list[str]:
    """Languages whose grammar loads here (for ``doctor`` and tests)."""
    return [name for name in GRAMMARS if load_language(name) is not None]
