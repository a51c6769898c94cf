"""Reliability figures in one table: fuzzing, faults, crashes, lost index entries, load, soak.

Runs (or, with ``--quick``, reuses what the test suite just measured) each part:

- fuzzing: ``tests/e2e/test_fuzz_protocol.py`` (every LSP request, command and notification of
  the real server) and ``tests/reliability/test_fuzz_surfaces.py`` (web file endpoints, MCP
  tools) with ``MIMI_FUZZ_CASES`` cases per test; crashes are server processes that died;
- faults: ``tests/reliability/test_faults.py`` (every stand-in failure mode, ghost text and
  chat, Ollama and OpenAI) and ``test_triton_faults.py`` (Triton killed mid-batch);
- crash safety: ``mimi-lsp index`` and the language server killed with SIGKILL at random
  moments (``tests/reliability/crash.py``), the database checked after every kill;
- load: ``benchmarks/load_web.py`` (tabs typing at once through one ``mimi-lsp web``, then a
  soak), for sessions held and memory growth;
- attack pass (issue 20, ``tests/reliability/hardening.py``): broken stdio frames each followed
  by a request that must be answered, hostile web requests (link loop, FIFOs, huge paths, bad
  credentials, Host and redirect tricks) then SIGTERM, and 2 MB buffers opened then closed in an
  indexed workspace (RSS at start, peak, after closing).

    python benchmarks/reliability.py           # full: 1000 fuzz cases, 60 kills, 50 tabs, 10-min soak
    python benchmarks/reliability.py --quick   # CI: reuse the test run's figures, small load
    python benchmarks/load_web.py && python benchmarks/reliability.py --reuse-load
                                               # full, with the load measured on its own

Crashes, hangs, 5xx answers and lost or corrupt index entries must be 0; the exit code is 1
otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.reliability.crash import kill_index_repeatedly, kill_server_repeatedly, make_repo  # noqa: E402
from tests.reliability.hardening import attack_pass  # noqa: E402

ART = ROOT / ".artifacts" / "reliability"
FRESH_S = 3 * 3600


def fresh(name: str) -> dict[str, Any] | None:
    """An artifact the test suite wrote recently (None when missing or old)."""
    path = ART / name
    if not path.exists() or time.time() - path.stat().st_mtime > FRESH_S:
        return None
    return json.loads(path.read_text())


def pytest(paths: list[str], env: dict[str, str] | None = None) -> bool:
    """Run tests quietly; True when they passed."""
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "ignore", *paths]
    proc = subprocess.run(
        cmd, cwd=ROOT, env={**os.environ, **(env or {})}, capture_output=True, text=True
    )
    tail = proc.stdout.strip().splitlines()[-1:] if proc.stdout.strip() else ["(no output)"]
    print(f"  pytest {' '.join(Path(p).name for p in paths)}: {tail[0]}", flush=True)
    return proc.returncode == 0


def fuzzing(cases: int, reuse: bool) -> dict[str, Any]:
    lsp, surfaces = (fresh("fuzz.json"), fresh("fuzz_surfaces.json")) if reuse else (None, None)
    passed = True
    if lsp is None or surfaces is None:
        for name in ("fuzz.json", "fuzz_surfaces.json"):
            (ART / name).unlink(missing_ok=True)
        passed = pytest(
            ["tests/e2e/test_fuzz_protocol.py", "tests/reliability/test_fuzz_surfaces.py"],
            {"MIMI_FUZZ_CASES": str(cases)},
        )
        lsp, surfaces = fresh("fuzz.json") or {}, fresh("fuzz_surfaces.json") or {}
    return {
        "lsp_cases": int(lsp.get("fuzz_cases", 0)),
        "web_cases": int(surfaces.get("web_cases", 0)),
        "mcp_cases": int(surfaces.get("mcp_cases", 0)),
        "crashes": int(lsp.get("crashes", 0))
        + int(surfaces.get("crashes", 0))
        + (0 if passed else 1),
        "passed": passed,
    }


def faults(reuse: bool) -> dict[str, Any]:
    data = fresh("faults.json") if reuse else None
    passed = True
    if data is None or "triton" not in data:
        (ART / "faults.json").unlink(missing_ok=True)
        passed = pytest(
            ["tests/reliability/test_faults.py", "tests/reliability/test_triton_faults.py"]
        )
        data = fresh("faults.json") or {}
    return {**data, "passed": passed}


def crashes(kills: int, server_kills: int, reuse: bool) -> dict[str, Any]:
    data = fresh("crash.json") if reuse else None
    if data is not None and "cli" in data and "server" in data:
        cli, server = data["cli"], data["server"]
    else:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            repo = make_repo(work / "repo")
            cli = asdict(kill_index_repeatedly(repo, work / "cli", kills))
            server = asdict(
                kill_server_repeatedly(
                    make_repo(work / "repo2", packages=6), work / "srv", server_kills
                )
            )
    return {
        "cli_kills": cli["kills"],
        "server_kills": server["kills"],
        "checks": cli["checks"] + server["checks"],
        "corrupt": cli["corrupt"] + server["corrupt"],
        "lost": cli["lost"] + server["lost"],
        "problems": (cli["problems"] + server["problems"])[:5],
    }


def load(quick: bool, extra: list[str], reuse: bool = False) -> dict[str, Any]:
    if reuse and (data := fresh("load.json")) is not None:
        print("  load_web.py: reusing .artifacts/reliability/load.json", flush=True)
        return data
    (ART / "load.json").unlink(missing_ok=True)
    cmd = [
        sys.executable,
        str(ROOT / "benchmarks" / "load_web.py"),
        *(["--quick"] if quick else []),
        *extra,
    ]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    print(f"  load_web.py {' '.join(cmd[2:])}: exit {proc.returncode}", flush=True)
    data = fresh("load.json") or {"load": {}, "soak": {}}
    return data


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="CI: reuse the test run's figures, small load"
    )
    parser.add_argument("--fuzz-cases", type=int, default=None)
    parser.add_argument("--kills", type=int, default=None)
    parser.add_argument("--load-args", default="", help="extra arguments for load_web.py")
    parser.add_argument(
        "--reuse-load",
        action="store_true",
        help="take load and soak from a load_web.py run of the last 3 hours",
    )
    args = parser.parse_args()
    cases = args.fuzz_cases or (100 if args.quick else 1000)
    kills = args.kills or (12 if args.quick else 60)
    started = time.monotonic()
    print("Reliability: running the parts", flush=True)
    fz = fuzzing(cases, reuse=args.quick)
    ft = faults(reuse=args.quick)
    cr = crashes(kills, max(2, kills // 5), reuse=args.quick)
    ld = load(args.quick, args.load_args.split(), reuse=args.reuse_load)
    with tempfile.TemporaryDirectory() as tmp:
        print("  attack pass (tests/reliability/hardening.py)", flush=True)
        ap = asyncio.run(attack_pass(Path(tmp), args.quick))
    st, wb, mem = ap["stdio"], ap["web"], ap["memory"]
    lo, so = ld.get("load", {}), ld.get("soak", {})

    total_fuzz = fz["lsp_cases"] + fz["web_cases"] + fz["mcp_cases"]
    crashed = fz["crashes"] + st["crashes"] + wb["crashes"]
    hung = st["hangs"] + wb["hangs"] + wb["errors_5xx"]
    bad_index = cr["corrupt"] + cr["lost"]
    print(
        f"\nReliability figures ({'quick' if args.quick else 'full'} run, {time.monotonic() - started:.0f} s)"
    )
    rows = [
        ("fuzz cases run", f"{total_fuzz}  (LSP requests/commands/notifications {fz['lsp_cases']}, "
                           f"web file endpoints {fz['web_cases']}, MCP tools {fz['mcp_cases']})"),
        ("crashes (must be 0)", f"{crashed}"),
        ("faults injected", f"{ft.get('faults_injected', 0)}  (ollama {ft.get('ollama', 0)}, openai "
                            f"{ft.get('openai', 0)}, triton mid-batch {ft.get('triton', 0)}); "
                            f"all answered in time and recovered: {'yes' if ft['passed'] else 'NO'}"),
        ("kill -9 during indexing", f"{cr['cli_kills']} of `mimi-lsp index`, {cr['server_kills']} of the server; "
                                    f"{cr['checks']} database checks"),
        ("lost or corrupt index entries (must be 0)", f"{bad_index}  (lost {cr['lost']}, corrupt states {cr['corrupt']})"),
        ("attack pass: stdio frames", f"{st['cases']} broken frames (lying, huge, negative, missing lengths, garbage), "
                                      f"each followed by a request: {st['crashes']} crashes, {st['hangs']} hangs"),
        ("attack pass: web requests", f"{wb['cases']} (link loop, FIFOs, 5,000-char paths, non-UTF-8 credentials, "
                                      f"Host/redirect tricks): {wb['errors_5xx']} 5xx, {wb['hangs']} hangs, "
                                      f"{wb['crashes']} crashes; SIGTERM stopped it in {wb['stop_s']} s"),
        ("hangs and 5xx (must be 0)", f"{hung}"),
        (f"{mem['buffers']} x {mem['mb_each']} MB buffers, indexed workspace",
         f"RSS {mem['start_mb']} -> peak {mem['peak_mb']} MB -> {mem['after_close_mb']} MB "
         f"{mem['settle_s']:g} s after closing them; workspace/symbol {mem['symbol_ms']} ms"),
        ("sessions held", f"{lo.get('held', 0)}/{lo.get('sessions', 0)} tabs typing at once "
                          f"({lo.get('keys', 0)} keys, {lo.get('errors', 0)} errors, ghost text at a pause "
                          f"p50 {lo.get('ghost_p50_ms', 0)} ms / p95 {lo.get('ghost_p95_ms', 0)} ms)"),
        ("peak memory under load", f"{lo.get('peak_rss_mb', 0)} MB for {lo.get('processes', 0)} processes "
                                   f"({lo.get('rss_per_session_mb', 0)} MB per tab)"),
    ]  # fmt: skip
    if so:
        rows += [
            ("soak", f"{so.get('minutes')} min: {so.get('long_held')}/{so.get('long_sessions')} long tabs held, "
                     f"{so.get('churn_held')}/{so.get('churn_sessions')} reconnecting tabs held, {so.get('errors')} errors"),
            ("RSS growth over the soak", f"{so.get('tree_rss_growth_pct')} % (bridge + long-lived servers "
                                         f"{so.get('tree_rss_first_mb')} -> {so.get('tree_rss_last_mb')} MB; "
                                         f"bridge alone {so.get('bridge_rss_growth_pct')} %); budget < 10 %"),
        ]  # fmt: skip
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"  {key:<{width}}  {value}")
    for problem in cr["problems"]:
        print(f"  ! {problem}")
    summary = {"fuzz": fz, "faults": ft, "crash": cr, "load": lo, "soak": so, "attack": ap}
    (ART / "summary.json").write_text(json.dumps(summary, indent=2))
    return 1 if crashed or hung or bad_index else 0


if __name__ == "__main__":
    sys.exit(main())
