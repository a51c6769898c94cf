"""The VS Code extension in real VS Code: code-server 4.100.3 in Debian Chromium (playwright-core).

Runs ``npm run test:browser`` in editors/vscode: the packaged .vsix is installed into
code-server, and the test drives the page (ghost text and Tab, the chat view, the search
picker). Screenshots go to .artifacts/screenshots/vscode/ and their paths are printed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.editors.test_vscode import EXT, ROOT, VSIX, require

CODE_SERVER = ROOT / ".artifacts" / "code-server" / "node_modules" / ".bin" / "code-server"


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_code_server_end_to_end(capsys: pytest.CaptureFixture[str]) -> None:
    """Ghost text appears and Tab accepts it; chat streams; the search picker opens a file."""
    require(shutil.which("node") is not None, "node is not installed")
    require(CODE_SERVER.exists(), f"code-server is not installed at {CODE_SERVER}")
    require(
        any(shutil.which(n) for n in ("chromium", "chromium-browser")), "chromium is not installed"
    )
    require(VSIX.is_file(), f"{VSIX} is missing")
    proc = subprocess.run(
        ["npm", "run", "--silent", "test:browser"],
        cwd=EXT,
        env={**os.environ, "NO_COLOR": "1"},
        capture_output=True,
        text=True,
        timeout=880,
        check=False,
    )
    output = proc.stdout + proc.stderr
    shots = re.findall(r"screenshot: (\S+\.png)", output)
    with capsys.disabled():
        print("\n[vscode browser tests] screenshots:")
        for shot in shots:
            print(f"  {shot}")
    assert proc.returncode == 0, output[-8000:]
    assert "ℹ fail 0" in output and "ℹ skipped 0" in output, output[-4000:]
    assert all(Path(s).is_file() for s in shots)
