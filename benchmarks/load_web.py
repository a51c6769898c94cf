"""Load on one ``mimi-lsp web``: many tabs typing at once, then a soak.

Each tab is a WebSocket to ``/lsp`` (its own language server process behind the bridge) typing
words at 25 keys/s with a short pause after each, an automatic ghost-text request per key
(``tests/reliability/load.py``), against a scripted 50 ms model with the adaptive debounce.
Reports sessions held (connected, every request answered, ghost text at the end), keys,
errors, the latency of every answer (most are empty: the next key supersedes them) and of the
ghost text at each pause (what the user waits for), and the resident memory of the web
server's whole process tree. The soak keeps ``--soak-sessions`` tabs typing for
``--soak-minutes`` while waves of ``--soak-churn`` tabs connect, type and leave (page
reloads: new server processes), and compares the memory of the bridge and the long-lived
servers between waves, from the first quiet moment to the last.

    python benchmarks/load_web.py                 # 50 tabs for 30 s, 10-minute soak
    python benchmarks/load_web.py --quick         # 8 tabs for 10 s, 1-minute soak (CI)

Writes ``.artifacts/bench/load_web.png`` (latency histogram, memory over the soak) and
``.artifacts/reliability/load.json`` (read by ``benchmarks/reliability.py``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mimi_lsp.metrics import percentile, process_tree_rss  # noqa: E402
from tests.reliability.load import (  # noqa: E402
    LoadResult,
    own_rss,
    run_load,
    wait_for_processes,
    web_root_uri,
)
from tests.web.conftest import start_web  # noqa: E402

MB = 1024 * 1024


def settings(model_ms: float) -> dict[str, object]:
    return {
        "completion": {
            "backend": {"kind": "fake", "replies": ["values[0] * 2"], "delayMs": model_ms}
        },
        "index": {"enabled": False},
    }


def describe(name: str, result: LoadResult, seconds: float) -> dict[str, object]:
    lat = result.latencies_ms
    peak = max((rss for _, rss, _ in result.rss_samples), default=0)
    procs = max((n for _, _, n in result.rss_samples), default=0)
    row = {
        "name": name,
        "sessions": result.sessions,
        "held": result.held,
        "keys": result.keys,
        "keys_per_s": round(result.keys / seconds, 1),
        "answered": result.answered,
        "errors": result.errors,
        "ghost_pct": round(100 * result.ghost / max(1, result.answered), 1),
        "answer_p50_ms": round(percentile(lat, 50), 1),
        "answer_p95_ms": round(percentile(lat, 95), 1),
        "answer_p99_ms": round(percentile(lat, 99), 1),
        "connect_p50_ms": round(percentile(result.connect_ms, 50), 0),
        "connect_max_ms": round(max(result.connect_ms, default=0.0), 0),
        "pauses_with_ghost": len(result.pause_ms),
        "ghost_p50_ms": round(percentile(result.pause_ms, 50), 1),
        "ghost_p95_ms": round(percentile(result.pause_ms, 95), 1),
        "ghost_p99_ms": round(percentile(result.pause_ms, 99), 1),
        "peak_rss_mb": round(peak / MB, 1),
        "processes": procs,
        "rss_per_session_mb": round(peak / MB / max(1, result.sessions), 1),
        "failures": result.failures[:5],
    }
    return row


async def load_phase(
    web: object, sessions: int, seconds: float, keys_per_s: float
) -> tuple[dict[str, object], list[float]]:
    uri = await web_root_uri(web.base, web.token)  # type: ignore[attr-defined]
    result = await run_load(
        web.base, web.token, uri, web.process.pid,  # type: ignore[attr-defined]
        sessions=sessions, seconds=seconds, keys_per_s=keys_per_s, tag="load",
    )  # fmt: skip
    return describe(f"{sessions} tabs x {seconds:.0f} s", result, seconds), result.pause_ms


async def soak_phase(
    web: object, long_sessions: int, churn: int, minutes: float, wave_s: float, keys_per_s: float
) -> dict[str, object]:
    """``long_sessions`` tabs type for the whole soak while waves of ``churn`` tabs connect,
    type for ``wave_s`` and leave. Between waves only the long tabs' servers and the bridge
    run: their memory then is compared from the first quiet moment to the last."""
    uri = await web_root_uri(web.base, web.token)  # type: ignore[attr-defined]
    pid = web.process.pid  # type: ignore[attr-defined]
    started = time.monotonic()
    deadline = started + minutes * 60
    long_run = asyncio.ensure_future(run_load(
        web.base, web.token, uri, pid,  # type: ignore[attr-defined]
        sessions=long_sessions, seconds=minutes * 60, keys_per_s=keys_per_s, tag="long",
        sample_every_s=5.0,
    ))  # fmt: skip
    quiet: list[tuple[float, int, int]] = []
    waves: list[LoadResult] = []
    await asyncio.sleep(min(20.0, minutes * 60 / 4))  # the long tabs' servers have warmed up
    while time.monotonic() + wave_s < deadline:
        await wait_for_processes(pid, long_sessions + 1)
        quiet.append(
            (
                time.monotonic() - started,
                (await asyncio.to_thread(process_tree_rss, pid))[0],
                own_rss(pid),
            )
        )
        waves.append(await run_load(
            web.base, web.token, uri, pid,  # type: ignore[attr-defined]
            sessions=churn, seconds=wave_s, keys_per_s=keys_per_s, tag=f"churn{len(waves)}-",
        ))  # fmt: skip
    await wait_for_processes(pid, long_sessions + 1)
    quiet.append(
        (
            time.monotonic() - started,
            (await asyncio.to_thread(process_tree_rss, pid))[0],
            own_rss(pid),
        )
    )
    long = await long_run
    first, last = quiet[0], quiet[-1]
    timeline = [(t, rss / MB, bridge / MB) for t, rss, bridge in quiet]
    return {
        "minutes": minutes,
        "long_sessions": long_sessions,
        "long_held": long.held,
        "long_keys": long.keys,
        "churn_waves": len(waves),
        "churn_sessions": sum(w.sessions for w in waves),
        "churn_held": sum(w.held for w in waves),
        "errors": long.errors + sum(w.errors for w in waves),
        "tree_rss_first_mb": round(first[1] / MB, 1),
        "tree_rss_last_mb": round(last[1] / MB, 1),
        "tree_rss_growth_pct": round(100 * (last[1] - first[1]) / max(1, first[1]), 1),
        "bridge_rss_first_mb": round(first[2] / MB, 1),
        "bridge_rss_last_mb": round(last[2] / MB, 1),
        "bridge_rss_growth_pct": round(100 * (last[2] - first[2]) / max(1, first[2]), 1),
        "timeline": timeline,
    }


def plot(path: Path, latencies: list[float], soak: dict[str, object]) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    a.hist(latencies, bins=50)
    a.set_xlabel("last key before a pause -> ghost text (ms)")
    a.set_ylabel("requests")
    a.set_title("all tabs typing at once")
    timeline = soak.get("timeline") or []
    if timeline:
        t = [x[0] / 60 for x in timeline]  # type: ignore[index]
        b.plot(t, [x[1] for x in timeline], "o-", label="bridge + long-lived language servers")  # type: ignore[index]
        b.plot(t, [x[2] for x in timeline], "o-", label="bridge alone")  # type: ignore[index]
        b.set_xlabel("soak time (min)")
        b.set_ylabel("resident memory (MB)")
        b.set_title("soak")
        b.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="the small CI version")
    parser.add_argument("--sessions", type=int, default=None)
    parser.add_argument("--seconds", type=float, default=None)
    parser.add_argument("--keys-per-s", type=float, default=25.0)
    parser.add_argument("--model-ms", type=float, default=50.0)
    parser.add_argument("--soak-minutes", type=float, default=None)
    parser.add_argument(
        "--soak-sessions", type=int, default=None, help="tabs open for the whole soak"
    )
    parser.add_argument("--soak-churn", type=int, default=None, help="tabs per reconnecting wave")
    parser.add_argument("--wave-s", type=float, default=30.0)
    parser.add_argument("--plot", default=str(ROOT / ".artifacts/bench/load_web.png"))
    args = parser.parse_args()
    sessions = args.sessions or (8 if args.quick else 50)
    seconds = args.seconds or (10.0 if args.quick else 30.0)
    soak_minutes = (
        args.soak_minutes if args.soak_minutes is not None else (1.0 if args.quick else 10.0)
    )
    soak_sessions = args.soak_sessions or (2 if args.quick else 5)
    soak_churn = args.soak_churn or (2 if args.quick else 5)
    wave_s = min(args.wave_s, 15.0) if args.quick else args.wave_s

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "proj"
        folder.mkdir()
        (folder / "main.py").write_text("def compute(values):\n    return values\n")
        extra = ["--no-spare", "--max-sessions", str(max(sessions, soak_sessions + soak_churn) + 4)]
        with start_web(folder, settings(args.model_ms), *extra) as web:
            idle = own_rss(web.process.pid)
            load, latencies = await load_phase(web, sessions, seconds, args.keys_per_s)
            await wait_for_processes(web.process.pid, 1)
            soak = (
                await soak_phase(
                    web, soak_sessions, soak_churn, soak_minutes, wave_s, args.keys_per_s
                )
                if soak_minutes > 0
                else {}
            )

    print(
        f"\nLoad on one mimi-lsp web ({args.keys_per_s:g} keys/s per tab, {args.model_ms:g} ms model, adaptive debounce)"
    )
    print(f"  web server idle RSS            {idle / MB:.1f} MB")
    for key in ("sessions", "held", "connect_p50_ms", "connect_max_ms", "keys", "keys_per_s", "answered", "errors", "ghost_pct",
                "answer_p50_ms", "answer_p95_ms", "answer_p99_ms", "pauses_with_ghost",
                "ghost_p50_ms", "ghost_p95_ms", "ghost_p99_ms",
                "peak_rss_mb", "processes", "rss_per_session_mb"):  # fmt: skip
        print(f"  {key:<30} {load[key]}")
    if load["failures"]:
        print(f"  failures                       {load['failures']}")
    if soak:
        print(
            f"\nSoak: {soak['minutes']:g} min; {soak['long_sessions']} tabs typing throughout, "
            f"{soak['churn_waves']} waves of {soak_churn} tabs connecting, typing and leaving"
        )
        for key in ("long_held", "long_keys", "churn_sessions", "churn_held", "errors",
                    "tree_rss_first_mb", "tree_rss_last_mb", "tree_rss_growth_pct",
                    "bridge_rss_first_mb", "bridge_rss_last_mb", "bridge_rss_growth_pct"):  # fmt: skip
            print(f"  {key:<30} {soak[key]}")
        print(
            "  budget: RSS growth < 10% over the soak (measured between waves: long tabs + bridge)"
        )
    out = ROOT / ".artifacts" / "reliability" / "load.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {"load": load, "soak": {k: v for k, v in soak.items() if k != "timeline"}}, indent=2
        )
    )
    plot(Path(args.plot), latencies, soak)
    print(f"\nplot: {args.plot}")


if __name__ == "__main__":
    asyncio.run(main())
