"""Next-edit suggestions in the web IDE, in a real browser (Debian Chromium, playwright-core)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from tests.lsp_harness import ROOT
from tests.web.conftest import start_web
from tests.web.test_monaco_page import need_browser

WEB_DIR = ROOT / "editors" / "monaco-web"
SCREENSHOTS = ROOT / ".artifacts" / "screenshots" / "web-next-edit"
SOURCE = """def total(items, rate):
    result = 0
    for item in items:
        result += item.price * rate
    return result * rate
"""


def test_next_edit_is_shown_jumped_to_and_accepted(tmp_path: Path) -> None:
    """Rename a parameter: the next use is drawn, Tab jumps there, Tab applies, the next follows."""
    need_browser()
    folder = tmp_path / "proj"
    folder.mkdir()
    (folder / "pricing.py").write_text(SOURCE)
    settings = {
        "completion": {"backend": {"kind": "fake", "replies": [""]}, "debounceMs": 0},
        "index": {"enabled": False},
    }
    with start_web(folder, settings) as server:
        config = {
            "url": server.url,
            "chromium": shutil.which("chromium") or shutil.which("chromium-browser"),
            "screenshots": str(SCREENSHOTS),
            "file": "pricing.py",
        }
        proc = subprocess.run(
            ["node", str(WEB_DIR / "tests" / "next_edit.mjs")],
            env={**os.environ, "MIMI_E2E": json.dumps(config)},
            capture_output=True,
            text=True,
            timeout=180,
            cwd=str(WEB_DIR),
        )
    results = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert results, f"no result from the browser script:\n{proc.stderr[-3000:]}"
    assert results[-1]["ok"], results[-1].get("error", "") + "\n" + "".join(server.output)[-3000:]
