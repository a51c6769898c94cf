"""Time to ghost text with a real model after a typing pause, against the model's own warm time.

A person types into real files (Python standard-library modules: code nobody here wrote) at about
7 keys/s, pausing now and then at a word boundary until the ghost text shows. The editor is the
real mimi-lsp process over stdio (automatic inline requests on every key, like VS Code); the model
is a real model server given by URL (on these machines ``../shared/instruments/real-model.sh
serve DIR PORT``: Qwen2.5-Coder-0.5B Q4 behind llama-cpp-python's OpenAI-compatible server).
A recording proxy sits between the two. Per pause it reports:

- **ghost**: time from the last key to the ghost text (the answer to the last key's request),
  split into **wait** (the last key to the request reaching the model server: the engine's
  adaptive **debounce**, read back from ``mimi.status``, then context and prompt) and **model**
  (the request at the model server until mimi-lsp had what it needed);
- **floor**: the model's own time for the same request when its KV cache already holds that
  prompt: the answered request's exact body sent again through the same proxy (twice; the
  second is timed), read up to the text the server had streamed to mimi-lsp.

  The ratio ghost / floor keeps the debounce: the user waits for it. It is a product choice
  (fewer model calls while the user types), not something a cache can save, and on a small
  model it weighs: ~185 ms at 7 keys/s against a ~280 ms floor. The summary also prints the
  ratio without it, to show what the rest costs;
- **re-eval**: the prompt tokens the model server evaluated for the answered request (the rest
  came from its KV cache), read from its log (``Llama.generate: H prefix-match hit, remaining R
  prompt tokens to eval``; llama-cpp-python prints it with ``verbose``, its default), and the
  prompt tokens evaluated for every request since the previous pause (cancelled ones included).

The first pause in a document has nothing to reuse; the issue's budget is about the later ones:
ghost / floor per pause, median per document, median over documents. Prints a table and writes
the distribution to ``.artifacts/bench/ghost_latency_real.png`` (and rows as JSON with ``--out``).
Not in CI: minutes of CPU. Run it under the machine's locks:

    ../shared/instruments/real-model.sh serve /work/rm 18718 2> /tmp/model.log &
    flock /tmp/m/model.lock flock /tmp/m/cpu.lock python benchmarks/ghost_latency_real.py \\
        --model-url http://127.0.0.1:18718/v1 --model-log /tmp/model.log
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import random
import re
import shutil
import statistics
import sys
import sysconfig
import tempfile
import time
import tokenize
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
from aiohttp import web  # noqa: E402
from lsprotocol import types  # noqa: E402

from tests.lsp_harness import editor_capabilities, make_client, server_command  # noqa: E402

DOCUMENTS = (
    "argparse.py",
    "calendar.py",
    "configparser.py",
    "csv.py",
    "difflib.py",
    "fractions.py",
    "ftplib.py",
    "gettext.py",
    "imaplib.py",
    "inspect.py",
    "pprint.py",
    "shlex.py",
    "statistics.py",
    "tarfile.py",
    "textwrap.py",
    "zipfile.py",
)
KEYS_PER_S = 7.0
BOUNDARY = " (.,=:[\n"
MIN_KEYS_BETWEEN_PAUSES = 8
MAX_PAUSES = 5
READ_S = 0.5
"""How long the user looks at the ghost text before typing on (after the floor replays)."""
OUT_PNG = ROOT / ".artifacts" / "bench" / "ghost_latency_real.png"
_GENERATE = re.compile(r"Llama\.generate: (\d+) prefix-match hit, remaining (\d+) prompt tokens")
_CACHED = "Llama.generate: full prompt already cached"
REPLAY_HEADER = "X-Bench-Replay"
"""Marks the floor's replays, which the proxy relays without recording."""


# --------------------------------------------------------------------------- typing traces


@dataclass
class Trace:
    """One document: the text as opened, where typing starts, the keys, where the user pauses."""

    name: str
    text: str
    line: int
    col: int
    keys: list[str]
    pauses: list[int]
    """Indices into ``keys`` after which the user pauses (the last key is always one)."""
    gaps_s: list[float]


def make_trace(path: Path, seed: int) -> Trace | None:
    """Remove two consecutive code lines from the middle of ``path``; the user types them back."""
    rng = random.Random(f"{seed}:{path.name}")
    source = path.read_text(encoding="utf-8")
    lines = source.splitlines(keepends=True)
    prose = _prose_lines(source)

    def code(i: int) -> str:
        return lines[i].strip() if 0 <= i < len(lines) else ""

    candidates = []
    offset = 0
    for i, raw in enumerate(lines):
        offset += len(raw)
        body, nxt = code(i), code(i + 1)
        indent = len(raw) - len(raw.lstrip(" "))
        if (
            offset > 3_500
            and len(lines) * 0.2 < i < len(lines) * 0.85
            and indent >= 4
            and 24 <= len(body) <= 72
            and 8 <= len(nxt) <= 72
            and not body.startswith(("#", '"', "'", "@"))
            and not nxt.startswith(("#", '"', "'", "@"))
            and "\t" not in raw + lines[i + 1]
            and not {i, i + 1} & prose
        ):
            candidates.append(i)
    if not candidates:
        return None
    i = rng.choice(candidates)
    indent = lines[i][: len(lines[i]) - len(lines[i].lstrip(" "))]
    indent2 = lines[i + 1][: len(lines[i + 1]) - len(lines[i + 1].lstrip(" "))]
    text = "".join(lines[:i]) + indent + "\n" + "".join(lines[i + 2 :])
    # Enter is one key that inserts the newline and the next line's indentation (auto-indent).
    keys = list(code(i)) + ["\n" + indent2] + list(code(i + 1))
    pauses: list[int] = []
    last = -1
    for k, key in enumerate(keys[:-1]):
        if key[0] in BOUNDARY and k - last >= MIN_KEYS_BETWEEN_PAUSES:
            pauses.append(k)
            last = k
    pauses = pauses[: MAX_PAUSES - 1] + [len(keys) - 1]
    gaps = [rng.uniform(0.75, 1.25) / KEYS_PER_S for _ in keys]
    return Trace(path.name, text, i, len(indent), keys, pauses, gaps)


def _prose_lines(source: str) -> set[int]:
    """0-based lines inside multi-line strings (docstrings) or holding a comment."""
    out: set[int] = set()
    tokens = tokenize.generate_tokens(io.StringIO(source).readline)
    for token in tokens:
        if token.type == tokenize.STRING and token.end[0] > token.start[0]:
            out.update(range(token.start[0] - 1, token.end[0]))
        elif token.type == tokenize.COMMENT:
            out.add(token.start[0] - 1)
    return out


# --------------------------------------------------------------------------- recording proxy


@dataclass
class Call:
    """One /v1/completions request as the proxy relayed it."""

    body: dict[str, Any]
    started: float
    ended: float = 0.0
    text: str = ""
    finished: bool = False
    """The model server ended the stream (not mimi-lsp closing it early)."""
    closed_by_client: bool = False


class RecordingProxy:
    """Relays everything to the model server, recording each completion request and its stream."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.calls: list[Call] = []
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self.url = ""

    async def start(self) -> str:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None))
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._relay)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]  # noqa: SLF001
        # The model server's base URL ends in /v1; keep the same path behind the proxy.
        path = self.upstream.split("://", 1)[-1].partition("/")[2]
        self.url = f"http://127.0.0.1:{port}/{path}".rstrip("/")
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    async def _relay(self, request: web.Request) -> web.StreamResponse:
        assert self._session is not None
        body = await request.read()
        origin = "/".join(self.upstream.split("/", 3)[:3])  # scheme://host:port
        call: Call | None = None
        replayed = REPLAY_HEADER in request.headers
        if request.method == "POST" and request.path.endswith("/completions") and not replayed:
            call = Call(json.loads(body), time.perf_counter())
            self.calls.append(call)
        headers = {"Content-Type": request.headers.get("Content-Type", "application/json")}
        async with self._session.request(
            request.method, origin + request.path_qs, data=body or None, headers=headers
        ) as upstream:
            response = web.StreamResponse(status=upstream.status)
            response.content_type = upstream.content_type
            pending = ""
            try:
                await response.prepare(request)
                async for chunk in upstream.content.iter_any():
                    if call is not None:
                        pending += chunk.decode("utf-8", "replace")
                        *lines, pending = pending.split("\n")
                        call.text += "".join(_sse_text(line) for line in lines)
                    await response.write(chunk)
            except ConnectionResetError:  # mimi-lsp closed the stream (a stop, a newer key)
                if call is not None:
                    call.closed_by_client = True
                    call.ended = time.perf_counter()
                return response  # leaving the block closes the model server's stream too
            if call is not None:
                call.finished = True
                call.ended = time.perf_counter()
            await response.write_eof()
            return response


def _sse_text(line: str) -> str:
    line = line.strip()
    if not line.startswith("data:"):
        return ""
    data = line[5:].strip()
    if not data or data == "[DONE]":
        return ""
    try:
        chunk = json.loads(data)
    except json.JSONDecodeError:
        return ""
    return "".join(choice.get("text") or "" for choice in chunk.get("choices") or ())


async def replay(session: aiohttp.ClientSession, url: str, call: Call) -> tuple[float, bool]:
    """Seconds for the model server to stream ``call``'s answer again, up to the same length,
    and whether it streamed the same text (temperature 0; batch sizes can still flip a token)."""
    started = time.perf_counter()
    text = ""
    headers = {REPLAY_HEADER: "1"}
    async with session.post(f"{url}/completions", json=call.body, headers=headers) as response:
        pending = ""
        async for chunk in response.content.iter_any():
            pending += chunk.decode("utf-8", "replace")
            *lines, pending = pending.split("\n")
            for line in lines:
                text += _sse_text(line)
            if call.text and len(text) >= len(call.text):
                break
    return time.perf_counter() - started, text[: len(call.text)] == call.text


# --------------------------------------------------------------------------- the model's log


@dataclass
class Evaluation:
    """One ``Llama.generate`` call: tokens reused from the KV cache and tokens evaluated."""

    reused: int
    evaluated: int

    @property
    def prompt(self) -> int:
        return self.reused + self.evaluated


class ModelLog:
    """Reads the model server's log forward from where it last stopped."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.offset = path.stat().st_size if path and path.exists() else 0

    def read(self) -> list[Evaluation]:
        if self.path is None or not self.path.exists():
            return []
        with self.path.open("rb") as f:
            f.seek(self.offset)
            data = f.read()
        self.offset += len(data)
        out = []
        for line in data.decode("utf-8", "replace").splitlines():
            if match := _GENERATE.search(line):
                out.append(Evaluation(int(match[1]), int(match[2])))
            elif _CACHED in line:
                out.append(Evaluation(-1, 0))
        return out


# --------------------------------------------------------------------------- the editor


@dataclass
class Pause:
    document: str
    index: int
    keys: int
    ghost_ms: float
    floor_ms: float
    shown: bool
    model_calls: int
    prompt_tokens: int | None
    reevaluated: int | None
    evaluated_since_last_pause: int | None
    wait_ms: float = 0.0
    """Last key -> the request reaching the model server (debounce, context, prompt)."""
    debounce_ms: float = 0.0
    """The part of ``wait_ms`` the engine chose to wait for more keys (its adaptive debounce)."""
    model_ms: float = 0.0
    """The request at the model server until mimi-lsp had what it needed."""
    suggestion: str = ""
    note: str = ""

    @property
    def ratio(self) -> float:
        return self.ghost_ms / self.floor_ms if self.floor_ms else float("nan")


class Editor:
    """Types a trace into one open document, one automatic inline request per key.

    With ``autoclose`` it closes brackets as VS Code does by default: an opener before
    whitespace, a closer or the line end also inserts its closer after the cursor, and typing a
    closer that is already next to the cursor only moves over it.
    """

    PAIRS = {"(": ")", "[": "]", "{": "}"}

    def __init__(self, client: Any, uri: str, trace: Trace, autoclose: bool = False) -> None:
        self.client = client
        self.uri = uri
        self.trace = trace
        self.autoclose = autoclose
        self.version = 1
        self.line = trace.line
        self.col = trace.col
        lines = trace.text.splitlines(keepends=True)
        self.text = trace.text
        self.offset = sum(map(len, lines[: trace.line])) + trace.col
        client.text_document_did_open(
            types.DidOpenTextDocumentParams(
                text_document=types.TextDocumentItem(
                    uri=uri, language_id="python", version=1, text=trace.text
                )
            )
        )

    def type(self, key: str) -> None:
        after = self.text[self.offset : self.offset + 1]
        if self.autoclose and key in self.PAIRS.values() and after == key:
            self._move(key)  # over the closer the editor inserted
            return
        insert = key
        if self.autoclose and key in self.PAIRS and (after in ("", "\n") or after in " )]}:,;"):
            insert = key + self.PAIRS[key]
        self.version += 1
        at = types.Position(line=self.line, character=self.col)
        self.client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(
                    uri=self.uri, version=self.version
                ),
                content_changes=[
                    types.TextDocumentContentChangePartial(
                        range=types.Range(start=at, end=at), text=insert
                    )
                ],
            )
        )
        self.text = self.text[: self.offset] + insert + self.text[self.offset :]
        self._move(key)

    def _move(self, typed: str) -> None:
        self.offset += len(typed)
        if "\n" in typed:
            self.line += typed.count("\n")
            self.col = len(typed.rsplit("\n", 1)[1])
        else:
            self.col += len(typed)

    def ask(self) -> asyncio.Future[Any]:
        return asyncio.ensure_future(
            self.client.text_document_inline_completion_async(
                types.InlineCompletionParams(
                    text_document=types.TextDocumentIdentifier(uri=self.uri),
                    position=types.Position(line=self.line, character=self.col),
                    context=types.InlineCompletionContext(
                        trigger_kind=types.InlineCompletionTriggerKind.Automatic
                    ),
                )
            )
        )

    def close(self) -> None:
        self.client.text_document_did_close(
            types.DidCloseTextDocumentParams(
                text_document=types.TextDocumentIdentifier(uri=self.uri)
            )
        )


async def _debounce_ms(client: Any) -> float:
    """The debounce the engine chose for its last request that reached the debounce."""
    status = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="mimi.status", arguments=[])
    )
    if not isinstance(status, dict):
        status = json.loads(json.dumps(status, default=lambda o: getattr(o, "__dict__", str(o))))
    return float(status["metrics"]["completion"]["debounceMs"])


def _items(result: Any) -> list[Any]:
    if result is None:
        return []
    return list(result.items if isinstance(result, types.InlineCompletionList) else result)


async def type_document(
    client: Any,
    uri: str,
    trace: Trace,
    proxy: RecordingProxy,
    log: ModelLog,
    session: aiohttp.ClientSession,
    timeout_s: float,
    autoclose: bool = False,
) -> list[Pause]:
    editor = Editor(client, uri, trace, autoclose)
    out: list[Pause] = []
    pending: list[asyncio.Future[Any]] = []
    calls_before = len(proxy.calls)
    await asyncio.sleep(0.3)  # the user looks at the file before typing
    for k, key in enumerate(trace.keys):
        editor.type(key)
        sent = time.perf_counter()
        pending.append(editor.ask())
        if k not in trace.pauses:
            await asyncio.sleep(trace.gaps_s[k])
            continue
        note = ""
        try:
            result = await asyncio.wait_for(asyncio.shield(pending[-1]), timeout_s)
        except TimeoutError:
            result, note = None, "timeout"
        ghost = time.perf_counter() - sent
        items = _items(result)
        await asyncio.gather(*pending, return_exceptions=True)
        pending.clear()
        calls = proxy.calls[calls_before:]
        calls_before = len(proxy.calls)
        # The last key's request reached the model after its debounce, so after the key.
        answered = calls[-1] if calls and calls[-1].started >= sent else None
        evaluations = log.read()
        floor = 0.0
        prompt_tokens = reevaluated = evaluated_all = None
        if answered is not None:
            # Through the proxy as mimi-lsp's request went, so both pay its relay.
            await replay(session, proxy.url, answered)  # the cache holds it already; settle
            floor, same = await replay(session, proxy.url, answered)
            if not same:
                note = "replay diverged"
            # A replay of a cached prompt re-evaluates its last token: reused + 1 = the prompt.
            counted = [e for e in log.read() if e.reused >= 0]
            prompt_tokens = counted[-1].prompt if counted else None
            mine = evaluations[-1] if evaluations else None
            evaluated_all = sum(e.evaluated for e in evaluations)
            if mine is not None and mine.reused == -1:
                reevaluated = 0  # the server had exactly this prompt cached
            elif mine is not None and mine.prompt == prompt_tokens:
                reevaluated = mine.evaluated
            elif prompt_tokens is not None:
                # No prefix in common at all: the server says nothing and evaluates everything.
                reevaluated = prompt_tokens
                evaluated_all += prompt_tokens
        else:
            note = note or ("typed-through cache" if items else "no model call")
        out.append(
            Pause(
                document=trace.name,
                index=len(out) + 1,
                keys=k + 1,
                ghost_ms=ghost * 1000,
                floor_ms=floor * 1000,
                shown=bool(items),
                model_calls=len(calls),
                prompt_tokens=prompt_tokens,
                reevaluated=reevaluated,
                evaluated_since_last_pause=evaluated_all,
                wait_ms=(answered.started - sent) * 1000 if answered else 0.0,
                model_ms=(answered.ended - answered.started) * 1000 if answered else 0.0,
                suggestion=str(items[0].insert_text)[:60] if items else "",
                note=note,
            )
        )
        out[-1].debounce_ms = await _debounce_ms(client) if answered is not None else 0.0
        print(_row(out[-1]), flush=True)
        log.read()
        await asyncio.sleep(READ_S)
    editor.close()
    return out


# --------------------------------------------------------------------------- report


def _fmt(value: int | None) -> str:
    return "-" if value is None else str(value)


def _row(p: Pause) -> str:
    ratio = f"{p.ratio:5.2f}" if p.floor_ms else "    -"
    return (
        f"{p.document:<16} {p.index:>2} {p.keys:>4} {p.ghost_ms:>8.0f} {p.debounce_ms:>5.0f} "
        f"{p.wait_ms:>6.0f} "
        f"{p.model_ms:>7.0f} {p.floor_ms:>8.0f} "
        f"{ratio} {_fmt(p.prompt_tokens):>6} {_fmt(p.reevaluated):>6} "
        f"{_fmt(p.evaluated_since_last_pause):>6} {p.model_calls:>3}  "
        f"{p.note or repr(p.suggestion)[:40]}"
    )


HEADER = (
    f"{'document':<16} {'#':>2} {'keys':>4} {'ghost':>8} {'deb':>5} {'wait':>6} {'model':>7} "
    f"{'floor':>8} "
    f"{'ratio':>5} "
    f"{'prompt':>6} {'re-ev':>6} {'evals':>6} {'rq':>3}  suggestion"
)


def summary(pauses: list[Pause]) -> dict[str, Any]:
    timed = [p for p in pauses if p.floor_ms]
    first = [p for p in timed if p.index == 1]
    later = [p for p in timed if p.index > 1]
    per_doc = {}
    for p in later:
        per_doc.setdefault(p.document, []).append(p.ratio)
    doc_medians = [statistics.median(v) for v in per_doc.values()]

    def med(values: list[float]) -> float:
        return statistics.median(values) if values else float("nan")

    def p90(values: list[float]) -> float:
        if not values:
            return float("nan")
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]

    return {
        "documents": len({p.document for p in pauses}),
        "pauses": len(pauses),
        "first": {
            "n": len(first),
            "ghost_ms": med([p.ghost_ms for p in first]),
            "floor_ms": med([p.floor_ms for p in first]),
            "ratio": med([p.ratio for p in first]),
            "reevaluated": med([p.reevaluated for p in first if p.reevaluated is not None]),
        },
        "later": {
            "n": len(later),
            "documents": len(per_doc),
            "ratio_median_of_document_medians": med(doc_medians),
            "ratio_median": med([p.ratio for p in later]),
            "ratio_p90": p90([p.ratio for p in later]),
            "model_ratio_median": med([p.model_ms / p.floor_ms for p in later]),
            # The debounce is the product's choice (it saves model calls while the user types);
            # the user pays it, so ``ratio`` keeps it. This one shows what the rest costs.
            "ratio_after_debounce_median_of_document_medians": med(
                [
                    statistics.median(
                        [
                            (p.ghost_ms - p.debounce_ms) / p.floor_ms
                            for p in later
                            if p.document == d
                        ]
                    )
                    for d in per_doc
                ]
            ),
            "debounce_ms": med([p.debounce_ms for p in later]),
            "ghost_ms": med([p.ghost_ms for p in later]),
            "wait_ms": med([p.wait_ms for p in later]),
            "model_ms": med([p.model_ms for p in later]),
            "floor_ms": med([p.floor_ms for p in later]),
            "reevaluated_median": med([p.reevaluated for p in later if p.reevaluated is not None]),
            "reevaluated_mean": statistics.fmean(
                [p.reevaluated for p in later if p.reevaluated is not None] or [float("nan")]
            ),
            "prompt_tokens": med([p.prompt_tokens for p in later if p.prompt_tokens is not None]),
            "evaluated_per_pause": med(
                [
                    p.evaluated_since_last_pause
                    for p in later
                    if p.evaluated_since_last_pause is not None
                ]
            ),
        },
        "not_shown": sum(not p.shown for p in pauses),
        "cache_answers": sum(p.note == "typed-through cache" for p in pauses),
    }


def plot(pauses: list[Pause], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    timed = [p for p in pauses if p.floor_ms]
    ratios = [p.ratio for p in timed] or [1.0]
    bins = np.geomspace(min(0.5, min(ratios)), max(2.0, max(ratios)) * 1.01, 40)
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
    for label, sel, color in (
        ("first pause", [p for p in timed if p.index == 1], "#c0504d"),
        ("later pauses", [p for p in timed if p.index > 1], "#4a7ab5"),
    ):
        if sel:
            axes[0].hist(
                [p.ratio for p in sel],
                bins=bins,
                alpha=0.6,
                label=f"{label} (n={len(sel)})",
                color=color,
            )
            axes[1].scatter(
                [p.floor_ms / 1000 for p in sel],
                [p.ghost_ms / 1000 for p in sel],
                s=14,
                label=label,
                color=color,
            )
    axes[0].axvline(1.5, color="k", linestyle="--", linewidth=1, label="1.5x floor")
    axes[0].set_xscale("log")
    axes[0].set_xlabel("time to ghost text / warm model time for the same prompt")
    axes[0].set_ylabel("pauses")
    axes[0].legend(fontsize=8)
    top = max([p.ghost_ms / 1000 for p in timed] + [1.0])
    axes[1].plot([0, top], [0, top], color="#888", linewidth=1)
    axes[1].plot([0, top / 1.5], [0, top], color="k", linestyle="--", linewidth=1)
    axes[1].set_xlabel("floor: warm model time (s)")
    axes[1].set_ylabel("last key to ghost text (s)")
    axes[1].legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


# --------------------------------------------------------------------------- main


async def run(args: argparse.Namespace) -> list[Pause]:
    stdlib = Path(args.stdlib)
    traces = []
    for name in args.documents:
        trace = make_trace(stdlib / name, args.seed)
        if trace is None:
            print(f"skipped {name}: no line to type", file=sys.stderr)
            continue
        traces.append(trace)
    traces = traces[: args.limit] if args.limit else traces
    proxy = RecordingProxy(args.model_url)
    proxy_url = await proxy.start()
    log = ModelLog(Path(args.model_log) if args.model_log else None)
    workspace = Path(tempfile.mkdtemp(prefix="mimi-ghost-"))
    for trace in traces:  # the repository: the documents as they are on disk
        shutil.copy(stdlib / trace.name, workspace / trace.name)
    settings = {
        "completion": {
            "backend": {"kind": "openai", "baseUrl": proxy_url, "timeoutMs": 120_000},
            "model": args.model,
            "temperature": 0,
            "timeoutMs": int(args.timeout * 1000),
            "maxPrefixChars": args.prefix_chars,
            "maxSuffixChars": args.suffix_chars,
            "context": not args.no_context,
            "fimTemplate": args.fim_template,
        },
        "index": {
            "enabled": not args.no_context,
            "embeddings": False,
            "cacheDir": str(workspace / ".index"),
        },
        "limits": {"completion": {"perMinute": 0}},
    }
    pauses: list[Pause] = []
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None)) as session,
            editor_session(settings, workspace) as client,
        ):
            if not args.no_context:
                await _index_ready(client)
            print(HEADER)
            for trace in traces:
                uri = (workspace / trace.name).as_uri()
                pauses += await type_document(
                    client,
                    uri,
                    trace,
                    proxy,
                    log,
                    session,
                    args.timeout,
                    args.autoclose,
                )
    finally:
        await proxy.stop()
        shutil.rmtree(workspace, ignore_errors=True)
    return pauses


@contextlib.asynccontextmanager
async def editor_session(settings: dict[str, Any], root: Path) -> Any:
    """The real server over stdio, initialized like VS Code with ``root`` open (warnings only)."""
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


async def _index_ready(client: Any, limit_s: float = 120.0) -> None:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        for method, params in client.notifications:
            state = (
                params.get("state") if isinstance(params, dict) else getattr(params, "state", None)
            )
            if method == "mimi/indexStatus" and state == "ready":
                return
        await asyncio.sleep(0.1)
    print("the index did not report ready; going on", file=sys.stderr)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-url", required=True, help="OpenAI-compatible base URL (…/v1)")
    parser.add_argument("--model-log", help="the model server's log (llama-cpp-python, verbose)")
    parser.add_argument("--model", default="qwen2.5-coder:0.5b")
    parser.add_argument("--stdlib", default=sysconfig.get_paths()["stdlib"])
    parser.add_argument("--documents", nargs="*", default=list(DOCUMENTS))
    parser.add_argument("--limit", type=int, default=0, help="at most this many documents")
    parser.add_argument("--seed", type=int, default=18)
    parser.add_argument("--prefix-chars", type=int, default=3_000)
    parser.add_argument("--suffix-chars", type=int, default=1_000)
    parser.add_argument("--no-context", action="store_true", help="no index, no context snippets")
    parser.add_argument(
        "--fim-template", default="auto", help="the server's completion.fimTemplate"
    )
    parser.add_argument(
        "--autoclose", action="store_true", help="close brackets as VS Code does while typing"
    )
    parser.add_argument("--timeout", type=float, default=90.0, help="seconds per ghost text")
    parser.add_argument("--label", default="", help="named in the plot's title and the JSON")
    parser.add_argument("--out", help="write the pauses and the summary as JSON here")
    parser.add_argument("--plot", default=str(OUT_PNG))
    args = parser.parse_args()

    load_before = os.getloadavg()
    started = time.time()
    pauses = asyncio.run(run(args))
    load_after = os.getloadavg()
    result = summary(pauses)
    print()
    print(json.dumps(result, indent=2))
    later = result["later"]
    print(
        f"\nlater pauses: median ghost/floor {later['ratio_median_of_document_medians']:.2f} "
        f"(median of {later['documents']} documents' medians; all {later['n']} pauses: median "
        f"{later['ratio_median']:.2f}, p90 {later['ratio_p90']:.2f}); ghost "
        f"{later['ghost_ms']:.0f} ms = {later['wait_ms']:.0f} ms to reach the model (debounce "
        f"{later['debounce_ms']:.0f} ms) + "
        f"{later['model_ms']:.0f} ms there (warm floor {later['floor_ms']:.0f} ms; model/floor "
        f"{later['model_ratio_median']:.2f}); re-evaluated prompt tokens "
        f"per answered request: median {later['reevaluated_median']}, mean "
        f"{later['reevaluated_mean']:.0f} of {later['prompt_tokens']}; without the debounce the "
        f"median ratio would be {later['ratio_after_debounce_median_of_document_medians']:.2f}"
    )
    print(
        f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f}; "
        f"{(time.time() - started) / 60:.1f} min"
    )
    title = (
        f"ghost text after a typing pause, {args.model} {args.label}: later pauses median "
        f"{later['ratio_median_of_document_medians']:.2f}x the warm floor"
    )
    with contextlib.suppress(ImportError):
        plot(pauses, Path(args.plot), title)
        print(f"plot: {args.plot}")
    if args.out:
        Path(args.out).write_text(
            json.dumps(
                {
                    "label": args.label,
                    "load": [load_before, load_after],
                    "summary": result,
                    "pauses": [asdict(p) for p in pauses],
                },
                indent=1,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
