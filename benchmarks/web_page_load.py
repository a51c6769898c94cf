"""The web IDE as a user meets it: page load to first ghost text, and the bundle's size.

Starts the real `mimi-lsp web` (fake backend: an instant model) on a small project and opens
it N times in Debian Chromium (playwright-core), each in a fresh browser context: navigation
→ LSP session ready → a file opened, ghost text asked for → ghost text on screen. Also reads
the in-page marks (DOMContentLoaded, main script, WebSocket open, LSP ready, first ghost text)
and sums the built bundle, raw and gzipped (what the browser downloads for the first load).

    python benchmarks/web_page_load.py            # 10 page loads
    python benchmarks/web_page_load.py --runs 3   # quicker
    python benchmarks/web_page_load.py --gap 0    # back-to-back: no warm spare server

Prints a table; writes .artifacts/bench/web_page_load.png (per-run stacked phases).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mimi_lsp.metrics import percentile  # noqa: E402
from mimi_lsp.web.bundle import STATIC_DIR  # noqa: E402
from tests.web.conftest import fake_web_settings, make_project, start_web  # noqa: E402
from tests.web.test_monaco_page import EXPECT, WEB_DIR  # noqa: E402


def bundle_sizes() -> dict[str, int]:
    """Raw and gzip -9 bytes: everything, and what the first page load fetches."""
    index = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
    total_raw = total_gz = first_raw = first_gz = 0
    for path in STATIC_DIR.rglob("*"):
        if not path.is_file() or path.name == "build-info.json":
            continue
        data = path.read_bytes()
        raw, gz = len(data), len(gzip.compress(data, 9))
        total_raw += raw
        total_gz += gz
        # index.html, the entry script and stylesheet, the editor worker, the codicon font
        # and the Python grammar are what opening a .py file downloads.
        name = path.name
        if (
            path.name == "index.html"
            or name in index
            or name.startswith(("editor.worker", "codicon", "python-"))
        ):
            first_raw += raw
            first_gz += gz
    return {"total": total_raw, "total_gz": total_gz, "first": first_raw, "first_gz": first_gz}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument(
        "--gap",
        type=float,
        default=5.0,
        help="seconds between page loads, for the spare server to start (0: cold starts)",
    )
    args = parser.parse_args()
    sizes = bundle_sizes()
    print("bundle (mimi_lsp/web/static)")
    print(
        f"  everything         {sizes['total'] / 1e6:6.2f} MB raw  {sizes['total_gz'] / 1e6:6.2f} MB gzipped"
    )
    print(
        f"  first load (.py)   {sizes['first'] / 1e6:6.2f} MB raw  {sizes['first_gz'] / 1e6:6.2f} MB gzipped"
    )

    chromium = shutil.which("chromium")
    if chromium is None or not (WEB_DIR / "node_modules" / "playwright-core").is_dir():
        print("page load: needs Debian chromium and `make setup-web`")
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        folder = make_project(Path(tmp) / "proj")
        with start_web(folder, fake_web_settings()) as server:
            config = {
                "url": server.url,
                "screenshots": str(ROOT / ".artifacts" / "bench" / "web-shots"),
                "chromium": chromium,
                "project": EXPECT,
                "bench": args.runs,
                "gapMs": int(args.gap * 1000),
            }
            proc = subprocess.run(
                ["node", str(WEB_DIR / "tests" / "e2e.mjs")],
                env={**os.environ, "MIMI_E2E": json.dumps(config)},
                capture_output=True,
                text=True,
                timeout=60 + (30 + args.gap) * args.runs,
                cwd=str(WEB_DIR),
            )
    runs = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith('{"bench"')]
    if not runs:
        print(proc.stdout[-2000:], proc.stderr[-2000:])
        return 1
    phases = ["script", "domContentLoaded", "ws-open", "lsp-ready", "ask", "first-ghost-text"]
    print(
        f"\npage load → first ghost text, {len(runs)} fresh page loads, {args.gap:g} s apart "
        "(ms since navigation start, instant model)"
    )
    print(f"  {'':28} {'median':>8} {'p95':>8} {'min':>8}")
    rows: dict[str, list[float]] = {}
    for phase in phases:
        values = [float(r["marks"][phase]) for r in runs if phase in r["marks"]]
        if values:
            rows[phase] = values
    rows["ghost text on screen"] = [float(r["total"]) for r in runs]
    for name, values in rows.items():
        print(
            f"  {name:28} {statistics.median(values):8.0f} {percentile(values, 95):8.0f} "
            f"{min(values):8.0f}"
        )
    ask_to_ghost = [
        r["marks"]["first-ghost-text"] - r["marks"]["ask"]
        for r in runs
        if "ask" in r["marks"] and "first-ghost-text" in r["marks"]
    ]
    if ask_to_ghost:
        print(
            f"  {'(ask → ghost text)':28} {statistics.median(ask_to_ghost):8.0f} "
            f"{percentile(ask_to_ghost, 95):8.0f} {min(ask_to_ghost):8.0f}"
        )
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        out = ROOT / ".artifacts" / "bench" / "web_page_load.png"
        out.parent.mkdir(parents=True, exist_ok=True)
        fig, ax = plt.subplots(figsize=(8, 4))
        previous = [0.0] * len(runs)
        for phase in phases:
            values = [float(r["marks"].get(phase, 0)) for r in runs]
            ax.bar(
                range(len(runs)),
                [v - p for v, p in zip(values, previous, strict=True)],
                bottom=previous,
                label=phase,
            )
            previous = values
        ax.set_xlabel("page load")
        ax.set_ylabel("ms since navigation start")
        ax.set_title("mimi web: page load to first ghost text")
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(out)
        print(f"\nplot: {out.relative_to(ROOT)}")
    except ImportError:
        pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
