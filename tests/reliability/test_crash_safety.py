"""Crash safety of the index: kill -9 at random moments, many times; damaged files rebuilt.

``mimi-lsp index`` (and the language server itself) is killed with SIGKILL at random points
of indexing and embedding. After every kill the database must pass SQLite's integrity check,
the FTS index and the vector table must agree with the chunks, every indexed file must hold
exactly the chunks the chunker makes of it, and nothing present after one kill may be gone
after a later one. The survivor then completes the index. ``MIMI_CRASH_KILLS`` sets the
number of kills (12 by default; the benchmark runs more). Figures go to
``.artifacts/reliability/crash.json``.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import asdict
from pathlib import Path

import pytest

from mimi_lsp.index.cache_dir import db_path_for
from tests.reliability.crash import (
    ROOT,
    check_index,
    damage,
    expected_chunks,
    index_command,
    kill_index_repeatedly,
    kill_server_repeatedly,
    make_repo,
)

KILLS = int(os.environ.get("MIMI_CRASH_KILLS", "12"))
ARTIFACT = ROOT / ".artifacts" / "reliability" / "crash.json"


def record(name: str, report: object) -> None:
    ARTIFACT.parent.mkdir(parents=True, exist_ok=True)
    data = json.loads(ARTIFACT.read_text()) if ARTIFACT.exists() else {}
    data[name] = asdict(report)  # type: ignore[call-overload]
    ARTIFACT.write_text(json.dumps(data, indent=2))


def test_killed_indexer_never_corrupts_or_loses(tmp_path: Path) -> None:
    """SIGKILL of `mimi-lsp index` at random moments: always consistent, nothing lost."""
    repo = make_repo(tmp_path / "repo")
    report = kill_index_repeatedly(repo, tmp_path, KILLS)
    record("cli", report)
    assert report.kills == KILLS
    assert report.corrupt == 0 and report.lost == 0, report.problems


def test_killed_server_never_corrupts_or_loses(tmp_path: Path) -> None:
    """SIGKILL of the language server while it indexes: the same guarantees."""
    repo = make_repo(tmp_path / "repo", packages=6)
    report = kill_server_repeatedly(repo, tmp_path, max(2, KILLS // 5))
    record("server", report)
    assert report.corrupt == 0 and report.lost == 0, report.problems


@pytest.mark.parametrize("how", ["pages", "header", "truncated", "zeroed"])
def test_damaged_database_is_detected_and_rebuilt(tmp_path: Path, how: str) -> None:
    """A database damaged at rest (after a clean shutdown) is found, kept aside and rebuilt."""
    repo = make_repo(tmp_path / "repo", packages=2)
    cache = tmp_path / "cache"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    subprocess.run(index_command(repo, cache), env=env, check=True, capture_output=True)
    db = Path(db_path_for(str(repo), str(cache)))
    damage(db, how)
    rerun = subprocess.run(index_command(repo, cache), env=env, capture_output=True, text=True)
    state = check_index(db, expected_chunks(repo))
    assert rerun.returncode == 0, rerun.stderr
    assert "damaged" in rerun.stderr and "rebuilt" in rerun.stderr
    assert state.problems == [] and len(state.files) == 50 and state.vectors == state.hashes
    assert list(cache.glob("*.corrupt-*"))
