"""``MimiServer``: the pygls language server the feature modules register on.

It runs on a ``Services`` (the composition root) and adds what every handler needs from the
protocol side, typed: the session, ``run_task`` (the services' one background-task runner),
lifecycle hooks (``on_initialized``), messages to the user (``tell``, ``ask``) and backend
health as ``mimi/status`` (once per change; a pop-up only when the user can act, once per
message). Stdio and TCP are served by ``framing.py`` instead of pygls' reader loop, which one
lying ``Content-Length`` could kill or leave deaf. Built by ``server.create_server``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pygls.lsp.server import LanguageServer

from mimi_lsp import __version__, framing
from mimi_lsp.domain import BackendHealth, HealthState
from mimi_lsp.errors import REQUEST_FAILED
from mimi_lsp.protocol import MimiProtocol
from mimi_lsp.services import Services
from mimi_lsp.session import Session

log = logging.getLogger(__name__)

Hook = Callable[[], Awaitable[None]]
SETTLE_TIMEOUT_S = 10.0
"""How long a request that arrived before the client's settings waits for them."""


class MimiServer(LanguageServer):
    """The mimi language server; handlers reach the use cases through ``server.services``."""

    protocol: MimiProtocol

    def __init__(self, services: Services) -> None:
        super().__init__(
            "mimi-lsp",
            __version__,
            text_document_sync_kind=types.TextDocumentSyncKind.Incremental,
            protocol_cls=MimiProtocol,
        )
        self.services = services
        self._initialized_hooks: list[Hook] = []
        self._settled = asyncio.Event()
        self._last_status: dict[str, tuple[str, str]] = {}
        self._shown: set[str] = set()
        """Pop-ups shown for the current outage (one per message, whichever feature)."""
        services.on_status(self.notify_status)

    def start_io(self, stdin: Any = None, stdout: Any = None) -> None:
        """Serve over stdio with framing no byte sequence can kill or deafen (``framing.py``)."""
        framing.serve_stdio(self, stdin, stdout)

    def start_tcp(self, host: str, port: int) -> None:
        """Serve over TCP with the same framing."""
        framing.serve_tcp(self, host, port)

    @property
    def session(self) -> Session:
        return self.services.session

    def run_task(self, coro: Coroutine[Any, Any, Any], *, name: str) -> asyncio.Task[Any]:
        """Run a background job (``Services.run_task``: referenced, failures logged)."""
        return self.services.run_task(coro, name=name)

    # ------------------------------------------------------------------ lifecycle hooks

    def on_initialized(self, hook: Hook) -> None:
        """Run ``hook()`` once the client is initialized (after settings are pulled)."""
        self._initialized_hooks.append(hook)

    def settled(self) -> None:
        """The client's settings are in (``initialized`` pulled them): requests run now."""
        self._settled.set()

    @property
    def is_settled(self) -> bool:
        return self._settled.is_set()

    async def until_settled(self) -> None:
        """Wait for the client's settings, so a request typed while the server starts (or
        before a client answers ``workspace/configuration``) runs against the right model
        server instead of failing on the defaults. Bounded: a client that never answers costs
        ``SETTLE_TIMEOUT_S`` once."""
        if self._settled.is_set():
            return
        try:
            await asyncio.wait_for(self._settled.wait(), SETTLE_TIMEOUT_S)
        except TimeoutError:
            self._settled.set()

    async def run_initialized_hooks(self) -> None:
        for hook in list(self._initialized_hooks):
            try:
                await hook()
            except Exception:
                log.exception("initialized hook %s failed", getattr(hook, "__name__", hook))

    # ------------------------------------------------------------------ talking to the user

    def tell(
        self,
        message: str,
        kind: types.MessageType = types.MessageType.Info,
        *,
        prefix: str = "Mimi",
    ) -> None:
        """``window/showMessage`` (never raises: a message is not worth a failed request)."""
        try:
            self.window_show_message(
                types.ShowMessageParams(type=kind, message=f"{prefix}: {message}")
            )
        except Exception:
            log.debug("could not show a message", exc_info=True)

    async def ask(self, message: str, actions: list[str]) -> str | None:
        """``window/showMessageRequest``; the chosen title, or None when dismissed or failed."""
        try:
            choice = await self.window_show_message_request_async(
                types.ShowMessageRequestParams(
                    type=types.MessageType.Info,
                    message=message,
                    actions=[types.MessageActionItem(title=a) for a in actions],
                )
            )
        except Exception:
            log.debug("showMessageRequest failed", exc_info=True)
            return None
        return getattr(choice, "title", None)

    def notify_status(self, feature: str, health: BackendHealth) -> None:
        """Tell the client once per change: a ``mimi/status`` notification and a message."""
        key = (health.state.value, health.message)
        if self._last_status.get(feature) == key:
            return
        previous = self._last_status.get(feature)
        self._last_status[feature] = key
        payload: dict[str, Any] = {feature: health.state.value}
        message = " ".join(p for p in (health.message, health.fix) if p)
        if message:
            payload["message"] = message
        try:
            self.protocol.notify("mimi/status", payload)
            # A pop-up only when the user can act (start the server, pull the model, raise the
            # timeout for a slow model: ``notify``), once per message (completion and chat on
            # one server share one); passing errors (one garbage stream) go to the status bar
            # and the log.
            if health.state == HealthState.UNAVAILABLE or health.notify:
                if message not in self._shown:
                    self._shown.add(message)
                    self.tell(message, types.MessageType.Warning, prefix="mimi")
            elif health.state == HealthState.ERROR:
                self.window_log_message(
                    types.LogMessageParams(type=types.MessageType.Error, message=f"mimi: {message}")
                )
            elif previous is not None and previous[0] == HealthState.UNAVAILABLE.value:
                self._shown.clear()
                self.tell(f"{feature} is back.", prefix="mimi")
        except Exception:
            log.debug("could not send status", exc_info=True)

    def report_server_error(self, error: Exception, source: Any) -> None:
        # A failed request the user is told about (RequestFailed, with the fix) was logged in
        # one line where it failed; anything else is logged once, never shown as a pop-up.
        if isinstance(error, JsonRpcException) and error.code == REQUEST_FAILED:
            return
        log.error("server error (%s): %s", getattr(source, "__name__", source), error)
