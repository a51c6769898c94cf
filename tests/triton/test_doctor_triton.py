"""`mimi-lsp doctor` against the real Triton server, including the index dimension check."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

from mimi_lsp.index.cache_dir import db_path_for
from tests.lsp_harness import ROOT
from tests.triton.server import TritonProcess


def doctor(settings: dict[str, Any], folder: Path) -> tuple[int, dict[str, dict[str, str]]]:
    path = folder / "settings.json"
    path.write_text(json.dumps(settings))
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "mimi_lsp",
            "doctor",
            "--json",
            "--settings",
            str(path),
            str(folder),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT), "MIMI_SETTINGS": ""},
    )
    return proc.returncode, {c["check"]: c for c in json.loads(proc.stdout)["checks"]}


def settings(server: TritonProcess, cache: Path, completion_model: str = "fim") -> dict[str, Any]:
    backend = {"kind": "triton", "url": server.grpc_url}
    return {
        "completion": {"backend": backend, "model": completion_model, "fimTemplate": "qwen"},
        "chat": {"backend": backend, "model": "gen_stream"},
        "embedding": {"backend": backend, "model": "minilm"},
        "index": {"cacheDir": str(cache)},
    }


def test_triton_setup_passes(triton: TritonProcess, tmp_path: Path) -> None:
    """Triton serving every model: all rows ok, with the models' batching traits shown."""
    code, checks = doctor(settings(triton, tmp_path / "cache"), tmp_path)
    assert code == 0, checks
    assert checks["completion: triton model"]["detail"].startswith(
        "answers whole, batches up to 16"
    )
    assert checks["chat: triton model"]["detail"].startswith("streams (decoupled)")
    assert checks["embedding: model"]["detail"].endswith("minilm, 384 dimensions")


def test_index_dimension_mismatch_fails(triton: TritonProcess, tmp_path: Path) -> None:
    """An index built with 768-d vectors fails against a 384-d model, with a re-index fix."""
    cache = tmp_path / "cache"
    db = Path(db_path_for(str(tmp_path), str(cache)))
    db.parent.mkdir(parents=True)
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
        conn.executemany(
            "INSERT INTO meta VALUES (?, ?)", [("dim", "768"), ("embedder", "ollama:nomic")]
        )
    code, checks = doctor(settings(triton, cache), tmp_path)
    assert code == 1
    assert checks["embedding: index"]["status"] == "fail"
    assert (
        "768-d" in checks["embedding: index"]["detail"]
        and "mimi.reindex" in checks["embedding: index"]["fix"]
    )


def test_missing_triton_model_fails(triton: TritonProcess, tmp_path: Path) -> None:
    """A completion model Triton does not serve fails with a pointer to the model repository."""
    code, checks = doctor(settings(triton, tmp_path / "cache", "qwen-missing"), tmp_path)
    assert code == 1
    assert checks["completion: model"]["status"] == "fail"
    assert "deploy/triton" in checks["completion: model"]["fix"]
