"""Fixtures for the web IDE tests: a small project folder and a real `mimi-lsp web` process."""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.lsp_harness import ROOT

URL_RE = re.compile(r"(http://\S+/\?token=(\S+))")


@dataclass
class WebServer:
    """A running `mimi-lsp web`: its URL (with token), base URL, token and process."""

    url: str
    base: str
    token: str
    port: int
    process: subprocess.Popen[str]
    output: list[str]


def make_project(root: Path) -> Path:
    """A small project: Python files, a nested package, a .gitignore'd folder, a link out."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "calc.py").write_text(
        "def add(a, b):\n    return a + b\n\n\ndef mul(a, b):\n    \n\n\n\n",
        encoding="utf-8",
    )
    pkg = root / "pkg"
    pkg.mkdir(exist_ok=True)
    (pkg / "__init__.py").write_text("", encoding="utf-8")
    (pkg / "geometry.py").write_text(
        '"""Shapes."""\n'
        "\n"
        "import math\n"
        "\n"
        "\n"
        "def circle_area(radius):\n"
        '    """The area of a circle."""\n'
        "    return math.pi * radius * radius\n"
        "\n"
        "\n"
        "def rectangle_perimeter(width, height):\n"
        "    return 2 * (width + height)\n",
        encoding="utf-8",
    )
    (root / "README.md").write_text("# demo\n\nA tiny project.\n", encoding="utf-8")
    (root / ".gitignore").write_text("build/\n*.log\n", encoding="utf-8")
    (root / "build").mkdir(exist_ok=True)
    (root / "build" / "out.txt").write_text("generated\n", encoding="utf-8")
    (root / "debug.log").write_text("noise\n", encoding="utf-8")
    outside = root.parent / f"{root.name}-outside"
    outside.mkdir(exist_ok=True)
    (outside / "secret.txt").write_text("secret\n", encoding="utf-8")
    (root.parent / "outside.txt").write_text("outside\n", encoding="utf-8")
    link = root / "link-out"
    if not link.exists():
        link.symlink_to(outside, target_is_directory=True)
    (root / "secret-link.txt").unlink(missing_ok=True)
    (root / "secret-link.txt").symlink_to(outside / "secret.txt")
    return root


@contextlib.contextmanager
def start_web(
    folder: Path,
    settings: dict[str, Any] | None = None,
    *extra: str,
    env: dict[str, str] | None = None,
) -> Iterator[WebServer]:
    """Start `mimi-lsp web FOLDER --port 0 --no-browser` and wait for its URL."""
    command = [sys.executable, "-m", "mimi_lsp", "web", str(folder), "--port", "0", "--no-browser"]
    if settings is not None:
        command += ["--settings", json.dumps(settings)]
    command += list(extra)
    proc = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
        cwd=str(ROOT),
    )
    assert proc.stdout is not None
    output: list[str] = []
    found: dict[str, str] = {}
    ready = threading.Event()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            output.append(line)
            if not found and (m := URL_RE.search(line)):
                found["url"], found["token"] = m.group(1), m.group(2)
                ready.set()
        ready.set()

    threading.Thread(target=pump, daemon=True).start()
    ready.wait(30)
    if "url" not in found:
        proc.kill()
        raise RuntimeError("mimi-lsp web printed no URL:\n" + "".join(output))
    base = found["url"].split("?")[0]
    port = int(base.rstrip("/").rsplit(":", 1)[1])
    server = WebServer(found["url"], base, found["token"], port, proc, output)
    try:
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def tool_call(name: str, **arguments: Any) -> str:
    """A scripted agent turn of the fake chat model: one tool call."""
    return json.dumps({"tool_calls": [{"name": name, "arguments": arguments}]})


DOCSTRING_EDIT = tool_call(
    "edit",
    path="pkg/geometry.py",
    edits=[
        {
            "search": "def rectangle_perimeter(width, height):\n",
            "replace": "def rectangle_perimeter(width, height):\n"
            '    """The perimeter of a rectangle."""\n',
        }
    ],
)
IMPORT_EDIT = tool_call(
    "edit",
    path="pkg/geometry.py",
    edits=[{"search": "import math\n", "replace": "import math  # for pi\n"}],
)
CREATE_TEST = tool_call(
    "create_file",
    path="tests/test_geometry.py",
    content="from pkg.geometry import rectangle_perimeter\n\n\n"
    "def test_square() -> None:\n    assert rectangle_perimeter(1, 1) == 4\n",
)
CHAT_ANSWER = "The `add` function in calc.py returns the sum of its two arguments."


def fake_web_settings(index_cache: Path | None = None, **overrides: Any) -> dict[str, Any]:
    """The fake backend: ghost text 'a * b'; the chat model's turns in order: an agent run for
    a code action (edit + summary), one for Ctrl+I (edit + summary), one creating a test file,
    then the chat answer, streamed in pieces. With ``index_cache``, the index runs (fake
    embeddings)."""
    settings: dict[str, Any] = {
        "completion": {
            "backend": {
                "kind": "fake",
                "replies": ["a * b"],
                "chatReplies": [
                    DOCSTRING_EDIT,
                    "Added a docstring.",
                    IMPORT_EDIT,
                    "Commented the import.",
                    CREATE_TEST,
                    "Wrote a test.",
                    CHAT_ANSWER,
                ],
                "chunkChars": 6,
            },
            "debounceMs": 0,
        },
        "index": {"enabled": False},
    }
    if index_cache is not None:
        settings["index"] = {"enabled": True, "cacheDir": str(index_cache)}
        settings["embedding"] = {"backend": {"kind": "fake"}}
    settings.update(overrides)
    return settings


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_project(tmp_path / "proj")
