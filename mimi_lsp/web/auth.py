"""Who may talk to a ``mimi-lsp web`` server: a random token on every request, like Jupyter.

Sits in front of every route of ``web/app.py`` as aiohttp middleware. The token arrives once in
the printed URL (``?token=…``); the first page load trades it for an HttpOnly, SameSite=Strict
cookie and redirects to the same URL without it, so it leaves the address bar and the history.
Scripts may send ``Authorization: token …`` (or ``Bearer``) instead. WebSocket upgrades must
also come from the page's own origin (a page on another site cannot ride the cookie), and the
``Host`` header must name a loopback address when the server is bound to one (DNS rebinding).
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from aiohttp import hdrs, web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})

UNAUTHORIZED_PAGE = """<!doctype html><meta charset="utf-8"><title>mimi-lsp: token needed</title>
<body style="font:15px system-ui;max-width:40em;margin:4em auto;color:#ddd;background:#1e1e1e">
<h1>mimi-lsp web: token needed</h1>
<p>This server only answers to the link it printed when it started, which carries a
<code>?token=…</code>. Copy that link from the terminal where you ran
<code>mimi-lsp web</code>.</p></body>"""


def new_token() -> str:
    """A fresh random token (192 bits, URL-safe)."""
    return secrets.token_urlsafe(24)


def is_loopback(host: str) -> bool:
    return host in LOOPBACK_NAMES or host.startswith("127.")


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
        if not candidate:
            return False
        return hmac.compare_digest(candidate.encode(), self.token.encode())

    def request_token(self, request: web.Request) -> str | None:
        """The token a request carries: header, then cookie, then ``?token=``."""
        header = request.headers.get(hdrs.AUTHORIZATION, "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() in ("token", "bearer") and value:
            return value.strip()
        cookie = request.cookies.get(self.cookie_name)
        if cookie:
            return cookie
        return request.query.get("token")

    def host_ok(self, request: web.Request) -> bool:
        """When bound to loopback, the Host header must be a loopback name (no DNS rebinding)."""
        if not is_loopback(self.bound_host):
            return True
        host = (
            request.host.rsplit(":", 1)[0]
            if not request.host.startswith("[")
            else (request.host.split("]")[0] + "]")
        )
        return is_loopback(host)

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
        """Redirect to the same URL minus ``token``, setting the cookie."""
        query = {k: v for k, v in request.query.items() if k != "token"}
        location = request.rel_url.with_query(query)
        response = web.HTTPFound(location=str(location))
        response.set_cookie(
            self.cookie_name,
            self.token,
            httponly=True,
            samesite="Strict",
            path="/",
        )
        return response

    def middleware(self) -> Any:
        """The aiohttp middleware enforcing this policy."""

        @web.middleware
        async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
            if not self.host_ok(request):
                return web.Response(status=403, text="mimi-lsp: unexpected Host header\n")
            is_ws = request.headers.get(hdrs.UPGRADE, "").lower() == "websocket"
            if is_ws and not self.origin_ok(request):
                return web.Response(status=403, text="mimi-lsp: cross-origin WebSocket refused\n")
            if not self.token_ok(self.request_token(request)):
                if request.method == "GET" and not request.path.startswith("/api/") and not is_ws:
                    return web.Response(
                        status=401, text=UNAUTHORIZED_PAGE, content_type="text/html"
                    )
                return web.json_response(
                    {"error": "token required", "fix": "use the URL mimi-lsp web printed"},
                    status=401,
                )
            if (
                "token" in request.query
                and request.method == "GET"
                and not is_ws
                and not request.path.startswith("/api/")
            ):
                return self.cookie_response(request)
            return await handler(request)

        return check
