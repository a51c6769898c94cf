"""The prompt's prefix window: its start stays put while the user types (a model server then
reuses the prompt's unchanged start from its KV cache) and moves in coarse steps."""

from __future__ import annotations

from mimi_lsp.domain import DocumentSnapshot
from mimi_lsp.session import split_lines

BODY = "".join(f"line_{i:03d} = {i}\n" for i in range(200))  # 14 characters a line


def snapshot(text: str) -> DocumentSnapshot:
    return DocumentSnapshot("file:///w/a.py", 1, "python", tuple(split_lines(text)))


def window_start(text: str, max_chars: int, step: int) -> str:
    snap = snapshot(text)
    line = len(snap.lines) - 1
    return snap.prefix(line, len(snap.lines[line]), max_chars, step).split("\n", 1)[0]


def test_the_start_stays_put_while_typing_and_moves_in_steps() -> None:
    typed = "result = compute(line_001, line_002) + total_of_everything_here"
    starts = [window_start(BODY + typed[:n], 700, 175) for n in range(len(typed) + 1)]
    plain = [window_start(BODY + typed[:n], 700, 0) for n in range(len(typed) + 1)]
    assert len(set(plain)) > 3  # the line that just fits moves with almost every line's worth
    assert len(set(starts)) <= 2  # at most one step in 64 keys of a 175-character step


def test_the_window_keeps_within_its_budget_and_near_it() -> None:
    for n in range(0, 400, 7):
        snap = snapshot(BODY + "x" * n)
        line = len(snap.lines) - 1
        window = snap.prefix(line, len(snap.lines[line]), 700, 175)
        assert 700 - 175 - 14 <= len(window) <= 700
        assert window.endswith("x" * n)
        assert window.startswith("line_")  # whole lines


def test_a_document_that_fits_is_whole() -> None:
    snap = snapshot("a = 1\nb = 2\nc = ")
    assert snap.prefix(2, 4, 700, 175) == "a = 1\nb = 2\nc = "
