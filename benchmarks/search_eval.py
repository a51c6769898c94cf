"""Docstring -> function retrieval eval of the index, strict, on real code nobody here wrote.

Corpus: Python modules of this machine (``--corpus stdlib``: top-level standard-library
modules; ``stdlib-packages``: modules inside standard-library packages such as ``email`` or
``asyncio``; ``site-packages``: third-party packages of this venv), with every docstring
blanked (line numbers kept). Queries: the first sentence of each function's original
docstring; the answer is that function.

Counting is strict: a hit counts only when at least half of its line range lies inside the
target function and its name is the target's (a method's name qualified by its class, as
``Class.method``). The old counting (the hit's range contains the target's ``def`` line) is
printed next to it. Files are split in two halves: **dev** (what any weight was tuned on) and
**held-out** (the honest figure); every mode is reported on both. Also printed: how many of the
hits (top 10, hybrid) are labelled with the definition they point at (the innermost function or
class holding at least half of the hit, or no name for code outside any definition).

Embeddings are cached by text in ``<workdir>/embeddings.sqlite``, so a second run (or a run
after a ranking change) embeds nothing it embedded before; the first run of a corpus embeds a
few thousand texts (~15 texts/s on 2 cores). ``--sweep`` tunes the ranking weights by
coordinate search on the dev half and prints the held-out figure of the result.

    .venv/bin/python benchmarks/search_eval.py                          # 40 stdlib modules
    .venv/bin/python benchmarks/search_eval.py --corpus stdlib-packages # generality check
    .venv/bin/python benchmarks/search_eval.py --sweep
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import dataclasses
import hashlib
import json
import os
import random
import re
import sqlite3
import sys
import sysconfig
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mimi_lsp.domain import SearchHit  # noqa: E402
from mimi_lsp.index.ranking import Fusion  # noqa: E402
from mimi_lsp.index.service import IndexService  # noqa: E402
from mimi_lsp.inference.embedding import Embedder  # noqa: E402
from mimi_lsp.inference.local import LocalEmbedder  # noqa: E402
from mimi_lsp.settings import resolve_settings  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
STDLIB = Path(sysconfig.get_paths()["stdlib"])
SITE = Path(sysconfig.get_paths()["purelib"])
SKIP = {"this.py", "antigravity.py", "__phello__.foo.py"}
SKIP_DIRS = {"test", "tests", "idlelib", "site-packages", "lib2to3", "turtledemo", "__pycache__"}
MODES = ("bm25", "vector", "hybrid")


@dataclass(frozen=True)
class Definition:
    """A function or class of the original source: 0-based inclusive lines."""

    rel: str
    name: str
    parent: str | None
    start: int
    end: int
    def_line: int
    is_function: bool

    @property
    def label(self) -> str:
        return f"{self.parent}.{self.name}" if self.parent else self.name


@dataclass(frozen=True)
class Query:
    text: str
    target: Definition
    split: str  # "dev" or "held_out"


def first_sentence(doc: str) -> str:
    text = " ".join(doc.strip().split())
    match = re.match(r"(.+?[.!?])(\s|$)", text)
    return (match.group(1) if match else text)[:300]


def blank_docstrings(source: str) -> tuple[str, list[tuple[str, int, str]]]:
    """Source with docstrings blanked (same line count), and (name, def line, docstring)."""
    blanked, found, _ = blank_and_collect(source, "")
    return blanked, [(d.name, d.def_line, doc) for d, doc in found]


def blank_and_collect(
    source: str, rel: str
) -> tuple[str, list[tuple[Definition, str]], list[Definition]]:
    """Blanked source, (function, docstring) pairs, and every function and class."""
    tree = ast.parse(source)
    lines = source.splitlines(keepends=True)
    found: list[tuple[Definition, str]] = []
    defs: list[Definition] = []
    spans: list[tuple[int, int]] = []

    def visit(node: ast.AST, parent: str | None) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                start = min([child.lineno] + [d.lineno for d in child.decorator_list]) - 1
                d = Definition(
                    rel, child.name, parent, start, (child.end_lineno or child.lineno) - 1,
                    child.lineno - 1, not isinstance(child, ast.ClassDef),
                )  # fmt: skip
                defs.append(d)
                doc = _docstring(child)
                if doc is not None:
                    expr = child.body[0]
                    if expr.lineno > child.lineno or expr.lineno != child.body[0].lineno:
                        spans.append((expr.lineno - 1, (expr.end_lineno or expr.lineno) - 1))
                        if d.is_function:
                            found.append((d, doc))
                visit(child, child.name)
            else:
                visit(child, parent)

    module_doc = _docstring(tree)
    if module_doc is not None:
        expr = tree.body[0]
        spans.append((expr.lineno - 1, (expr.end_lineno or expr.lineno) - 1))
    visit(tree, None)
    for start, end in spans:
        indent = re.match(r"\s*", lines[start]).group(0)  # type: ignore[union-attr]
        lines[start] = f"{indent}pass\n"
        for i in range(start + 1, end + 1):
            lines[i] = "\n"
    return "".join(lines), found, defs


def _docstring(node: ast.AST) -> str | None:
    body = getattr(node, "body", None)
    if not body or not isinstance(body[0], ast.Expr):
        return None
    value = body[0].value
    if not isinstance(value, ast.Constant) or not isinstance(value.value, str):
        return None
    return value.value


def candidate_files(corpus: str) -> list[tuple[Path, str]]:
    """(path, name in the corpus) of the modules a corpus draws from."""
    out: list[tuple[Path, str]] = []
    if corpus == "stdlib":
        for p in sorted(STDLIB.glob("*.py")):
            if p.name not in SKIP and 8_000 < p.stat().st_size < 200_000:
                out.append((p, p.name))
    elif corpus == "stdlib-packages":
        for p in sorted(STDLIB.glob("*/**/*.py")):
            rel = p.relative_to(STDLIB)
            if set(rel.parts) & SKIP_DIRS or p.name == "__init__.py":
                continue
            if 6_000 < p.stat().st_size < 150_000:
                out.append((p, "_".join(rel.parts)))
    elif corpus == "site-packages":
        for p in sorted(SITE.glob("*/**/*.py")):
            rel = p.relative_to(SITE)
            if set(rel.parts) & SKIP_DIRS or rel.parts[0].endswith((".dist-info", ".data")):
                continue
            if 6_000 < p.stat().st_size < 150_000:
                out.append((p, "_".join(rel.parts)))
    else:
        raise SystemExit(f"unknown corpus {corpus!r}")
    return out


def build_corpus(
    dest: Path, corpus: str, files: int, seed: int
) -> tuple[list[Query], dict[str, list[Definition]]]:
    """Write ``files`` modules with docstrings blanked; their queries and definitions.

    Files alternate between the dev and the held-out half (in a seeded random order).
    """
    candidates = candidate_files(corpus)
    random.Random(seed).shuffle(candidates)
    queries: list[Query] = []
    definitions: dict[str, list[Definition]] = {}
    dest.mkdir(parents=True, exist_ok=True)
    for path, name in candidates:
        if len(definitions) >= files:
            break
        try:
            source = path.read_text(encoding="utf-8")
            blanked, found, defs = blank_and_collect(source, name)
        except (SyntaxError, UnicodeDecodeError, ValueError, RecursionError):
            continue
        usable = [
            (d, first_sentence(doc))
            for d, doc in found
            if not d.name.startswith("__") and len(first_sentence(doc).split()) >= 4
        ]
        if not usable:
            continue
        split = "dev" if len(definitions) % 2 == 0 else "held_out"
        definitions[name] = defs
        out = dest / name
        if not out.exists() or out.read_text(encoding="utf-8") != blanked:
            out.write_text(blanked, encoding="utf-8")
        queries += [Query(text, d, split) for d, text in usable]
    return queries, definitions


# ------------------------------------------------------------------------------------------
# Counting


def _inside(hit: SearchHit, start: int, end: int) -> float:
    """Share of the hit's lines within ``start..end``."""
    a, b = hit.span.start_line, hit.span.end_line
    overlap = min(b, end) - max(a, start) + 1
    return max(0, overlap) / (b - a + 1)


def strict_match(hit: SearchHit, q: Query, root: Path) -> bool:
    t = q.target
    return (
        hit.path == str(root / t.rel)
        and _inside(hit, t.start, t.end) >= 0.5
        and hit.symbol == t.label
    )


def old_match(hit: SearchHit, q: Query, root: Path) -> bool:
    t = q.target
    return hit.path == str(root / t.rel) and hit.span.start_line <= t.def_line <= hit.span.end_line


def pointed_at(hit: SearchHit, defs: list[Definition]) -> Definition | None:
    """The innermost definition holding at least half of the hit's lines."""
    holding = [d for d in defs if _inside(hit, d.start, d.end) >= 0.5]
    return min(holding, key=lambda d: d.end - d.start) if holding else None


def label_ok(hit: SearchHit, defs: list[Definition]) -> bool:
    d = pointed_at(hit, defs)
    return hit.symbol is None if d is None else hit.symbol == d.label


def score(runs: dict[Query, list[SearchHit]], queries: Sequence[Query], root: Path,
          match: Any) -> dict[str, float]:  # fmt: skip
    rr = r1 = r10 = 0.0
    for q in queries:
        for rank, hit in enumerate(runs[q], 1):
            if match(hit, q, root):
                rr += 1 / rank
                r1 += rank == 1
                r10 += 1
                break
    n = max(1, len(queries))
    return {"mrr@10": rr / n, "recall@1": r1 / n, "recall@10": r10 / n}


async def run_queries(
    service: IndexService, queries: Sequence[Query], mode: str
) -> tuple[dict[Query, list[SearchHit]], list[float]]:
    runs: dict[Query, list[SearchHit]] = {}
    latencies = []
    for q in queries:
        started = time.perf_counter()
        runs[q] = await service.search(q.text, k=10, mode=mode)
        latencies.append((time.perf_counter() - started) * 1000)
    return runs, latencies


# ------------------------------------------------------------------------------------------
# An embedding cache (eval only)


class CachedEmbedder:
    """An ``Embedder`` that keeps every vector it computed in SQLite, keyed by text."""

    def __init__(self, inner: Embedder, path: Path) -> None:
        self.inner = inner
        self.name = inner.name
        self.dim = inner.dim
        self.db = sqlite3.connect(path, check_same_thread=False)
        self.db.execute("CREATE TABLE IF NOT EXISTS v (k TEXT PRIMARY KEY, vec BLOB)")
        self.computed = 0

    @property
    def ready(self) -> bool:
        return True

    async def load(self) -> None:
        return None

    def _key(self, text: str) -> str:
        return hashlib.sha1(f"{self.name}\x00{text}".encode()).hexdigest()

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        keys = [self._key(t) for t in texts]
        found: dict[str, list[float]] = {}
        for i in range(0, len(keys), 500):
            part = keys[i : i + 500]
            rows = self.db.execute(
                f"SELECT k, vec FROM v WHERE k IN ({','.join('?' * len(part))})", part
            ).fetchall()
            found.update({k: np.frombuffer(b, dtype=np.float32).tolist() for k, b in rows})
        missing = [(k, t) for k, t in zip(keys, texts, strict=True) if k not in found]
        if missing:
            vectors = await self.inner.embed([t for _, t in dict(missing).items()])
            unique = list(dict(missing))
            for k, vec in zip(unique, vectors, strict=True):
                found[k] = vec
            self.db.executemany(
                "INSERT OR REPLACE INTO v VALUES (?, ?)",
                [(k, np.asarray(found[k], dtype=np.float32).tobytes()) for k in unique],
            )
            self.db.commit()
            self.computed += len(unique)
            self.dim = self.inner.dim or len(vectors[0])
        return [found[k] for k in keys]


# ------------------------------------------------------------------------------------------
# The run


async def run_eval(
    corpus: str = "stdlib",
    files: int = 40,
    queries: int = 600,
    embedding: str = "local",
    sweep: bool = False,
    workdir: Path | None = None,
    seed: int = 7,
) -> dict[str, Any]:
    """Build the corpus and index, then score every mode on both halves; returns the figures."""
    base = workdir or ROOT / ".artifacts" / "search-eval"
    base.mkdir(parents=True, exist_ok=True)
    root = base / f"{corpus}-{files}-{seed}"
    all_queries, definitions = build_corpus(root, corpus, files, seed)
    random.Random(seed).shuffle(all_queries)
    picked = all_queries[:queries]
    settings, _ = resolve_settings(
        {"index": {"cacheDir": str(base / "cache")}, "embedding": {"backend": {"kind": embedding}}}
    )
    embedder: Embedder | None = None
    if embedding == "local":
        embedder = CachedEmbedder(LocalEmbedder(), base / "embeddings.sqlite")
    service = IndexService(settings, embedder=embedder)
    service.searcher.query_cache_size = 100_000
    started = time.perf_counter()
    await service.set_folders([str(root)])
    status = await service.wait_idle()
    chunk_s = time.perf_counter() - started
    status = await service.wait_embedded()
    total_s = time.perf_counter() - started
    halves = {
        "dev": [q for q in picked if q.split == "dev"],
        "held_out": [q for q in picked if q.split == "held_out"],
    }
    out: dict[str, Any] = {
        "corpus": corpus,
        "files": status.files,
        "chunks": status.chunks,
        "embedded": status.embedded,
        "queries": {name: len(qs) for name, qs in halves.items()},
        "index_s": round(chunk_s, 1),
        "index_and_embed_s": round(total_s, 1),
        "texts_embedded": getattr(embedder, "computed", None),
        "modes": {},
    }
    hybrid_runs: dict[Query, list[SearchHit]] = {}
    for mode in MODES:
        runs, latencies = await run_queries(service, picked, mode)
        if mode == "hybrid":
            hybrid_runs = runs
        latencies.sort()
        out["modes"][mode] = {
            name: {
                "strict": score(runs, qs, root, strict_match),
                "old": score(runs, qs, root, old_match),
            }
            for name, qs in halves.items()
        }
        out["modes"][mode]["p50_ms"] = latencies[len(latencies) // 2]
    labelled = [
        label_ok(hit, definitions[Path(hit.path).name])
        for hits in hybrid_runs.values()
        for hit in hits
        if Path(hit.path).name in definitions
    ]
    out["labels_ok"] = sum(labelled) / max(1, len(labelled))
    out["labels_checked"] = len(labelled)
    if sweep:
        out["sweep"] = await tune(service, halves, root)
    await service.aclose()
    return out


async def tune(service: IndexService, halves: dict[str, list[Query]], root: Path) -> dict[str, Any]:
    """Coordinate search over the ranking weights, scored on the dev half only."""
    grid: dict[str, list[float]] = {
        "dense_best": [0.3, 0.5, 0.7, 0.85],
        "symbol_column": [3.0, 5.0, 8.0, 12.0],
        "bm25_weight": [0.1, 0.15, 0.2, 0.3],
        "tiny_penalty": [0.6, 0.8, 1.0],
        "code_penalty": [0.5, 0.7, 0.85],
    }

    async def dev_mrr(fusion: Fusion) -> float:
        service.searcher.fusion = fusion
        runs, _ = await run_queries(service, halves["dev"], "hybrid")
        return score(runs, halves["dev"], root, strict_match)["mrr@10"]

    best = service.searcher.fusion
    best_score = await dev_mrr(best)
    start = (best, best_score)
    for _ in range(2):
        for name, values in grid.items():
            for value in values:
                candidate = dataclasses.replace(best, **{name: value})
                s = await dev_mrr(candidate)
                if s > best_score + 1e-9:
                    best, best_score = candidate, s
    service.searcher.fusion = best
    runs, _ = await run_queries(service, halves["held_out"], "hybrid")
    held = score(runs, halves["held_out"], root, strict_match)
    service.searcher.fusion = start[0]
    return {
        "start_dev": start[1],
        "best": {name: getattr(best, name) for name in grid},
        "best_dev": best_score,
        "best_held_out": held["mrr@10"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--corpus", default="stdlib", choices=["stdlib", "stdlib-packages", "site-packages"]
    )
    parser.add_argument("--files", type=int, default=40, help="modules in the corpus")
    parser.add_argument("--queries", type=int, default=600)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--embedding", default="local", choices=["local", "fake"])
    parser.add_argument("--sweep", action="store_true", help="tune ranking weights on dev")
    parser.add_argument("--workdir", type=Path, default=None, help="corpus, index, vector cache")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    result = asyncio.run(
        run_eval(
            args.corpus,
            args.files,
            args.queries,
            args.embedding,
            args.sweep,
            args.workdir,
            args.seed,
        )  # fmt: skip
    )
    if args.json:
        print(json.dumps(result, indent=2))
        return
    q = result["queries"]
    print(
        f"corpus {result['corpus']}: {result['files']} files, {result['chunks']} chunks, "
        f"{q['dev']} dev + {q['held_out']} held-out queries; indexed in {result['index_s']} s, "
        f"embedded by {result['index_and_embed_s']} s ({result['texts_embedded']} new texts)"
    )
    print("| mode | half | MRR@10 | recall@1 | recall@10 | old MRR@10 | old R@10 | p50 ms |")
    print("|---|---|---|---|---|---|---|---|")
    for mode, halves in result["modes"].items():
        for half in ("dev", "held_out"):
            s, o = halves[half]["strict"], halves[half]["old"]
            print(
                f"| {mode} | {half} | {s['mrr@10']:.3f} | {s['recall@1']:.3f} | "
                f"{s['recall@10']:.3f} | {o['mrr@10']:.3f} | {o['recall@10']:.3f} | "
                f"{halves['p50_ms']:.1f} |"
            )
    print(
        f"hits labelled with the definition they point at (hybrid, top 10): "
        f"{result['labels_ok']:.1%} of {result['labels_checked']}"
    )
    if result.get("sweep"):
        sw = result["sweep"]
        print(
            f"sweep: dev {sw['start_dev']:.3f} -> {sw['best_dev']:.3f}, held-out "
            f"{sw['best_held_out']:.3f} with {sw['best']}"
        )


if __name__ == "__main__":
    main()
