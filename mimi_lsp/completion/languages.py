"""Per-language facts that completion post-processing relies on.

One table, keyed by the LSP ``languageId``: comment and string delimiters (for the bracket lexer in
``syntax.py``), the keywords that start a top-level declaration (for stop sequences, Tabby's
``languages.toml`` idea), what opens a block at the end of a line, whether blocks are delimited by
indentation, and which tree-sitter grammar wheel parses it. ``spec_for()`` never fails: unknown
languages get generic C-like rules. ``load_grammar()`` imports a grammar wheel lazily, once; a
missing wheel means text heuristics only. Sits below ``postprocess.py`` and ``syntax.py``; LSP-free.
"""

from __future__ import annotations

import importlib
import logging
import re
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)


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
    grammar: tuple[str, str] | None = None
    """(module, function) of a tree-sitter grammar wheel, e.g. ("tree_sitter_python", "language")."""
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
    decorator_prefixes: tuple[str, ...] = ()
    block_open_re: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "block_open_re", re.compile(self.block_open))


_C_STRINGS = (StringDelim('"', '"'), StringDelim("'", "'"))
_JS_STRINGS = (
    StringDelim('"', '"'),
    StringDelim("'", "'"),
    StringDelim("`", "`", multiline=True),
)
_JS_TOP = (
    "function ",
    "export ",
    "class ",
    "const ",
    "import ",
    "async function ",
    "let ",
    "var ",
    "module.exports",
    "describe(",
    "test(",
    "it(",
)
_TS_TOP = (
    "function ",
    "export ",
    "class ",
    "interface ",
    "type ",
    "const ",
    "import ",
    "async function ",
    "enum ",
    "declare ",
    "namespace ",
    "abstract class ",
    "let ",
    "var ",
    "describe(",
    "test(",
    "it(",
)
_JS_CONTAINERS = (
    "class ",
    "export class ",
    "export default class ",
    "abstract class ",
    "export abstract class ",
    "interface ",
    "export interface ",
    "enum ",
    "export enum ",
    "namespace ",
    "declare ",
    "export namespace ",
    "module ",
)
_JS_DEFS = (
    "function ",
    "async function ",
    "export ",
    "class ",
    "interface ",
    "type ",
    "enum ",
    "abstract class ",
    "describe(",
    "test(",
    "it(",
)

PYTHON = LanguageSpec(
    name="python",
    grammar=("tree_sitter_python", "language"),
    line_comments=("#",),
    block_comments=(),
    strings=(
        StringDelim('"""', '"""', multiline=True),
        StringDelim("'''", "'''", multiline=True),
        StringDelim('"', '"'),
        StringDelim("'", "'"),
    ),
    top_level_keywords=(
        "def ",
        "class ",
        "async def ",
        "@",
        "if __name__",
        "import ",
        "from ",
    ),
    block_open=r"(:|[\[{])$",
    indent_based=True,
    container_keywords=("class ",),
    definition_keywords=("def ", "async def ", "class ", "@"),
    decorator_prefixes=("@",),
)

JAVASCRIPT = LanguageSpec(
    name="javascript",
    grammar=("tree_sitter_javascript", "language"),
    strings=_JS_STRINGS,
    top_level_keywords=_JS_TOP,
    block_open=r"[{\[]$",
    container_keywords=_JS_CONTAINERS,
    definition_keywords=_JS_DEFS,
    default_indent="  ",
)

TYPESCRIPT = LanguageSpec(
    name="typescript",
    grammar=("tree_sitter_typescript", "language_typescript"),
    strings=_JS_STRINGS,
    top_level_keywords=_TS_TOP,
    block_open=r"[{\[]$",
    container_keywords=_JS_CONTAINERS,
    definition_keywords=_JS_DEFS,
    default_indent="  ",
    decorator_prefixes=("@",),
)

TSX = LanguageSpec(
    name="typescriptreact",
    grammar=("tree_sitter_typescript", "language_tsx"),
    strings=_JS_STRINGS,
    top_level_keywords=_TS_TOP,
    block_open=r"[{\[]$",
    container_keywords=_JS_CONTAINERS,
    definition_keywords=_JS_DEFS,
    default_indent="  ",
    decorator_prefixes=("@",),
)

RUST = LanguageSpec(
    name="rust",
    grammar=("tree_sitter_rust", "language"),
    strings=(StringDelim('"', '"', multiline=True),),
    # 'a' and '\n' are char literals; a lone ' is a lifetime and must not open a string.
    extra_token_patterns=(
        r"r(?P<hashes>#*)\"[\s\S]*?(?:\"(?P=hashes)|\Z)",
        r"'(?:\\[^'\n]{1,10}|[^\\'\n])'",
    ),
    top_level_keywords=(
        "fn ",
        "pub ",
        "impl",
        "struct ",
        "enum ",
        "trait ",
        "mod ",
        "use ",
        "#[",
        "const ",
        "static ",
        "type ",
        "macro_rules!",
        "async fn ",
        "unsafe ",
        "extern ",
    ),
    block_open=r"[{\[]$",
    container_keywords=(
        "impl",
        "pub trait ",
        "trait ",
        "pub struct ",
        "struct ",
        "pub enum ",
        "enum ",
        "mod ",
        "pub mod ",
        "pub(crate) struct ",
        "unsafe impl",
    ),
    definition_keywords=(
        "fn ",
        "pub fn ",
        "pub(crate) fn ",
        "async fn ",
        "pub async fn ",
        "impl",
        "struct ",
        "pub struct ",
        "enum ",
        "pub enum ",
        "trait ",
        "pub trait ",
        "mod ",
        "#[",
        "unsafe fn ",
        "const fn ",
        "pub const fn ",
    ),
    decorator_prefixes=("#[",),
)

GO = LanguageSpec(
    name="go",
    grammar=("tree_sitter_go", "language"),
    strings=(StringDelim('"', '"'), StringDelim("`", "`", multiline=True, escapes=False)),
    extra_token_patterns=(r"'(?:\\[^'\n]{1,10}|[^\\'\n])'",),
    top_level_keywords=("func ", "type ", "var ", "const ", "import ", "package ", "//go:"),
    block_open=r"(\{|^(?:import|var|const|type)\s*\()$",
    container_keywords=("type ",),
    definition_keywords=("func ", "type "),
    default_indent="\t",
)

JAVA = LanguageSpec(
    name="java",
    grammar=("tree_sitter_java", "language"),
    strings=(StringDelim('"""', '"""', multiline=True), *_C_STRINGS),
    top_level_keywords=(
        "public ",
        "class ",
        "import ",
        "package ",
        "@",
        "interface ",
        "enum ",
        "record ",
        "abstract ",
        "final ",
        "private ",
        "protected ",
    ),
    container_keywords=(
        "public class ",
        "class ",
        "public interface ",
        "interface ",
        "public enum ",
        "enum ",
        "abstract class ",
        "public abstract class ",
        "final class ",
        "public final class ",
        "record ",
        "public record ",
    ),
    definition_keywords=(
        "public ",
        "private ",
        "protected ",
        "static ",
        "@",
        "class ",
        "interface ",
        "enum ",
        "record ",
    ),
    decorator_prefixes=("@",),
)

C = LanguageSpec(
    name="c",
    grammar=("tree_sitter_c", "language"),
    strings=_C_STRINGS,
    top_level_keywords=(
        "#include",
        "#define",
        "#if",
        "static ",
        "int ",
        "void ",
        "struct ",
        "typedef ",
        "unsigned ",
        "const ",
        "extern ",
        "enum ",
        "char ",
        "bool ",
        "double ",
        "float ",
        "long ",
    ),
    container_keywords=("struct ", "typedef struct", "enum ", "union ", "typedef enum"),
    definition_keywords=(
        "static ",
        "int ",
        "void ",
        "struct ",
        "typedef ",
        "char ",
        "bool ",
        "double ",
        "float ",
        "long ",
        "unsigned ",
        "const ",
        "#define",
    ),
)

CPP = LanguageSpec(
    name="cpp",
    grammar=("tree_sitter_cpp", "language"),
    strings=_C_STRINGS,
    top_level_keywords=(
        "#include",
        "#define",
        "#if",
        "namespace ",
        "template",
        "class ",
        "struct ",
        "using ",
        "static ",
        "int ",
        "void ",
        "auto ",
        "typedef ",
        "const ",
        "extern ",
        "enum ",
    ),
    container_keywords=("class ", "struct ", "namespace ", "enum ", "union ", "template"),
    definition_keywords=(
        "static ",
        "int ",
        "void ",
        "auto ",
        "template",
        "class ",
        "struct ",
        "virtual ",
        "inline ",
        "bool ",
        "double ",
        "std::",
        "const ",
    ),
)

CSHARP = LanguageSpec(
    name="csharp",
    grammar=("tree_sitter_c_sharp", "language"),
    strings=(StringDelim('"', '"'), StringDelim("'", "'"), StringDelim('@"', '"', multiline=True)),
    top_level_keywords=(
        "using ",
        "namespace ",
        "public ",
        "internal ",
        "class ",
        "[",
        "interface ",
        "enum ",
        "record ",
        "static ",
    ),
    container_keywords=(
        "public class ",
        "class ",
        "internal class ",
        "public interface ",
        "interface ",
        "namespace ",
        "public static class ",
        "enum ",
        "public enum ",
        "record ",
        "public record ",
        "struct ",
        "public struct ",
    ),
    definition_keywords=(
        "public ",
        "private ",
        "protected ",
        "internal ",
        "static ",
        "[",
        "class ",
    ),
    decorator_prefixes=("[",),
)

KOTLIN = LanguageSpec(
    name="kotlin",
    grammar=("tree_sitter_kotlin", "language"),
    strings=(StringDelim('"""', '"""', multiline=True, escapes=False), *_C_STRINGS),
    top_level_keywords=(
        "fun ",
        "class ",
        "object ",
        "interface ",
        "val ",
        "var ",
        "import ",
        "package ",
        "data class ",
        "@",
        "private ",
        "internal ",
        "enum ",
    ),
    container_keywords=(
        "class ",
        "object ",
        "interface ",
        "data class ",
        "enum class ",
        "abstract class ",
        "open class ",
        "sealed class ",
    ),
    definition_keywords=(
        "fun ",
        "class ",
        "object ",
        "interface ",
        "data class ",
        "@",
        "private fun ",
        "override fun ",
        "suspend fun ",
    ),
    decorator_prefixes=("@",),
)

SWIFT = LanguageSpec(
    name="swift",
    strings=(StringDelim('"""', '"""', multiline=True), StringDelim('"', '"')),
    top_level_keywords=(
        "func ",
        "class ",
        "struct ",
        "enum ",
        "protocol ",
        "extension ",
        "import ",
        "let ",
        "var ",
        "@",
        "final class ",
        "public ",
    ),
    container_keywords=(
        "class ",
        "struct ",
        "enum ",
        "protocol ",
        "extension ",
        "final class ",
        "public class ",
        "public struct ",
    ),
    definition_keywords=(
        "func ",
        "class ",
        "struct ",
        "enum ",
        "protocol ",
        "extension ",
        "@",
        "public func ",
        "private func ",
        "override func ",
        "init(",
    ),
    decorator_prefixes=("@",),
)

PHP = LanguageSpec(
    name="php",
    grammar=("tree_sitter_php", "language_php"),
    line_comments=("//", "#"),
    strings=_C_STRINGS,
    top_level_keywords=(
        "function ",
        "class ",
        "namespace ",
        "use ",
        "interface ",
        "trait ",
        "abstract class ",
        "final class ",
        "enum ",
    ),
    container_keywords=(
        "class ",
        "interface ",
        "trait ",
        "abstract class ",
        "final class ",
        "enum ",
    ),
    definition_keywords=(
        "function ",
        "public function ",
        "private function ",
        "protected function ",
        "public static function ",
        "class ",
    ),
)

LUA = LanguageSpec(
    name="lua",
    grammar=("tree_sitter_lua", "language"),
    line_comments=("--",),
    block_comments=(("--[[", "]]"),),
    strings=(StringDelim("[[", "]]", multiline=True, escapes=False), *_C_STRINGS),
    top_level_keywords=("function ", "local function ", "local ", "return "),
    block_open=r"(\b(then|do|else|repeat)|\bfunction\b.*\)|[{(\[])$",
    container_keywords=(),
    definition_keywords=("function ", "local function "),
    default_indent="  ",
)

RUBY = LanguageSpec(
    name="ruby",
    grammar=("tree_sitter_ruby", "language"),
    line_comments=("#",),
    block_comments=(("=begin", "=end"),),
    strings=_C_STRINGS,
    top_level_keywords=("def ", "class ", "module ", "require ", "require_relative "),
    block_open=r"(\b(do|then|else|begin)(\s*\|[^|]*\|)?|^(def|class|module|if|unless|while|until|case|for)\b.*|[{(\[])$",
    container_keywords=("class ", "module "),
    definition_keywords=("def ", "class ", "module "),
    default_indent="  ",
)

SHELL = LanguageSpec(
    name="shellscript",
    grammar=("tree_sitter_bash", "language"),
    line_comments=("#",),
    block_comments=(),
    strings=(
        StringDelim('"', '"', multiline=True),
        StringDelim("'", "'", multiline=True, escapes=False),
    ),
    top_level_keywords=("function ",),
    block_open=r"(\b(then|do|else)|\{|\()$",
    definition_keywords=("function ",),
    default_indent="  ",
)

YAML = LanguageSpec(
    name="yaml",
    line_comments=("#",),
    block_comments=(),
    block_open=r":$",
    indent_based=True,
    default_indent="  ",
)

MARKDOWN = LanguageSpec(
    name="markdown",
    line_comments=(),
    block_comments=(("<!--", "-->"),),
    strings=(),
    block_open=r"(?!)",
    code_fences_are_code=True,
)

SQL = LanguageSpec(
    name="sql",
    line_comments=("--",),
    strings=(StringDelim("'", "'"), StringDelim('"', '"')),
    top_level_keywords=(
        "SELECT ",
        "CREATE ",
        "INSERT ",
        "UPDATE ",
        "DELETE ",
        "WITH ",
        "select ",
        "create ",
        "insert ",
        "update ",
        "delete ",
        "with ",
    ),
    block_open=r"\($",
)

CSS = LanguageSpec(
    name="css",
    line_comments=(),
    strings=_C_STRINGS,
)

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


_GRAMMARS: dict[str, Any] = {}


def load_grammar(spec: LanguageSpec) -> Any | None:
    """The tree-sitter ``Language`` for ``spec`` (imported once), or None without a grammar."""
    if spec.grammar is None:
        return None
    module_name, function = spec.grammar
    key = f"{module_name}.{function}"
    if key in _GRAMMARS:
        return _GRAMMARS[key]
    language = None
    try:
        import tree_sitter

        module = importlib.import_module(module_name)
        language = tree_sitter.Language(getattr(module, function)())
    except Exception as exc:  # a missing or incompatible wheel means text heuristics only
        log.info("no tree-sitter grammar for %s (%s); using text heuristics", spec.name, exc)
    _GRAMMARS[key] = language
    return language
