"""Command line: ``mimi-lsp [--stdio | --tcp --port N]`` and subcommands."""

from __future__ import annotations

import argparse
import json
import sys

from mimi_lsp import __version__


def _serve(args: argparse.Namespace) -> int:
    from mimi_lsp.log import setup_logging
    from mimi_lsp.server import create_server

    setup_logging(args.log_level, args.log_file)
    server = create_server()
    if args.tcp:
        server.start_tcp(args.host, args.port)
    else:
        server.start_io()
    return 0


def _schema(args: argparse.Namespace) -> int:
    from mimi_lsp.settings import settings_schema

    json.dump(settings_schema(), sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mimi-lsp", description="AI language server.")
    parser.add_argument("--version", action="version", version=f"mimi-lsp {__version__}")
    parser.add_argument("--stdio", action="store_true", help="serve LSP over stdio (default)")
    parser.add_argument("--tcp", action="store_true", help="serve LSP over TCP")
    parser.add_argument("--host", default="127.0.0.1", help="TCP bind address")
    parser.add_argument("--port", type=int, default=2087, help="TCP port")
    parser.add_argument("--log-level", default="info", choices=["error", "warning", "info", "debug"])
    parser.add_argument("--log-file", default=None, help="log to this file instead of stderr")
    parser.set_defaults(func=_serve)
    sub = parser.add_subparsers(dest="command")
    schema = sub.add_parser("schema", help="print the settings JSON schema")
    schema.set_defaults(func=_schema)
    from mimi_lsp.web.command import add_arguments as add_web_arguments

    add_web_arguments(sub.add_parser("web", help="open the Monaco web IDE on a folder"))
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return int(args.func(args) or 0)
