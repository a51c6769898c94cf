"""ChatService in-process with the scripted backend: numbered context and citation rules."""

from __future__ import annotations

from pathlib import Path

from mimi_lsp.chat import ChatQuery, ChatService
from mimi_lsp.domain import Span
from mimi_lsp.services import Services
from mimi_lsp.settings import resolve_settings


def service(tmp_path: Path, reply: str) -> tuple[ChatService, Services, str]:
    (tmp_path / "calc.py").write_text(
        "def add(a, b):\n    return a - b\n\n\ndef mul(a, b):\n    return a * b\n"
    )
    (tmp_path / "use.py").write_text("from calc import add\n\nprint(add(1, 2))\n")
    settings, problems = resolve_settings(
        {
            "completion": {"backend": {"kind": "fake", "chatReplies": [reply]}},
            "index": {"enabled": False},
        }
    )
    assert not problems
    services = Services(settings)
    services.workspace_folders = [str(tmp_path)]
    uri = (tmp_path / "calc.py").as_uri()
    services.session.open(uri, "python", 4, (tmp_path / "calc.py").read_text())
    return ChatService(services), services, uri


async def test_cited_numbers_become_citations(tmp_path: Path) -> None:
    """Only the sources the answer cites by number are returned, in citation order."""
    chat, _, uri = service(tmp_path, "add is called in use.py [3], defined at [1].")
    answer = await chat.ask(ChatQuery("who calls add", uri=uri, span=Span(0, 0, 1, 16)))
    kinds = [(s.n, s.kind, Path(s.path).name) for s in answer.sources]
    assert kinds[:2] == [(1, "selection", "calc.py"), (2, "file", "calc.py")]
    assert (3, "search", "use.py") in kinds
    assert [(c.n, Path(c.path).name) for c in answer.citations] == [(3, "use.py"), (1, "calc.py")]


async def test_uncited_answer_cites_selection_and_hits(tmp_path: Path) -> None:
    """Without [n] markers, the selection and search hits are the citations (not the whole file)."""
    chat, _, uri = service(tmp_path, "It subtracts.")
    answer = await chat.ask(ChatQuery("what does add do", uri=uri, span=Span(0, 0, 1, 16)))
    assert {c.kind for c in answer.citations} <= {"selection", "search"}
    assert answer.citations[0].kind == "selection"


async def test_deltas_stream_the_reply(tmp_path: Path) -> None:
    """on_delta receives the answer as it is produced."""
    chat, services, uri = service(tmp_path, "streamed answer")
    pieces: list[str] = []
    answer = await chat.ask(ChatQuery("hi"), on_delta=pieces.append)
    assert "".join(pieces) == answer.reply == "streamed answer"
    await services.aclose()


def test_long_history_keeps_the_latest_turns() -> None:
    """A conversation longer than the budget loses its oldest turns, never the newest."""
    from mimi_lsp.chat import _recent
    from mimi_lsp.domain import ChatMessage

    history = tuple(
        ChatMessage("user" if i % 2 == 0 else "assistant", f"{i}:" + "x" * 100) for i in range(10)
    )
    kept = _recent(history, budget=350)
    assert [m.content.split(":")[0] for m in kept] == ["7", "8", "9"]
    assert _recent(history[:1], budget=10) == list(history[:1])
