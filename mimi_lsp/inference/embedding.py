"""Embeddings for the index behind one small protocol, and the embedders of remote and fake models.

The index service embeds chunks in the background and queries at search time through an
``Embedder``; ``inference.factory.create_embedder`` builds the one the settings ask for:
``local`` (sentence-transformers in this process, ``inference.local``), a model server's
``embed`` in batches (Ollama, OpenAI-compatible, Triton: ``BackendEmbedder``), or ``fake``
(hashed words: deterministic and instant, for tests).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from mimi_lsp.errors import MimiError
from mimi_lsp.inference.base import Backend


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into vectors (unit length for cosine search)."""

    name: str
    """Identifies the model: vectors of another name are never mixed in."""

    dim: int | None
    """Vector size, None until known (remote models tell on first call)."""

    @property
    def ready(self) -> bool:
        """Whether ``embed`` answers now; False while a local model still has to load."""
        ...

    async def load(self) -> None:
        """Get ready to embed (load a local model off the event loop); idempotent."""
        ...

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One vector per text, in order."""
        ...


def query_prefix(name: str) -> str:
    """Models trained with task prefixes (nomic-embed) want one on queries..."""
    return "search_query: " if "nomic-embed" in name else ""


def document_prefix(name: str) -> str:
    """...and another on documents."""
    return "search_document: " if "nomic-embed" in name else ""


class BackendEmbedder:
    """A model server's ``/embed`` (Ollama, OpenAI-compatible, Triton) in batches."""

    def __init__(self, backend: Backend, model: str, batch_size: int = 32) -> None:
        self.backend = backend
        self.model = model
        self.batch_size = batch_size
        self.name = f"{backend.name}:{model}"
        self.dim: int | None = None

    @property
    def ready(self) -> bool:
        return True

    async def load(self) -> None:
        return None

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        out: list[list[float]] = []
        for i in range(0, len(texts), self.batch_size):
            batch = list(texts[i : i + self.batch_size])
            vectors = await self.backend.embed(batch, self.model)
            if len(vectors) != len(batch):
                raise MimiError(
                    f"The {self.backend.name} server returned {len(vectors)} embeddings "
                    f"for {len(batch)} texts."
                )
            out += [_unit(v) for v in vectors]
        if out and self.dim is None:
            self.dim = len(out[0])
        return out


_WORDS = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")
"""The words of an identifier (``getHTTPResponse_code``: get, HTTP, Response, code)."""


class FakeEmbedder:
    """Hashed bag of words (identifiers split): deterministic, instant, roughly semantic."""

    def __init__(self, dim: int = 64) -> None:
        self.dim: int | None = dim
        self.name = f"fake:hash{dim}"

    @property
    def ready(self) -> bool:
        return True

    async def load(self) -> None:
        return None

    def vector(self, text: str) -> list[float]:
        dim = self.dim or 64
        vec = [0.0] * dim
        for token in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text):
            for word in [w.lower() for w in _WORDS.findall(token)] or [token.lower()]:
                word = word.rstrip("s") or word
                digest = hashlib.blake2b(word.encode(), digest_size=4).digest()
                index = int.from_bytes(digest[:3], "little") % dim
                vec[index] += 1.0 if digest[3] & 1 else -1.0
        return _unit(vec)

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        return [self.vector(t) for t in texts]


def _unit(vec: Sequence[float]) -> list[float]:
    norm = sum(v * v for v in vec) ** 0.5
    if not norm:
        return [0.0] * len(vec)
    return [v / norm for v in vec]
