"""``mimi-lsp index PATH`` and ``mimi-lsp search PATH QUERY``: the index from a terminal.

Called by ``cli.py``; uses the same ``IndexService`` as the language server, so a database
built here is the one the editor uses (same per-user cache folder unless ``--cache-dir``).
Progress goes to stderr (a bar on a terminal, plain lines otherwise); results go to stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from typing import Any, TextIO

from mimi_lsp.index.service import IndexEvent, IndexService
from mimi_lsp.settings import Settings, resolve_settings


def _say(*parts: object, file: TextIO | None = None) -> None:
    """One line to stdout (results) or ``file`` (notes); this is a CLI, not the server."""
    (file or sys.stdout).write(" ".join(str(p) for p in parts) + "\n")


def add_arguments(index: argparse.ArgumentParser, search: argparse.ArgumentParser) -> None:
    """Options of the two subcommands."""
    for parser in (index, search):
        parser.add_argument("path", help="workspace folder")
        parser.add_argument("--cache-dir", default=None, help="where index databases live")
        parser.add_argument(
            "--embeddings",
            choices=["local", "ollama", "fake", "none"],
            default=None,
            help="embedding backend (default: settings, i.e. local MiniLM)",
        )
        parser.add_argument("--exclude", action="append", default=[], help="extra ignore pattern")
    index.add_argument("--force", action="store_true", help="re-read every file")
    index.add_argument("--quiet", action="store_true", help="no progress output")
    search.add_argument("query", help="what to look for (words or an identifier)")
    search.add_argument("-k", type=int, default=10, help="number of results")
    search.add_argument("--mode", choices=["hybrid", "bm25", "vector"], default="hybrid")
    search.add_argument("--language", default=None, help="only this language")
    search.add_argument(
        "--path",
        dest="path_globs",
        action="append",
        default=None,
        help="only paths matching a glob",
    )
    search.add_argument("--json", action="store_true", help="print JSON")


def _settings(args: argparse.Namespace) -> Settings:
    layer: dict[str, Any] = {"index": {"enabled": True}}
    if args.cache_dir:
        layer["index"]["cacheDir"] = args.cache_dir
    if args.exclude:
        layer["index"]["exclude"] = list(args.exclude)
    if args.embeddings == "none":
        layer["index"]["embeddings"] = False
    elif args.embeddings:
        layer["embedding"] = {"backend": {"kind": args.embeddings}}
    settings, problems = resolve_settings(layer)
    for problem in problems:
        _say(f"mimi-lsp: {problem}", file=sys.stderr)
    return settings


class ProgressBar:
    """Index events as a progress bar on stderr."""

    def __init__(self, stream: TextIO, quiet: bool = False) -> None:
        self.stream = stream
        self.quiet = quiet
        self.tty = stream.isatty()
        self.last_line = 0.0

    def __call__(self, event: IndexEvent) -> None:
        if self.quiet or event.kind == "status":
            if event.kind == "status" and event.status.message and not self.quiet:
                self._line(f"note: {event.status.message}")
            return
        pct = event.percentage if event.percentage is not None else 0
        label = "indexing" if event.task == "index" else "embedding"
        text = f"{label:9} [{'#' * (pct // 4):<25}] {pct:3d}% {event.message}"
        if self.tty:
            self.stream.write("\r\x1b[2K" + text)
            if event.kind == "end":
                self.stream.write("\n")
            self.stream.flush()
        elif event.kind != "report" or time.monotonic() - self.last_line > 2:
            self.last_line = time.monotonic()
            self._line(text)

    def _line(self, text: str) -> None:
        if self.tty:
            self.stream.write("\r\x1b[2K")
        self.stream.write(text + "\n")
        self.stream.flush()


async def _index(args: argparse.Namespace, root: str) -> int:
    service = IndexService(_settings(args), listeners=[ProgressBar(sys.stderr, args.quiet)])
    started = time.perf_counter()
    try:
        await service.set_folders([root])
        await (service.reindex() if args.force else service.wait_idle())
        indexed = time.perf_counter() - started
        status = await service.wait_embedded()
        total = time.perf_counter() - started
    finally:
        await service.aclose()
    _say(
        f"{status.files} files, {status.chunks} chunks, {status.embedded} embedded "
        f"(chunks in {indexed:.1f} s, total {total:.1f} s)"
    )
    if status.message:
        _say(f"note: {status.message}", file=sys.stderr)
    return 1 if status.state == "error" else 0


async def _search(args: argparse.Namespace, root: str) -> int:
    settings = _settings(args)
    service = IndexService(settings, listeners=[ProgressBar(sys.stderr, quiet=True)])
    try:
        await service.set_folders([root])  # refreshes changed files first (cheap when current)
        status = await service.wait_idle()
        if args.mode != "bm25" and service.embedder is not None:
            if status.embedded == 0:
                _say(
                    "note: no embeddings yet, so this is keyword search; "
                    f"run `mimi-lsp index {args.path}` to add them",
                    file=sys.stderr,
                )
            else:
                load = getattr(service.embedder, "load", None)
                if load is not None:
                    await load()
        hits = await service.search(args.query, args.k, args.mode, args.path_globs, args.language)
    finally:
        await service.aclose()
    if args.json:
        json.dump(
            [
                {
                    "path": h.path,
                    "startLine": h.span.start_line + 1,
                    "endLine": h.span.end_line + 1,
                    "score": h.score,
                    "symbol": h.symbol,
                    "kind": h.kind,
                    "language": h.language,
                    "preview": h.preview,
                }
                for h in hits
            ],
            sys.stdout,
            indent=2,
        )
        sys.stdout.write("\n")
        return 0
    if not hits:
        _say("no results")
        return 1
    for h in hits:
        rel = h.path[len(root) + 1 :] if h.path.startswith(root + os.sep) else h.path
        symbol = f"  {h.kind or ''} {h.symbol}" if h.symbol else ""
        _say(f"{rel}:{h.span.start_line + 1}-{h.span.end_line + 1}  {h.score:.3f}{symbol}")
        for line in h.preview.splitlines()[:4]:
            _say(f"    {line}")
    return 0


def _root(path: str) -> str | None:
    root = os.path.abspath(path)
    if not os.path.isdir(root):
        _say(f"mimi-lsp: not a folder: {path}", file=sys.stderr)
        return None
    return root


def run_index(args: argparse.Namespace) -> int:
    root = _root(args.path)
    return asyncio.run(_index(args, root)) if root else 2


def run_search(args: argparse.Namespace) -> int:
    root = _root(args.path)
    return asyncio.run(_search(args, root)) if root else 2
