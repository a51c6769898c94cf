"""The structured-text tool protocol for models without native tool calling."""

from __future__ import annotations

from mimi_lsp.agent.mcp_client import tool_name
from mimi_lsp.agent.textproto import describe_tools, parse_tool_calls, strip_tool_text
from mimi_lsp.domain import ToolSpec

KNOWN = {"read_file", "edit", "create_file", "search"}


def test_tool_call_tags_are_parsed() -> None:
    """<tool_call> JSON blocks become calls, in order, with their arguments."""
    text = (
        'Let me look.\n<tool_call>{"name": "read_file", "arguments": {"path": "a.py"}}</tool_call>\n'
        '<tool_call>{"name": "search", "arguments": "{\\"query\\": \\"x\\"}"}</tool_call>'
    )
    calls = parse_tool_calls(text, KNOWN)
    assert [(c.name, c.arguments) for c in calls] == [
        ("read_file", {"path": "a.py"}),
        ("search", {"query": "x"}),
    ]


def test_unknown_tools_are_ignored() -> None:
    """A tag naming a tool the run does not have is not a call."""
    assert (
        parse_tool_calls(
            '<tool_call>{"name": "shell", "arguments": {"command": "ls"}}</tool_call>', KNOWN
        )
        == []
    )


def test_fenced_call_object_is_parsed() -> None:
    """A fenced JSON object shaped exactly like a call counts (some models fence them)."""
    text = '```json\n{"name": "read_file", "arguments": {"path": "b.py"}}\n```'
    assert [c.arguments for c in parse_tool_calls(text, KNOWN)] == [{"path": "b.py"}]


def test_search_replace_blocks_become_edits() -> None:
    """Aider-style blocks for one file become one edit call with every block."""
    text = (
        "shop/a.py\n<<<<<<< SEARCH\nx = 1\n=======\nx = 2\n>>>>>>> REPLACE\n\n"
        "```python\nshop/a.py\n<<<<<<< SEARCH\ny = 1\n=======\ny = 3\n>>>>>>> REPLACE\n```\n"
    )
    (call,) = parse_tool_calls(text, KNOWN)
    assert call.name == "edit" and call.arguments["path"] == "shop/a.py"
    assert call.arguments["edits"] == [
        {"search": "x = 1\n", "replace": "x = 2\n"},
        {"search": "y = 1\n", "replace": "y = 3\n"},
    ]


def test_empty_search_block_creates_a_file() -> None:
    """A block with an empty SEARCH part is a new file."""
    text = "new.py\n<<<<<<< SEARCH\n=======\nprint('hi')\n>>>>>>> REPLACE\n"
    (call,) = parse_tool_calls(text, KNOWN)
    assert (call.name, call.arguments) == (
        "create_file",
        {"path": "new.py", "content": "print('hi')\n"},
    )


def test_prose_survives_stripping() -> None:
    """The summary of a reply is its text without the blocks."""
    text = 'Done.\n<tool_call>{"name": "search", "arguments": {}}</tool_call>'
    assert strip_tool_text(text) == "Done."


def test_tools_are_described_for_the_prompt() -> None:
    """The text protocol's prompt lists every tool with its arguments."""
    spec = ToolSpec(
        "read_file",
        "Read a file.",
        {
            "properties": {"path": {"type": "string"}, "start_line": {"type": "integer"}},
            "required": ["path"],
        },
    )
    text = describe_tools([spec])
    assert "- read_file(path: string, start_line?: integer): Read a file." in text
    assert "<tool_call>" in text and "<<<<<<< SEARCH" in text


def test_mcp_tool_names_are_model_safe() -> None:
    """External tools are namespaced and cleaned to [A-Za-z0-9_-]{1,64}."""
    assert tool_name("my docs", "search.code") == "my_docs__search_code"
    assert len(tool_name("s" * 40, "t" * 40)) == 64
