"""Docstring -> function retrieval eval of the index, on real code nobody here wrote.

Corpus: modules of this machine's Python standard library, with every docstring blanked
(line numbers kept). Queries: the first sentence of each function's original docstring; the
answer is that function. A hit counts when it is in the right file and its range contains the
function's ``def`` line (what an editor would jump to). Prints MRR@10, recall@1 and recall@10
per mode (bm25, vector, hybrid) and, with ``--sweep``, for a grid of fusion weights scored
separately on a dev half of the queries (even positions: what the defaults were tuned on) and
on the held-out half (odd positions: the honest figure).

    .venv/bin/python benchmarks/search_eval.py                 # ~500 queries, local MiniLM
    .venv/bin/python benchmarks/search_eval.py --files 12 --queries 80 --sweep
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import json
import os
import random
import re
import sys
import sysconfig
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mimi_lsp.index.ranking import Fusion  # noqa: E402
from mimi_lsp.index.service import IndexService  # noqa: E402
from mimi_lsp.settings import resolve_settings  # noqa: E402

STDLIB = Path(sysconfig.get_paths()["stdlib"])
SKIP = {"this.py", "antigravity.py", "__phello__.foo.py"}


@dataclass(frozen=True)
class Query:
    text: str
    rel: str
    line: int  # 0-based line of the def
    name: str


def first_sentence(doc: str) -> str:
    text = " ".join(doc.strip().split())
    match = re.match(r"(.+?[.!?])(\s|$)", text)
    return (match.group(1) if match else text)[:300]


def blank_docstrings(source: str) -> tuple[str, list[tuple[str, int, str]]]:
    """Source with docstrings blanked (same line count), and (name, def line, docstring)."""
    tree = ast.parse(source)
    lines = source.splitlines(keepends=True)
    found: list[tuple[str, int, str]] = []
    spans: list[tuple[int, int]] = []
    for node in ast.walk(tree):
        if not isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        body = node.body
        if (
            not body
            or not isinstance(body[0], ast.Expr)
            or not isinstance(getattr(body[0], "value", None), ast.Constant)
        ):
            continue
        if not isinstance(body[0].value.value, str):
            continue
        doc = body[0].value.value
        expr = body[0]
        if (
            not isinstance(node, ast.Module)
            and expr.lineno == node.body[0].lineno
            and expr.lineno <= getattr(node, "lineno", 0)
        ):
            continue  # docstring on the def line: cannot blank it without the def
        spans.append((expr.lineno - 1, (expr.end_lineno or expr.lineno) - 1))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            found.append((node.name, node.lineno - 1, doc))
    for start, end in spans:
        indent = re.match(r"\s*", lines[start]).group(0)  # type: ignore[union-attr]
        lines[start] = f"{indent}pass\n"
        for i in range(start + 1, end + 1):
            lines[i] = "\n"
    return "".join(lines), found


def build_corpus(dest: Path, files: int, seed: int = 7) -> list[Query]:
    """Copy ``files`` stdlib modules with docstrings blanked; return the queries."""
    candidates = sorted(
        p for p in STDLIB.glob("*.py") if p.name not in SKIP and 8_000 < p.stat().st_size < 200_000
    )
    random.Random(seed).shuffle(candidates)
    queries: list[Query] = []
    dest.mkdir(parents=True, exist_ok=True)
    used = 0
    for path in candidates:
        if used >= files:
            break
        try:
            source = path.read_text(encoding="utf-8")
            blanked, found = blank_docstrings(source)
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue
        used += 1
        (dest / path.name).write_text(blanked, encoding="utf-8")
        for name, line, doc in found:
            sentence = first_sentence(doc)
            if len(sentence.split()) >= 4 and not name.startswith("__"):
                queries.append(Query(sentence, path.name, line, name))
    return queries


async def evaluate(
    service: IndexService, root: Path, queries: list[Query], mode: str
) -> dict[str, float]:
    rr = r1 = r10 = 0.0
    latencies = []
    for q in queries:
        started = time.perf_counter()
        hits = await service.search(q.text, k=10, mode=mode)
        latencies.append((time.perf_counter() - started) * 1000)
        for rank, hit in enumerate(hits, 1):
            if hit.path == str(root / q.rel) and hit.span.start_line <= q.line <= hit.span.end_line:
                rr += 1 / rank
                r1 += rank == 1
                r10 += 1
                break
    n = max(1, len(queries))
    latencies.sort()
    return {
        "mrr@10": round(rr / n, 3),
        "recall@1": round(r1 / n, 3),
        "recall@10": round(r10 / n, 3),
        "p50_ms": round(latencies[len(latencies) // 2], 1) if latencies else 0.0,
    }


async def run_eval(
    files: int = 40,
    queries: int = 500,
    embedding: str = "local",
    sweep: bool = False,
    workdir: Path | None = None,
    seed: int = 7,
) -> dict[str, Any]:
    """Build the corpus and index, then score every mode; returns the figures."""
    base = workdir or Path(tempfile.mkdtemp(prefix="mimi-eval-"))
    root = base / f"stdlib-{files}-{seed}"
    all_queries = build_corpus(root, files, seed)
    random.Random(seed).shuffle(all_queries)
    picked = all_queries[:queries]
    settings, _ = resolve_settings(
        {"index": {"cacheDir": str(base / "cache")}, "embedding": {"backend": {"kind": embedding}}}
    )
    service = IndexService(settings)
    service.searcher.query_cache_size = 100_000
    started = time.perf_counter()
    await service.set_folders([str(root)])
    status = await service.wait_idle()
    chunk_s = time.perf_counter() - started
    status = await service.wait_embedded()
    total_s = time.perf_counter() - started
    out: dict[str, Any] = {
        "files": status.files,
        "chunks": status.chunks,
        "embedded": status.embedded,
        "queries": len(picked),
        "index_s": round(chunk_s, 1),
        "index_and_embed_s": round(total_s, 1),
        "modes": {},
    }
    for mode in ("bm25", "vector", "hybrid"):
        out["modes"][mode] = await evaluate(service, root, picked, mode)
    dev, held_out = picked[0::2], picked[1::2]
    out["split"] = {
        "dev": await evaluate(service, root, dev, "hybrid"),
        "held_out": await evaluate(service, root, held_out, "hybrid"),
    }
    if sweep:
        grid: dict[str, Any] = {}
        default = service.searcher.fusion
        options = [Fusion(method="linear", bm25_weight=w) for w in (0.05, 0.1, 0.15, 0.2, 0.3, 0.4)]
        options += [Fusion(method="convex", dense_weight=w) for w in (0.5, 0.6, 0.7)]
        options += [Fusion(method="rrf", rrf_k=k, rrf_dense=wd) for k, wd in ((60, 1.0), (10, 1.5))]
        for fusion in options:
            service.searcher.fusion = fusion
            name = {
                "linear": f"linear bm25={fusion.bm25_weight}",
                "convex": f"convex dense={fusion.dense_weight}",
                "rrf": f"rrf k={fusion.rrf_k:g} dense={fusion.rrf_dense}",
            }[fusion.method]
            grid[name] = {
                "dev": await evaluate(service, root, dev, "hybrid"),
                "held_out": await evaluate(service, root, held_out, "hybrid"),
            }
        service.searcher.fusion = default
        out["sweep"] = grid
    await service.aclose()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--files", type=int, default=40, help="stdlib modules in the corpus")
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--embedding", default="local", choices=["local", "fake"])
    parser.add_argument("--sweep", action="store_true", help="also try a grid of fusion weights")
    parser.add_argument("--workdir", type=Path, default=None, help="reuse corpus and index here")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    result = asyncio.run(
        run_eval(args.files, args.queries, args.embedding, args.sweep, args.workdir)
    )
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(
        f"corpus: {result['files']} files, {result['chunks']} chunks, {result['queries']} queries; "
        f"indexed in {result['index_s']} s, embedded by {result['index_and_embed_s']} s"
    )
    print(f"{'mode':28} {'MRR@10':>7} {'R@1':>6} {'R@10':>6} {'p50 ms':>7}")
    for name, m in result["modes"].items():
        print(
            f"{name:28} {m['mrr@10']:7.3f} {m['recall@1']:6.3f} {m['recall@10']:6.3f} {m['p50_ms']:7.1f}"
        )
    split = result["split"]
    print(
        f"hybrid on the dev half {split['dev']['mrr@10']:.3f}, on the held-out half {split['held_out']['mrr@10']:.3f}"
    )
    if result.get("sweep"):
        print(f"{'fusion (hybrid)':28} {'dev MRR':>8} {'held-out MRR':>13} {'held-out R@10':>14}")
        for name, m in result["sweep"].items():
            print(
                f"{name:28} {m['dev']['mrr@10']:8.3f} {m['held_out']['mrr@10']:13.3f} {m['held_out']['recall@10']:14.3f}"
            )


if __name__ == "__main__":
    main()
