"""Next-edit history, predictors and model prompt formats, without a server."""

from __future__ import annotations

from mimi_lsp.domain import TextChange
from mimi_lsp.next_edit import rename, siblings
from mimi_lsp.next_edit.edits import PredictionContext
from mimi_lsp.next_edit.history import EditHistory
from mimi_lsp.next_edit.model import edits_from_window, reconstruct
from mimi_lsp.next_edit.prompts import select_format, sweep_prompt, zeta_prompt
from mimi_lsp.next_edit.syntax import SyntaxCache
from mimi_lsp.session import Session


def typed(session: Session, uri: str, line: int, col: int, old_len: int, text: str) -> None:
    """Replace ``old_len`` characters at (line, col) by typing ``text`` key by key."""
    version = session.version(uri) or 1
    session.change(uri, version + 1, [((line, col), (line, col + old_len), text[:1])])
    for i, ch in enumerate(text[1:], start=1):
        version = session.version(uri) or 1
        session.change(uri, version + 1, [((line, col + i), (line, col + i), ch)])


def setup(text: str, language: str = "python", uri: str = "file:///w/a.py"):
    session = Session()
    history = EditHistory()
    session.on_edit(lambda buf, change: history.record(buf.uri, buf.version, change))
    session.open(uri, language, 1, text)
    return session, history


def context(session: Session, history: EditHistory, uri: str, line: int, col: int):
    snapshot = session.snapshot(uri)
    assert snapshot is not None

    def others():
        return [s for u in session.documents if u != uri and (s := session.snapshot(u))]

    return PredictionContext(snapshot, line, col, history, others, SyntaxCache())


def test_keystrokes_coalesce_into_one_edit() -> None:
    """Selecting a word and typing its replacement is one edit, old word to new word."""
    session, history = setup("x = count + 1\n")
    typed(session, "file:///w/a.py", 0, 4, 5, "total")
    assert [(e.line, e.col, e.old, e.new) for e in history.edits] == [(0, 4, "count", "total")]


def test_backspace_past_the_start_grows_the_edit() -> None:
    """Deleting back over text before the edit folds that text into the edit's old side."""
    history = EditHistory()
    history.record("u", 2, TextChange(0, 4, "", "ab"))
    history.record("u", 3, TextChange(0, 5, "b", ""))
    history.record("u", 4, TextChange(0, 3, " a", ""))
    assert [(e.col, e.old, e.new) for e in history.edits] == [(3, " ", "")]


def test_edits_on_other_lines_are_separate() -> None:
    """A change away from the growing edit starts a new one; typed-then-deleted is nothing."""
    history = EditHistory()
    history.record("u", 2, TextChange(0, 0, "", "a"))
    history.record("u", 3, TextChange(2, 0, "", "b"))
    history.record("u", 4, TextChange(2, 0, "b", ""))
    assert [(e.line, e.new) for e in history.edits] == [(0, "a")]


def test_rename_in_typescript_skips_properties() -> None:
    """A renamed TypeScript parameter's uses are suggested, never ``obj.limit``."""
    text = "function clamp(limit: number, o: Opts) {\n  return Math.min(o.limit, limit);\n}\n"
    session, history = setup(text, "typescript", "file:///w/a.ts")
    typed(session, "file:///w/a.ts", 0, 15, 5, "maxValue")
    edits = rename.predict(context(session, history, "file:///w/a.ts", 1, 0))
    assert [(e.span.start_line, e.span.start_col, e.text) for e in edits] == [(1, 27, "maxValue")]


def test_rename_without_grammar_gives_nothing() -> None:
    """A language without a grammar gets no rename suggestions (text search would guess)."""
    session, history = setup("a = 1\nprint(a)\n", "plaintext", "file:///w/a.txt")
    typed(session, "file:///w/a.txt", 0, 0, 1, "b")
    assert rename.predict(context(session, history, "file:///w/a.txt", 1, 0)) == []


def test_sibling_replacement_between_like_neighbours() -> None:
    """``x: int,`` -> ``x: i64,`` is suggested for ``y: int,`` but not for ``int(z)``."""
    text = "struct P {\n    x: int,\n    y: int,\n}\nfn f() { int(z) }\n"
    session, history = setup(text, "rust", "file:///w/a.rs")
    typed(session, "file:///w/a.rs", 1, 7, 3, "i64")
    edits = siblings.predict(context(session, history, "file:///w/a.rs", 1, 0))
    assert [(e.span.start_line, e.span.start_col, e.span.end_col, e.text) for e in edits] == [
        (2, 7, 10, "i64")
    ]


def test_line_start_insertion_reaches_neighbour_fields() -> None:
    """``pub `` typed before one field is suggested before the next field of the struct."""
    text = "struct P {\n    x: i32,\n    y: i32,\n}\n"
    session, history = setup(text, "rust", "file:///w/a.rs")
    typed(session, "file:///w/a.rs", 1, 4, 0, "pub ")
    edits = siblings.predict(context(session, history, "file:///w/a.rs", 1, 0))
    assert [(e.span.start_line, e.span.start_col, e.text) for e in edits] == [(2, 4, "pub ")]


def test_reconstruct_walks_history_back() -> None:
    """The text before the session comes back from today's text and the edits."""
    session, history = setup("a = 1\nb = 2\n")
    typed(session, "file:///w/a.py", 0, 4, 1, "10")
    typed(session, "file:///w/a.py", 1, 0, 1, "c")
    snapshot = session.snapshot("file:///w/a.py")
    rebuilt = reconstruct(snapshot.text, history.of(snapshot.uri))
    assert rebuilt.original == "a = 1\nb = 2\n"
    assert [(d.before, d.after) for d in rebuilt.diffs] == [
        (("a = 1",), ("a = 10",)),
        (("b = 2",), ("c = 2",)),
    ]


def test_reconstruct_stops_at_text_the_history_did_not_see() -> None:
    """An edit whose text is gone (a reload) ends the walk: nothing stale is invented."""
    session, history = setup("a = 1\n")
    typed(session, "file:///w/a.py", 0, 4, 1, "2")
    rebuilt = reconstruct("zzz\n", history.of("file:///w/a.py"))
    assert rebuilt.original == "zzz\n" and rebuilt.diffs == ()


def test_format_from_model_name() -> None:
    """Sweep and Zeta are chosen from the name; other models give no format."""
    assert select_format("sweep-next-edit-1.5b:q8_0") == "sweep"
    assert select_format("hf.co/zed-industries/zeta-GGUF") == "zeta"
    assert select_format("qwen2.5-coder:1.5b-base") is None
    assert select_format("qwen2.5-coder:0.5b", "sweep") == "sweep"


def test_sweep_prompt_layout_and_parse() -> None:
    """The Sweep prompt ends at ``updated/f``; the answer is read up to the next separator."""
    lines = [f"line {i}" for i in range(30)]
    prompt = sweep_prompt("src/a.py", lines, lines, 15, [], [("b.py", "x = 1")])
    assert prompt.prompt.endswith("<|file_sep|>updated/a.py\n")
    assert "<|file_sep|>current/a.py\nline 5\n" in prompt.prompt
    assert (prompt.start, prompt.end) == (5, 26)
    answer = "\n".join(lines[5:26]).replace("line 16", "line sixteen") + "\n<|file_sep|>junk"
    assert prompt.parse(answer)[11] == "line sixteen"
    assert prompt.parse("only one line") is None


def test_zeta_parse_needs_its_markers() -> None:
    """A Zeta answer without exactly one editable region gives nothing."""
    prompt = zeta_prompt("a.py", ["a = 1", "b = 2"], 0, 0, [])
    assert "<|user_cursor_is_here|>a = 1" in prompt.prompt
    good = "```a.py\n<|editable_region_start|>\na = 10\nb = 2\n<|editable_region_end|>\n```"
    assert prompt.parse(good) == ["a = 10", "b = 2"]
    assert prompt.parse("a = 10\nb = 2") is None


def test_window_diff_becomes_the_smallest_replacement() -> None:
    """A rewritten window yields the changed characters only, as a document range."""
    lines = [f"v{i} = {i}" for i in range(30)]
    session, history = setup("\n".join(lines) + "\n")
    ctx = context(session, history, "file:///w/a.py", 15, 0)
    prompt = sweep_prompt("a.py", lines, lines, 15, [], [])
    new = list(prompt.window)
    new[3] = "v8 = 800"
    edits = edits_from_window(ctx, prompt, new)
    assert [(e.span.start_line, e.span.start_col, e.span.end_col, e.text) for e in edits] == [
        (8, 6, 6, "00")
    ]


def test_large_file_is_parsed_around_the_edit() -> None:
    """In a file too large to parse whole, a rename near its end still finds the next use."""
    filler = "".join(f"def helper_{i}(x):\n    return x + {i}\n\n\n" for i in range(6_000))
    text = filler + "def last(rate):\n    return rate * 2\n"
    session, history = setup(text)
    line = text.count("\n") - 2
    typed(session, "file:///w/a.py", line, 9, 4, "factor")
    ctx = context(session, history, "file:///w/a.py", line, 0)
    assert ctx.snapshot.size > 192_000
    edits = rename.predict(ctx)
    assert [(e.span.start_line, e.span.start_col, e.text) for e in edits] == [
        (line + 1, 11, "factor")
    ]


def test_next_edit_events_reach_the_prometheus_exposition() -> None:
    """Shown, accepted, reversed... are counters on /metrics, latency a histogram."""
    from prometheus_client.parser import text_string_to_metric_families

    from mimi_lsp import metrics

    metrics.count_next_edit("accepted")
    metrics.observe_next_edit("model-free", 0.002)
    body, _ = metrics.exposition()
    families = {f.name: f for f in text_string_to_metric_families(body.decode())}
    accepted = [
        s for s in families["mimi_next_edit"].samples if s.labels.get("event") == "accepted"
    ]
    assert accepted and accepted[0].value >= 1
    assert "mimi_next_edit_duration_seconds" in families


def test_insertion_after_a_word_repeats_after_that_word() -> None:
    """``pub`` -> ``pub(crate)`` on one field is suggested on the next field."""
    text = "struct P {\n    pub x: i32,\n    pub y: i32,\n}\n"
    session, history = setup(text, "rust", "file:///w/a.rs")
    typed(session, "file:///w/a.rs", 1, 7, 0, "(crate)")
    edits = siblings.predict(context(session, history, "file:///w/a.rs", 1, 0))
    assert [(e.span.start_line, e.span.start_col, e.text) for e in edits][:1] == [(2, 7, "(crate)")]


def test_a_change_inside_a_word_repeats_inside_like_words() -> None:
    """``APP_ADDR`` -> ``SVC_ADDR`` in a string: the next ``APP_`` prefix follows."""
    text = 'a = env("APP_ADDR")\nb = env("APP_PORT")\n'
    session, history = setup(text)
    typed(session, "file:///w/a.py", 0, 9, 3, "SVC")
    edits = siblings.predict(context(session, history, "file:///w/a.py", 0, 0))
    assert [(e.span.start_line, e.span.start_col, e.span.end_col, e.text) for e in edits] == [
        (1, 9, 12, "SVC")
    ]


def test_a_changed_value_is_not_repeated_for_other_names() -> None:
    """``retries: 3`` -> ``5`` suggests nothing for ``pageSize: 3``."""
    text = "const d = {\n  retries: 3,\n  pageSize: 3,\n};\n"
    session, history = setup(text, "typescript", "file:///w/a.ts")
    typed(session, "file:///w/a.ts", 1, 11, 1, "5")
    assert siblings.predict(context(session, history, "file:///w/a.ts", 1, 0)) == []
