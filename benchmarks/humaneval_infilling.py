"""HumanEval-infilling through the real server, side by side with the raw model.

Each task goes through the real mimi-lsp process as an editor would: the file is written into a
workspace folder, opened, ``textDocument/inlineCompletion`` (Invoked) is asked at the hole, the
returned item (with its ``range``) is applied, the file is closed and deleted. The program is then
run against the task's tests in a subprocess (3 s timeout, like the reference harness): pass@1 at
temperature 0, and exact match of the filled document.

In the same run, from the same model server and the *server's exact prompt* (the same budget):

- **raw**: the model's whole answer inserted at the cursor, no post-processing;
- **raw-cut**: the raw answer cut at its first blank line (what a naive client does);
- **bound**: some cut of the raw answer passes: after a whole line, or (a mid-line hole) before
  the point where a line's rest repeats the text after the cursor. No post-processor that only
  cuts can beat the model's own best cut; "server/bound" says how much of it the server keeps.
  The server also re-indents and replaces closers, so it can pass where no cut does ("beyond").

A caching proxy sits between the server and the model server. It asks the model for the whole
answer (not streamed, so an early stop of the server's stream still caches the full raw answer) and
replays it as a stream; answers are cached on disk keyed by the exact request body (temperature 0),
so re-running after a post-processing change costs no model time. Any model server works: Ollama
(``--url http://127.0.0.1:11434``) or OpenAI-compatible (``--url http://127.0.0.1:8012/v1``).

    python benchmarks/humaneval_infilling.py --url http://127.0.0.1:8012/v1 --model qwen2.5-coder:0.5b
    python benchmarks/humaneval_infilling.py --url ... --set single --sample 200 --context both

Tasks split into halves by HumanEval problem number (even: dev, odd: held-out); tune on the dev half
and quote both. Not in CI (minutes of CPU per hundred tasks). Data: ``../shared/data/humaneval-infilling``
or ``--data DIR``. Per-task rows go to ``--out`` (JSON) for reading the failures.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import gzip
import hashlib
import http.server
import json
import os
import random
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from lsprotocol import types  # noqa: E402

from mimi_lsp.completion.prompt import select_template  # noqa: E402
from tests.lsp_harness import editor_capabilities, make_client, server_command  # noqa: E402

SETS = {
    "single": "HumanEval-SingleLineInfilling.jsonl.gz",
    "span": "HumanEval-RandomSpanInfillingLight.jsonl.gz",
}
DEFAULT_DATA = next(
    (
        d / "shared" / "data" / "humaneval-infilling"
        for d in (ROOT.parent, ROOT.parent.parent)  # /work/main or a worktree under /work/wt
        if (d / "shared" / "data" / "humaneval-infilling").is_dir()
    ),
    ROOT.parent / "shared" / "data" / "humaneval-infilling",
)
DEFAULT_CACHE = Path.home() / ".cache" / "mimi-lsp" / "humaneval-infilling"
EXEC_CPU_S = 3
"""CPU seconds per test program (the reference harness's 3 s, as CPU time: the machine is shared)."""
EXEC_WALL_S = 60.0


# --------------------------------------------------------------------------- tasks


@dataclass(frozen=True)
class Task:
    task_id: str
    prompt: str
    suffix: str
    canonical: str
    test: str
    entry_point: str
    whole_line: bool

    @property
    def problem(self) -> int:
        return int(self.task_id.split("/")[2])

    @property
    def half(self) -> str:
        return "dev" if self.problem % 2 == 0 else "held-out"

    @property
    def document(self) -> str:
        """What the editor shows: a whole-line hole is an empty line the cursor stands on."""
        return self.prompt + ("\n" if self.whole_line else "") + self.suffix

    @property
    def expected(self) -> str:
        return (
            self.canonical[:-1]
            if self.whole_line and self.canonical.endswith("\n")
            else self.canonical
        )

    def filled(self, text: str, replace: int = 0) -> str:
        """The document after inserting ``text`` at the hole, replacing ``replace`` chars."""
        rest = self.document[len(self.prompt) :]
        return self.prompt + text + rest[replace:]

    def program(self, document: str) -> str:
        return f"{document}\n{self.test}\ncheck({self.entry_point})\n"


def load_tasks(data: Path, name: str) -> list[Task]:
    with gzip.open(data / SETS[name], "rt", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    return [
        Task(
            r["task_id"],
            r["prompt"],
            r["suffix"],
            r["canonical_solution"],
            r["test"],
            r["entry_point"],
            whole_line=name == "single",
        )
        for r in rows
    ]


# --------------------------------------------------------------------------- caching proxy


class AnswerCache:
    """Full model answers keyed by the exact request body, in SQLite (thread-safe)."""

    def __init__(self, path: Path | None) -> None:
        self._db = sqlite3.connect(str(path) if path else ":memory:", check_same_thread=False)
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS answers (key TEXT PRIMARY KEY, text TEXT, model_ms REAL)"
        )
        self._db.execute("CREATE TABLE IF NOT EXISTS runs (key TEXT PRIMARY KEY, ok INTEGER)")
        self._lock = threading.Lock()

    def get(self, key: str) -> tuple[str, float] | None:
        with self._lock:
            row = self._db.execute(
                "SELECT text, model_ms FROM answers WHERE key = ?", (key,)
            ).fetchone()
        return (row[0], row[1]) if row else None

    def put(self, key: str, text: str, model_ms: float) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO answers VALUES (?, ?, ?)", (key, text, model_ms)
            )
            self._db.commit()

    def passed(self, key: str) -> bool | None:
        with self._lock:
            row = self._db.execute("SELECT ok FROM runs WHERE key = ?", (key,)).fetchone()
        return None if row is None else bool(row[0])

    def record_run(self, key: str, ok: bool) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO runs VALUES (?, ?)", (key, int(ok)))
            self._db.commit()


@dataclass
class Generation:
    body: dict[str, Any]
    text: str
    model_ms: float
    cached: bool


def _pieces(text: str) -> list[str]:
    """Split an answer into token-sized pieces, as a streaming server would send it."""
    return re.findall(r"\n|[ \t]+|\w+|[^\w\s]", text) or [""]


class ModelProxy:
    """An HTTP proxy for one model server: caches generations, replays them as streams."""

    def __init__(self, upstream: str, cache: AnswerCache) -> None:
        self.upstream = upstream.rstrip("/")
        self.cache = cache
        self.generations: list[Generation] = []
        self._client = httpx.Client(timeout=600)
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                proxy.forward(self, None)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                proxy.forward(self, self.rfile.read(length))

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        base = f"http://{host}:{port}"
        return base + "/v1" if self.upstream.endswith("/v1") else base

    def __enter__(self) -> ModelProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._client.close()

    def _upstream_url(self, path: str) -> str:
        if self.upstream.endswith("/v1") and path.startswith("/v1"):
            return self.upstream + path[3:]
        return self.upstream + path

    def forward(self, handler: http.server.BaseHTTPRequestHandler, raw: bytes | None) -> None:
        path = handler.path
        try:
            if raw is not None and path.endswith(("/completions", "/api/generate")):
                if not path.endswith("/chat/completions"):
                    self._generate(handler, path, json.loads(raw))
                    return
            response = self._client.request(
                "GET" if raw is None else "POST",
                self._upstream_url(path),
                content=raw,
                headers={"Content-Type": "application/json"},
            )
            self._reply(
                handler,
                response.status_code,
                response.content,
                response.headers.get("content-type"),
            )
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _reply(self, handler: Any, status: int, body: bytes, ctype: str | None) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", ctype or "application/json")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    def _generate(self, handler: Any, path: str, body: dict[str, Any]) -> None:
        ollama = path.endswith("/api/generate")
        key_body = {k: v for k, v in body.items() if k not in ("stream", "keep_alive")}
        key = hashlib.sha256(
            (path + json.dumps(key_body, sort_keys=True)).encode("utf-8")
        ).hexdigest()
        hit = self.cache.get(key)
        if hit is None:
            started = time.perf_counter()
            response = self._client.post(
                self._upstream_url(path),
                json={**body, "stream": False},
            )
            if response.status_code != 200:
                self._reply(handler, response.status_code, response.content, None)
                return
            data = response.json()
            text = data["response"] if ollama else data["choices"][0]["text"]
            model_ms = (time.perf_counter() - started) * 1000
            self.cache.put(key, text, model_ms)
            self.generations.append(Generation(body, text, model_ms, cached=False))
        else:
            text, model_ms = hit
            self.generations.append(Generation(body, text, model_ms, cached=True))
        self._stream(handler, text, body.get("model", ""), ollama)

    def _stream(self, handler: Any, text: str, model: str, ollama: bool) -> None:
        handler.send_response(200)
        handler.send_header(
            "Content-Type", "application/x-ndjson" if ollama else "text/event-stream"
        )
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()

        def send(data: str) -> None:
            raw = data.encode("utf-8")
            handler.wfile.write(f"{len(raw):x}\r\n".encode() + raw + b"\r\n")

        stamp = "2025-01-01T00:00:00Z"
        for piece in _pieces(text):
            if ollama:
                send(
                    json.dumps(
                        {"model": model, "created_at": stamp, "response": piece, "done": False}
                    )
                    + "\n"
                )
            else:
                chunk = {
                    "id": "c",
                    "object": "text_completion",
                    "created": 0,
                    "model": model,
                    "choices": [
                        {"index": 0, "text": piece, "finish_reason": None, "logprobs": None}
                    ],
                }
                send(f"data: {json.dumps(chunk)}\n\n")
        if ollama:
            send(
                json.dumps(
                    {
                        "model": model,
                        "created_at": stamp,
                        "response": "",
                        "done": True,
                        "done_reason": "stop",
                    }
                )
                + "\n"
            )
        else:
            chunk = {
                "id": "c",
                "object": "text_completion",
                "created": 0,
                "model": model,
                "choices": [{"index": 0, "text": "", "finish_reason": "stop", "logprobs": None}],
            }
            send(f"data: {json.dumps(chunk)}\n\ndata: [DONE]\n\n")
        handler.wfile.write(b"0\r\n\r\n")
        handler.wfile.flush()


# --------------------------------------------------------------------------- execution


class Runner:
    """Runs programs against their tests in subprocesses, memoised on disk."""

    def __init__(self, cache: AnswerCache, workers: int = 2) -> None:
        self.cache = cache
        self.pool = concurrent.futures.ThreadPoolExecutor(workers)
        self.tmp = Path(tempfile.mkdtemp(prefix="mimi-he-run-"))

    def passes(self, program: str) -> bool:
        key = hashlib.sha256(program.encode("utf-8")).hexdigest()
        known = self.cache.passed(key)
        if known is not None:
            return known
        path = self.tmp / f"{key}.py"
        path.write_text(program, encoding="utf-8")
        try:
            done = subprocess.run(
                [sys.executable, "-I", str(path)],
                cwd=self.tmp,
                capture_output=True,
                timeout=EXEC_WALL_S,
                preexec_fn=_limit_cpu,
            )
            ok = done.returncode == 0
        except subprocess.TimeoutExpired:
            ok = False
        finally:
            path.unlink(missing_ok=True)
        self.cache.record_run(key, ok)
        return ok

    def close(self) -> None:
        self.pool.shutdown()
        shutil.rmtree(self.tmp, ignore_errors=True)


def _limit_cpu() -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_CPU, (EXEC_CPU_S, EXEC_CPU_S))


def _same(a: str, b: str) -> bool:
    """Documents equal up to trailing whitespace on lines and at the end."""
    norm = lambda s: "\n".join(line.rstrip() for line in s.rstrip().split("\n"))  # noqa: E731
    return norm(a) == norm(b)


def line_prefixes(text: str) -> list[str]:
    """Every cut of ``text`` after a whole line (and the whole text)."""
    lines = text.split("\n")
    cuts = ["\n".join(lines[: k + 1]) for k in range(len(lines))]
    return list(dict.fromkeys(c for c in cuts if c.strip()))


def best_cuts(text: str, line_after: str) -> list[str]:
    """The cuts a post-processor can make: after a whole line, and also before the point where
    a line's rest repeats the text after the cursor (``len(string)`` before ``string)``: the
    model wrote the end of the line again), which a mid-line hole needs."""
    cuts = line_prefixes(text)
    if line_after.strip():
        for cut in list(cuts):
            last = cut.rsplit("\n", 1)[-1]
            for k in range(len(last)):
                rest = last[k:]
                if rest.strip() and line_after.startswith(rest):
                    cuts.append(cut[: len(cut) - len(rest)])
                    break
    return list(dict.fromkeys(c for c in cuts if c.strip()))


# --------------------------------------------------------------------------- one run


@dataclass
class Row:
    task_id: str
    half: str
    server_text: str | None
    server_replace: int
    raw: str | None
    server_pass: bool = False
    raw_pass: bool = False
    cut_pass: bool = False
    bound_pass: bool = False
    server_exact: bool = False
    raw_exact: bool = False
    cut_exact: bool = False
    model_ms: float = 0.0
    total_ms: float = 0.0
    reason: str = ""


@dataclass
class RunResult:
    name: str
    rows: list[Row] = field(default_factory=list)


def server_settings(args: argparse.Namespace, proxy_url: str, context: bool) -> dict[str, Any]:
    if proxy_url.endswith("/v1"):
        backend: dict[str, Any] = {"kind": "openai", "baseUrl": proxy_url, "timeoutMs": 600_000}
    else:
        backend = {"kind": "ollama", "host": proxy_url, "timeoutMs": 600_000}
    completion: dict[str, Any] = {
        "backend": backend,
        "model": args.model,
        "debounceMs": 0,
        "timeoutMs": args.timeout_ms,
        "context": context,
        "fimTemplate": args.fim_template,
    }
    return {
        "completion": completion,
        "index": {"enabled": context, "embeddings": False},
        # A re-run from the answer cache asks ~25 completions a second: not a user to limit.
        "limits": {"completion": {"perMinute": 0}},
    }


@contextlib.asynccontextmanager
async def server_session(settings: dict[str, Any], root: Path) -> Any:
    """The real server over stdio, initialized like VS Code, logging warnings only."""
    client = make_client()
    await client.start_io(*server_command("warning"), env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        await client.initialize_session(
            types.InitializeParams(
                capabilities=editor_capabilities("visual_studio_code"),
                initialization_options=settings,
                root_uri=root.as_uri(),
                workspace_folders=[types.WorkspaceFolder(uri=root.as_uri(), name=root.name)],
            )
        )
        yield client
        await client.shutdown_session()
    finally:
        await client.stop()


def close_tab(client: Any, uri: str, path: Path) -> None:
    """Close an editor tab and delete its file (the watched-file event an editor sends)."""
    client.text_document_did_close(
        types.DidCloseTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=uri))
    )
    path.unlink(missing_ok=True)
    client.workspace_did_change_watched_files(
        types.DidChangeWatchedFilesParams(
            changes=[types.FileEvent(uri=uri, type=types.FileChangeType.Deleted)]
        )
    )


async def run_tasks(
    args: argparse.Namespace,
    tasks: list[Task],
    proxy: ModelProxy,
    runner: Runner,
    context: bool,
    label: str,
) -> RunResult:
    result = RunResult(label)
    workspace = Path(tempfile.mkdtemp(prefix="mimi-he-ws-"))
    open_tabs: list[tuple[str, Path, int]] = []
    try:
        settings = server_settings(args, proxy.url, context)
        async with server_session(settings, workspace) as client:
            for n, task in enumerate(tasks):
                name = re.sub(r"\W+", "_", task.task_id) + ".py"
                path = workspace / name
                # Tabs of the same problem hold this task's answer: they close before it opens.
                for tab in [t for t in open_tabs if t[2] == task.problem]:
                    open_tabs.remove(tab)
                    close_tab(client, tab[0], tab[1])
                path.write_text(task.document, encoding="utf-8")
                uri = path.as_uri()
                client.text_document_did_open(
                    types.DidOpenTextDocumentParams(
                        text_document=types.TextDocumentItem(
                            uri=uri, language_id="python", version=1, text=task.document
                        )
                    )
                )
                line = task.prompt.count("\n")
                col = len(task.prompt.rsplit("\n", 1)[-1].encode("utf-16-le")) // 2
                before = len(proxy.generations)
                started = time.perf_counter()
                answer = await client.text_document_inline_completion_async(
                    types.InlineCompletionParams(
                        text_document=types.TextDocumentIdentifier(uri=uri),
                        position=types.Position(line=line, character=col),
                        context=types.InlineCompletionContext(
                            trigger_kind=types.InlineCompletionTriggerKind.Invoked
                        ),
                    )
                )
                total_ms = (time.perf_counter() - started) * 1000
                items = (
                    []
                    if answer is None
                    else list(
                        answer.items if isinstance(answer, types.InlineCompletionList) else answer
                    )
                )
                text: str | None = None
                replace = 0
                if items:
                    item = items[0]
                    text = (
                        item.insert_text
                        if isinstance(item.insert_text, str)
                        else item.insert_text.value
                    )
                    if item.range is not None:
                        replace = item.range.end.character - item.range.start.character
                        if item.range.end.line != item.range.start.line:
                            raise RuntimeError(f"{task.task_id}: multi-line replace range")
                gens = proxy.generations[before:]
                raw = at_cursor(gens[-1], task, args) if gens else None
                row = Row(
                    task.task_id,
                    task.half,
                    text,
                    replace,
                    raw,
                    total_ms=total_ms,
                    model_ms=gens[-1].model_ms if gens else 0.0,
                )
                if text is None:
                    row.reason = "empty"
                result.rows.append(row)
                # Close the tab (keeping the last few open, as an editor would) and delete it.
                open_tabs.append((uri, path, task.problem))
                while len(open_tabs) > args.open_tabs:
                    close_tab(client, *open_tabs.pop(0)[:2])
                if args.progress and (n + 1) % args.progress == 0:
                    print(f"  {label}: {n + 1}/{len(tasks)}", file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(workspace, ignore_errors=True)
    score(tasks, result.rows, runner)
    return result


def at_cursor(generation: Generation, task: Task, args: argparse.Namespace) -> str | None:
    """The model's answer from the cursor on. A Qwen prompt's middle opens with the cursor's
    line but for its last piece, which the answer begins with (None when it does not)."""
    template = select_template(args.model, args.fim_template)
    text = generation.text
    if template is None or template.pieces is None:
        return text
    middle = str(generation.body.get("prompt", "")).rsplit(template.middle, 1)[-1]
    rendered, held = template.render(task.prompt, "")  # the whole task fits the prefix window
    if middle == rendered.rsplit(template.middle, 1)[-1] + held:
        held = ""  # asked again with the piece: the answer goes on from the cursor
    return text[len(held) :] if text.startswith(held) else None


def score(tasks: list[Task], rows: list[Row], runner: Runner) -> None:
    by_id = {t.task_id: t for t in tasks}

    def judge(row: Row) -> None:
        task = by_id[row.task_id]
        want = task.filled(task.expected)
        if row.server_text is not None:
            doc = task.filled(row.server_text, row.server_replace)
            row.server_pass = runner.passes(task.program(doc))
            row.server_exact = _same(doc, want)
        else:
            row.server_pass = runner.passes(task.program(task.document))
        if row.raw is not None:
            raw_doc = task.filled(row.raw)
            row.raw_pass = runner.passes(task.program(raw_doc))
            row.raw_exact = _same(raw_doc, want)
            cut = row.raw.split("\n\n", 1)[0]
            cut_doc = task.filled(cut)
            row.cut_pass = runner.passes(task.program(cut_doc))
            row.cut_exact = _same(cut_doc, want)
            line_after = task.document[len(task.prompt) :].split("\n", 1)[0]
            row.bound_pass = (
                row.cut_pass
                or row.raw_pass
                or any(
                    runner.passes(task.program(task.filled(prefix)))
                    for prefix in best_cuts(row.raw, line_after)
                )
            )

    list(runner.pool.map(judge, rows))


# --------------------------------------------------------------------------- report


def table(result: RunResult, set_name: str) -> str:
    lines = [f"### {set_name}: {result.name}"]
    head = "| half | n | server pass@1 | raw | raw cut at blank line | bound (best cut) | server / bound | server beyond bound | exact: server / raw / cut |"
    lines += [head, "|" + "---|" * 9]
    groups = [
        ("held-out", [r for r in result.rows if r.half == "held-out"]),
        ("dev", [r for r in result.rows if r.half == "dev"]),
        ("all", result.rows),
    ]
    for half, rows in groups:
        if not rows:
            continue
        n = len(rows)
        s = sum(r.server_pass for r in rows)
        raw = sum(r.raw_pass for r in rows)
        cut = sum(r.cut_pass for r in rows)
        bound = sum(r.bound_pass for r in rows)
        ratio = f"{100 * s / bound:.1f}%" if bound else "-"
        beyond = sum(r.server_pass and not r.bound_pass for r in rows)
        exact = f"{sum(r.server_exact for r in rows)} / {sum(r.raw_exact for r in rows)} / {sum(r.cut_exact for r in rows)}"
        lines.append(
            f"| {half} | {n} | {s} ({100 * s / n:.1f}%) | {raw} ({100 * raw / n:.1f}%) | "
            f"{cut} ({100 * cut / n:.1f}%) | {bound} ({100 * bound / n:.1f}%) | {ratio} | {beyond} | "
            f"{exact} |"
        )
    model = [r.model_ms for r in result.rows if r.model_ms]
    empty = sum(r.server_text is None for r in result.rows)
    if model:
        lines.append(
            f"model time per request (uncached measurement): p50 {statistics.median(model):.0f} ms, "
            f"max {max(model):.0f} ms; server answered nothing for {empty} tasks"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--url",
        required=True,
        help="model server: Ollama (http://host:11434) or OpenAI-compatible (.../v1)",
    )
    parser.add_argument("--model", default="qwen2.5-coder:0.5b", help="model name the server knows")
    parser.add_argument("--set", choices=["single", "span", "both"], default="both")
    parser.add_argument("--half", choices=["dev", "held-out", "all"], default="all")
    parser.add_argument(
        "--sample", type=int, default=0, help="a fixed random sample of N tasks per set (seed 0)"
    )
    parser.add_argument(
        "--limit", type=int, default=0, help="only the first N tasks per set (after sampling)"
    )
    parser.add_argument(
        "--context",
        choices=["on", "off", "both"],
        default="both",
        help="completion context (the default is on); both: two runs side by side",
    )
    parser.add_argument(
        "--open-tabs",
        type=int,
        default=0,
        help="keep the last N task files of other problems open as editor tabs (context "
        "candidates; a tab of the same problem would hold the answer)",
    )
    parser.add_argument(
        "--timeout-ms", type=int, default=120_000, help="the server's completion timeout"
    )
    parser.add_argument(
        "--fim-template",
        default="auto",
        help="the server's completion.fimTemplate (e.g. Qwen's tokens in suffix-first order: "
        "'<|fim_suffix|>{suffix}<|fim_prefix|>{prefix}<|fim_middle|>')",
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="answer cache directory")
    parser.add_argument(
        "--no-cache", action="store_true", help="ask the model every time (timing runs)"
    )
    parser.add_argument(
        "--out", type=Path, default=ROOT / ".artifacts" / "bench" / "humaneval_infilling.json"
    )
    parser.add_argument(
        "--progress", type=int, default=50, help="print progress every N tasks (0: never)"
    )
    args = parser.parse_args()

    if args.no_cache:
        cache = AnswerCache(None)
    else:
        args.cache.mkdir(parents=True, exist_ok=True)
        cache = AnswerCache(args.cache / "answers.sqlite")
    runner = Runner(cache)
    contexts = {"on": [True], "off": [False], "both": [True, False]}[args.context]
    report: dict[str, Any] = {"args": {k: str(v) for k, v in vars(args).items()}, "sets": {}}
    load = os.getloadavg()
    print(
        f"# HumanEval-infilling via mimi-lsp: model {args.model} at {args.url}; "
        f"load {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )
    try:
        with ModelProxy(args.url, cache) as proxy:
            for set_name in ["single", "span"] if args.set == "both" else [args.set]:
                tasks = load_tasks(args.data, set_name)
                if args.sample and args.sample < len(tasks):
                    chosen = {t.task_id for t in random.Random(0).sample(tasks, args.sample)}
                    tasks = [t for t in tasks if t.task_id in chosen]
                if args.half != "all":
                    tasks = [t for t in tasks if t.half == args.half]
                if args.limit:
                    tasks = tasks[: args.limit]
                for context in contexts:
                    label = f"context {'on' if context else 'off'}, {len(tasks)} tasks"
                    result = asyncio.run(run_tasks(args, tasks, proxy, runner, context, label))
                    print(table(result, set_name), flush=True)
                    report["sets"].setdefault(set_name, {})[label] = [
                        asdict(r) for r in result.rows
                    ]
    finally:
        runner.close()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1), encoding="utf-8")
    print(f"per-task rows: {args.out}")


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
