"""The web IDE in a real browser: Debian Chromium (playwright-core) against `mimi-lsp web`.

The browser script (editors/monaco-web/tests/e2e.mjs) runs every step once against one server
and prints a result per step; each test below asserts one step, so a failure names the
behaviour. Screenshots of every step go to .artifacts/screenshots/web/ (paths printed).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.lsp_harness import ROOT
from tests.web.conftest import fake_web_settings, make_project, start_web

WEB_DIR = ROOT / "editors" / "monaco-web"
SCREENSHOTS = ROOT / ".artifacts" / "screenshots" / "web"

EXPECT: dict[str, Any] = {
    "file": "calc.py",
    "fileContains": "def add",
    "ignored": "build",
    "typeLine": 6,
    "typeColumn": 5,
    "typed": "return ",
    "ghost": "a * b",
    "accepted": "    return a * b",
    "timingLine": 8,
    "actionFile": "pkg/geometry.py",
    "actionLine": 12,
    "actionColumn": 5,
    "actionTitle": "Mimi: add docstrings",
    "actionResult": "The perimeter of a rectangle.",
    "agentInstruction": "comment the import",
    "createdFile": "tests/test_geometry.py",
    "chatQuestion": "What does add do?",
    "chatAnswer": "returns the sum of its two arguments",
    "searchQuery": "circle area radius",
    "searchFile": "pkg/geometry.py",
    "searchLine": 6,
    "symbol": "circle_area",
    "symbolLine": 6,
    "traversals": [
        "../outside.txt",
        "/etc/passwd",
        "%2e%2e/outside.txt",
        "pkg/../../outside.txt",
        "..\\outside.txt",
        "C:/Windows/win.ini",
        "link-out/secret.txt",
        "secret-link.txt",
    ],
}


def _need(ok: bool, message: str) -> None:
    """Missing tools fail in CI (never a silent skip) and skip on a developer machine."""
    if ok:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{message} (CI must have it: run `make setup`)")
    pytest.skip(message)


def run_browser(server: Any, **config: Any) -> dict[str, Any]:
    """Run the browser script against ``server``; its steps and metrics by name."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    full = {
        "url": server.url,
        "screenshots": str(SCREENSHOTS),
        "chromium": chromium,
        "project": EXPECT,
        "webPid": server.process.pid,
        **config,
    }
    proc = subprocess.run(
        ["node", str(WEB_DIR / "tests" / "e2e.mjs")],
        env={**os.environ, "MIMI_E2E": json.dumps(full)},
        capture_output=True,
        text=True,
        timeout=300,
        cwd=str(WEB_DIR),
    )
    steps: dict[str, dict[str, Any]] = {}
    metrics: dict[str, Any] = {}
    for line in proc.stdout.splitlines():
        try:
            item = json.loads(line)
        except ValueError:
            continue
        if "step" in item:
            steps[item["step"]] = item
            if item.get("screenshot"):
                print(f"screenshot {item['step']}: {item['screenshot']}")
        elif "metric" in item:
            metrics[item["metric"]] = item["value"]
            if item.get("detail"):
                metrics[item["metric"] + "_detail"] = item["detail"]
            print(f"metric {item['metric']}: {item['value']} {item.get('detail') or ''}")
    return {
        "steps": steps,
        "metrics": metrics,
        "stderr": proc.stderr,
        "server_output": "".join(server.output),
    }


def need_browser() -> None:
    _need(
        shutil.which("chromium") is not None, "Debian chromium is not installed (make setup-system)"
    )
    _need(shutil.which("node") is not None, "node is not installed")
    _need(
        (WEB_DIR / "node_modules" / "playwright-core").is_dir(),
        "playwright-core is not installed (make setup-web)",
    )


def report(config: pytest.Config, lines: list[str]) -> None:
    """Write to the CI log even when pytest captures output (-q, no -s)."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")
    if reporter is None or capture is None:
        print("\n".join(lines))
        return
    with capture.global_and_fixture_disabled():
        for line in lines:
            reporter.write_line(line)


@pytest.fixture(scope="module", autouse=True)
def fresh_screenshots() -> None:
    """Each run's screenshots only (the folder is what CI keeps)."""
    shutil.rmtree(SCREENSHOTS, ignore_errors=True)


@pytest.fixture(scope="module")
def browser_run(
    tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config
) -> dict[str, Any]:
    need_browser()
    folder = make_project(tmp_path_factory.mktemp("web") / "proj")
    settings = fake_web_settings(index_cache=folder.parent / "index-cache")
    with start_web(folder, settings) as server:
        run = run_browser(server, folder=str(folder))
    shots = [f"  {p.relative_to(ROOT)}" for p in sorted(SCREENSHOTS.glob("*.png"))]
    figures = [
        f"  {name}: {value}"
        for name, value in run["metrics"].items()
        if not name.endswith("_detail")
    ]
    report(pytestconfig, ["", "web IDE screenshots:", *shots, "web IDE figures (ms):", *figures])
    return {**run, "folder": folder}


def _step(run: dict[str, Any], name: str) -> dict[str, Any]:
    if "browser" in run["steps"]:
        pytest.fail("the browser script crashed:\n" + run["steps"]["browser"]["error"])
    step = run["steps"].get(name)
    assert step is not None, f"step {name} did not run\n{run['stderr'][-3000:]}"
    if not step["ok"] and "SKIP:" in step.get("error", ""):
        reason = step["error"].split("SKIP:", 1)[1].splitlines()[0].strip()
        pytest.skip(reason)
    assert step["ok"], (
        f"{name} failed: {step.get('error')}\nscreenshot: {step.get('screenshot')}\n"
        f"server output (tail):\n{run['server_output'][-3000:]}"
    )
    return step


def test_page_without_token_is_401(browser_run: dict[str, Any]) -> None:
    """Without the token the page and the API answer 401."""
    _step(browser_run, "unauthorized")


def test_websocket_without_token_is_refused(browser_run: dict[str, Any]) -> None:
    """A WebSocket opened without the token never connects."""
    _step(browser_run, "websocket_without_token_refused")


def test_page_loads_with_token_and_drops_it_from_the_url(browser_run: dict[str, Any]) -> None:
    """The printed URL opens the IDE; the token leaves the address bar; ignored files are hidden."""
    _step(browser_run, "page_loads")


def test_open_file_from_tree(browser_run: dict[str, Any]) -> None:
    """Clicking a file in the tree opens it in a tab with syntax highlighting."""
    _step(browser_run, "open_file")


def test_typing_shows_ghost_text(browser_run: dict[str, Any]) -> None:
    """Typing shows the model's suggestion as ghost text."""
    _step(browser_run, "ghost_text")


def test_tab_accepts_ghost_text(browser_run: dict[str, Any]) -> None:
    """Tab inserts the ghost text into the document."""
    _step(browser_run, "tab_accepts")


def test_alt_backslash_asks_for_ghost_text(browser_run: dict[str, Any]) -> None:
    """After Esc dismissed the suggestion, Alt+\\ asks for ghost text again."""
    _step(browser_run, "alt_backslash_asks_for_ghost_text")


def test_ctrl_s_saves_to_disk(browser_run: dict[str, Any]) -> None:
    """Ctrl+S writes the buffer to the file on disk."""
    _step(browser_run, "save")
    text = (browser_run["folder"] / "calc.py").read_text(encoding="utf-8")
    assert EXPECT["accepted"] in text


def test_file_changed_on_disk_is_reloaded(browser_run: dict[str, Any]) -> None:
    """A clean buffer follows a change another program made on disk."""
    _step(browser_run, "external_change_reloads")


def test_ctrl_p_opens_a_file_by_name(browser_run: dict[str, Any]) -> None:
    """Ctrl+P, a few letters of the name, Enter: the file opens."""
    _step(browser_run, "quick_open")


def test_help_overlay_lists_shortcuts(browser_run: dict[str, Any]) -> None:
    """F1 shows the keyboard shortcuts."""
    _step(browser_run, "help_overlay")


def test_status_bar_shows_backend_and_connection(browser_run: dict[str, Any]) -> None:
    """The status bar shows the connection, the completion backend's health and the index."""
    _step(browser_run, "status_bar")


def test_code_action_diff_can_be_accepted(browser_run: dict[str, Any]) -> None:
    """A code action's edit is shown as a diff and applied on Accept."""
    _step(browser_run, "code_action_diff_accept")


def test_agent_edit_diff_can_be_rejected(browser_run: dict[str, Any]) -> None:
    """Ctrl+I runs the agent; rejecting its diff leaves the file unchanged."""
    _step(browser_run, "agent_edit_reject")


def test_agent_can_create_a_file(browser_run: dict[str, Any]) -> None:
    """A new file from the agent is shown as new in the diff, opens on Accept, and Ctrl+S
    writes it and adds it to the tree."""
    _step(browser_run, "agent_creates_file")
    created = browser_run["folder"] / "tests" / "test_geometry.py"
    assert created.read_text(encoding="utf-8").startswith("from pkg.geometry import")


def test_chat_streams_an_answer(browser_run: dict[str, Any]) -> None:
    """The chat panel shows the answer while it streams, then the whole reply."""
    _step(browser_run, "chat_streams")


def test_explain_action_answers_in_the_chat(browser_run: dict[str, Any]) -> None:
    """The "Mimi: explain" code action streams its answer into the chat panel."""
    _step(browser_run, "explain_streams_into_chat")


def test_chat_citation_opens_the_file(browser_run: dict[str, Any]) -> None:
    """Clicking a citation opens the cited file at the cited line without selecting it, so the
    next question sends the file once, not again as "the selected code"."""
    _step(browser_run, "chat_citation_opens_file")


def test_search_result_opens_at_its_line(browser_run: dict[str, Any]) -> None:
    """Clicking a search hit opens its file with the cursor on the hit's line."""
    _step(browser_run, "search_opens_result")


def test_search_runs_as_you_type(browser_run: dict[str, Any]) -> None:
    """Search shows results while typing pauses, without Enter; a new query clears the old
    results at once."""
    _step(browser_run, "search_as_you_type")


def test_symbol_search_opens_the_definition(browser_run: dict[str, Any]) -> None:
    """Ctrl+P then #name lists the index's symbols; Enter opens the definition."""
    _step(browser_run, "symbol_search")


def test_reload_reconnects(browser_run: dict[str, Any]) -> None:
    """After a reload the page reconnects (a new server), reopens its files and completes."""
    _step(browser_run, "reload_reconnects")


def test_page_reconnects_when_its_server_exits(browser_run: dict[str, Any]) -> None:
    """When the language server process ends, the page reconnects to a new one by itself."""
    _step(browser_run, "server_exit_reconnects")


def test_two_tabs_at_once(browser_run: dict[str, Any]) -> None:
    """Two browser tabs each get their own working language server session."""
    _step(browser_run, "two_tabs")


def test_layout_fits_a_small_window(browser_run: dict[str, Any]) -> None:
    """In a short window the tree scrolls and the status bar stays visible."""
    _step(browser_run, "layout_fits_the_window")


def test_narrow_window_keeps_editor_and_chat_usable(browser_run: dict[str, Any]) -> None:
    """At 480 px with chat open the editor, the chat input, Send and close stay on screen; the
    tree starts hidden there, and the ☰ button (Ctrl+B) hides or shows it."""
    _step(browser_run, "narrow_window")


def test_save_over_a_changed_file_asks_in_the_page(browser_run: dict[str, Any]) -> None:
    """Saving over a file changed on disk asks in the page (no native confirm()) and Overwrite
    writes the buffer."""
    _step(browser_run, "save_conflict_asks_in_the_page")


def test_no_native_dialogs(browser_run: dict[str, Any]) -> None:
    """No step opens a native alert/confirm (they block the whole tab)."""
    metrics = browser_run["metrics"]
    assert metrics.get("native_dialogs") == 0, metrics.get("native_dialogs_detail")


def test_path_traversal_is_refused(browser_run: dict[str, Any]) -> None:
    """The file endpoints refuse .., absolute, encoded, Windows-style paths and links out."""
    _step(browser_run, "path_traversal_refused")
    assert not (browser_run["folder"].parent / "mimi-e2e-evil.txt").exists()


def test_first_ghost_text_timing_is_measured(browser_run: dict[str, Any]) -> None:
    """A fresh page reaches its first ghost text (the figure is printed, not asserted)."""
    _step(browser_run, "first_ghost_text_timing")
    assert browser_run["metrics"]["load_to_first_ghost_text_ms"] > 0


def test_no_errors_in_the_browser_console(browser_run: dict[str, Any]) -> None:
    """The page logs no errors while going through every step."""
    metrics = browser_run["metrics"]
    assert metrics.get("console_errors") == 0, metrics.get("console_errors_detail")


def test_without_ollama_the_page_opens_and_says_so(
    tmp_path: Path, pytestconfig: pytest.Config
) -> None:
    """Embedded defaults with no Ollama running: the IDE opens and the status bar says the
    completion backend is unavailable, naming it."""
    need_browser()
    folder = make_project(tmp_path / "proj")
    env = {"OLLAMA_HOST": "127.0.0.1:9", "MIMI_SETTINGS": json.dumps({"index": {"enabled": False}})}
    with start_web(folder, None, env=env) as server:
        run = run_browser(server, scenario="no-backend", prefix="no-backend-")
    step = _step(run, "no_backend_status")
    report(pytestconfig, ["", f"web IDE without Ollama: {step.get('screenshot')}"])
    chat = _step(run, "no_backend_chat_fails_plainly")
    # The terminal running `mimi-lsp web`: the failed chat is one line with its cause, no
    # chained tracebacks (issue 16 item 11: ~110 lines).
    output = run["server_output"]
    assert "Traceback" not in output, output[-6000:]
    failed = [line for line in output.splitlines() if "request failed" in line]
    assert len(failed) == 1, output[-6000:]
    assert "ollama" in failed[0].lower(), failed
    report(pytestconfig, [f"failed chat in the page: {chat['detail']['error']}", *failed])


def test_ghost_text_and_chat_through_an_ollama_standin(
    tmp_path: Path, pytestconfig: pytest.Config
) -> None:
    """The real stack end to end: the page's ghost text and chat come from an Ollama stand-in
    through the real `ollama` client (FIM with a native suffix, streamed chat)."""
    from tests.standins.ollama import OllamaStandin

    need_browser()
    folder = make_project(tmp_path / "proj")
    answer = "It adds a and b."
    with OllamaStandin(replies=["a * b"], chat=[answer]) as ollama:
        settings = {
            "completion": {"backend": {"kind": "ollama", "host": ollama.url}, "debounceMs": 0},
            "index": {"enabled": False},
        }
        with start_web(folder, settings) as server:
            run = run_browser(
                server,
                scenario="standin",
                prefix="standin-",
                project={**EXPECT, "standinChat": answer},
            )
        generate = ollama.calls("/api/generate")
        chats = ollama.calls("/api/chat")
    _step(run, "standin_ghost_text")
    _step(run, "standin_chat")
    assert generate and generate[-1].body.get("suffix") is not None
    assert chats


def test_first_run_through_the_model_server_dialog(
    tmp_path: Path, pytestconfig: pytest.Config
) -> None:
    """A new user: `mimi-lsp web` with no settings, the model server (an Ollama stand-in) on a
    non-default port. The warning's "Set up the model server…", its address and two picks give
    ghost text; the choice survives a reload. Prints the time from page load to ghost text."""
    from tests.standins.ollama import OllamaStandin

    need_browser()
    folder = make_project(tmp_path / "proj")
    models = ["qwen2.5-coder:7b-instruct", "qwen2.5-coder:1.5b-base"]
    with OllamaStandin(replies=["a * b"], models=models) as ollama:
        # No settings but the index off (its embedding model takes a core for minutes here).
        env = {"MIMI_SETTINGS": json.dumps({"index": {"enabled": False}})}
        env["OLLAMA_HOST"] = ""
        started = time.monotonic()
        with start_web(folder, None, env=env) as server:
            printed = time.monotonic() - started  # `mimi-lsp web` start to its link printed
            run = run_browser(
                server,
                scenario="first-run",
                prefix="first-run-",
                project={
                    **EXPECT,
                    "standinAddress": ollama.url.removeprefix("http://"),
                    "standinUrl": ollama.url,
                    "completionModel": "qwen2.5-coder:1.5b-base",
                },
            )
        generated = ollama.calls("/api/generate")
    step = _step(run, "first_run_ghost_text")
    assert generated
    total = printed + step["detail"]["ghostText"] / 1000
    report(
        pytestconfig,
        [
            "",
            f"web first run: link printed {printed:.1f} s after `mimi-lsp web` started; "
            f"then ms from page load: {step['detail']}",
            f"  first ghost text {total:.1f} s after start (FIRST_RUN_WEB_S={total:.1f})",
            f"  {step.get('screenshot')}",
        ],
    )


def test_stop_cancels_a_chat_answer(tmp_path: Path) -> None:
    """Stop cancels the chat request ($/cancelRequest): the answer ends as "(stopped)" at once,
    not after the slow model."""
    need_browser()
    folder = make_project(tmp_path / "proj")
    settings = fake_web_settings()
    settings["completion"]["backend"].update(chatReplies=["never shown"], delayMs=20_000)
    with start_web(folder, settings) as server:
        run = run_browser(server, scenario="chat-stop", prefix="chat-stop-")
    step = _step(run, "chat_stop")
    assert step["detail"]["ms"] < 5_000


def test_changes_view_and_terminal(tmp_path: Path, pytestconfig: pytest.Config) -> None:
    """`mimi-lsp web --terminal` on a git repository, in Chromium: the Changes view lists the
    staged and changed files, writes the commit message as the model streams it, shows a diff
    and commits; the terminal runs `echo` in the folder, `exit` closes it, and a page of another
    origin holding the token still cannot open it."""
    import subprocess

    need_browser()
    folder = make_project(tmp_path / "proj")

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=folder, check=True, capture_output=True, text=True
        ).stdout

    git("init", "-q", "-b", "main")
    git("config", "user.email", "dev@example.com")
    git("config", "user.name", "Dev")
    git("add", ".")
    git("commit", "-qm", "Add the demo project")
    geometry = folder / "pkg" / "geometry.py"
    geometry.write_text(
        geometry.read_text().replace(
            "    return 2 * (width + height)",
            '    """The perimeter."""\n    return 2 * (width + height)',
        )
    )
    git("add", "pkg/geometry.py")
    (folder / "README.md").write_text("# demo\n\nA tiny project, with a Changes view.\n")
    (folder / "notes.txt").write_text("to do\n")
    message = "Document rectangle_perimeter"
    settings = fake_web_settings()
    settings["completion"]["backend"]["chatReplies"] = [message]
    with start_web(folder, settings, "--terminal", env={"SHELL": "/bin/bash"}) as server:
        run = run_browser(
            server,
            scenario="git-terminal",
            prefix="git-terminal-",
            token=server.token,
            project={
                **EXPECT,
                "stagedFile": "pkg/geometry.py",
                "stagedText": "The perimeter.",
                "changedFile": "README.md",
                "commitMessage": message,
                "folderName": folder.name,
            },
        )
    shots = []
    for name in (
        "changes_list",
        "changes_write_message",
        "changes_diff",
        "changes_commit",
        "terminal_echo",
        "terminal_exit",
        "terminal_foreign_origin_refused",
    ):
        step = _step(run, name)
        if step.get("screenshot"):
            shots.append(f"  {step['screenshot']}")
    assert git("log", "-1", "--format=%s").strip() == message
    assert git("diff", "--cached", "--name-only").strip() == ""
    report(pytestconfig, ["", "web Changes view and terminal:", *shots])
