"""Search queries through ONNX Runtime: the real export of the packaged MiniLM, checked vectors."""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

import numpy as np
import pytest

from mimi_lsp.inference import onnx_query
from mimi_lsp.inference.factory import create_embedder
from mimi_lsp.inference.local import LocalEmbedder, local_model_path
from mimi_lsp.settings import EmbeddingSettings, LocalEmbeddingSettings

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One models folder for the file: the export (~10 s here) is made once."""
    return tmp_path_factory.mktemp("models")


def files(folder: Path) -> list[str]:
    """The folder's files but the exporters' lock."""
    return sorted(p.name for p in folder.iterdir() if p.suffix != ".lock")


def truncate(path: Path) -> None:
    """Cut the file short, as a full disk would."""
    assert path.is_file()
    path.write_bytes(path.read_bytes()[:4096])


async def ready(embedder: LocalEmbedder) -> None:
    await embedder.load()
    assert await asyncio.to_thread(embedder.query_ready.wait, 540)


async def test_queries_embed_through_onnx_with_the_vectors_torch_gives(models: Path) -> None:
    """One export per model; a query's ONNX vector equals torch's, and so does a batched one."""
    embedder = LocalEmbedder(models_dir=str(models))
    await ready(embedder)
    assert embedder.query_runtime == "onnx"
    exported = files(models)
    assert len(exported) == 1 and exported[0].endswith(".onnx")

    texts = [
        "where do we retry failed uploads",
        "class Box:\n    def area(self): return self.w * self.h",
    ]
    onnx = np.array([(await embedder.embed([t]))[0] for t in texts])
    torch_one = np.array([embedder._encode_one(embedder._model, t) for t in texts])
    batched = np.array(await embedder.embed(texts))  # two texts: torch's batch path
    assert np.abs(onnx - torch_one).max() < 1e-5
    assert np.abs(onnx - batched).max() < 1e-5
    assert np.allclose(np.linalg.norm(onnx, axis=1), 1.0, atol=1e-5)

    # A second server on the same machine reuses the export.
    again = LocalEmbedder(models_dir=str(models))
    await ready(again)
    assert again.query_runtime == "onnx"
    assert files(models) == exported


async def test_a_damaged_cached_export_is_exported_again(models: Path) -> None:
    embedder = LocalEmbedder(models_dir=str(models))
    await ready(embedder)
    model = embedder._model
    model_path = local_model_path(embedder.model_name)
    path = Path(onnx_query.onnx_path(model_path, str(models)))
    truncate(path)

    encoder = await asyncio.to_thread(onnx_query.prepare, model, model_path, 1, str(models))
    assert files(models) == [path.name]
    assert np.abs(np.array(encoder.encode("x")) - embedder._encode_one(model, "x")).max() < 1e-5


async def test_without_a_usable_export_queries_stay_on_torch(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A models folder that cannot be written: one warning, and search keeps working on torch."""
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the models folder should be")
    embedder = LocalEmbedder(models_dir=str(blocked / "models"))
    with caplog.at_level(logging.WARNING, logger="mimi_lsp.inference.local"):
        await ready(embedder)
    assert embedder.query_runtime == "torch"
    warnings = [r for r in caplog.records if "stay on torch" in r.getMessage()]
    assert len(warnings) == 1 and "onnxQueries" in warnings[0].getMessage()
    vector = (await embedder.embed(["where do we retry failed uploads"]))[0]
    assert len(vector) == 384


async def test_the_setting_keeps_queries_on_torch(tmp_path: Path) -> None:
    settings = EmbeddingSettings(backend=LocalEmbeddingSettings(onnx_queries=False))
    created = create_embedder(settings, None)
    assert isinstance(created, LocalEmbedder) and not created.onnx_queries
    embedder = LocalEmbedder(onnx_queries=False, models_dir=str(tmp_path / "models"))
    await ready(embedder)
    assert embedder.query_runtime == "torch"
    assert not (tmp_path / "models").exists()
