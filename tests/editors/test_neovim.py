"""The Neovim plugin (editors/neovim): its headless suite and one real-terminal test.

``test_headless_suite`` runs the plugin's own test command (``nvim --headless --clean -l
tests/run.lua``: child Neovim 0.11 processes driving the plugin against the real server) once
per spec file, and asserts its closing line says ``0 failed``. ``test_ghost_text_on_a_terminal``
runs Neovim in tmux and reads the screen with ``capture-pane``. Outside CI a missing Neovim or
tmux skips them; in CI it fails with the fix.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.standins.ollama import OllamaStandin

ROOT = Path(__file__).resolve().parents[2]
PLUGIN = ROOT / "editors" / "neovim"
SERVER = ROOT / ".venv" / "bin" / "mimi-lsp"
SPECS = sorted(
    p.name.removesuffix("_spec.lua") for p in (PLUGIN / "tests" / "spec").glob("*_spec.lua")
)


def require(condition: bool, what: str) -> None:
    """Skip outside CI, fail in CI, when a tool the tests need is missing."""
    if condition:
        return
    message = f"{what} (run `make setup-neovim`)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def nvim_version(exe: str) -> tuple[int, int]:
    out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=30).stdout
    match = re.search(r"NVIM v(\d+)\.(\d+)", out)
    return (int(match.group(1)), int(match.group(2))) if match else (0, 0)


@pytest.fixture(scope="module")
def nvim() -> str:
    exe = os.environ.get("MIMI_NVIM") or str(ROOT / ".venv" / "bin" / "nvim")
    if not Path(exe).exists():
        exe = shutil.which("nvim") or exe
    require(Path(exe).exists(), "Neovim is not installed")
    require(nvim_version(exe) >= (0, 11), f"{exe} is older than Neovim 0.11")
    require(SERVER.exists(), f"{SERVER} is missing")
    return exe


@pytest.mark.timeout(600)
@pytest.mark.parametrize("spec", SPECS)
def test_headless_suite(nvim: str, spec: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Every test of one spec passes in headless Neovim against the real server."""
    proc = subprocess.run(
        [nvim, "--headless", "--clean", "-l", "tests/run.lua", f"{spec}: "],
        cwd=PLUGIN,
        env={**os.environ, "MIMI_LSP": str(SERVER)},
        capture_output=True,
        text=True,
        timeout=580,
        check=False,
    )
    output = proc.stdout + proc.stderr
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    closing = lines[-1] if lines else ""
    with capsys.disabled():
        print(f"\n[neovim {spec}] {closing}")
    match = re.match(r"(\d+) passed, (\d+) failed", closing)
    assert match, f"no closing line:\n{output[-6000:]}"
    assert match.group(2) == "0", output[-8000:]
    assert int(match.group(1)) > 0, output[-6000:]
    assert proc.returncode == 0, output[-6000:]
    for line in lines:
        if line.startswith("PENDING"):
            # Printed, never silent: a test waiting for a server command that has not landed.
            warnings.warn(f"neovim {line}", stacklevel=1)


# ---------------------------------------------------------------------------- tmux


class Tmux:
    """A private tmux server (own socket) running one window."""

    def __init__(self, exe: str) -> None:
        self.exe = exe
        self.socket = f"mimi-nvim-{uuid.uuid4().hex[:8]}"

    def __call__(self, *args: str) -> str:
        proc = subprocess.run(
            [self.exe, "-L", self.socket, "-f", "/dev/null", *args],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        return proc.stdout

    def screen(self, escapes: bool = False) -> str:
        return self("capture-pane", "-p", *(["-e"] if escapes else []), "-t", "mimi")

    def cursor(self) -> tuple[int, int]:
        x, y = self("display-message", "-p", "-t", "mimi", "#{cursor_x} #{cursor_y}").split()
        return int(x), int(y)

    def wait(self, predicate: Callable[[str], bool], what: str, timeout: float = 30) -> str:
        """Poll the screen until ``predicate(screen)`` (a condition, not a fixed sleep)."""
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            if predicate(screen):
                return screen
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}; screen:\n{screen}")


@pytest.fixture
def tmux(nvim: str) -> Iterator[Tmux]:
    exe = shutil.which("tmux")
    require(exe is not None, "tmux is not installed")
    session = Tmux(str(exe))
    yield session
    subprocess.run(
        [session.exe, "-L", session.socket, "kill-server"], capture_output=True, check=False
    )


INIT_LUA = """
vim.opt.rtp:prepend({plugin!r})
vim.o.laststatus = 2
vim.o.statusline = "%f %{{v:lua.require'mimi'.statusline()}}"
require("mimi").setup({{
  cmd = {{ {server!r}, "--stdio" }},
  settings = {{
    completion = {{ backend = {{ kind = "fake", replies = {{ " + b" }} }}, debounceMs = 0 }},
    index = {{ enabled = false }},
  }},
}})
"""


@pytest.mark.timeout(120)
def test_ghost_text_on_a_terminal(nvim: str, tmux: Tmux, tmp_path: Path) -> None:
    """On a real terminal the suggestion is drawn dimmed after the cursor and Tab accepts it."""
    init = tmp_path / "init.lua"
    init.write_text(INIT_LUA.format(plugin=str(PLUGIN), server=str(SERVER)))
    source = tmp_path / "main.py"
    source.write_text("def add(a, b):\n    return \n")
    env = {**os.environ, "TERM": "xterm-256color"}
    subprocess.run(
        [
            tmux.exe,
            "-L",
            tmux.socket,
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-s",
            "mimi",
            "-x",
            "100",
            "-y",
            "20",
            f"{nvim} --clean -n -u {init} {source}",
        ],
        env=env,
        check=True,
        timeout=30,
    )
    tmux.wait(lambda s: "mimi ok" in s, "the server to attach (statusline)")

    tmux("send-keys", "-t", "mimi", "-l", "2GA")
    tmux("send-keys", "-t", "mimi", "-l", "a")
    screen = tmux.wait(lambda s: "    return a + b" in s, "ghost text on screen")
    assert "-- INSERT --" in screen
    # The cursor sits right after the typed "a": " + b" is drawn, not in the buffer.
    assert tmux.cursor() == (len("    return a"), 1)
    coloured = tmux.screen(escapes=True).splitlines()[1]
    # The typed "a" is plain; the ghost " + b" comes in its own colour (MimiGhostText).
    assert re.search(r" a\x1b\[[0-9;]*m \+ b\x1b\[", coloured), (
        f"ghost text not highlighted: {coloured!r}"
    )

    tmux("send-keys", "-t", "mimi", "Tab")
    tmux.wait(
        lambda s: tmux.cursor() == (len("    return a + b"), 1),
        "the cursor after the accepted text",
    )
    tmux("send-keys", "-t", "mimi", "Escape")
    tmux("send-keys", "-t", "mimi", "-l", ":wq")
    tmux("send-keys", "-t", "mimi", "Enter")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and "a + b" not in source.read_text():
        time.sleep(0.05)
    assert source.read_text() == "def add(a, b):\n    return a + b\n"


INIT_OLLAMA_LUA = """
vim.opt.rtp:prepend({plugin!r})
vim.o.laststatus = 2
vim.o.statusline = "%f %{{v:lua.require'mimi'.statusline()}}"
require("mimi").setup({{
  cmd = {{ {server!r}, "--stdio" }},
  settings = {{
    completion = {{
      backend = {{ kind = "ollama", host = {host!r}, timeoutMs = 3000 }},
      debounceMs = 0,
    }},
    index = {{ enabled = false }},
  }},
}})
"""

HIT_ENTER = "Press ENTER"


def start_nvim(tmux: Tmux, nvim: str, init: Path, source: Path, height: int = 24) -> None:
    subprocess.run(
        [
            tmux.exe,
            "-L",
            tmux.socket,
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-s",
            "mimi",
            "-x",
            "100",
            "-y",
            str(height),
            f"{nvim} --clean -n -u {init} {source}",
        ],
        env={**os.environ, "TERM": "xterm-256color"},
        check=True,
        timeout=30,
    )


@pytest.mark.timeout(180)
def test_messages_never_block_typing(nvim: str, tmux: Tmux, tmp_path: Path) -> None:
    """Backend down at start, back, down again: each said once, never a hit-enter prompt."""
    ollama = OllamaStandin(replies=[" + b"]).start()
    port = ollama.port
    ollama.stop()  # down at start-up
    screens: list[str] = []

    def wait(predicate: Callable[[str], bool], what: str) -> str:
        def check(screen: str) -> bool:
            screens.append(screen)
            assert HIT_ENTER not in screen, f"hit-enter prompt while waiting for {what}:\n{screen}"
            return predicate(screen)

        return tmux.wait(check, what, timeout=60)

    try:
        init = tmp_path / "init.lua"
        init.write_text(
            INIT_OLLAMA_LUA.format(
                plugin=str(PLUGIN), server=str(SERVER), host=f"http://127.0.0.1:{port}"
            )
        )
        source = tmp_path / "main.py"
        source.write_text("def add(a, b):\n    return \n")
        start_nvim(tmux, nvim, init, source)
        # Start-up without the model server: a message in a corner, typing goes on.
        wait(lambda s: "Ollama is not running" in s, "the start-up warning")
        tmux("send-keys", "-t", "mimi", "-l", "2GA")
        tmux("send-keys", "-t", "mimi", "-l", "a")
        wait(lambda s: "    return a" in s and "-- INSERT --" in s, "typing in insert mode")
        # The model server comes back: the server's probe notices and says so once, with no
        # key pressed (issue 16 item 10); the statusline follows; the next keys get ghost text.
        ollama.start()
        wait(lambda s: "is back" in s and "mimi ok" in s, "the back message, no key pressed")
        tmux("send-keys", "-t", "mimi", "BSpace")
        tmux("send-keys", "-t", "mimi", "-l", "a")
        wait(lambda s: "    return a + b" in s, "ghost text once the server is back")
        # Down again while typing.
        ollama.stop()
        tmux("send-keys", "-t", "mimi", "-l", " +")
        wait(lambda s: "    return a +" in s and "not running" in s, "the second warning")
        tmux("send-keys", "-t", "mimi", "-l", " c")
        wait(lambda s: "    return a + c" in s and "-- INSERT --" in s, "typing after the warning")
        tmux("send-keys", "-t", "mimi", "Escape")
        tmux("send-keys", "-t", "mimi", "-l", ":wq")
        tmux("send-keys", "-t", "mimi", "Enter")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and "a + c" not in source.read_text():
            time.sleep(0.05)
        assert source.read_text() == "def add(a, b):\n    return a + c\n"
        warnings = sum(1 for s in dict.fromkeys(screens) if "not running" in s)
        assert warnings >= 1
    finally:
        ollama.stop()


INIT_FRESH_LUA = """
vim.opt.rtp:prepend({plugin!r})
require("mimi").setup({{}})
"""


@pytest.mark.timeout(240)
def test_first_run_to_ghost_text(
    nvim: str, tmux: Tmux, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A new user: setup({}) and nothing else, the model server on a non-default port. The
    warning names :MimiSetup; its pickers (Neovim's own inputlist and input) lead to ghost
    text. Prints the time from start to the first ghost text."""
    with OllamaStandin(
        replies=[" + b"], models=["qwen2.5-coder:1.5b-base", "qwen2.5-coder:7b-instruct"]
    ) as ollama:
        init = tmp_path / "init.lua"
        init.write_text(INIT_FRESH_LUA.format(plugin=str(PLUGIN)))
        source = tmp_path / "main.py"
        source.write_text("def add(a, b):\n    return a\n")
        (tmp_path / ".git").mkdir()
        started = time.monotonic()
        start_nvim(tmux, nvim, init, source, height=30)
        screen = tmux.wait(lambda s: ":MimiSetup" in s, "the warning that names :MimiSetup", 90)
        assert "Ollama is not running at http://127.0.0.1:11434" in screen.replace("\n", "")
        warned = time.monotonic() - started
        tmux("send-keys", "-t", "mimi", "-l", ":MimiSetup")
        tmux("send-keys", "-t", "mimi", "Enter")
        screen = tmux.wait(
            lambda s: "Another address" in s and "Type number" in s, "the server list"
        )
        number = re.search(r"(\d+): Another address", screen)
        assert number, screen
        tmux("send-keys", "-t", "mimi", "-l", number.group(1))
        tmux("send-keys", "-t", "mimi", "Enter")
        tmux.wait(lambda s: "Model server address" in s, "the address prompt")
        tmux("send-keys", "-t", "mimi", "-l", ollama.url.removeprefix("http://"))
        tmux("send-keys", "-t", "mimi", "Enter")
        screen = tmux.wait(lambda s: "completion model" in s and "Type number" in s, "models")
        assert re.search(r"1: qwen2\.5-coder:1\.5b-base", screen), screen
        tmux("send-keys", "-t", "mimi", "-l", "1")
        tmux("send-keys", "-t", "mimi", "Enter")
        tmux.wait(lambda s: "chat model" in s and "Type number" in s, "chat models")
        tmux("send-keys", "-t", "mimi", "-l", "1")
        tmux("send-keys", "-t", "mimi", "Enter")
        tmux.wait(lambda s: "ghost text from qwen2.5-coder:1.5b-base" in s, "the summary")
        configured = time.monotonic() - started
        tmux("send-keys", "-t", "mimi", "Escape")
        tmux("send-keys", "-t", "mimi", "-l", "2GA")
        tmux.wait(lambda s: "    return a + b" in s, "ghost text from the stand-in")
        first = time.monotonic() - started
        assert "Press ENTER" not in tmux.screen()
    with capsys.disabled():
        print(
            f"\n[neovim first run] warning {warned:.1f} s, set up {configured:.1f} s, "
            f"first ghost text {first:.1f} s after start (FIRST_RUN_NEOVIM_S={first:.1f})"
        )
