"""Delimiters and keyword lists several ``LanguageSpec``s share (C-like strings, JS/TS)."""

from __future__ import annotations

from mimi_lsp.languages.specs import StringDelim

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
