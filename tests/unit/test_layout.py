"""The shape issue 15 gave the tree stays (the layers themselves: import-linter in make lint)."""

from __future__ import annotations

import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "mimi_lsp"
MAX_LINES = 600


def sources() -> list[Path]:
    return [p for p in PACKAGE.rglob("*.py") if "static" not in p.parts]


def test_no_module_over_600_lines() -> None:
    """Big rooms get split by concern."""
    big = {
        str(p.relative_to(PACKAGE)): n
        for p in sources()
        if (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert not big, big


def test_handlers_are_typed() -> None:
    """No feature takes ``server: Any``: mypy checks every handler."""
    untyped = [
        str(p) for p in (PACKAGE / "features").glob("*.py") if "server: Any" in p.read_text()
    ]
    assert not untyped, untyped


def test_no_dict_stashing() -> None:
    """State lives in declared attributes, never in an object's ``__dict__``."""
    stashing = [str(p) for p in sources() if re.search(r"__dict__", p.read_text())]
    assert not stashing, stashing


def test_background_work_goes_through_run_task() -> None:
    """One ``run_task`` (``tasks.py``) starts background jobs; no raw ``create_task`` in the
    server's own layers."""
    raw = [
        str(p.relative_to(PACKAGE))
        for p in sources()
        if p.name != "tasks.py"
        and p.parts[-2] in ("mimi_lsp", "features", "inference", "next_edit", "index")
        and ".create_task(" in p.read_text()
    ]
    assert not raw, raw
