"""Ghost text in Neovim: how long from a typed key to the suggestion on screen.

Runs editors/neovim/bench/ghost_latency.lua (a child Neovim 0.11 with the plugin, against the
real mimi-lsp with the scripted fake backend, so no model time is included) and reports:

- ask: key in the buffer (TextChangedI) -> inlineCompletion request -> answer -> extmark drawn;
- through: a key that matches the suggestion -> suggestion redrawn without a request;
- keystroke: time spent in the plugin's own TextChangedI handler per key.

Prints p50/p95/max and writes the distributions to .artifacts/bench/neovim_ghost_latency.png.
Usage: python benchmarks/neovim_ghost_latency.py [--quick] [--n N]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mimi_lsp.metrics import percentile  # noqa: E402

PLUGIN = ROOT / "editors" / "neovim"
OUT = ROOT / ".artifacts" / "bench" / "neovim_ghost_latency.png"
WARMUP = 5


def plot(samples: dict[str, list[float]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    for ax, name in zip(axes, ("ask", "through", "keystroke"), strict=True):
        ax.hist(samples[name], bins=40, color="#4a7ab5")
        ax.set_title(f"{name}: p50 {statistics.median(samples[name]):.2f} ms")
        ax.set_xlabel("ms")
    fig.suptitle("Neovim ghost text (fake backend: no model time)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="30 rounds (CI log)")
    parser.add_argument("--n", type=int, default=200, help="rounds (default 200)")
    args = parser.parse_args()
    n = 30 if args.quick else args.n
    nvim = os.environ.get("MIMI_NVIM") or str(ROOT / ".venv" / "bin" / "nvim")
    if not Path(nvim).exists():
        nvim = shutil.which("nvim") or nvim
    proc = subprocess.run(
        [nvim, "--headless", "--clean", "-l", "bench/ghost_latency.lua", str(n + WARMUP)],
        cwd=PLUGIN,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    if proc.returncode != 0:
        print(proc.stdout[-3000:], proc.stderr[-3000:], file=sys.stderr)
        return 1
    raw = json.loads(proc.stdout.strip().splitlines()[-1])
    samples = {
        "ask": raw["ask"][WARMUP:],
        "through": raw["through"][WARMUP:],
        "keystroke": raw["keystroke"][WARMUP * 3 :],
    }
    print(f"neovim ghost text, {n} rounds (Neovim 0.11, real server, fake backend)")
    print(f"{'':12}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}{'samples':>9}")
    for name, values in samples.items():
        print(
            f"{name:12}{statistics.median(values):9.3f}{percentile(values, 95):9.3f}"
            f"{max(values):9.3f}{len(values):9d}"
        )
    plot(samples, OUT)
    print(f"plot: {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
