"""Batched inference through the scheduler against a real Triton server.

1, 4, 16 and 64 concurrent clients issue embeddings and completions, with batching on and off:
throughput and per-call p50/p95. Then an inline completion's latency when idle and while a full
re-index (background embeddings) saturates the same server.

- embeddings "off": scheduler batching off, model ``minilm_nobatch`` (one forward pass per text);
  "on": scheduler micro-batching plus Triton's dynamic batching, model ``minilm``;
- completions: model ``fim`` with a simulated forward pass of ``--model-ms`` per call (a batch
  costs the same as one prompt, as on a GPU); "off" sends one prompt per call, "on" lets the
  scheduler merge prompts queued behind busy slots into one call.

By default it starts the CPU stand-in (``tests/triton/pytriton_server.py``, nvidia-pytriton).
Against a GPU Triton serving ``deploy/triton/model_repository``::

    python benchmarks/batching.py --url gpu-host:8001 --embed-model all-MiniLM-L6-v2 \
        --embed-model-nobatch all-MiniLM-L6-v2 --fim-model qwen2.5-coder-1.5b-base --model-ms 0

    python benchmarks/batching.py            # full run (about 2 minutes on 2 CPU cores)
    python benchmarks/batching.py --quick    # fewer calls

Prints tables and writes .artifacts/bench/batching.png. With the stand-in, the embedding table
also shows "model busy": the share of each run the model spent computing (the rest is gRPC,
Triton, pytriton and the scheduler). When batching keeps it near 100 %, the speed-up is bounded
by how much cheaper per text a batched forward pass is on this hardware.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mimi_lsp.domain import GenerateRequest  # noqa: E402
from mimi_lsp.inference.scheduler import Priority, ScheduledBackend, priority  # noqa: E402
from mimi_lsp.inference.triton import TritonBackend  # noqa: E402
from mimi_lsp.metrics import percentile  # noqa: E402
from mimi_lsp.settings import SchedulerSettings, TritonBackendSettings  # noqa: E402

CLIENTS = (1, 4, 16, 64)
FIM = "<|fim_prefix|>def add(a, b):\n    return <|fim_suffix|>\n<|fim_middle|>"
SNIPPETS = [
    f"def handler_{i}(request):\n    user = request.user\n    return render(user, {i})\n"
    for i in range(256)
]


def scheduled(url: str, **settings: Any) -> ScheduledBackend:
    return ScheduledBackend(
        TritonBackend(TritonBackendSettings(url=url)), SchedulerSettings(**settings)
    )


async def run_clients(clients: int, total: int, call: Any) -> tuple[float, list[float]]:
    """``clients`` loops sharing ``total`` calls; (calls per second, latencies in ms)."""
    latencies: list[float] = []
    counter = iter(range(total))

    async def client() -> None:
        for i in counter:
            started = time.perf_counter()
            await call(i)
            latencies.append((time.perf_counter() - started) * 1000)

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    return total / (time.perf_counter() - started), latencies


async def bench_embeddings(
    args: argparse.Namespace,
) -> dict[tuple[str, int], tuple[float, list[float]]]:
    results = {}
    # Off and on back to back per client count, so a change in machine load between the two
    # runs skews their ratio as little as possible.
    for clients in CLIENTS:
        for mode in ("off", "on"):
            model = args.embed_model if mode == "on" else args.embed_model_nobatch
            b = scheduled(
                args.url, batch_embeddings=mode == "on", max_concurrency=64, reserved_inline=0
            )
            await b.embed(["warm up"], model)
            total = max(clients * 2, args.embed_calls)
            if args.server is not None:
                args.server.reset()
            started = time.perf_counter()
            results[(mode, clients)] = await run_clients(
                clients, total, lambda i, b=b, model=model: b.embed([SNIPPETS[i % 256]], model)
            )
            if args.server is not None:
                # Where the time goes: the share of the run the stand-in's model was computing.
                model_ms = sum(args.server.stats()["model_ms"].get(model, []))
                BUSY[(mode, clients)] = model_ms / ((time.perf_counter() - started) * 1000)
            BATCHES[("emb", mode, clients)] = b.metrics()["embedBatches"]["meanSize"] or 1.0
            await b.aclose()
    return results


async def bench_completions(
    args: argparse.Namespace,
) -> dict[tuple[str, int], tuple[float, list[float]]]:
    results = {}
    prompt = f"SLEEP={args.model_ms} {FIM}" if args.model_ms else FIM
    for clients in CLIENTS:
        for mode in ("off", "on"):
            # One model instance: like a GPU, it runs one forward pass (of any batch) at a time.
            b = scheduled(
                args.url, batch_generation=mode == "on", max_concurrency=4, reserved_inline=0
            )

            async def call(i: int, b: ScheduledBackend = b) -> None:
                request = GenerateRequest(prompt, raw=True, model=args.fim_model, max_tokens=16)
                async for _ in b.generate(request):
                    pass

            await call(0)
            total = max(clients * 2, args.completion_calls)
            results[(mode, clients)] = await run_clients(clients, total, call)
            BATCHES[("gen", mode, clients)] = b.metrics()["generateBatches"]["meanSize"] or 1.0
            await b.aclose()
    return results


async def bench_reindex(args: argparse.Namespace) -> tuple[list[float], list[float], int]:
    """Inline completion latency idle, then during a re-index through the same scheduler."""
    b = scheduled(args.url, max_concurrency=4, reserved_inline=1, max_batch=32)
    prompt = f"SLEEP={args.model_ms} {FIM}" if args.model_ms else FIM

    async def complete() -> float:
        started = time.perf_counter()
        async for _ in b.generate(GenerateRequest(prompt, raw=True, model=args.fim_model)):
            pass
        return (time.perf_counter() - started) * 1000

    await complete()
    idle = [await complete() for _ in range(args.probes)]
    stop = asyncio.Event()
    embedded = 0

    async def indexer() -> None:
        nonlocal embedded
        with priority(Priority.BACKGROUND):
            while not stop.is_set():
                await b.embed(SNIPPETS[:32], args.embed_model)
                embedded += 32

    workers = [asyncio.create_task(indexer()) for _ in range(8)]
    await asyncio.sleep(1.0)  # let the re-index saturate the server
    busy = []
    for _ in range(args.probes):
        busy.append(await complete())
        await asyncio.sleep(0.05)  # typing pauses between completions
    stop.set()
    await asyncio.gather(*workers)
    await b.aclose()
    return idle, busy, embedded


BATCHES: dict[tuple[str, str, int], float] = {}
BUSY: dict[tuple[str, int], float] = {}


def table(
    title: str, unit: str, kind: str, results: dict[tuple[str, int], tuple[float, list[float]]]
) -> None:
    busy = kind == "emb" and bool(BUSY)
    print(f"\n{title}")
    print(
        f"{'clients':>7}  {'mode':>4}  {unit + '/s':>10}  {'p50 ms':>8}  {'p95 ms':>8}  "
        "speed-up  mean batch" + ("  model busy" if busy else "")
    )
    for clients in CLIENTS:
        base = results[("off", clients)][0]
        for mode in ("off", "on"):
            rate, lat = results[(mode, clients)]
            print(
                f"{clients:>7}  {mode:>4}  {rate:>10.1f}  {percentile(lat, 50):>8.1f}  "
                f"{percentile(lat, 95):>8.1f}  {rate / base:>7.2f}x  "
                f"{BATCHES.get((kind, mode, clients), 1.0):>10.1f}"
                + (f"  {BUSY.get((mode, clients), 0.0):>10.0%}" if busy else "")
            )


def plot(emb: dict[Any, Any], comp: dict[Any, Any], idle: list[float], busy: list[float]) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = ROOT / ".artifacts" / "bench" / "batching.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    for ax, results, title in ((axes[0], emb, "embeddings"), (axes[1], comp, "completions")):
        for mode in ("off", "on"):
            ax.plot(
                CLIENTS,
                [results[(mode, c)][0] for c in CLIENTS],
                marker="o",
                label=f"batching {mode}",
            )
        ax.set_xscale("log", base=2)
        ax.set_xlabel("concurrent clients")
        ax.set_ylabel("calls / s")
        ax.set_title(f"{title}: throughput")
        ax.legend()
    axes[2].hist([idle, busy], bins=20, label=["idle", "during re-index"])
    axes[2].set_xlabel("inline completion latency (ms)")
    axes[2].set_title("completion latency, idle vs re-index")
    axes[2].legend()
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    return out


def load() -> str:
    return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


async def main_async(args: argparse.Namespace) -> None:
    print(f"start: {load()}")
    emb = await bench_embeddings(args)
    table("Embeddings (one text per call)", "texts", "emb", emb)
    e16 = emb[("on", 16)][0] / emb[("off", 16)][0]
    print(f"\n16 concurrent embedding callers: {e16:.2f}x the unbatched throughput (target >= 4x)")
    if args.only == "embeddings":
        print(f"end: {load()}")
        return
    comp = await bench_completions(args)
    table(f"Completions (simulated forward pass {args.model_ms} ms)", "calls", "gen", comp)
    idle, busy, embedded = await bench_reindex(args)
    i50, b50 = percentile(idle, 50), percentile(busy, 50)
    i95, b95 = percentile(idle, 95), percentile(busy, 95)
    print("\nInline completion during a full re-index (8 indexer tasks, 32 chunks per call)")
    print(f"  idle:        p50 {i50:7.1f} ms  p95 {i95:7.1f} ms")
    print(f"  re-indexing: p50 {b50:7.1f} ms  p95 {b95:7.1f} ms   ({embedded} chunks embedded)")
    print(f"  ratio p50 {b50 / i50:.2f}x, p95 {b95 / i95:.2f}x (target <= 1.5x)")
    print(f"end: {load()}")
    print(f"plot: {plot(emb, comp, idle, busy)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default=None, help="gRPC host:port of a running Triton")
    parser.add_argument("--embed-model", default="minilm")
    parser.add_argument("--embed-model-nobatch", default="minilm_nobatch")
    parser.add_argument("--fim-model", default="fim")
    parser.add_argument(
        "--model-ms", type=int, default=20, help="simulated forward pass (stand-in)"
    )
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", choices=["embeddings"], default=None)
    args = parser.parse_args()
    args.embed_calls = 64 if args.quick else 192
    args.completion_calls = 64 if args.quick else 256
    args.probes = 10 if args.quick else 30
    server = args.server = None
    if args.url is None:
        from tests.triton.server import TritonProcess, pytriton_missing

        missing = pytriton_missing()
        if missing:
            print(f"cannot start the Triton stand-in: {missing}")
            return 1
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        started = time.perf_counter()
        server = args.server = TritonProcess().start()
        args.url = server.grpc_url
        print(
            f"Triton stand-in (nvidia-pytriton, CPU) ready in {time.perf_counter() - started:.1f} s"
        )
    try:
        asyncio.run(main_async(args))
    finally:
        if server is not None:
            server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
