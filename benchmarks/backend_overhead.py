"""What the model backends add on top of the model: client overhead, cancellation, import cost.

Drives ``OllamaBackend`` and ``OpenAIBackend`` (the real ``ollama`` / ``openai`` client libraries)
against the stand-in servers on 127.0.0.1, with an instant model and a 50 ms model:
- per streamed completion (16 tokens): time to the first piece and to the end, minus the
  model's scripted time = what the client, HTTP and our backend add (p50/p95/p99);
- cancellation: from ``aclose()`` of a stream to the stand-in seeing the connection closed;
(the stand-in runs in its own process for the stream figures, in-process for cancellation);
- cold import of each client library (a fresh interpreter), the one-off cost of the first call.

    python benchmarks/backend_overhead.py            # full run
    python benchmarks/backend_overhead.py --quick    # the small CI version

Prints a table and writes the overhead distribution to .artifacts/bench/backend_overhead.png.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mimi_lsp.domain import GenerateRequest  # noqa: E402
from mimi_lsp.inference.base import Backend  # noqa: E402
from mimi_lsp.inference.ollama import OllamaBackend  # noqa: E402
from mimi_lsp.inference.openai_compat import OpenAIBackend  # noqa: E402
from mimi_lsp.metrics import percentile  # noqa: E402
from mimi_lsp.settings import OllamaBackendSettings, OpenAIBackendSettings  # noqa: E402
from tests.standins.ollama import OllamaStandin  # noqa: E402
from tests.standins.openai import OpenAIStandin  # noqa: E402

REPLY = " ".join(f"tok{i}" for i in range(16))  # 16 stream pieces
REQUEST = GenerateRequest(
    prompt="def add(a, b):\n    return ", suffix="\n", model="qwen2.5-coder:1.5b-base"
)


def build(kind: str, url: str) -> Backend:
    if kind == "ollama":
        return OllamaBackend(OllamaBackendSettings(host=url))
    return OpenAIBackend(OpenAIBackendSettings(base_url=f"{url}/v1"))


class StandinProcess:
    """A stand-in in its own interpreter (``python -m tests.standins.<kind>``), so its work does
    not share this process's GIL with the client being measured."""

    def __init__(self, kind: str, **config: Any) -> None:
        import httpx

        self.proc = subprocess.Popen(
            [sys.executable, "-m", f"tests.standins.{kind}", "--port", "0"],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        self.url = self.proc.stdout.readline().split()[1]
        httpx.post(f"{self.url}/_standin/config", json=config).raise_for_status()

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


async def stream_overhead(kind: str, model_ms: float, n: int) -> dict[str, list[float]]:
    """First-piece and total overhead (ms, model time subtracted) over ``n`` completions."""
    server = StandinProcess(kind, replies=[REPLY], firstTokenMs=model_ms)
    backend = build(kind, server.url)
    try:
        async for _ in backend.generate(REQUEST):  # warm: import, client, connection
            pass
        first: list[float] = []
        total: list[float] = []
        for _ in range(n):
            started = time.perf_counter()
            first_at = None
            async for _piece in backend.generate(REQUEST):
                if first_at is None:
                    first_at = time.perf_counter()
            ended = time.perf_counter()
            first.append(((first_at or ended) - started) * 1000 - model_ms)
            total.append((ended - started) * 1000 - model_ms)
    finally:
        await backend.aclose()
        server.close()
    return {"first": first, "total": total}


async def cancel_latency(kind: str, n: int) -> list[float]:
    """ms from aclose() of a stream to the stand-in seeing the client hang up."""
    server_cls = OllamaStandin if kind == "ollama" else OpenAIStandin
    out = []
    with server_cls(replies=["slow" + " tok" * 500], delay_ms=20) as server:
        backend = build(kind, server.url)
        for i in range(n):
            stream = backend.generate(REQUEST)
            await anext(stream)  # type: ignore[call-overload]
            started = time.perf_counter()
            await stream.aclose()  # type: ignore[attr-defined]
            await asyncio.to_thread(
                server.wait_for,
                lambda reqs, i=i: [
                    r
                    for r in reqs
                    if r.path.endswith(("generate", "completions")) and r.disconnected
                ][i:],
            )
            out.append((time.perf_counter() - started) * 1000)
        await backend.aclose()
    return out


def import_ms(module: str, runs: int) -> float:
    """Median cold-import time of ``module`` in a fresh interpreter."""
    code = f"import time; t = time.perf_counter(); import {module}; print((time.perf_counter() - t) * 1000)"
    times = []
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        )
        times.append(float(out.stdout.strip()))
    return percentile(times, 50)


def row(name: str, values: list[float]) -> str:
    return (
        f"{name:<44} {percentile(values, 50):8.2f} {percentile(values, 95):8.2f} "
        f"{percentile(values, 99):8.2f}  (n={len(values)})"
    )


def plot(samples: dict[str, list[float]], path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(8, 4.5))
    top = max(percentile(v, 99) for v in samples.values()) or 1.0
    bins = [top * i / 60 for i in range(61)]  # shared bins up to the worst p99
    for name, values in samples.items():
        ax.hist([min(v, top) for v in values], bins=bins, alpha=0.55, label=name)
    ax.set_xlabel("backend overhead per streamed completion, ms (model time subtracted)")
    ax.set_ylabel("requests")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


async def main(quick: bool) -> None:
    n = 40 if quick else 300
    n_cancel = 10 if quick else 50
    print(f"Backend overhead against the stand-ins ({'quick' if quick else 'full'} run), ms")
    print(f"{'':<44} {'p50':>8} {'p95':>8} {'p99':>8}")
    hist: dict[str, Any] = {}
    for kind in ("ollama", "openai"):
        for model_ms in (0.0, 50.0):
            result = await stream_overhead(kind, model_ms, n if model_ms == 0 else max(10, n // 4))
            label = f"{kind}, {int(model_ms)} ms model"
            print(row(f"{label}: first piece", result["first"]))
            print(row(f"{label}: whole stream (16 pieces)", result["total"]))
            if model_ms == 0:
                hist[f"{kind} whole stream"] = result["total"]
        print(row(f"{kind}: aclose() -> server sees hang-up", await cancel_latency(kind, n_cancel)))
    runs = 1 if quick else 3
    print(f"{'cold import: ollama':<44} {import_ms('ollama', runs):8.0f}")
    print(f"{'cold import: openai':<44} {import_ms('openai', runs):8.0f}")
    out = ROOT / ".artifacts" / "bench" / "backend_overhead.png"
    plot(hist, out)
    print(f"plot: {out.relative_to(ROOT)}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small run for CI")
    asyncio.run(main(parser.parse_args().quick))
