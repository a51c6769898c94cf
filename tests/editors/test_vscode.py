"""The VS Code extension (editors/vscode): its node tests, settings sync, types and package.

These run the extension's own test command (``npm test``: the BUNDLED extension with a stubbed
``vscode`` module against the real server) so ``make test`` covers it. Outside CI a missing
Node toolchain skips them; in CI it fails with the fix.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXT = ROOT / "editors" / "vscode"
VSIX = EXT / "mimi-lsp.vsix"


def require(condition: bool, what: str) -> None:
    """Skip outside CI, fail in CI, when a tool the tests need is missing."""
    if condition:
        return
    message = f"{what} (run `make setup-vscode`)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="module")
def npm() -> str:
    exe = shutil.which("npm")
    require(exe is not None and shutil.which("node") is not None, "node and npm are not installed")
    require(
        (EXT / "node_modules" / "vscode-languageclient").is_dir(),
        "editors/vscode/node_modules is missing",
    )
    return str(exe)


def run(cmd: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MIMI_LSP": str(ROOT / ".venv" / "bin" / "mimi-lsp"), "NO_COLOR": "1"}
    return subprocess.run(
        cmd, cwd=EXT, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.mark.timeout(600)
def test_node_tests_pass(npm: str, capsys: pytest.CaptureFixture[str]) -> None:
    """`npm test`: the bundled extension under node --test against the real server passes."""
    proc = run([npm, "test", "--silent"], timeout=580)
    output = proc.stdout + proc.stderr
    summary = [line for line in output.splitlines() if line.startswith("ℹ ")]
    with capsys.disabled():
        print(
            "\n[vscode node tests] "
            + " ".join(
                s[2:] for s in summary if s[2:].split()[0] in {"tests", "pass", "fail", "skipped"}
            )
        )
    assert proc.returncode == 0, output[-6000:]
    assert "ℹ fail 0" in output
    assert "ℹ skipped 0" in output, "a VS Code node test was skipped"


@pytest.mark.timeout(120)
def test_settings_ui_matches_server_schema(npm: str) -> None:
    """package.json's contributes.configuration is generated from `mimi-lsp schema` and in sync."""
    proc = run(["node", "scripts/gen-config.mjs", "--check"], timeout=110)
    assert proc.returncode == 0, proc.stderr + proc.stdout


@pytest.mark.timeout(180)
def test_typescript_type_checks(npm: str) -> None:
    """The extension's TypeScript type-checks (esbuild only strips types)."""
    proc = run([str(EXT / "node_modules" / ".bin" / "tsc"), "--noEmit", "-p", "."], timeout=170)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_vsix_is_packaged_with_the_bundle() -> None:
    """`make setup-vscode` packaged a .vsix holding the bundle, the chat page and the settings."""
    require(VSIX.is_file(), f"{VSIX} is missing")
    with zipfile.ZipFile(VSIX) as vsix:
        names = set(vsix.namelist())
        manifest = json.loads(vsix.read("extension/package.json"))
    assert {"extension/out/extension.js", "extension/media/chat.js", "extension/readme.md"} <= names
    assert not any("node_modules" in n or n.endswith(".ts") for n in names)
    assert manifest["main"] == "./out/extension.js"
    keys = {
        k for section in manifest["contributes"]["configuration"] for k in section["properties"]
    }
    assert {"mimi.server.path", "mimi.completion.backend", "mimi.completion.model"} <= keys
    titles = {c["command"]: c["title"] for c in manifest["contributes"]["commands"]}
    assert titles["mimi.openChat"] == "Chat"
    assert titles["mimi.searchCodebase"] == "Search Codebase"
