"""Who may talk to a ``mimi-lsp web`` server: a random token on every request, like Jupyter.

Sits in front of every route of ``web/app.py`` as aiohttp middleware. The token arrives once in
the printed URL (``?token=…``); the first page load trades it for an HttpOnly, SameSite=Strict
cookie and redirects to the same path without it, so it leaves the address bar and the history.
A valid ``?token=`` always wins over the cookie and replaces it: a restarted server (new token,
same port) must not lock out a browser that still holds the old cookie. Scripts may send
``Authorization: token …`` (or ``Bearer``) instead. WebSocket upgrades must also come from the
page's own origin (a page on another site cannot ride the cookie), and the ``Host`` header must
parse as a loopback address when the server is bound to one (DNS rebinding). Malformed
credentials (not ASCII, as a hostile client may send) are a 401 and one log line, never a 500.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from aiohttp import hdrs, web

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

UNAUTHORIZED_PAGE = """<!doctype html><meta charset="utf-8"><title>mimi-lsp: token needed</title>
<body style="font:15px system-ui;max-width:40em;margin:4em auto;color:#ddd;background:#1e1e1e">
<h1>mimi-lsp web: token needed</h1>
<p>This server only answers to the link it printed when it started, which carries a
<code>?token=…</code>. Copy that link from the terminal where you ran
<code>mimi-lsp web</code>.</p></body>"""

# A path we may send a browser back to: one leading slash, then RFC 3986 path characters only.
# "//host", "/\host" and control characters would make the browser leave for another site.
_OWN_PATH = re.compile(r"/(?:[A-Za-z0-9._~!$&'()*+,;=:@%-][A-Za-z0-9._~!$&'()*+,;=:@%/-]*)?")


def new_token() -> str:
    """A fresh random token (192 bits, URL-safe)."""
    return secrets.token_urlsafe(24)


def host_name(host: str) -> str | None:
    """The host part of a ``Host`` header (``name``, ``name:port``, ``[v6]:port``), lowercased;
    None when it does not parse."""
    try:
        parts = urlsplit("//" + host)
        _ = parts.port  # a non-numeric or out-of-range port raises
    except ValueError:
        return None
    return parts.hostname


def is_loopback(host: str | None) -> bool:
    """Whether ``host`` (a bare name or address) is this machine: ``localhost`` or a loopback
    address written as an address (``127.evil.example`` is a name, not an address)."""
    if not host:
        return False
    host = host.strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def own_location(request: web.Request) -> str:
    """The request's own path (``/`` when it could lead elsewhere) and query, minus ``token``."""
    path = request.rel_url.raw_path
    if not _OWN_PATH.fullmatch(path):
        path = "/"
    query = [(k, v) for k, v in request.query.items() if k != "token"]
    return str(request.rel_url.with_path(path, encoded=True).with_query(query))


@dataclass
class Auth:
    """The token and origin policy of one web server."""

    token: str
    port: int = 0
    bound_host: str = "127.0.0.1"
    allowed_origins: set[str] = field(default_factory=set)

    @property
    def cookie_name(self) -> str:
        # Cookies ignore ports: two servers on one host must not overwrite each other's.
        return f"mimi_token_{self.port}"

    def token_ok(self, candidate: str | None) -> bool:
        """Whether ``candidate`` is this server's token (constant time; ASCII only)."""
        if not candidate or not candidate.isascii():
            return False
        return hmac.compare_digest(candidate.encode("ascii"), self.token.encode("ascii"))

    def header_token(self, request: web.Request) -> str | None:
        """The token of an ``Authorization: token …`` or ``Bearer …`` header."""
        header = request.headers.get(hdrs.AUTHORIZATION, "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() in ("token", "bearer") and value:
            return value.strip()
        return None

    def malformed(self, request: web.Request) -> str | None:
        """Which credential header is not ASCII text (what a hostile client sends), or None."""
        if not request.headers.get(hdrs.AUTHORIZATION, "").isascii():
            return "Authorization"
        if not (request.cookies.get(self.cookie_name) or "").isascii():
            return "Cookie"
        return None

    def authenticated(self, request: web.Request) -> bool:
        """A valid token in the header, the query or the cookie (any one suffices)."""
        return any(
            self.token_ok(candidate)
            for candidate in (
                self.header_token(request),
                request.query.get("token"),
                request.cookies.get(self.cookie_name),
            )
        )

    def host_ok(self, request: web.Request) -> bool:
        """When bound to loopback, Host must name a loopback address (no DNS rebinding)."""
        if not is_loopback(self.bound_host):
            return True
        return is_loopback(host_name(request.host))

    def origin_ok(self, request: web.Request) -> bool:
        """A browser's Origin must be this server itself (or explicitly allowed)."""
        origin = request.headers.get(hdrs.ORIGIN)
        if origin is None:
            return True  # not a browser (CLI, tests); the token still applies
        if origin in self.allowed_origins:
            return True
        parts = urlsplit(origin)
        return parts.scheme in ("http", "https") and parts.netloc == request.host

    def cookie_response(self, request: web.Request) -> web.StreamResponse:
        """Redirect to the same path minus ``token``; a valid ``?token=`` (re)sets the cookie."""
        response = web.HTTPFound(location=own_location(request))
        if self.token_ok(request.query.get("token")):
            response.set_cookie(
                self.cookie_name, self.token, httponly=True, samesite="Strict", path="/"
            )
        return response

    def refusal(self, request: web.Request, is_ws: bool) -> web.Response:
        """The 401 for a request without a valid token (a page for browsers, JSON otherwise);
        a stale cookie is cleared so the browser stops sending it."""
        if request.method == "GET" and not request.path.startswith("/api/") and not is_ws:
            response = web.Response(status=401, text=UNAUTHORIZED_PAGE, content_type="text/html")
        else:
            response = web.json_response(
                {"error": "token required", "fix": "use the URL mimi-lsp web printed"},
                status=401,
            )
        if self.cookie_name in request.cookies:
            response.del_cookie(self.cookie_name, path="/")
        return response

    def middleware(self) -> Any:
        """The aiohttp middleware enforcing this policy."""

        @web.middleware
        async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
            if not self.host_ok(request):
                log.warning("refused %s: unexpected Host header", _describe(request))
                return web.Response(status=403, text="mimi-lsp: unexpected Host header\n")
            is_ws = request.headers.get(hdrs.UPGRADE, "").lower() == "websocket"
            if is_ws and not self.origin_ok(request):
                log.warning("refused %s: cross-origin WebSocket", _describe(request))
                return web.Response(status=403, text="mimi-lsp: cross-origin WebSocket refused\n")
            if (bad := self.malformed(request)) is not None:
                log.warning("refused %s: the %s header is not ASCII text", _describe(request), bad)
                return self.refusal(request, is_ws)
            if not self.authenticated(request):
                return self.refusal(request, is_ws)
            if (
                "token" in request.query
                and request.method == "GET"
                and not is_ws
                and not request.path.startswith("/api/")
            ):
                return self.cookie_response(request)
            return await handler(request)

        return check


def _describe(request: web.Request) -> str:
    """``METHOD /path from PEER`` for a log line (path cut short, never the query)."""
    path = request.path if len(request.path) <= 80 else request.path[:77] + "..."
    return f"{request.method} {path!r} from {request.remote}"
