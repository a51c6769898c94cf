"""The cheap scope finders behind the code action list (no model, no parsing library)."""

from __future__ import annotations

from pathlib import Path

from mimi_lsp.features.code_actions import enclosing_function, wanted, where_tests_go
from mimi_lsp.session import TextBuffer

SOURCE = """import os


class Store:
    def get(self, key):
        value = self.data[key]
        return value

    async def put(self, key, value):
        self.data[key] = value


def main():
    Store().get("x")
"""


def snap(text: str = SOURCE):  # noqa: ANN201
    return TextBuffer("file:///x.py", "python", 1, text).snapshot()


def test_method_around_the_cursor() -> None:
    """Inside a method body: that method, from its def to its last line."""
    assert enclosing_function(snap(), 5) == ("get", 4, 6)


def test_async_method_and_top_level_function() -> None:
    """async defs and module-level functions are found too."""
    assert enclosing_function(snap(), 9) == ("put", 8, 9)
    assert enclosing_function(snap(), 13) == ("main", 12, 13)


def test_outside_any_function() -> None:
    """On an import or a blank line between functions: no function."""
    assert enclosing_function(snap(), 0) is None
    assert enclosing_function(snap(), 11) is None


def test_brace_languages() -> None:
    """A JavaScript function is found by its keyword and braces' indentation."""
    js = "function add(a, b) {\n  return a + b;\n}\n"
    assert enclosing_function(TextBuffer("file:///a.js", "javascript", 1, js).snapshot(), 1) == (
        "add",
        0,
        2,
    )


def test_test_file_conventions(tmp_path: Path) -> None:
    """tests/test_<m>.py when a tests folder exists; <m>_test.go; <m>.test.ts."""
    (tmp_path / "tests").mkdir()
    root = str(tmp_path)
    assert where_tests_go(f"{root}/pkg/shop.py", "python", [root]) == f"{root}/tests/test_shop.py"
    assert where_tests_go(f"{root}/srv/api.go", "go", [root]) == f"{root}/srv/api_test.go"
    assert where_tests_go(f"{root}/web/app.ts", "typescript", [root]) == f"{root}/web/app.test.ts"


def test_only_matches_sub_kinds() -> None:
    """'source' selects source.mimi.*; the empty kind only when nothing is asked for."""
    assert wanted("source.mimi.writeTests", ["source"])
    assert not wanted("quickfix", ["source"])
    assert not wanted("", ["quickfix"])
    assert wanted("", None)
