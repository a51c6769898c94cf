"""Cost of post-processing per completion: decide_shape + postprocess, as the engine calls them.

For Python, TypeScript, Rust and Go documents of 1 KB, 100 KB and 1 MB, cursors at many places
(blank lines in bodies, ends of block openers, mid-line), each with a realistic multi-line raw
model output. Each sample is one fresh cursor (no memoised analysis from a previous sample), timed
as the engine does it: decide_shape before the model call, postprocess after it.

Two prefix/suffix shapes:
- ``engine``: the windows the engine passes (completion.maxPrefixChars 6000 / maxSuffixChars 2000);
- ``whole``: the whole document before/after the cursor (no windowing upstream at all), to show
  that the cost does not grow with the document.

    python benchmarks/postprocess_latency.py           # full run
    python benchmarks/postprocess_latency.py --quick   # fewer samples

Prints p50/p95/p99 in milliseconds and writes a histogram to
.artifacts/bench/postprocess_latency.png.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mimi_lsp.completion import syntax  # noqa: E402
from mimi_lsp.completion.postprocess import (  # noqa: E402
    PostContext,
    decide_shape,
    postprocess,
    stop_sequences,
)
from mimi_lsp.metrics import percentile  # noqa: E402

BLOCKS = {
    "python": (
        "class Model{i}:\n"
        "    def __init__(self, values):\n"
        "        self.values = list(values)  # (copied)\n"
        "\n"
        "    def total(self, weights):\n"
        "        total = 0\n"
        "        for value, weight in zip(self.values, weights):\n"
        "            total += value * weight\n"
        "        return total\n\n\n"
    ),
    "typescript": (
        "export class Model{i} {{\n"
        "  private values: number[] = [];\n"
        "\n"
        "  total(weights: number[]): number {{\n"
        "    let total = 0;\n"
        "    for (let i = 0; i < this.values.length; i++) {{\n"
        "      total += this.values[i] * weights[i]; // {{ not a brace\n"
        "    }}\n"
        "    return total;\n"
        "  }}\n"
        "}}\n\n"
    ),
    "rust": (
        "impl Model{i} {{\n"
        "    pub fn total<'a>(&'a self, weights: &[f64]) -> f64 {{\n"
        "        let mut total = 0.0;\n"
        "        for (v, w) in self.values.iter().zip(weights) {{\n"
        "            total += v * w; // '}}'\n"
        "        }}\n"
        "        total\n"
        "    }}\n"
        "}}\n\n"
    ),
    "go": (
        "func (m *Model{i}) Total(weights []float64) float64 {{\n"
        "\ttotal := 0.0\n"
        "\tfor i, v := range m.values {{\n"
        "\t\ttotal += v * weights[i] // {{\n"
        "\t}}\n"
        "\treturn total\n"
        "}}\n\n"
    ),
}

RAW = {
    "python": "result = []\n        for v in self.values:\n            if v > 0:\n"
    "                result.append(v)\n        return result\n\n    def other(self):\n"
    "        pass\n",
    "typescript": "const out: number[] = [];\n    for (const v of this.values) {\n"
    "      if (v > 0) {\n        out.push(v);\n      }\n    }\n    return out;\n  }\n\n"
    "  other(): void {}\n",
    "rust": "let mut out = Vec::new();\n        for v in &self.values {\n"
    "            if *v > 0.0 {\n                out.push(*v);\n            }\n        }\n"
    "        out.len() as f64\n    }\n}\n",
    "go": "out := []float64{}\n\tfor _, v := range m.values {\n\t\tif v > 0 {\n"
    "\t\t\tout = append(out, v)\n\t\t}\n\t}\n\treturn float64(len(out))\n}\n\nfunc Other() {}\n",
}

SIZES = {"1 KB": 1_000, "100 KB": 100_000, "1 MB": 1_000_000}
MAX_PREFIX, MAX_SUFFIX = 6_000, 2_000


def make_document(language: str, size: int) -> list[str]:
    parts, n, i = [], 0, 0
    while n < size:
        chunk = BLOCKS[language].format(i=i)
        parts.append(chunk)
        n += len(chunk)
        i += 1
    return "".join(parts).splitlines(keepends=True)


def cursors(lines: list[str], count: int, rng: random.Random) -> Iterator[tuple[str, str]]:
    """(prefix, suffix) pairs at varied positions: blank body lines, line ends, mid-line."""
    for _ in range(count):
        row = rng.randrange(1, len(lines) - 1)
        line = lines[row]
        shape = rng.randrange(3)
        if shape == 0:  # a fresh, indented blank line inserted before this one
            indent = line[: len(line) - len(line.lstrip())].rstrip("\n")
            before = "".join(lines[:row]) + indent
            after = "\n" + "".join(lines[row:])
        elif shape == 1:  # end of the line
            before = "".join(lines[:row]) + line.rstrip("\n")
            after = "\n" + "".join(lines[row + 1 :])
        else:  # mid-line
            col = rng.randrange(0, max(1, len(line.rstrip("\n"))))
            before = "".join(lines[:row]) + line[:col]
            after = line[col:] + "".join(lines[row + 1 :])
        yield before, after


def window(prefix: str, suffix: str) -> tuple[str, str]:
    """Whole lines within the engine's budgets, as DocumentSnapshot.prefix/suffix do."""
    head = prefix[-MAX_PREFIX:]
    if len(prefix) > MAX_PREFIX:
        head = head[head.find("\n") + 1 :]
    cut = suffix.rfind("\n", 0, MAX_SUFFIX)
    return head, suffix if len(suffix) <= MAX_SUFFIX else suffix[: cut + 1]


def measure(
    language: str, pairs: Iterable[tuple[str, str]], repeats: int = 1
) -> tuple[list[float], list[float], list[float]]:
    """Per cursor: first run's wall time, best wall time of ``repeats``, first run's CPU time.

    CPU time (``time.thread_time``) leaves out the time the thread waited for a core, so it
    shows the real cost on a shared machine; wall time is what the user waits.
    """
    stops = stop_sequences(language)
    raw_full = RAW[language]
    found = [raw_full.find(s) for s in stops if s in raw_full]
    raw = raw_full[: min(found)] if found else raw_full
    first, best, cpu = [], [], []
    for prefix, suffix in pairs:
        runs = []
        for _ in range(repeats):
            syntax._CACHE.clear()  # every sample is a new cursor
            cpu_started = time.thread_time()
            started = time.perf_counter()
            shape = decide_shape(prefix, suffix, language)
            postprocess(raw, PostContext(prefix, suffix, language, shape))
            runs.append((time.perf_counter() - started) * 1000)
            if len(runs) == 1:
                cpu.append((time.thread_time() - cpu_started) * 1000)
        first.append(runs[0])
        best.append(min(runs))
    return first, best, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer samples (CI)")
    args = parser.parse_args()
    samples = 150 if args.quick else 600
    rng = random.Random(7)

    # Warm up imports and grammars so the first sample does not pay for them.
    for language in BLOCKS:
        measure(language, cursors(make_document(language, 2_000), 5, rng), repeats=1)

    rows = []
    distributions: dict[str, list[float]] = {}
    for language in BLOCKS:
        for label, size in SIZES.items():
            lines = make_document(language, size)
            seed = rng.randrange(1 << 30)
            for shape in ("engine", "whole"):
                if shape == "whole" and size > 100_000 and args.quick:
                    continue
                pairs = cursors(lines, samples, random.Random(seed))  # same cursors per shape
                use = (window(p, s) for p, s in pairs) if shape == "engine" else pairs
                times, best, cpu = measure(language, use, repeats=3)
                rows.append((language, label, shape, times, best, cpu))
                if shape == "engine":
                    distributions.setdefault(label, []).extend(times)

    print(
        f"post-processing cost per completion (decide_shape + postprocess), {samples} "
        "cursors per row, ms. wall = first run; best = best wall time of 3 runs; cpu = first "
        "run's thread CPU time (both remove shared-machine scheduling noise)"
    )
    print(
        f"{'language':<11} {'document':>8} {'input':>7} {'wall p50':>9} {'wall p95':>9}"
        f" {'wall p99':>9} {'best p95':>9} {'best p99':>9} {'cpu p50':>8} {'cpu p95':>8}"
        f" {'cpu p99':>8}"
    )
    for language, label, shape, times, best, cpu in rows:
        print(
            f"{language:<11} {label:>8} {shape:>7} {percentile(times, 50):9.3f} "
            f"{percentile(times, 95):9.3f} {percentile(times, 99):9.3f} "
            f"{percentile(best, 95):9.3f} {percentile(best, 99):9.3f} "
            f"{percentile(cpu, 50):8.3f} {percentile(cpu, 95):8.3f} {percentile(cpu, 99):8.3f}"
        )
    engine_rows = [row for row in rows if row[2] == "engine"]
    every = [t for row in engine_rows for t in row[3]]
    every_best = [t for row in engine_rows for t in row[4]]
    every_cpu = [t for row in engine_rows for t in row[5]]
    print(
        "all languages and sizes, engine windows: "
        f"wall p50 {percentile(every, 50):.3f} / p95 {percentile(every, 95):.3f} / "
        f"p99 {percentile(every, 99):.3f} ms; best-of-3 p95 {percentile(every_best, 95):.3f} / "
        f"p99 {percentile(every_best, 99):.3f} ms; cpu p95 {percentile(every_cpu, 95):.3f} / "
        f"p99 {percentile(every_cpu, 99):.3f} ms (budget: well under 5 ms p95)"
    )

    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:  # plotting is optional
        return
    out = ROOT / ".artifacts" / "bench" / "postprocess_latency.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(8, 4.5))
    low = max(0.01, min(min(t) for t in distributions.values()))
    high = max(10.0, max(max(t) for t in distributions.values()))
    bins = [low * (high / low) ** (i / 80) for i in range(81)]
    for label, times in distributions.items():
        ax.hist(times, bins=bins, alpha=0.55, label=f"{label} document")
    ax.set_xscale("log")
    ax.axvline(5.0, color="red", linestyle="--", label="5 ms budget")
    ax.set_xlabel("decide_shape + postprocess (ms, log scale; first-run wall time)")
    ax.set_ylabel("cursors")
    ax.set_title("Post-processing cost per completion (4 languages)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    print(f"histogram: {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
