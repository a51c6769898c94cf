"""Completion context: only open, existing, relevant code reaches the prompt."""

from __future__ import annotations

import asyncio
from pathlib import Path

from mimi_lsp.domain import CompletionRequest, DocumentSnapshot
from mimi_lsp.index.pool import BufferPool
from mimi_lsp.index.service import IndexService
from mimi_lsp.session import split_lines
from mimi_lsp.settings import resolve_settings

UPLOADS = (
    "def requeue_failed_uploads(queue):\n"
    "    for upload in queue.failed_uploads():\n"
    "        upload.retry(backoff=exponential_backoff)\n"
)
PARSER = (
    "def parse_numbers(text):\n"
    "    numbers = []\n"
    "    for token in text.split(','):\n"
    "        numbers.append(int(token))\n"
    "    return numbers\n"
)
CURSOR_TAIL = "for upload in queue.failed_uploads():\n    upload.retry(backoff="


def pool_of(**buffers: str) -> BufferPool:
    pool = BufferPool()
    for path, text in buffers.items():
        pool.update(f"/ws/{path}.py", text)
    pool.rebuild()
    return pool


def test_similar_code_from_an_open_buffer() -> None:
    """A buffer doing the same thing as the code before the cursor is offered."""
    pool = pool_of(jobs=UPLOADS, parse=PARSER)
    found = pool.similar(CURSOR_TAIL, "/ws/main.py")
    assert [w.path for w, _ in found] == ["/ws/jobs.py"]


def test_unrelated_buffer_sharing_common_words_stays_out() -> None:
    """Sharing a few everyday words (numbers, list, return) is not relevance."""
    pool = pool_of(parse=PARSER)
    tail = (
        "def below_zero(operations: list) -> bool:\n"
        "    balance = 0\n"
        "    for op in operations:\n"
        "        balance += int(op)\n"
        "    numbers = [balance]\n"
        "    return "
    )
    assert pool.similar(tail, "/ws/main.py") == []


def test_closed_and_forgotten_buffers_leave_the_pool() -> None:
    """``forget`` (a closed tab, a deleted file) removes the buffer's windows."""
    pool = pool_of(jobs=UPLOADS)
    pool.forget("/ws/jobs.py")
    pool.rebuild()
    assert pool.similar(CURSOR_TAIL, "/ws/main.py") == []


def settings(cache: Path) -> object:
    return resolve_settings(
        {
            "index": {"cacheDir": str(cache), "embeddings": False},
            "embedding": {"backend": {"kind": "fake"}},
        }
    )[0]


async def context_for(
    service: IndexService, text: str, uri: str = "file:///elsewhere/main.py"
) -> list:
    for _ in range(200):  # the pool and the index catch up in the background
        await service.wait_idle()
        if not service.pool.dirty:
            break
        await asyncio.sleep(0.01)
    snap = DocumentSnapshot(uri, 1, "python", tuple(split_lines(text)))
    last = len(snap.lines) - 1
    return await service.completion_context(CompletionRequest(snap, last, len(snap.lines[last])))


async def test_a_closed_document_is_not_pasted_into_later_prompts(tmp_path: Path) -> None:
    """Open a buffer, close it: its code no longer comes back as context."""
    root = tmp_path / "ws"
    root.mkdir()
    service = IndexService(settings(tmp_path / "c"))
    await service.set_folders([str(root)])
    jobs = (root / "jobs.py").as_uri()
    service.overlay(jobs, UPLOADS)
    opened = await context_for(service, CURSOR_TAIL)
    service.overlay(jobs, None)
    closed = await context_for(service, CURSOR_TAIL)
    await service.aclose()
    assert [s.kind for s in opened] == ["similar"]
    assert closed == []


async def test_a_deleted_file_is_dropped(tmp_path: Path) -> None:
    """A file deleted from disk (its tab closed) leaves the definitions and the pool."""
    root = tmp_path / "ws"
    root.mkdir()
    jobs = root / "jobs.py"
    jobs.write_text(UPLOADS)
    service = IndexService(settings(tmp_path / "c"))
    await service.set_folders([str(root)])
    service.overlay(jobs.as_uri(), UPLOADS)
    tail = CURSOR_TAIL + "exponential_backoff)\nrequeue_failed_uploads("
    before = await context_for(service, tail)
    service.overlay(jobs.as_uri(), None)
    jobs.unlink()
    service.files_changed([str(jobs)])
    after = await context_for(service, tail)
    await service.aclose()
    assert {s.kind for s in before} == {"definition", "similar"}
    assert after == []


async def test_a_name_the_file_defines_is_not_looked_up_elsewhere(tmp_path: Path) -> None:
    """The current file's own ``parse_numbers`` keeps another file's namesake out."""
    root = tmp_path / "ws"
    root.mkdir()
    (root / "other.py").write_text(PARSER)
    service = IndexService(settings(tmp_path / "c"))
    await service.set_folders([str(root)])
    own = "def parse_numbers(text):\n    return [float(x) for x in text.split()]\n\nparse_numbers("
    imported = "from other import parse_numbers\n\nparse_numbers("
    mine = await context_for(service, own)
    theirs = await context_for(service, imported)
    await service.aclose()
    assert mine == []
    assert [s.kind for s in theirs] == ["definition"]


async def test_context_stays_the_same_while_a_word_is_typed(tmp_path: Path) -> None:
    """Keys within a word reuse the last answer (the prompt's start stays the same, so a model
    server reuses its cache); a finished word or a new line asks again."""
    root = tmp_path / "ws"
    root.mkdir()
    service = IndexService(settings(tmp_path / "c"))
    await service.set_folders([str(root)])
    service.overlay((root / "jobs.py").as_uri(), UPLOADS)
    lookups = 0
    similar = service.pool.similar

    def counting(*args: object, **kwargs: object) -> object:
        nonlocal lookups
        lookups += 1
        return similar(*args, **kwargs)  # type: ignore[arg-type]

    service.pool.similar = counting  # type: ignore[method-assign]
    head = CURSOR_TAIL + "exponential_backoff)\n"
    answers = [await context_for(service, head + "tot" + "al_delay"[:n]) for n in range(6)]
    assert lookups == 1
    assert all(a == answers[0] for a in answers) and answers[0]
    await context_for(service, head + "total_delay = ")  # a finished word
    assert lookups == 2
    await context_for(service, head + "total_delay = 1\n")  # a new line
    assert lookups == 3
    await service.aclose()
