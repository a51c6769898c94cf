"""One real Triton server (nvidia-pytriton on CPU) for the whole test session."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.triton.server import TritonProcess, pytriton_missing


@pytest.fixture(scope="session")
def triton(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TritonProcess]:
    """A started stand-in with the fim, gen_stream, minilm and stats models."""
    missing = pytriton_missing()
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"Triton tests cannot run in CI: {missing}")
        pytest.skip(missing)
    log = Path(tmp_path_factory.mktemp("triton")) / "tritonserver.log"
    server = TritonProcess(log_path=log, log_verbose=1).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def fresh(triton: TritonProcess) -> TritonProcess:
    """The server with its recorded batch sizes cleared."""
    triton.reset()
    return triton
