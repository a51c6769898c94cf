"""The one language registry: what the index, completion and next edits know per language.

- ``grammars``: which language a file is (extensions, names, aliases), its tree-sitter grammar
  (loaded lazily, once per process, under a lock; a missing wheel means text heuristics, never
  an error) and the node types that define something.
- ``specs``: per LSP ``languageId``, what completion post-processing needs (comments, strings,
  block rules, top-level keywords) and which grammar parses it.
"""

from mimi_lsp.languages.brace_specs import (
    CPP,
    CSHARP,
    GO,
    JAVA,
    JAVASCRIPT,
    KOTLIN,
    PHP,
    RUST,
    SWIFT,
    TSX,
    TYPESCRIPT,
    C,
)
from mimi_lsp.languages.grammars import (
    EXTENSIONS,
    FILENAMES,
    GRAMMARS,
    LANGUAGE_ALIASES,
    PROSE,
    Grammar,
    language_for_path,
    load_language,
    normalize_language,
    parser_for,
    supported_grammars,
)
from mimi_lsp.languages.other_specs import CSS, LUA, MARKDOWN, PYTHON, RUBY, SHELL, SQL, YAML
from mimi_lsp.languages.specs import LanguageSpec, StringDelim, load_grammar

GENERIC = LanguageSpec(name="generic")

_BY_ID: dict[str, LanguageSpec] = {
    "python": PYTHON,
    "javascript": JAVASCRIPT,
    "javascriptreact": JAVASCRIPT,
    "jsx": JAVASCRIPT,
    "typescript": TYPESCRIPT,
    "typescriptreact": TSX,
    "tsx": TSX,
    "rust": RUST,
    "go": GO,
    "java": JAVA,
    "c": C,
    "cpp": CPP,
    "cuda-cpp": CPP,
    "objective-c": C,
    "csharp": CSHARP,
    "kotlin": KOTLIN,
    "swift": SWIFT,
    "php": PHP,
    "lua": LUA,
    "ruby": RUBY,
    "shellscript": SHELL,
    "bash": SHELL,
    "sh": SHELL,
    "zsh": SHELL,
    "yaml": YAML,
    "markdown": MARKDOWN,
    "sql": SQL,
    "css": CSS,
    "scss": CSS,
    "less": CSS,
}


def spec_for(language_id: str) -> LanguageSpec:
    """The spec for an LSP languageId; generic C-like rules for unknown ones."""
    return _BY_ID.get(language_id) or _BY_ID.get(language_id.lower()) or GENERIC


__all__ = [
    "EXTENSIONS",
    "FILENAMES",
    "GENERIC",
    "GRAMMARS",
    "LANGUAGE_ALIASES",
    "PROSE",
    "Grammar",
    "LanguageSpec",
    "StringDelim",
    "language_for_path",
    "load_grammar",
    "load_language",
    "normalize_language",
    "parser_for",
    "spec_for",
    "supported_grammars",
]
