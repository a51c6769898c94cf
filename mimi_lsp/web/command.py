"""The ``mimi-lsp web DIR`` subcommand: arguments and start-up (aiohttp is imported lazily)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``web`` subcommand's options."""
    parser.add_argument("folder", nargs="?", default=".", help="the folder to edit (default: .)")
    parser.add_argument(
        "--host",
        dest="web_host",
        default="127.0.0.1",
        help="bind address (default 127.0.0.1; anything else exposes your files to the network)",
    )
    parser.add_argument(
        "--port",
        dest="web_port",
        type=int,
        default=None,
        help="port (default: first free from 8770; 0 for any free port)",
    )
    parser.add_argument("--no-browser", action="store_true", help="do not open a browser")
    parser.add_argument(
        "--token",
        default=None,
        help="use this token instead of a random one (also $MIMI_WEB_TOKEN)",
    )
    parser.add_argument(
        "--settings",
        default=None,
        metavar="JSON|@FILE",
        help="mimi settings (camelCase JSON, or @file.json) for the language servers; merged "
        "over $MIMI_SETTINGS",
    )
    parser.add_argument(
        "--allow-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="also accept WebSocket connections from this origin (e.g. behind a proxy)",
    )
    parser.add_argument(
        "--max-sessions",
        type=int,
        default=16,
        metavar="N",
        help="editor sessions (tabs) served at once; each runs its own language server (default 16)",
    )
    parser.add_argument(
        "--no-spare",
        action="store_true",
        help="do not keep a language server started in advance for the next tab",
    )
    parser.add_argument(
        "--terminal",
        action="store_true",
        help="add a terminal panel: a shell on this machine in the folder, for whoever has the "
        "link (off by default)",
    )
    parser.set_defaults(func=run_command)


def _load_settings(raw: str | None) -> dict[str, Any] | None:
    if not raw:
        return None
    text = Path(raw[1:]).expanduser().read_text(encoding="utf-8") if raw.startswith("@") else raw
    value = json.loads(text)
    if not isinstance(value, dict):
        raise ValueError("settings must be a JSON object")
    return value


def run_command(args: argparse.Namespace) -> int:
    """Start the web IDE server on ``args.folder`` until interrupted."""
    from mimi_lsp.log import setup_logging

    setup_logging(args.log_level, args.log_file, args.log_format)
    folder = Path(args.folder).expanduser()
    if not folder.is_dir():
        sys.stderr.write(f"mimi-lsp web: {folder} is not a folder\n")
        return 2
    try:
        settings = _load_settings(args.settings)
    except (OSError, ValueError) as exc:
        sys.stderr.write(f"mimi-lsp web: --settings: {exc}\n")
        return 2
    if settings is not None:
        from mimi_lsp.settings import resolve_settings

        _, problems = resolve_settings(settings)
        for problem in problems:
            sys.stderr.write(f"mimi-lsp web: settings: {problem} (ignored)\n")
    if args.terminal:
        from mimi_lsp.web.terminal import supported

        if not supported():
            sys.stderr.write("mimi-lsp web: --terminal needs a system with PTYs (Linux, macOS)\n")
            return 2
        from mimi_lsp.web.auth import is_loopback

        if not is_loopback(args.web_host):
            sys.stderr.write(
                f"mimi-lsp web: WARNING: --terminal with --host {args.web_host}: anyone on the "
                "network who has the link gets a shell on this machine\n"
            )
    token = args.token or os.environ.get("MIMI_WEB_TOKEN") or None

    from mimi_lsp.web.app import WebConfig, run
    from mimi_lsp.web.auth import new_token

    config = WebConfig(
        root=folder.resolve(),
        host=args.web_host,
        port=args.web_port,
        token=token or new_token(),
        open_browser=not args.no_browser,
        settings=settings,
        log_level=args.log_level,
        spare=not args.no_spare,
        allowed_origins=set(args.allow_origin),
        max_sessions=max(1, args.max_sessions),
        log_file=args.log_file,
        log_format=args.log_format,
        terminal=args.terminal,
    )
    try:
        return run(config)
    except KeyboardInterrupt:
        return 0
