"""Search latency at 10k and 100k chunks, indexing throughput, and single-file re-index time.

Corpus: this machine's Python standard library (copied as often as needed to reach the chunk
count). BM25 runs on the real text; vectors for the stored chunks are random unit vectors, as
many per chunk as the index embeds (embedding 100k chunks with MiniLM on 2 CPU cores would take
hours), but every query is embedded for real with the local MiniLM model, inside the timed
search (the query cache is off), through ONNX Runtime as the server does (``--torch-queries``:
through torch). Prints p50/p95/p99 of each mode per size, how much of exact
BM25's top 10 the pruned BM25 query keeps, indexing files/s and chunks/s without embeddings and
with MiniLM embeddings (on a sample), and the re-index time of one changed file (excluding
embedding and the WAL checkpoint the service runs once its queue drains, timed separately; the
first, cold re-index is reported apart; also a line added at the top and every line changed).
Writes a latency histogram to .artifacts/bench/search_latency.png. The machine's load average
is printed next to the figures: other processes skew them.

    .venv/bin/python benchmarks/search_latency.py                    # 10k and 100k chunks
    .venv/bin/python benchmarks/search_latency.py --quick            # 5k chunks, 30 queries
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.search_eval import blank_docstrings, first_sentence  # noqa: E402
from mimi_lsp.index.indexer import FolderIndex  # noqa: E402
from mimi_lsp.index.service import IndexService  # noqa: E402
from mimi_lsp.index.text import embed_texts, fts_query  # noqa: E402
from mimi_lsp.inference.local import LocalEmbedder  # noqa: E402
from mimi_lsp.settings import resolve_settings  # noqa: E402

STDLIB = Path(sysconfig.get_paths()["stdlib"])
SKIP_DIRS = {
    "test",
    "tests",
    "idlelib",
    "site-packages",
    "lib2to3",
    "__pycache__",
    "turtledemo",
    "ensurepip",
}


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def stdlib_files() -> list[Path]:
    out = []
    for path in sorted(STDLIB.rglob("*.py")):
        rel = path.relative_to(STDLIB)
        if any(part in SKIP_DIRS for part in rel.parts) or path.stat().st_size > 400_000:
            continue
        out.append(path)
    return out


def queries_from(files: list[Path], n: int) -> list[str]:
    out: list[str] = []
    for path in files:
        try:
            _, found = blank_docstrings(path.read_text(encoding="utf-8"))
        except Exception:
            continue
        for _, _, doc in found:
            sentence = first_sentence(doc)
            if len(sentence.split()) >= 4:
                out.append(sentence)
        if len(out) >= n:
            break
    return out[:n]


def build_corpus(dest: Path, files: list[Path], copies: int) -> None:
    for c in range(copies):
        for path in files:
            target = dest / f"copy{c}" / path.relative_to(STDLIB)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)


def fill_random_vectors(folder: FolderIndex, dim: int = 384, seed: int = 1) -> None:
    """Random unit vectors for every chunk content, as many as the texts it is embedded as."""
    rng = np.random.default_rng(seed)
    folder.store.set_embedder("local:all-MiniLM-L6-v2")
    rows = folder.store.writer.execute(
        "SELECT c.hash, f.path, c.text, c.symbol, c.kind, c.container, c.signature"
        " FROM chunks c JOIN files f ON f.id = c.file_id GROUP BY c.hash"
    ).fetchall()
    for i in range(0, len(rows), 5_000):
        items = []
        for h, *chunk in rows[i : i + 5_000]:
            vecs = rng.standard_normal((len(embed_texts(*chunk)), dim)).astype(np.float32)
            vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
            items.append((h, vecs))
        folder.store.add_vectors(items)


def bm25_overlap(folder: FolderIndex, queries: list[str]) -> float:
    """Share of exact (unpruned OR) BM25's top 10 that the pruned query also returns."""
    kept = total = 0
    for q in queries:
        exact = fts_query(q)
        if exact is None:
            continue
        match = folder.store.fts_match(q) or exact
        want = {cid for cid, _ in folder.store.bm25(exact, 10)}
        got = {cid for cid, _ in folder.store.bm25(match, 10)}
        kept += len(want & got)
        total += len(want)
    return kept / max(1, total)


async def measure_size(target: int, base: Path, files: list[Path], per_copy: int, queries: list[str],
                       embedder: LocalEmbedder) -> dict[str, object]:  # fmt: skip
    copies = max(1, -(-target // per_copy))
    root = base / f"corpus-{target}"
    if target < per_copy:  # a slice of the stdlib is enough
        files = files[: max(1, len(files) * target // per_copy)]
    build_corpus(root, files, copies)
    settings, _ = resolve_settings(
        {"index": {"cacheDir": str(base / f"cache-{target}"), "embeddings": False}}
    )
    folder = FolderIndex(str(root), settings.index)
    folder.open()
    started = time.perf_counter()
    result = folder.scan()
    scan_s = time.perf_counter() - started
    chunks = folder.store.writer.execute("SELECT count(*) FROM chunks").fetchone()[0]
    fill_random_vectors(folder)
    overlap = bm25_overlap(folder, queries)
    # One changed file, re-indexed (chunking + FTS + symbols, no embedding).
    victim = next(p for p in sorted(root.rglob("*.py")) if 20_000 < p.stat().st_size < 60_000)
    rel = victim.relative_to(root).as_posix()
    original = victim.read_text(encoding="utf-8")
    reindex_ms = []
    for i in range(41):
        victim.write_text(
            original + f"\n\ndef added_function_{i}(x):\n    return x + {i}\n", encoding="utf-8"
        )
        t = time.perf_counter()
        folder.update([rel])
        reindex_ms.append((time.perf_counter() - t) * 1000)
    # The first one runs on the writer's cold page cache right after the bulk writes: reported
    # apart, like the search warm-up below.
    cold_ms, reindex_ms = reindex_ms[0], reindex_ms[1:]
    # Harder edits: a line added at the top (every chunk moves), every line changed (every
    # chunk's rows rewritten, as after a reformat or a branch switch).
    lines = original.splitlines(keepends=True)
    edits = {
        "top": lambda i: f"# edit {i}\n" * (i % 2 + 1) + original,
        "all": lambda i: "".join(f"{line.rstrip()}  # {i}\n" for line in lines),
    }
    harder: dict[str, list[float]] = {}
    for name, edit in edits.items():
        harder[name] = []
        for i in range(21):
            victim.write_text(edit(i), encoding="utf-8")
            t = time.perf_counter()
            folder.update([rel])
            harder[name].append((time.perf_counter() - t) * 1000)
    # The WAL checkpoint the service runs once its queue drains (not part of a re-index).
    t = time.perf_counter()
    folder.store.checkpoint()
    checkpoint_ms = (time.perf_counter() - t) * 1000
    folder.close()

    s2, _ = resolve_settings({"index": {"cacheDir": str(base / f"cache-{target}")}})
    service = IndexService(s2, embedder=embedder)
    service.searcher.query_cache_size = 0
    await service.set_folders([str(root)])
    await service.wait_idle()
    for q in queries[:5]:  # warm-up (SQLite page cache, model)
        await service.search(q, mode="hybrid")
    lat: dict[str, list[float]] = {"hybrid": [], "bm25": [], "vector": []}
    for mode in lat:
        for q in queries:
            t = time.perf_counter()
            await service.search(q, k=10, mode=mode)
            lat[mode].append((time.perf_counter() - t) * 1000)
    await service.aclose()
    shutil.rmtree(root, ignore_errors=True)
    return {
        "target": target,
        "chunks": chunks,
        "files": result.files,
        "scan_s": scan_s,
        "files_per_s": result.files / scan_s,
        "chunks_per_s": chunks / scan_s,
        "reindex_ms": reindex_ms,
        "reindex_harder": (
            f"re-index of {rel} ({len(lines)} lines) after a line added at the top:"
            f" p50 {statistics.median(harder['top']):.1f} ms, p95 {pct(harder['top'], 95):.1f} ms;"
            f" after every line changed: p50 {statistics.median(harder['all']):.1f} ms,"
            f" p95 {pct(harder['all'], 95):.1f} ms"
        ),
        "checkpoint_ms": checkpoint_ms,
        "cold_ms": cold_ms,
        "latency": lat,
        "overlap": overlap,
        "load": os.getloadavg()[0],
    }


async def embedding_throughput(
    files: list[Path], embedder: LocalEmbedder, sample: int
) -> tuple[float, int]:
    from mimi_lsp.index.chunker import chunk_file

    chunks: list[list[str]] = []
    for path in files:
        for c in chunk_file(path.read_text(encoding="utf-8"), "python").chunks:
            chunks.append(
                embed_texts(path.name, c.text, c.symbol, c.kind, c.container, c.signature)
            )
        if len(chunks) >= sample:
            break
    chunks = chunks[:sample]
    await embedder.embed(chunks[0][:1])
    t = time.perf_counter()
    for i in range(0, len(chunks), 32):
        await embedder.embed([text for texts in chunks[i : i + 32] for text in texts])
    return len(chunks) / (time.perf_counter() - t), len(chunks)


def plot(results: list[dict[str, object]]) -> None:
    """Histogram of hybrid latencies per size, with the budget line."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        out = Path(__file__).resolve().parents[1] / ".artifacts" / "bench"
        out.mkdir(parents=True, exist_ok=True)
        fig, ax = plt.subplots(figsize=(7, 4))
        for r in results:
            ax.hist(
                r["latency"]["hybrid"], bins=40, alpha=0.6, label=f"hybrid, {r['chunks']} chunks"
            )  # type: ignore[index]
        ax.axvline(50, color="red", linestyle="--", label="budget p95 50 ms")
        ax.set_xlabel("search latency incl. query embedding (ms)")
        ax.set_ylabel("queries")
        ax.legend()
        fig.tight_layout()
        fig.savefig(out / "search_latency.png", dpi=100)
        print(f"plot: {out / 'search_latency.png'}")
    except Exception as exc:  # plotting is optional
        print(f"(no plot: {exc})")


async def main_async(args: argparse.Namespace) -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    files = stdlib_files()
    base = Path(tempfile.mkdtemp(prefix="mimi-latency-"))
    # Chunks per copy of the stdlib.
    from mimi_lsp.index.chunker import chunk_file

    per_copy = sum(
        len(chunk_file(p.read_text(encoding="utf-8", errors="replace"), "python").chunks)
        for p in files
    )
    queries = queries_from(files, args.queries)
    embedder = LocalEmbedder(onnx_queries=not args.torch_queries)
    await embedder.load()
    await asyncio.to_thread(embedder.query_ready.wait, 600)  # the ONNX export, first run only
    t = time.perf_counter()
    for q in queries[:50]:
        await embedder.embed([q])
    query_embed_ms = (time.perf_counter() - t) * 1000 / min(50, len(queries))
    results = []
    for size in args.sizes:
        print(f"building {size} chunks...", file=sys.stderr, flush=True)
        results.append(await measure_size(size, base, files, per_copy, queries, embedder))
    emb_rate, emb_n = await embedding_throughput(files, embedder, args.embed_sample)
    shutil.rmtree(base, ignore_errors=True)

    print(f"stdlib: {len(files)} files, {per_copy} chunks per copy; {len(queries)} queries")
    print(
        "load average (1 min) when each size was measured: "
        + ", ".join(f"{r['chunks']} chunks {r['load']:.1f}" for r in results)
    )  # type: ignore[str-format]
    print(f"query embedding (MiniLM, CPU, {embedder.query_runtime}): {query_embed_ms:.1f} ms mean")
    print(f"{'chunks':>8} {'mode':>7} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7}")
    for r in results:
        for mode, values in r["latency"].items():  # type: ignore[union-attr]
            print(
                f"{r['chunks']:>8} {mode:>7} {pct(values, 50):7.1f} {pct(values, 95):7.1f} {pct(values, 99):7.1f}"
            )
    for r in results:
        print(f"{r['chunks']:>8} pruned BM25 keeps {r['overlap']:.0%} of exact BM25's top 10")
    for r in results:
        re_ms = r["reindex_ms"]
        print(
            f"indexing {r['chunks']} chunks without embeddings: {r['files']} files in {r['scan_s']:.1f} s "
            f"= {r['files_per_s']:.0f} files/s, {r['chunks_per_s']:.0f} chunks/s; "
            f"re-index of one changed file: p50 {statistics.median(re_ms):.1f} ms, p95 {pct(re_ms, 95):.1f} ms "
            f"(first, cold: {r['cold_ms']:.1f} ms; then a WAL checkpoint when idle: "
            f"{r['checkpoint_ms']:.1f} ms after {len(re_ms) + 1} re-indexes)"
        )  # type: ignore[arg-type]
        print(f"{r['chunks']:>8} {r['reindex_harder']}")
    print(f"embedding with MiniLM on CPU: {emb_rate:.1f} chunks/s ({emb_n} chunks, batches of 32)")
    plot(results)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--sizes", type=lambda s: [int(x) for x in s.split(",")], default=[10_000, 100_000]
    )
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--embed-sample", type=int, default=256)
    parser.add_argument(
        "--quick", action="store_true", help="CI size: 5k chunks, 30 queries, 64 embeddings"
    )
    parser.add_argument(
        "--torch-queries", action="store_true", help="embed queries with torch, not ONNX Runtime"
    )
    args = parser.parse_args()
    if args.quick:
        args.sizes, args.queries, args.embed_sample = [5_000], 30, 64
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
