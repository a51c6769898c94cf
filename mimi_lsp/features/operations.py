"""Operations over LSP: rate-limit notices, log forwarding to the client, metric upkeep.

- A refused model-backed request (``ratelimit.py``) is answered by the layer that refused it;
  here the user is told once per streak with ``window/showMessage``.
- Warnings and errors of any logger reach the editor as ``window/logMessage`` (its output
  panel), scrubbed of secrets like every other log line.
- The metric instruments are created right after ``initialized`` on a worker thread (importing
  prometheus-client is not free); under ``mimi-lsp web`` (``PROMETHEUS_MULTIPROC_DIR`` set) the
  gauges are refreshed every few seconds so ``/metrics`` sees current queue depths and index
  size. ``mimi.status`` carries the same figures under ``metrics.ops``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading

from lsprotocol import types

from mimi_lsp import metrics
from mimi_lsp.language_server import MimiServer
from mimi_lsp.log import SecretScrubber, scrub, secret_env_values
from mimi_lsp.ratelimit import Refusal

log = logging.getLogger(__name__)

REFRESH_S = 2.0
_LEVELS = {
    logging.CRITICAL: types.MessageType.Error,
    logging.ERROR: types.MessageType.Error,
    logging.WARNING: types.MessageType.Warning,
}


class ClientLogHandler(logging.Handler):
    """Sends log records to the client as ``window/logMessage`` (from any thread)."""

    def __init__(self, server: MimiServer, level: int = logging.WARNING) -> None:
        super().__init__(level)
        self.server = server
        self.loop: asyncio.AbstractEventLoop | None = None
        """The server's loop, learnt from the first record logged on it (threads post there)."""
        self._busy = threading.local()
        self.addFilter(SecretScrubber(secret_env_values))

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(self._busy, "on", False) or record.name.startswith("pygls"):
            return  # never log about logging (a failing send would recurse)
        try:
            self.loop = asyncio.get_running_loop()
        except RuntimeError:
            pass  # another thread: post to the server's loop if it is known
        if self.loop is None or self.loop.is_closed():
            return
        try:
            message = scrub(f"{record.name}: {record.getMessage()}", secret_env_values())
            kind = _LEVELS.get(record.levelno, types.MessageType.Log)
            self.loop.call_soon_threadsafe(self._send, kind, message)
        except Exception:
            pass  # the loop is closed: the server is going away

    def _send(self, kind: types.MessageType, message: str) -> None:
        self._busy.on = True
        try:
            self.server.window_log_message(types.LogMessageParams(type=kind, message=message))
        except Exception:
            pass
        finally:
            self._busy.on = False


def register(server: MimiServer) -> None:
    services = server.services

    def limited(refusal: Refusal) -> None:
        server.tell(refusal.message, types.MessageType.Warning, prefix="mimi")

    services.limiter.on_limited.append(limited)
    root = logging.getLogger()
    if not any(isinstance(h, ClientLogHandler) for h in root.handlers):
        root.addHandler(ClientLogHandler(server))

    async def refresh_loop() -> None:
        while True:
            await asyncio.sleep(REFRESH_S)
            metrics.refresh(services)

    async def start() -> None:
        await asyncio.to_thread(metrics.load)
        if os.environ.get(metrics.MULTIPROC_ENV):
            metrics.refresh(services)
            server.run_task(refresh_loop(), name="mimi-metrics-refresh")

    server.on_initialized(start)
