"""pytest fixtures for the stand-ins; import the ones you use into your test module.

    from tests.standins.fixtures import ollama_standin  # noqa: F401  (a fixture)

Each yields a started server with default behaviour; call ``.configure(...)`` in the test.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.standins.ollama import OllamaStandin
from tests.standins.openai import OpenAIStandin


@pytest.fixture
def ollama_standin() -> Iterator[OllamaStandin]:
    """A running Ollama stand-in on a free port."""
    with OllamaStandin() as server:
        yield server


@pytest.fixture
def openai_standin() -> Iterator[OpenAIStandin]:
    """A running OpenAI-compatible stand-in on a free port."""
    with OpenAIStandin() as server:
        yield server
