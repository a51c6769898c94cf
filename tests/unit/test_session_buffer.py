"""The line-indexed document buffer applies LSP edits exactly like a full-text rewrite."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from mimi_lsp.session import PositionCodec, Session, TextBuffer, col_to_utf16, split_lines

ALPHABET = st.sampled_from(list("ab \t\n\r") + ["\r\n", "é", "😀", "中"])
TEXT = st.lists(ALPHABET, max_size=40).map("".join)


def _offset(lines: list[str], line: int, col: int) -> int:
    return sum(len(x) for x in lines[:line]) + col


@settings(max_examples=400, deadline=None)
@given(text=TEXT, new=TEXT, data=st.data())
def test_incremental_edit_matches_full_rewrite(text: str, new: str, data: st.DataObject) -> None:
    """Any range replacement in UTF-16 units gives the same text as splicing the string."""
    buf = TextBuffer("u", "python", 1, text)
    lines = list(buf.lines)

    def point() -> tuple[int, int]:
        line = data.draw(st.integers(0, len(lines) - 1))
        col = data.draw(st.integers(0, len(lines[line].rstrip("\r\n"))))
        return line, col

    start, end = sorted([point(), point()])
    expected = text[: _offset(lines, *start)] + new + text[_offset(lines, *end) :]
    buf.apply(
        (start[0], col_to_utf16(lines[start[0]], start[1])),
        (end[0], col_to_utf16(lines[end[0]], end[1])),
        new,
        PositionCodec("utf-16"),
    )
    assert buf.text == expected
    assert buf.lines == split_lines(expected)
    assert buf.snapshot().size == len(expected)


def test_positions_past_the_end_are_clamped() -> None:
    """An edit beyond the last line appends instead of failing."""
    buf = TextBuffer("u", "python", 1, "a\nb")
    buf.apply((5, 0), (5, 0), "!", PositionCodec())
    assert buf.text == "a\nb!"


def test_utf16_columns_count_surrogate_pairs() -> None:
    """A column after an emoji counts it as two UTF-16 units."""
    buf = TextBuffer("u", "python", 1, "😀x\n")
    buf.apply((0, 2), (0, 3), "y", PositionCodec("utf-16"))
    assert buf.text == "😀y\n"


def test_session_versions_and_listeners() -> None:
    """Changes bump the version and notify listeners; snapshots are immutable copies."""
    session = Session()
    seen: list[str] = []
    session.on_change(seen.append)
    session.open("file:///a.py", "python", 1, "x = 1\n")
    snap = session.snapshot("file:///a.py")
    session.change("file:///a.py", 2, [((0, 4), (0, 5), "2")])
    assert session.version("file:///a.py") == 2
    assert snap is not None and snap.text == "x = 1\n"
    assert session.snapshot("file:///a.py").text == "x = 2\n"  # type: ignore[union-attr]
    assert seen == ["file:///a.py", "file:///a.py"]


def test_crlf_documents_keep_their_line_endings() -> None:
    """A CRLF document stays CRLF and its snapshot says so."""
    session = Session()
    session.open("file:///a.py", "python", 1, "a\r\nb\r\n")
    session.change("file:///a.py", 2, [((1, 1), (1, 1), "c")])
    snap = session.snapshot("file:///a.py")
    assert snap is not None
    assert snap.text == "a\r\nbc\r\n"
    assert snap.eol == "\r\n"
