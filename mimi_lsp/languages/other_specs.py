"""``LanguageSpec``s of the other languages: Python, Lua, Ruby, shell, YAML, Markdown, SQL, CSS."""

from __future__ import annotations

from mimi_lsp.languages.shared_specs import _C_STRINGS
from mimi_lsp.languages.specs import LanguageSpec, StringDelim

PYTHON = LanguageSpec(
    name="python",
    grammar="python",
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


LUA = LanguageSpec(
    name="lua",
    grammar="lua",
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
    grammar="ruby",
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
    grammar="shellscript",
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
    prose=True,
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
