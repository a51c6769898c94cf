"""Command line: ``mimi-lsp [--stdio | --tcp --port N]`` and subcommands."""

from __future__ import annotations

import argparse
import json
import sys

from mimi_lsp import __version__


def _serve(args: argparse.Namespace) -> int:
    from mimi_lsp.log import setup_logging
    from mimi_lsp.server import create_server

    setup_logging(args.log_level, args.log_file, args.log_format)
    from mimi_lsp import tracing

    tracing.setup()  # only when OTEL_EXPORTER_OTLP_ENDPOINT (or …_TRACES_ENDPOINT) is set
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


def _mcp(args: argparse.Namespace) -> int:
    from mimi_lsp.mcp_server import main as mcp_main

    return mcp_main(args.path, args.log_level, args.log_file, args.log_format)


def _doctor(args: argparse.Namespace) -> int:
    from mimi_lsp.doctor import run

    report, code = run(args.settings, args.folders or ["."], as_json=args.json, quick=args.quick)
    sys.stdout.write(report)
    return code


def _index_arguments(index: argparse.ArgumentParser, search: argparse.ArgumentParser) -> None:
    from mimi_lsp.index.commands import add_arguments

    add_arguments(index, search)


def _index_command(args: argparse.Namespace) -> int:
    from mimi_lsp.index.commands import run_index

    return run_index(args)


def _search_command(args: argparse.Namespace) -> int:
    from mimi_lsp.index.commands import run_search

    return run_search(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mimi-lsp", description="AI language server.")
    parser.add_argument("--version", action="version", version=f"mimi-lsp {__version__}")
    parser.add_argument("--stdio", action="store_true", help="serve LSP over stdio (default)")
    parser.add_argument("--tcp", action="store_true", help="serve LSP over TCP")
    parser.add_argument("--host", default="127.0.0.1", help="TCP bind address")
    parser.add_argument("--port", type=int, default=2087, help="TCP port")
    parser.add_argument(
        "--log-level", default="info", choices=["error", "warning", "info", "debug"]
    )
    parser.add_argument("--log-file", default=None, help="log to this file instead of stderr")
    parser.add_argument(
        "--log-format",
        default="text",
        choices=["text", "json"],
        help="log lines as text or as one JSON object per line (structured logs)",
    )
    parser.set_defaults(func=_serve)
    sub = parser.add_subparsers(dest="command")
    schema = sub.add_parser("schema", help="print the settings JSON schema")
    schema.set_defaults(func=_schema)
    index = sub.add_parser("index", help="index a folder (chunks, BM25, embeddings) with progress")
    search = sub.add_parser("search", help="search a folder's index: mimi-lsp search PATH QUERY")
    index.set_defaults(func=_index_command)
    search.set_defaults(func=_search_command)
    _index_arguments(index, search)
    mcp = sub.add_parser("mcp", help="serve search/read tools over MCP (stdio) for PATH")
    mcp.add_argument("path", nargs="?", default=None, help="workspace folder (default: cwd)")
    mcp.set_defaults(func=_mcp)
    doctor = sub.add_parser(
        "doctor", help="check every configured model backend and say what to fix"
    )
    doctor.add_argument(
        "folders", nargs="*", help="workspace folders whose index to check (default: cwd)"
    )
    doctor.add_argument("--json", action="store_true", help="print the checks as JSON")
    doctor.add_argument(
        "--settings", default=None, help="JSON settings file (same keys as section mimi)"
    )
    doctor.add_argument("--quick", action="store_true", help="no test generation, no model loading")
    doctor.set_defaults(func=_doctor)
    from mimi_lsp.commit_message import add_arguments as add_commit_message_arguments
    from mimi_lsp.web.command import add_arguments as add_web_arguments

    add_commit_message_arguments(
        sub.add_parser(
            "commit-message", help="write a commit message from the staged diff (--commit: commit)"
        )
    )

    add_web_arguments(sub.add_parser("web", help="open the Monaco web IDE on a folder"))
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return int(args.func(args) or 0)
