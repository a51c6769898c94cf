"""Post-processing inside the real engine: session buffer, fake model stream, stop sequences."""

from __future__ import annotations

from mimi_lsp.completion.engine import CompletionEngine
from mimi_lsp.domain import CompletionRequest, TriggerKind
from mimi_lsp.inference.fake import FakeBackend
from mimi_lsp.session import Session
from mimi_lsp.settings import CompletionSettings, FakeBackendSettings


def make(reply: str, chunk_chars: int = 0) -> tuple[Session, FakeBackend, CompletionEngine]:
    session = Session()
    backend = FakeBackend(FakeBackendSettings(replies=[reply], chunk_chars=chunk_chars))
    engine = CompletionEngine(
        CompletionSettings(backend=backend.settings, debounce_ms=0),  # type: ignore[call-arg]
        backend,
        current_version=session.version,
    )
    return session, backend, engine


async def complete(session: Session, engine: CompletionEngine, uri: str, line: int, col: int):
    snap = session.snapshot(uri)
    assert snap is not None
    result = await engine.complete(CompletionRequest(snap, line, col, TriggerKind.INVOKED))
    return result.items


async def test_stream_stops_at_the_next_top_level_function() -> None:
    """The engine asks for the language's stop sequences and stops streaming at the first."""
    uri = "file:///t/a.ts"
    session, backend, engine = make(
        "const y = x * 2;\n  return y;\n}\n\nfunction triple(x: number) {\n  return 3 * x;\n}\n",
        chunk_chars=4,
    )
    session.open(uri, "typescript", 1, "function double(x: number) {\n  \n")
    items = await complete(session, engine, uri, 1, 2)
    assert [i.insert_text for i in items] == ["const y = x * 2;\n  return y;\n}"]
    assert "\n\nfunction " in backend.calls[0].stop


async def test_empty_block_item_replaces_the_closing_brace() -> None:
    """Between '{' and '}' the item ends with '}' and its range covers the existing one."""
    uri = "file:///t/b.rs"
    session, _, engine = make("\n    a + b\n}\n")
    session.open(uri, "rust", 1, "fn add(a: i32, b: i32) -> i32 {}\n")
    items = await complete(session, engine, uri, 0, 31)
    assert [(i.insert_text, i.col, i.replace_end_col) for i in items] == [
        ("\n    a + b\n}", 31, 32)
    ]


async def test_crlf_document_gets_crlf_ghost_text_without_duplicates() -> None:
    """A CRLF document: the duplicate closer is dropped and line ends are CRLF."""
    uri = "file:///t/c.go"
    session, _, engine = make("if x < 0 {\n\t\treturn -x\n\t}\n\treturn x\n}\n")
    session.open(uri, "go", 1, "package m\r\n\r\nfunc Abs(x int) int {\r\n\t\r\n}\r\n")
    items = await complete(session, engine, uri, 3, 1)
    assert [i.insert_text for i in items] == ["if x < 0 {\r\n\t\treturn -x\r\n\t}\r\n\treturn x"]


async def test_no_op_answers_produce_no_item() -> None:
    """A model answer identical to the text after the cursor is not shown."""
    uri = "file:///t/d.py"
    session, _, engine = make("return x * 2\n")
    session.open(uri, "python", 1, "def f(x):\n    \n    return x * 2\n")
    assert await complete(session, engine, uri, 1, 4) == ()


async def test_stream_stops_once_the_rest_would_be_cut() -> None:
    """The model rewriting the lines after the cursor: reading stops two lines past the cut."""
    uri = "file:///t/e.py"
    rest = "".join(f"    total += {i}\n" for i in range(40))
    session, backend, engine = make("total = 0\n" + rest, chunk_chars=6)
    session.open(uri, "python", 1, "def f():\n    \n" + rest)
    items = await complete(session, engine, uri, 1, 4)
    assert [i.insert_text for i in items] == ["total = 0"]
    assert backend.cancelled == 1  # the stream was closed early, not read to its end
