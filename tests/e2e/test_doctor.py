"""`mimi-lsp doctor` against the Ollama stand-in: the real CLI in its own process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.lsp_harness import ROOT
from tests.standins.ollama import OllamaHandler, OllamaStandin


class SmallGpuHandler(OllamaHandler):
    """Ollama on a GPU with room for ``standin.gpu_slots`` models: loading evicts the oldest."""

    def generate(self, body: dict[str, Any]) -> None:
        loaded: list[str] = self.standin.loaded  # type: ignore[attr-defined]
        name = str(body.get("model"))
        if name in loaded:
            loaded.remove(name)
        loaded.append(name)
        del loaded[: -self.standin.gpu_slots]  # type: ignore[attr-defined]
        super().generate(body)

    def chat(self, body: dict[str, Any]) -> None:
        loaded: list[str] = self.standin.loaded  # type: ignore[attr-defined]
        name = str(body.get("model"))
        if name in loaded:
            loaded.remove(name)
        loaded.append(name)
        del loaded[: -self.standin.gpu_slots]  # type: ignore[attr-defined]
        super().chat(body)

    def ps(self, body: dict[str, Any]) -> None:
        models = [
            {"name": n, "model": n, "size": 2_000_000_000, "size_vram": 2_000_000_000}
            for n in self.standin.loaded  # type: ignore[attr-defined]
        ]
        self.send_json(200, {"models": models})


class SmallGpuOllama(OllamaStandin):
    handler_class = SmallGpuHandler

    def __init__(self, gpu_slots: int, **config: Any) -> None:
        super().__init__(**config)
        self.gpu_slots = gpu_slots
        self.loaded: list[str] = []


def doctor(settings: dict[str, Any], tmp_path: Path, *args: str) -> tuple[int, str]:
    """Run the CLI with a settings file; (exit code, stdout)."""
    path = tmp_path / "settings.json"
    path.write_text(json.dumps(settings))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MIMI_SETTINGS": ""}
    proc = subprocess.run(
        [sys.executable, "-m", "mimi_lsp", "doctor", "--settings", str(path), str(tmp_path), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    return proc.returncode, proc.stdout


def ollama_settings(url: str, **completion: Any) -> dict[str, Any]:
    return {
        "completion": {"backend": {"kind": "ollama", "host": url}, **completion},
        "embedding": {"backend": {"kind": "ollama", "host": url}, "model": "nomic-embed-text"},
        "index": {"cacheDir": "/nonexistent-mimi-cache"},
    }


def rows(stdout: str) -> dict[str, dict[str, str]]:
    return {c["check"]: c for c in json.loads(stdout)["checks"]}


def test_healthy_setup_passes(tmp_path: Path) -> None:
    """With the models served and room for both, every check is ok and the exit code 0."""
    with SmallGpuOllama(gpu_slots=2) as ollama:
        code, out = doctor(ollama_settings(ollama.url), tmp_path, "--json")
    checks = rows(out)
    assert code == 0
    assert checks["completion: FIM"]["status"] == "ok"
    assert checks["embedding: model"]["detail"].endswith("384 dimensions")
    assert checks["ollama: residency"]["status"] == "ok"


def test_missing_model_fails_with_pull_fix(tmp_path: Path) -> None:
    """A completion model the server lacks fails with `ollama pull <model>` as the fix."""
    with SmallGpuOllama(
        gpu_slots=2, models=["qwen2.5-coder:7b-instruct", "nomic-embed-text"]
    ) as ollama:
        code, out = doctor(ollama_settings(ollama.url), tmp_path, "--json")
    check = rows(out)["completion: model"]
    assert code == 1
    assert check["status"] == "fail" and check["fix"] == "ollama pull qwen2.5-coder:1.5b-base"


def test_models_evicting_each_other_warn(tmp_path: Path) -> None:
    """On a GPU with room for one model, loading chat evicts completion: a warning with fixes."""
    with SmallGpuOllama(gpu_slots=1) as ollama:
        code, out = doctor(ollama_settings(ollama.url), tmp_path, "--json")
    check = rows(out)["ollama: residency"]
    assert code == 0
    assert check["status"] == "warn"
    assert "OLLAMA_MAX_LOADED_MODELS" in check["fix"]


def test_short_keep_alive_warns(tmp_path: Path) -> None:
    """A keepAlive under five minutes warns that the completion model will unload."""
    with SmallGpuOllama(gpu_slots=2) as ollama:
        settings = ollama_settings(ollama.url)
        settings["completion"]["backend"]["keepAlive"] = "30s"
        _, out = doctor(settings, tmp_path, "--json", "--quick")
    assert rows(out)["ollama: keep_alive"]["status"] == "warn"


def test_server_down_prints_table_with_fix(tmp_path: Path) -> None:
    """With Ollama down the table says FAIL with `ollama serve`, and the exit code is 1."""
    code, out = doctor(ollama_settings("http://127.0.0.1:9"), tmp_path)
    assert code == 1
    assert "completion: server  FAIL" in out
    assert "fix: Start it: ollama serve" in out


async def test_server_warns_when_chat_evicts_the_completion_model() -> None:
    """After a chat on a one-model GPU, the scheduler reports that completion must reload."""
    import asyncio

    from mimi_lsp.domain import ChatMessage, ChatRequest, GenerateRequest
    from mimi_lsp.inference.factory import create_backend
    from mimi_lsp.inference.scheduler import ScheduledBackend
    from mimi_lsp.settings import OllamaBackendSettings, SchedulerSettings

    warnings: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
    with SmallGpuOllama(gpu_slots=1) as ollama:
        backend = ScheduledBackend(
            create_backend(OllamaBackendSettings(host=ollama.url)), SchedulerSettings()
        )
        backend.on_warning = lambda message, fix: warnings.put_nowait((message, fix))
        try:
            request = GenerateRequest("def f():\n    return ", model="qwen2.5-coder:1.5b-base")
            async for _ in backend.generate(request):
                pass
            chat = ChatRequest((ChatMessage("user", "hi"),), model="qwen2.5-coder:7b-instruct")
            async for _ in backend.chat(chat):
                pass
            message, fix = await asyncio.wait_for(warnings.get(), 10)
        finally:
            await backend.aclose()
    assert "unloaded qwen2.5-coder:1.5b-base" in message
    assert "OLLAMA_MAX_LOADED_MODELS" in fix


def test_local_embeddings_report_the_query_runtime(tmp_path: Path) -> None:
    """The packaged MiniLM: queries through ONNX Runtime, or torch when the user turned it off."""
    with SmallGpuOllama(gpu_slots=2) as ollama:
        settings = ollama_settings(ollama.url)
        settings["embedding"] = {"backend": {"kind": "local"}}
        _, out = doctor(settings, tmp_path, "--json")
        settings["embedding"] = {"backend": {"kind": "local", "onnxQueries": False}}
        _, off = doctor(settings, tmp_path, "--json")
    checks = rows(out)
    assert checks["embedding: model"]["status"] == "ok"
    assert checks["embedding: queries"]["status"] == "ok"
    assert "ONNX Runtime" in checks["embedding: queries"]["detail"]
    assert "embedding: queries" not in rows(off)
