"""Unsaved buffers and the index, as issue 20's attack pass used them: many big buffers open.

Against the real server: a buffer over ``index.maxFileBytes`` is never indexed from memory, and all overlays together stay within 16 largest files (the buffers changed
longest ago fall back to their saved text). Memory coming back after closing is measured by
``benchmarks/reliability.py`` (a figure, not an assertion here).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lsprotocol import types

from mimi_lsp.index.service import OVERLAY_BUDGET_FILES
from tests.e2e.test_search import index_settings, search, wait_status
from tests.lsp_harness import start_session

MAX_FILE_BYTES = 20_000


def buffer_text(i: int, size: int) -> str:
    """A Python buffer defining ``only_in_buffer_<i>`` padded to about ``size`` characters."""
    head = f"def only_in_buffer_{i}(value):\n    return value * {i}\n\n"
    filler = "".join(f"def pad_{i}_{n}(x):\n    return x + {n}\n\n" for n in range(size // 34))
    return head + filler[: max(0, size - len(head))]


def open_buffer(client: Any, uri: str, text: str) -> None:
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(
                uri=uri, language_id="python", version=1, text=text
            )
        )
    )


async def found(client: Any, i: int) -> bool:
    hits = await search(client, query=f"only_in_buffer_{i}", mode="bm25", k=3)
    return any(f"buf{i}.py" in h["uri"] for h in hits)


async def test_big_buffers_are_not_overlaid_and_the_total_is_capped(tmp_path: Path) -> None:
    """Buffers over maxFileBytes are not indexed; of many smaller ones only the most recently
    changed fit in the budget, and the oldest are dropped from the index."""
    root = tmp_path / "ws"
    root.mkdir()
    (root / "seed.py").write_text("def seed():\n    return 1\n")
    settings = index_settings(tmp_path / "cache", maxFileBytes=MAX_FILE_BYTES)
    size = 18_000
    count = OVERLAY_BUDGET_FILES + 8  # 24 x 18 KB = 432 KB against a 320 KB budget
    async with start_session(root=root, settings=settings) as client:
        await wait_status(client, lambda p: p["state"] == "ready", 60)
        for i in range(2):
            open_buffer(client, (root / f"big{i}.py").as_uri(), buffer_text(100 + i, 30_000))
        for i in range(count):
            open_buffer(client, (root / f"buf{i}.py").as_uri(), buffer_text(i, size))
        kept = (OVERLAY_BUDGET_FILES * MAX_FILE_BYTES) // size
        newest = count - 1
        await wait_status(client, lambda p: p["state"] == "ready" and p["files"] >= kept, 60)
        for _ in range(100):  # the index settles within a few debounces
            if await found(client, newest):
                break
        assert await found(client, newest)
        assert not await found(client, 0) and not await found(client, 1)  # dropped first
        for i in range(2):
            assert not await found(client, 100 + i)  # never overlaid
