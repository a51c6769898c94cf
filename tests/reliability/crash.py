"""Crash-safety helpers: a generated repository, kill -9 of real indexing processes, and a
consistency check of the SQLite index (integrity, FTS and vectors agreeing with chunks, every
file's chunks exactly what the chunker produces). Used by ``test_crash_safety.py`` and
``benchmarks/reliability.py``.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mimi_lsp.index.cache_dir import db_path_for
from mimi_lsp.index.chunker import chunk_file
from mimi_lsp.index.database import connect
from mimi_lsp.index.ignore import decode
from mimi_lsp.languages import language_for_path

ROOT = Path(__file__).resolve().parents[2]


def make_repo(root: Path, packages: int = 8, modules: int = 25, functions: int = 10) -> Path:
    """``packages * modules`` Python files of ``functions`` functions each."""
    for d in range(packages):
        pkg = root / f"pkg{d}"
        pkg.mkdir(parents=True, exist_ok=True)
        for f in range(modules):
            body = "".join(
                f"def func_{d}_{f}_{n}(alpha, beta):\n"
                f'    """Compute quantity {n} of module {f}."""\n'
                f"    total = alpha * {n} + beta\n"
                f"    for i in range({n}):\n"
                f"        total += i * {d}\n"
                "    return total\n\n\n"
                for n in range(functions)
            )
            (pkg / f"mod{f}.py").write_text(body)
    return root


def expected_chunks(root: Path) -> dict[str, list[str]]:
    """folder-relative path -> the chunk texts the chunker makes of it."""
    out: dict[str, list[str]] = {}
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        out[rel] = [
            c.text for c in chunk_file(decode(path.read_bytes()), language_for_path(rel)).chunks
        ]
    return out


@dataclass
class IndexState:
    """What a database holds after a crash (and whether it was consistent)."""

    files: set[str] = field(default_factory=set)
    """Paths whose chunks are present."""
    chunks: int = 0
    hashes: int = 0
    """Distinct chunk contents (each needs one vector)."""
    vectors: int = 0
    problems: list[str] = field(default_factory=list)


def check_index(db: Path, expected: dict[str, list[str]]) -> IndexState:
    """Open a database left by a killed process and check every invariant."""
    state = IndexState()
    if not db.exists():
        return state
    try:
        conn = connect(str(db))
    except Exception as exc:
        state.problems.append(f"open: {exc}")
        return state
    try:
        _check(conn, state, expected)
    except Exception as exc:
        state.problems.append(f"{type(exc).__name__}: {exc}")
    finally:
        conn.close()
    return state


def _check(conn: Any, state: IndexState, expected: dict[str, list[str]]) -> None:
    bad = state.problems
    integrity = conn.execute("PRAGMA integrity_check").fetchall()
    if integrity != [("ok",)]:
        bad.append(f"integrity_check: {integrity[:3]}")
        return
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if "chunks" not in tables:
        return  # killed before the schema was written: nothing committed yet
    try:
        conn.execute("INSERT INTO chunks_fts(chunks_fts) VALUES('integrity-check')")
    except Exception as exc:
        bad.append(f"fts integrity-check: {exc}")
    files = dict(conn.execute("SELECT id, path FROM files WHERE skipped IS NULL"))
    chunk_rows = conn.execute(
        "SELECT id, file_id, hash, text FROM chunks ORDER BY file_id, start_line, id"
    ).fetchall()
    fts = {r[0] for r in conn.execute("SELECT rowid FROM chunks_fts")}
    ids = {r[0] for r in chunk_rows}
    if fts != ids:
        bad.append(f"fts rows {len(fts)} != chunks {len(ids)}")
    orphans = [r for r in chunk_rows if r[1] not in files]
    if orphans:
        bad.append(f"{len(orphans)} chunks without a file")
    symbol_files = {r[0] for r in conn.execute("SELECT DISTINCT file_id FROM symbols")}
    if not symbol_files <= set(files):
        bad.append("symbols without a file")
    vectors = {r[0] for r in conn.execute("SELECT hash FROM vectors")}
    if "vec_bits" in tables:
        bits = {r[0] for r in conn.execute("SELECT rowid FROM vec_bits")}
        want = {r[0] for r in chunk_rows if r[2] in vectors}
        if bits != want:
            bad.append(f"vec_bits {len(bits)} rows != chunks with a vector {len(want)}")
    by_file: dict[int, list[str]] = {}
    for _, file_id, _, text in chunk_rows:
        by_file.setdefault(file_id, []).append(text)
    for file_id, path in files.items():
        got = by_file.get(file_id, [])
        if got != expected.get(path):
            bad.append(f"{path}: {len(got)} chunks, expected {len(expected.get(path) or [])}")
        else:
            state.files.add(path)
    state.chunks = len(chunk_rows)
    state.hashes = len({r[2] for r in chunk_rows})
    state.vectors = len({r[2] for r in chunk_rows} & vectors)


def index_command(repo: Path, cache: Path) -> list[str]:
    return [
        sys.executable, "-m", "mimi_lsp", "index", str(repo),
        "--cache-dir", str(cache), "--embeddings", "fake", "--quiet",
    ]  # fmt: skip


@dataclass
class CrashReport:
    kills: int = 0
    runs: int = 0
    checks: int = 0
    lost: int = 0
    """Files or vectors present after one kill and missing after a later one."""
    corrupt: int = 0
    """Checks that found an inconsistency."""
    completed_rounds: int = 0
    problems: list[str] = field(default_factory=list)


def kill_index_repeatedly(
    repo: Path, work: Path, kills: int, *, seed: int = 9, max_delay_s: float = 3.5
) -> CrashReport:
    """Run ``mimi-lsp index`` and SIGKILL it at random moments until ``kills`` kills; after
    each kill check the database and compare with what the previous kill left."""
    rng = random.Random(seed)
    expected = expected_chunks(repo)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    report = CrashReport()
    round_no = 0
    cache = work / f"cache-{round_no}"
    db = Path(db_path_for(str(repo), str(cache)))
    previous = IndexState()
    while report.kills < kills:
        proc = subprocess.Popen(
            index_command(repo, cache),
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        report.runs += 1
        time.sleep(rng.uniform(0.2, max_delay_s))
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        code = proc.wait()
        state = check_index(db, expected)
        report.checks += 1
        if state.problems:
            report.corrupt += 1
            report.problems += [f"kill {report.kills}: {p}" for p in state.problems]
        lost_files = previous.files - state.files
        if lost_files or state.vectors < previous.vectors:
            report.lost += len(lost_files) + max(0, previous.vectors - state.vectors)
            report.problems.append(
                f"kill {report.kills}: lost {sorted(lost_files)[:3]} / vectors {previous.vectors}->{state.vectors}"
            )
        previous = state
        if code == -signal.SIGKILL:
            report.kills += 1
        elif code == 0:
            # Finished before the kill: it must be complete; start a fresh round.
            if state.files != set(expected) or state.vectors != state.hashes:
                report.problems.append(
                    f"round {round_no} finished incomplete: {len(state.files)} files, "
                    f"{state.vectors}/{state.hashes} vectors"
                )
            report.completed_rounds += 1
            round_no += 1
            cache = work / f"cache-{round_no}"
            db = Path(db_path_for(str(repo), str(cache)))
            previous = IndexState()
        else:
            report.problems.append(f"index exited with {code}")
    # Finish the last round: the survivor must complete the index with nothing missing.
    final = subprocess.run(index_command(repo, cache), env=env, capture_output=True, text=True)
    state = check_index(db, expected)
    report.checks += 1
    if (
        final.returncode != 0
        or state.problems
        or state.files != set(expected)
        or state.vectors != state.hashes
    ):
        report.corrupt += 1
        report.problems.append(
            f"final: exit {final.returncode}, {len(state.files)}/{len(expected)} files, {state.problems[:3]}"
        )
    return report


def _frame(obj: dict[str, object]) -> bytes:
    import json

    body = json.dumps(obj).encode()
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


def kill_server_repeatedly(
    repo: Path,
    work: Path,
    kills: int,
    *,
    seed: int = 11,
    min_delay_s: float = 1.0,
    max_delay_s: float = 5.0,
) -> CrashReport:
    """Start the real language server on ``repo`` (index on, fake embeddings) and SIGKILL it
    at random moments; check the database after each kill, then let ``mimi-lsp index`` finish."""
    rng = random.Random(seed)
    expected = expected_chunks(repo)
    cache = work / "server-cache"
    db = Path(db_path_for(str(repo), str(cache)))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    options = {
        "index": {"enabled": True, "cacheDir": str(cache)},
        "embedding": {"backend": {"kind": "fake"}},
        "completion": {"backend": {"kind": "fake"}},
    }
    report = CrashReport()
    previous = IndexState()
    while report.kills < kills:
        proc = subprocess.Popen(
            [sys.executable, "-m", "mimi_lsp", "--stdio", "--log-level", "error"],
            env=env, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        assert proc.stdin is not None
        proc.stdin.write(_frame({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "processId": os.getpid(), "rootUri": repo.as_uri(), "capabilities": {},
            "initializationOptions": options,
        }}))  # fmt: skip
        proc.stdin.write(_frame({"jsonrpc": "2.0", "method": "initialized", "params": {}}))
        proc.stdin.flush()
        report.runs += 1
        time.sleep(rng.uniform(min_delay_s, max_delay_s))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stdin.close()
        report.kills += 1
        state = check_index(db, expected)
        report.checks += 1
        if state.problems:
            report.corrupt += 1
            report.problems += [f"server kill {report.kills}: {p}" for p in state.problems]
        lost = previous.files - state.files
        if lost or state.vectors < previous.vectors:
            report.lost += len(lost) + max(0, previous.vectors - state.vectors)
            report.problems.append(f"server kill {report.kills}: lost {sorted(lost)[:3]}")
        previous = state
    final = subprocess.run(index_command(repo, cache), env=env, capture_output=True, text=True)
    state = check_index(db, expected)
    report.checks += 1
    if (
        final.returncode != 0
        or state.problems
        or state.files != set(expected)
        or state.vectors != state.hashes
    ):
        report.corrupt += 1
        report.problems.append(
            f"final: exit {final.returncode}, {len(state.files)}/{len(expected)} files"
        )
    return report


def damage(db: Path, how: str) -> None:
    """Damage a (closed) database file the way disks and tools do."""
    data = bytearray(db.read_bytes())
    if how == "pages":
        pages = len(data) // 4096
        for page in (pages // 3, pages // 2, 2 * pages // 3):
            data[page * 4096 : page * 4096 + 4096] = b"\xa5" * 4096
    elif how == "header":
        data[:100] = os.urandom(100)
    elif how == "truncated":
        del data[len(data) // 2 :]
    elif how == "zeroed":
        data[:] = bytes(len(data))
    else:
        raise ValueError(how)
    db.write_bytes(bytes(data))
