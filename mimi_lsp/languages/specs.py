"""What completion post-processing knows about each language: the ``LanguageSpec`` table.

Keyed by the LSP ``languageId``: comment and string delimiters (for the bracket lexer in
``completion/syntax.py``), the keywords that start a top-level declaration (for stop sequences,
Tabby's ``languages.toml`` idea), what opens a block at the end of a line, whether blocks are
delimited by indentation, and which tree-sitter grammar parses it (``grammars.py`` loads it).
``spec_for()`` never fails: unknown languages get generic C-like rules. LSP-free.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from mimi_lsp.languages.grammars import load_language


@dataclass(frozen=True, slots=True)
class StringDelim:
    """One kind of string literal: how it opens and closes."""

    open: str
    close: str
    multiline: bool = False
    escapes: bool = True


@dataclass(frozen=True, slots=True)
class LanguageSpec:
    """What post-processing needs to know about one language."""

    name: str
    grammar: str | None = None
    """The tree-sitter grammar that parses it (a key of ``grammars.GRAMMARS``), if any."""
    line_comments: tuple[str, ...] = ("//",)
    block_comments: tuple[tuple[str, str], ...] = (("/*", "*/"),)
    strings: tuple[StringDelim, ...] = (StringDelim('"', '"'), StringDelim("'", "'"))
    extra_token_patterns: tuple[str, ...] = ()
    """Regexes for literals the delimiters cannot express (Rust char literals vs lifetimes)."""
    top_level_keywords: tuple[str, ...] = ()
    """Starts of a top-level declaration; ``"\\n\\n" + keyword`` becomes a stop sequence."""
    block_open: str = r"\{$"
    """Regex matched against a stripped line: does the line open a block?"""
    indent_based: bool = False
    """Blocks end by dedenting (Python), not by a closing bracket."""
    container_keywords: tuple[str, ...] = ()
    """Line starts whose block holds declarations (class, impl, interface...), not statements."""
    definition_keywords: tuple[str, ...] = ()
    """Line starts that begin a definition (for scope limiting)."""
    default_indent: str = "    "
    code_fences_are_code: bool = False
    """Markdown-like documents, where ``` is content, not a model artefact."""
    prose: bool = False
    """Text, not code: at a line's end the suggestion may run on over several lines."""
    decorator_prefixes: tuple[str, ...] = ()
    block_open_re: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "block_open_re", re.compile(self.block_open))


def load_grammar(spec: LanguageSpec) -> Any | None:
    """The tree-sitter ``Language`` for ``spec`` (loaded once), or None without a grammar."""
    return load_language(spec.grammar) if spec.grammar else None
