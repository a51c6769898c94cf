"""``mimi-lsp web``: the HTTP server behind the bundled Monaco IDE.

Serves the built page (``web/static``), file endpoints confined to one folder
(``WorkspaceFiles``), and ``/lsp``: a WebSocket carrying LSP to a language server process of its
own (``bridge.py``). Every request needs the token (``auth.py``). The server processes get the
settings through ``MIMI_SETTINGS`` and see the folder as their only workspace folder, so the
page is just another thin LSP client.

Routes (JSON unless noted; paths are relative to the folder, with ``/``):

- ``GET /`` the page; ``GET /api/info``; ``GET /api/health`` a probe of the backends;
- ``GET /api/tree?path=`` one folder; ``GET /api/files`` every file (quick open);
- ``GET /api/file?path=`` read (``&missing=ok``: ``{exists: false}`` instead of a 404);
- ``PUT /api/file?path=`` save ``{text, mtime?}`` (409 when the file changed on disk);
- ``GET /lsp`` the WebSocket; ``GET /metrics`` Prometheus text (every session's server
  summed; ``metrics.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
import webbrowser
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from mimi_lsp import __version__
from mimi_lsp.errors import FileNotFound, MimiError, OutsideWorkspace
from mimi_lsp.metrics import MultiprocessMetrics
from mimi_lsp.web import git_routes, terminal
from mimi_lsp.web.auth import Auth, new_token
from mimi_lsp.web.bridge import ServerLauncher, bridge, server_command
from mimi_lsp.web.bundle import STATIC_DIR, is_built
from mimi_lsp.web.workspace_files import FileContent, WorkspaceFiles

log = logging.getLogger(__name__)

DEFAULT_PORT = 8770
PORT_TRIES = 20

FILES: web.AppKey[WorkspaceFiles] = web.AppKey("files", WorkspaceFiles)
LAUNCHER: web.AppKey[ServerLauncher] = web.AppKey("launcher", ServerLauncher)
SOCKETS = web.AppKey("sockets", set[web.WebSocketResponse])
HEALTH_CACHE: web.AppKey[list[Any]] = web.AppKey("health_cache", list)
METRICS: web.AppKey[MultiprocessMetrics] = web.AppKey("metrics", MultiprocessMetrics)
HEALTH_TIMEOUT_S = 3.0
HEALTH_CACHE_S = 5.0

NOT_BUILT_PAGE = """<!doctype html><meta charset="utf-8"><title>mimi-lsp</title>
<body style="font:15px system-ui;max-width:40em;margin:4em auto">
<h1>The web page is not built</h1><p>Run <code>make setup-web</code> in the mimi-lsp checkout
(it needs Node 20), then reload.</p></body>"""

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; "
    "connect-src 'self' ws: wss:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)


@dataclass
class WebConfig:
    """How ``mimi-lsp web`` was asked to run."""

    root: Path
    host: str = "127.0.0.1"
    port: int | None = None
    token: str = field(default_factory=new_token)
    open_browser: bool = True
    settings: dict[str, Any] | None = None
    log_level: str = "info"
    spare: bool = True
    allowed_origins: set[str] = field(default_factory=set)
    max_sessions: int = 16
    log_file: str | None = None
    log_format: str = "text"
    terminal: bool = False
    """Serve a shell in the page (``--terminal``; off by default)."""


# ------------------------------------------------------------------------------------------
# Handlers


def _problem(request: web.Request, exc: MimiError) -> web.Response:
    """A refusal as JSON ``{error, fix?}``; a malformed or hostile request (400, 403) also gets
    one log line, never a traceback."""
    default = (
        403 if isinstance(exc, OutsideWorkspace) else 404 if isinstance(exc, FileNotFound) else 400
    )
    status = getattr(exc, "status", default)
    if status in (400, 403):
        log.warning("%s %s: %d %s", request.method, request.path, status, exc.message[:200])
    body: dict[str, Any] = {"error": exc.message}
    if exc.fix:
        body["fix"] = exc.fix
    if (mtime := getattr(exc, "mtime_ns", None)) is not None:
        body["mtime"] = str(mtime)
    return web.json_response(body, status=status)


def _file_json(files: WorkspaceFiles, content: FileContent, with_text: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "path": content.path,
        "uri": files.uri(content.path),
        # Nanoseconds overflow JavaScript's safe integers: a string, compared as-is.
        "mtime": str(content.mtime_ns),
        "size": content.size,
    }
    if with_text:
        out["text"] = content.text
    return out


async def index(request: web.Request) -> web.StreamResponse:
    if not is_built():
        return web.Response(text=NOT_BUILT_PAGE, content_type="text/html")
    response = web.FileResponse(STATIC_DIR / "index.html")
    response.headers["Cache-Control"] = "no-cache"
    return response


async def info(request: web.Request) -> web.Response:
    files = request.app[FILES]
    return web.json_response(
        {
            "name": files.root.name or str(files.root),
            "root": str(files.root),
            "rootUri": files.root.as_uri(),
            "version": __version__,
            "lsp": "/lsp",
            "terminal": "/terminal" if request.app[terminal.ENABLED] else None,
        }
    )


async def tree(request: web.Request) -> web.Response:
    files = request.app[FILES]
    rel = request.query.get("path", "")
    try:
        entries = await asyncio.to_thread(files.list_dir, rel)
    except MimiError as exc:
        return _problem(request, exc)
    return web.json_response(
        {
            "path": rel,
            "entries": [
                {"name": e.name, "path": e.path, "kind": e.kind, "size": e.size} for e in entries
            ],
        }
    )


async def all_files(request: web.Request) -> web.Response:
    files = request.app[FILES]
    paths, truncated = await asyncio.to_thread(files.all_files)
    return web.json_response({"files": paths, "truncated": truncated})


async def read_file(request: web.Request) -> web.Response:
    files = request.app[FILES]
    path = request.query.get("path", "")
    try:
        content = await asyncio.to_thread(files.read, path)
    except FileNotFound as exc:
        # ?missing=ok: "not there yet" is an answer, not an error (files an edit creates).
        if request.query.get("missing") == "ok":
            return web.json_response({"path": path, "uri": files.uri(path), "exists": False})
        return _problem(request, exc)
    except MimiError as exc:
        return _problem(request, exc)
    return web.json_response(_file_json(files, content, with_text=True))


async def save_file(request: web.Request) -> web.Response:
    files = request.app[FILES]
    try:
        body = await request.json()
    except ValueError:
        return web.json_response({"error": "expected a JSON body {text, mtime?}"}, status=400)
    if not isinstance(body, dict) or not isinstance(body.get("text"), str):
        return web.json_response({"error": "expected a JSON body {text, mtime?}"}, status=400)
    mtime = body.get("mtime")
    try:
        expected = int(mtime) if mtime not in (None, "") else None
    except (TypeError, ValueError):
        return web.json_response(
            {"error": "mtime must be the string the read returned"}, status=400
        )
    try:
        content = await asyncio.to_thread(
            files.write, request.query.get("path", ""), body["text"], expected_mtime_ns=expected
        )
    except MimiError as exc:
        return _problem(request, exc)
    return web.json_response(_file_json(files, content, with_text=False))


async def _probe(backend_settings: Any, model: str) -> dict[str, Any]:
    from mimi_lsp.inference.factory import create_backend

    out: dict[str, Any] = {"kind": backend_settings.kind, "model": model}
    try:
        backend = create_backend(backend_settings)
    except Exception as exc:  # a backend that cannot even be built is an error to show
        return {**out, "state": "error", "message": str(exc)}
    try:
        health = await asyncio.wait_for(backend.health(), HEALTH_TIMEOUT_S)
        out["state"] = health.state.value
        message = " ".join(p for p in (health.message, health.fix) if p)
        if message:
            out["message"] = message
    except TimeoutError:
        out.update(state="unavailable", message=f"no answer within {HEALTH_TIMEOUT_S:g} s")
    except Exception as exc:
        out.update(state="error", message=str(exc))
    finally:
        with contextlib.suppress(Exception):
            await backend.aclose()
    return out


async def health(request: web.Request) -> web.Response:
    """Probe the configured backends now (cached briefly): the page shows it before any
    completion was asked for, so a missing Ollama is visible at once."""
    cache = request.app[HEALTH_CACHE]
    now = asyncio.get_running_loop().time()
    if cache and now - cache[0] < HEALTH_CACHE_S:
        return web.json_response(cache[1])
    from mimi_lsp.settings import resolve_settings

    settings, _ = resolve_settings(env=request.app[LAUNCHER].env)
    result = {"completion": await _probe(settings.completion.backend, settings.completion.model)}
    chat_backend = settings.chat_backend()
    if chat_backend != settings.completion.backend:
        result["chat"] = await _probe(chat_backend, settings.chat.model)
    else:
        result["chat"] = {**result["completion"], "model": settings.chat.model}
    cache[:] = [now, result]
    return web.json_response(result)


async def lsp_socket(request: web.Request) -> web.StreamResponse:
    launcher = request.app[LAUNCHER]
    counts = request.app[METRICS]
    try:
        proc = await launcher.acquire()
    except web.HTTPServiceUnavailable:
        counts.refused_total += 1
        raise
    ws = web.WebSocketResponse(heartbeat=30, max_msg_size=64 * 1024 * 1024)
    sockets = request.app[SOCKETS]
    counts.sessions += 1
    counts.sessions_total += 1
    try:
        await ws.prepare(request)
        sockets.add(ws)
        log.info("editor session %s started (pid %s)", id(ws), proc.pid)
        await bridge(ws, proc)
    finally:
        counts.sessions -= 1
        sockets.discard(ws)
        await launcher.release(proc)
        counts.process_dead(proc.pid)
        log.info("editor session %s ended", id(ws))
    return ws


async def prometheus_metrics(request: web.Request) -> web.Response:
    """Prometheus text format: every session's server, summed (multiprocess mode), plus the
    bridge's sessions and the resident memory of the whole process tree."""
    body, content_type = await asyncio.to_thread(request.app[METRICS].render)
    response = web.Response(body=body)
    response.headers["Content-Type"] = content_type
    return response


@web.middleware
async def security_headers(request: web.Request, handler: Any) -> web.StreamResponse:
    response = await handler(request)
    if not response.prepared:
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
    return response


# ------------------------------------------------------------------------------------------
# Wiring


def _deep_merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """``over`` on top of ``base``; a backend of another ``kind`` replaces the old one."""
    out = dict(base)
    for key, value in over.items():
        old = out.get(key)
        if isinstance(value, Mapping) and isinstance(old, dict):
            if "kind" in value and old.get("kind") not in (None, value["kind"]):
                out[key] = dict(value)
            else:
                out[key] = _deep_merge(old, value)
        else:
            out[key] = value
    return out


def child_environment(settings: Mapping[str, Any] | None) -> dict[str, str]:
    """The language servers' environment: ours, with ``settings`` merged into MIMI_SETTINGS."""
    env = dict(os.environ)
    if settings:
        merged: dict[str, Any] = {}
        with contextlib.suppress(ValueError, TypeError):
            existing = json.loads(env.get("MIMI_SETTINGS") or "{}")
            if isinstance(existing, dict):
                merged = existing
        env["MIMI_SETTINGS"] = json.dumps(_deep_merge(merged, settings))
    # The server imports this package; keep a source checkout importable too.
    package_parent = str(Path(__file__).resolve().parents[2])
    if (Path(package_parent) / "mimi_lsp").is_dir():
        paths = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
        if package_parent not in paths:
            env["PYTHONPATH"] = os.pathsep.join([package_parent, *paths])
    return env


def create_app(config: WebConfig, auth: Auth) -> web.Application:
    """The aiohttp application for one folder."""
    app = web.Application(
        middlewares=[security_headers, auth.middleware()], client_max_size=16 * 1024**2
    )
    app[FILES] = WorkspaceFiles(config.root)
    app[METRICS] = MultiprocessMetrics()
    app[LAUNCHER] = ServerLauncher(
        server_command(config.log_level, config.log_file, config.log_format),
        app[METRICS].child_env(child_environment(config.settings)),
        cwd=str(config.root),
        spare=config.spare,
        max_sessions=config.max_sessions,
    )
    app[SOCKETS] = set()
    app[HEALTH_CACHE] = []
    app.router.add_get("/", index)
    app.router.add_get("/api/info", info)
    app.router.add_get("/api/health", health)
    app.router.add_get("/api/tree", tree)
    app.router.add_get("/api/files", all_files)
    app.router.add_get("/api/file", read_file)
    app.router.add_put("/api/file", save_file)
    app.router.add_get("/lsp", lsp_socket)
    app.router.add_get("/metrics", prometheus_metrics)
    terminal.register(app, config.root, enabled=config.terminal, limit=config.max_sessions)
    git_routes.register(app, config.root)
    if (STATIC_DIR / "assets").is_dir():
        app.router.add_static("/assets", STATIC_DIR / "assets", append_version=False)

    async def on_startup(app: web.Application) -> None:
        app[LAUNCHER].prepare_spare()

    async def on_shutdown(app: web.Application) -> None:
        sockets: set[web.WebSocketResponse] = app[SOCKETS]
        for ws in list(sockets):
            await ws.close(code=1001, message=b"server shutting down")
        await app[LAUNCHER].aclose()
        app[METRICS].close()

    app.on_startup.append(on_startup)
    app.on_shutdown.append(on_shutdown)
    return app


def _can_open_browser() -> bool:
    # On a Linux console webbrowser may pick a text browser and take over the terminal.
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY") or os.environ.get("BROWSER")
    )


async def _bind(runner: web.AppRunner, config: WebConfig) -> int:
    """Listen on the asked port, or on the first free one from DEFAULT_PORT; the port."""
    if config.port is not None:
        ports = [config.port]
    else:
        ports = list(range(DEFAULT_PORT, DEFAULT_PORT + PORT_TRIES)) + [0]
    last: OSError | None = None
    for port in ports:
        site = web.TCPSite(runner, config.host, port, reuse_address=True)
        try:
            await site.start()
        except OSError as exc:
            last = exc
            continue
        server = site._server  # noqa: SLF001 - aiohttp has no public accessor for the port
        sockets = getattr(server, "sockets", None) or []
        return int(sockets[0].getsockname()[1]) if sockets else port
    raise OSError(f"cannot listen on {config.host}:{ports[0]}: {last}")


async def serve(config: WebConfig) -> int:
    """Run until SIGINT/SIGTERM; print the URL with its token first."""
    auth = Auth(
        token=config.token, bound_host=config.host, allowed_origins=set(config.allowed_origins)
    )
    app = create_app(config, auth)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    try:
        port = await _bind(runner, config)
    except OSError as exc:
        sys.stderr.write(f"mimi-lsp web: {exc}\n")
        await runner.cleanup()
        return 2
    auth.port = port
    shown_host = config.host if config.host not in ("0.0.0.0", "::") else "127.0.0.1"
    if ":" in shown_host:
        shown_host = f"[{shown_host}]"
    url = f"http://{shown_host}:{port}/?token={config.token}"
    if not is_built():
        sys.stderr.write("mimi-lsp web: the page is not built; run `make setup-web`\n")
    sys.stdout.write(
        f"mimi-lsp web: editing {config.root}\n"
        f"    open {url}\n"
        "    (the token in the link is required; Ctrl+C stops the server)\n"
    )
    sys.stdout.flush()
    if config.open_browser and _can_open_browser():
        with contextlib.suppress(Exception):
            webbrowser.open(url)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
    return 0


def run(config: WebConfig) -> int:
    """Blocking entry point for the CLI."""
    return asyncio.run(serve(config))
