"""The index service: search before and after embeddings, reuse, overlays, context, symbols."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from mimi_lsp.domain import CompletionRequest, DocumentSnapshot
from mimi_lsp.index.service import IndexService
from mimi_lsp.inference.embedding import FakeEmbedder
from mimi_lsp.inference.local import LocalEmbedder
from mimi_lsp.session import split_lines
from mimi_lsp.settings import resolve_settings

PY = (
    "import time\n\n\n"
    "def retry_failed_uploads(queue, attempts=3):\n"
    "    for item in queue.failed():\n"
    "        for attempt in range(attempts):\n"
    "            if item.upload():\n"
    "                break\n"
    "            time.sleep(2 ** attempt)\n"
)
GEOMETRY = (
    "class Rectangle:\n"
    "    def __init__(self, width, height):\n"
    "        self.width, self.height = width, height\n\n"
    "    def area(self):\n"
    "        return self.width * self.height\n"
)


class CountingEmbedder(FakeEmbedder):
    """A fake embedder that counts texts and can be held back."""

    def __init__(self) -> None:
        super().__init__()
        self.texts = 0
        self.gate = asyncio.Event()
        self.gate.set()

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        documents = [t for t in texts if "\n" in t]  # chunks start with their path line
        if documents:
            await self.gate.wait()
        self.texts += len(documents)
        return await super().embed(texts)


def settings(cache: Path, **index: Any) -> Any:
    return resolve_settings(
        {"index": {"cacheDir": str(cache), **index}, "embedding": {"backend": {"kind": "fake"}}}
    )[0]


def workspace(root: Path) -> Path:
    (root / "app").mkdir(parents=True)
    (root / "app" / "upload.py").write_text(PY)
    (root / "app" / "geometry.py").write_text(GEOMETRY)
    (root / "notes.md").write_text("# Notes\n\nUploads are retried when they fail.\n")
    return root


async def test_keyword_search_works_before_embeddings_finish(tmp_path: Path) -> None:
    """BM25 answers as soon as chunks are written; vectors join in when embeddings land."""
    root = workspace(tmp_path / "ws")
    embedder = CountingEmbedder()
    embedder.gate.clear()
    service = IndexService(settings(tmp_path / "c"), embedder=embedder)
    await service.set_folders([str(root)])
    await service.wait_idle()
    early = await service.search("retry failed uploads")
    vector_early = await service.search("retry failed uploads", mode="vector")
    embedder.gate.set()
    status = await service.wait_embedded()
    late = await service.search("retry failed uploads", mode="vector")
    await service.aclose()
    assert early[0].symbol == "retry_failed_uploads"
    assert vector_early == []
    assert status.embedded == status.chunks > 0
    assert late[0].symbol == "retry_failed_uploads"


async def test_unchanged_chunks_are_never_embedded_twice(tmp_path: Path) -> None:
    """Vectors are keyed by content: a rescan, a touched file or an edit elsewhere reuses them."""
    root = workspace(tmp_path / "ws")
    embedder = CountingEmbedder()
    service = IndexService(settings(tmp_path / "c"), embedder=embedder)
    await service.set_folders([str(root)])
    chunks = (await service.wait_embedded()).chunks
    first = embedder.texts
    assert chunks <= first <= 2 * chunks  # a signature and a head per chunk, at most
    (root / "app" / "geometry.py").write_text(
        GEOMETRY + "\n\ndef perimeter(r):\n    return 2 * (r.width + r.height)\n"
    )
    service.files_changed([str(root / "app" / "geometry.py")])
    await service.wait_embedded()
    await service.reindex()
    await service.wait_embedded()
    await service.aclose()
    assert embedder.texts <= first + 2 * 2  # only the geometry chunk(s) that changed


async def test_restart_reuses_the_index(tmp_path: Path) -> None:
    """A second service on the same cache finds everything without re-embedding."""
    root = workspace(tmp_path / "ws")
    one = IndexService(settings(tmp_path / "c"), embedder=CountingEmbedder())
    await one.set_folders([str(root)])
    await one.wait_embedded()
    await one.aclose()
    embedder = CountingEmbedder()
    two = IndexService(settings(tmp_path / "c"), embedder=embedder)
    await two.set_folders([str(root)])
    status = await two.wait_embedded()
    hits = await two.search("rectangle area", mode="vector")
    await two.aclose()
    assert embedder.texts == 0
    assert status.embedded == status.chunks
    assert hits and hits[0].path.endswith("geometry.py")


async def test_overlay_wins_over_disk_until_closed(tmp_path: Path) -> None:
    """Unsaved text is searched instead of the file; closing the buffer restores the disk."""
    root = workspace(tmp_path / "ws")
    service = IndexService(settings(tmp_path / "c"))
    await service.set_folders([str(root)])
    await service.wait_idle()
    uri = (root / "app" / "upload.py").as_uri()
    service.overlay(uri, "def send_invoice_email(customer):\n    return mail(customer)\n")
    await service.wait_idle()
    during = await service.search("send invoice email", mode="bm25")
    gone = await service.search("retry failed uploads", mode="bm25")
    service.overlay(uri, None)
    await service.wait_idle()
    after = await service.search("retry failed uploads", mode="bm25")
    await service.aclose()
    assert during[0].symbol == "send_invoice_email"
    assert all(h.symbol != "retry_failed_uploads" for h in gone)
    assert after[0].symbol == "retry_failed_uploads"


async def test_prose_is_weighed_down(tmp_path: Path) -> None:
    """Markdown matching the same words ranks below the code."""
    root = workspace(tmp_path / "ws")
    service = IndexService(settings(tmp_path / "c"))
    await service.set_folders([str(root)])
    await service.wait_embedded()
    hits = await service.search("uploads retried fail")
    await service.aclose()
    assert hits[0].path.endswith("upload.py")
    assert any(h.path.endswith("notes.md") for h in hits)


async def test_a_hit_is_one_definition_with_its_own_range_name_and_preview(tmp_path: Path) -> None:
    """Tiny neighbours are separate hits: each names the definition it spans and shows it."""
    root = tmp_path / "ws"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "geometry.py").write_text(
        '"""Shapes."""\n\nimport math\n\n\ndef circle_area(radius):\n    return math.pi * radius * radius\n'
        "\n\ndef rectangle_perimeter(width, height):\n    return 2 * (width + height)\n"
        "\n\nclass Calc:\n    def add(self, a, b):\n        return a + b\n\n"
        "    def divide(self, a, b):\n        return a / b\n"
    )
    service = IndexService(settings(tmp_path / "c"))
    await service.set_folders([str(root)])
    await service.wait_embedded()
    hits = [
        (await service.search("circle area radius", mode=mode))[0] for mode in ("hybrid", "bm25")
    ]
    other = (await service.search("rectangle perimeter"))[0]
    method = (await service.search("divide", mode="bm25"))[0]
    await service.aclose()
    for hit in hits:
        assert (hit.symbol, hit.span.start_line, hit.span.end_line) == ("circle_area", 5, 6)
        assert hit.preview.startswith("def circle_area(radius):")
    assert (other.symbol, other.span.start_line, other.span.end_line) == (
        "rectangle_perimeter",
        9,
        10,
    )
    assert (method.symbol, method.kind, method.span.start_line, method.span.end_line) == (
        "Calc.divide",
        "method",
        17,
        18,
    )
    assert method.preview.startswith("    def divide(self, a, b):")


async def test_a_big_function_is_one_hit_from_its_first_line(tmp_path: Path) -> None:
    """Windows of a function too big for one chunk resolve to one hit: the whole function."""
    root = tmp_path / "ws"
    root.mkdir()
    body = "".join(f"    total_{i} = measure_flux({i}) * {i}\n" for i in range(200))
    (root / "flux.py").write_text(
        f"import os\n\n\ndef integrate_flux(samples):\n{body}    return 0\n"
    )
    service = IndexService(settings(tmp_path / "c"))
    await service.set_folders([str(root)])
    await service.wait_embedded()
    hits = await service.search("measure flux total", mode="bm25")
    await service.aclose()
    named = [(h.symbol, h.span.start_line, h.span.end_line) for h in hits if h.symbol]
    assert named == [("integrate_flux", 3, 204)]
    assert hits[0].preview.startswith("def integrate_flux(samples):")


async def test_code_outside_definitions_is_an_unnamed_window(tmp_path: Path) -> None:
    """Module-level statements are a window of their own lines that names no definition."""
    root = tmp_path / "ws"
    root.mkdir()
    (root / "config.py").write_text(
        "import os\n\nDATABASE_URL = os.environ.get('DATABASE_URL', 'sqlite://')\n"
        "POOL_SIZE = 8\n\n\ndef connect():\n    return DATABASE_URL\n"
    )
    service = IndexService(settings(tmp_path / "c"))
    await service.set_folders([str(root)])
    await service.wait_embedded()
    hits = await service.search("pool size", mode="bm25")
    await service.aclose()
    assert (hits[0].symbol, hits[0].kind, hits[0].span.start_line, hits[0].span.end_line) == (
        None,
        None,
        0,
        3,
    )


async def test_filters_by_language_and_path(tmp_path: Path) -> None:
    """Language and glob filters narrow results; a glob outside every folder matches nothing."""
    root = workspace(tmp_path / "ws")
    service = IndexService(settings(tmp_path / "c"))
    await service.set_folders([str(root)])
    await service.wait_embedded()
    md = await service.search("uploads", language="markdown")
    py = await service.search("uploads", paths=["*.py"])
    absolute = await service.search("area", paths=[str(root / "app") + "/**"])
    elsewhere = await service.search("area", paths=["/nowhere/**"])
    await service.aclose()
    assert md and all(h.language == "markdown" for h in md)
    assert py and all(h.path.endswith(".py") for h in py)
    assert absolute and all("/app/" in h.path for h in absolute)
    assert elsewhere == []


async def test_symbols_rank_exact_then_prefix_then_fuzzy(tmp_path: Path) -> None:
    """Symbol lookup is case-insensitive and fuzzy, best matches first."""
    root = workspace(tmp_path / "ws")
    service = IndexService(settings(tmp_path / "c"))
    await service.set_folders([str(root)])
    await service.wait_idle()
    exact = await service.symbols("area")
    fuzzy = await service.symbols("rfu")
    prefix = await service.symbols("rect")
    await service.aclose()
    assert exact[0].name == "area" and exact[0].container == "Rectangle"
    assert fuzzy[0].name == "retry_failed_uploads"
    assert prefix[0].name == "Rectangle" and prefix[0].kind == "class"


async def test_completion_context_brings_definitions_and_similar_code(tmp_path: Path) -> None:
    """Identifiers before the cursor pull in their definitions; open buffers give similar code."""
    root = workspace(tmp_path / "ws")
    service = IndexService(settings(tmp_path / "c"))
    await service.set_folders([str(root)])
    await service.wait_idle()
    other = (root / "app" / "jobs.py").as_uri()
    service.overlay(
        other, "def requeue(queue):\n    for item in queue.failed():\n        item.retry()\n"
    )
    await service.wait_idle()
    text = "from app.upload import retry_failed_uploads\n\nfor item in queue.failed():\n    retry_failed_uploads(q"
    snap = DocumentSnapshot("file:///elsewhere/main.py", 1, "python", tuple(split_lines(text)))
    for _ in range(100):  # the pool rebuilds in the background
        if not service.pool.dirty:
            break
        await asyncio.sleep(0.01)
    snippets = await service.completion_context(CompletionRequest(snap, 3, 26))
    await service.aclose()
    kinds = {s.kind: s for s in snippets}
    assert "def retry_failed_uploads" in kinds["definition"].text
    assert kinds["definition"].path == "app/upload.py"
    assert "item.retry()" in kinds["similar"].text


async def test_folders_come_and_go(tmp_path: Path) -> None:
    """Multi-root: each folder has its own database; removing one removes its hits."""
    a = workspace(tmp_path / "a")
    b = tmp_path / "b"
    b.mkdir()
    (b / "billing.go").write_text(
        "package b\n\nfunc ChargeCard(amount int) error {\n\treturn nil\n}\n"
    )
    service = IndexService(settings(tmp_path / "c"))
    await service.set_folders([str(a), str(b)])
    await service.wait_idle()
    both = [await service.search("charge card"), await service.search("rectangle area")]
    await service.set_folders([str(a)])
    await service.wait_idle()
    only_a = await service.search("charge card", mode="bm25")
    await service.aclose()
    assert both[0][0].path.endswith("billing.go") and both[1][0].path.endswith("geometry.py")
    assert len(list((tmp_path / "c").glob("*.sqlite"))) == 2
    assert all(not h.path.endswith("billing.go") for h in only_a)


async def test_events_report_progress_and_state(tmp_path: Path) -> None:
    """Listeners see indexing -> ready, begin/report/end with percentages up to 100."""
    root = workspace(tmp_path / "ws")
    events: list[Any] = []
    service = IndexService(settings(tmp_path / "c"), listeners=[events.append])
    await service.set_folders([str(root)])
    await service.wait_embedded()
    await service.aclose()
    states = [e.status.state for e in events if e.kind == "status"]
    index = [e for e in events if e.task == "index" and e.kind != "status"]
    assert states[0] == "indexing" and states[-1] == "ready"
    assert index[0].kind == "begin" and index[-1].kind == "end"
    assert max(e.percentage or 0 for e in index) == 100


@pytest.mark.slow
async def test_local_minilm_embeds_offline_and_ranks_semantically(tmp_path: Path) -> None:
    """The packaged all-MiniLM-L6-v2 loads offline and finds code by meaning."""
    root = workspace(tmp_path / "ws")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    embedder = LocalEmbedder()
    service = IndexService(settings(tmp_path / "c"), embedder=embedder)
    await service.set_folders([str(root)])
    status = await service.wait_embedded()
    hits = await service.search("compute the surface of a box shape", mode="vector")
    await service.aclose()
    assert embedder.dim == 384
    assert status.embedded == status.chunks
    assert hits[0].path.endswith("geometry.py")
