"""``MimiProtocol``: the pygls protocol with the few workarounds pygls needs, and our document sync.

pygls is pinned (``pyproject.toml``) to the versions these were tested on, ``PYGLS_TESTED``;
``tests/unit/test_pygls_workarounds.py`` fails when pygls changes under them (another version, or
a private method we override renamed or re-shaped). What each is for:

- ``structure_message``/``handle_message``: pygls 2.1.1 sends no answer at all to a request whose
  params fail to deserialize; we answer ``InvalidParams`` (an editor must never wait forever). It
  also drops every request after ``shutdown`` without a word; we answer ``InvalidRequest``.
- ``receive``/``refuse_oversized``: the bodies ``framing.py`` reads (pygls' own reader loop could
  be killed or deafened by one lying ``Content-Length``; ``MimiServer.start_io`` replaces it).
- ``_execute_handler``: pygls files the future of every notification (and of every step of a
  generator handler) in ``_request_futures`` and never removes it (~650 bytes a keystroke); and it
  runs an async command under a fresh id, so ``$/cancelRequest`` never reached it: we link the
  command's task to its request id (``_handle_cancel_notification``).
- ``_handle_request``/``_send_response``: admission (rate limits, oversized command arguments)
  and per-feature request timing, at the one place every request passes.
- ``lsp_initialize`` and the three document-sync methods: our line-indexed ``Session`` instead of
  pygls' document store (which rewrites the whole text on every change: 36 ms p95 at 1 MB),
  capabilities resolved once into the session, and no completion-menu fallback for clients that
  show ghost text.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Generator
from typing import TYPE_CHECKING, Any

from cattrs import Converter
from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams, JsonRpcInvalidRequest
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol
from pygls.protocol.language_server import lsp_method

from mimi_lsp import framing, metrics
from mimi_lsp.convert import client_support, position_codec
from mimi_lsp.errors import REQUEST_CANCELLED, REQUEST_FAILED

if TYPE_CHECKING:
    from mimi_lsp.language_server import MimiServer

log = logging.getLogger(__name__)

PYGLS_TESTED = ("2.1.1",)
"""pygls versions the overrides below were written and tested against."""

_COMMAND_FEATURES = {
    "mimi.chat": "chat",
    "mimi.explain": "chat",
    "mimi.git.commitMessage": "chat",
    "mimi.agent.edit": "agent",
    "mimi.search": "search",
}
_METHOD_FEATURES = {
    types.TEXT_DOCUMENT_INLINE_COMPLETION: "completion",
    types.TEXT_DOCUMENT_COMPLETION: "completion",
    types.CODE_ACTION_RESOLVE: "agent",
}
BIG_CHANGE_CHARS = 65_536
"""A change this large (a paste, a full replacement) triggers the document size check."""


def feature_of(method: str, params: Any) -> str | None:
    """The model-backed feature a request belongs to (None for everything else)."""
    if method == types.WORKSPACE_EXECUTE_COMMAND:
        return _COMMAND_FEATURES.get(getattr(params, "command", None) or "")
    return _METHOD_FEATURES.get(method)


class MimiProtocol(LanguageServerProtocol):
    """pygls protocol with our own document sync and strict error answers."""

    _server: MimiServer

    def __init__(self, server: LanguageServer, converter: Converter) -> None:
        super().__init__(server, converter)
        self._timings: dict[Any, tuple[str, float]] = {}
        """Request id -> (feature, start) for the requests we time."""
        self._nested_commands: dict[Any, asyncio.Future[Any]] = {}
        """executeCommand request id -> the command's own task (pygls runs it under another id)."""
        self._too_large_warned: set[str] = set()

    # -------------------------------------------------------------- robustness

    def structure_message(self, data: dict[str, Any]) -> Any:
        try:
            return super().structure_message(data)
        except JsonRpcException as exc:
            if "id" in data and "method" in data:
                method = data.get("method")
                if self._shutdown:
                    self._refuse_after_shutdown(data["id"], str(method))
                    return None
                log.warning("invalid params for %s", method)
                self._send_response(
                    data["id"],
                    error=JsonRpcInvalidParams(
                        f"Invalid params for {method}: {exc.__cause__ or exc}"[:500]
                    ).to_response_error(),
                )
            return None

    def receive(self, body: bytes) -> None:
        """Decode and dispatch one message body (from ``framing.py``); what is not a JSON-RPC
        message is dropped with one log line."""
        try:
            message = json.loads(body, object_hook=self.structure_message)
        except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
            log.warning("LSP input: dropped a %d-byte message that is not JSON: %s", len(body), exc)
            return
        if (
            message is not None
            and not hasattr(message, "jsonrpc")
            and not isinstance(message, dict)
        ):
            log.warning(
                "LSP input: dropped a JSON %s, not a JSON-RPC message", type(message).__name__
            )
            return
        try:
            self.handle_message(message)
        except Exception:
            log.exception("LSP input: could not handle a message")

    def refuse_oversized(self, frame: framing.Oversized) -> None:
        """Answer a request that was too large to read (``framing`` already logged it)."""
        if frame.request_id is not None:
            message = f"the message is {frame.length} bytes; the limit is {framing.MAX_FRAME_BYTES}"
            self._send_response(
                frame.request_id, error=JsonRpcInvalidRequest(message).to_response_error()
            )

    def handle_message(self, message: Any) -> None:
        if message is None or isinstance(message, dict):
            return  # already answered (invalid params) or not JSON-RPC at all
        msg_id, method = getattr(message, "id", None), getattr(message, "method", None)
        if self._shutdown and msg_id is not None and method and method != types.EXIT:
            self._refuse_after_shutdown(msg_id, method)
            return
        super().handle_message(message)

    def _refuse_after_shutdown(self, msg_id: Any, method: str) -> None:
        log.info("refused %s after shutdown", method)
        self._send_response(
            msg_id,
            error=JsonRpcInvalidRequest(
                "the server is shutting down; only 'exit' is accepted"
            ).to_response_error(),
        )

    # -------------------------------------------------------------- admission and timing

    def _handle_request(self, msg_id: Any, method_name: str, params: Any) -> None:
        if method_name == types.WORKSPACE_EXECUTE_COMMAND and (problem := self._oversized(params)):
            self._send_response(msg_id, error=JsonRpcInvalidParams(problem).to_response_error())
            return
        feature = feature_of(method_name, params)
        if feature is not None:
            # Model-backed commands pass the per-client rate limit first (completion is
            # limited inside the engine, after the cache: cache hits are never limited).
            if feature != "completion":
                refusal = self._server.services.limiter.check(feature)
                if refusal is not None:
                    error = JsonRpcException(refusal.message, code=REQUEST_FAILED)
                    self._send_response(msg_id, error=error.to_response_error())
                    return
            self._timings[msg_id] = (feature, time.perf_counter())
        super()._handle_request(msg_id, method_name, params)

    def _oversized(self, params: Any) -> str | None:
        """A message when a command's arguments exceed ``limits.maxCommandBytes``."""
        arguments = getattr(params, "arguments", None)
        if not arguments:
            return None
        limit = self._server.services.settings.limits.max_command_bytes
        try:
            size = len(json.dumps(arguments, default=str))
        except (TypeError, ValueError, RecursionError):
            return f"{params.command}: arguments are not JSON"
        if size <= limit:
            return None
        return f"{params.command}: arguments are {size} bytes; the limit is {limit} (mimi.limits.maxCommandBytes)"

    def _send_response(self, msg_id: Any, result: Any = None, error: Any = None) -> None:
        timing = self._timings.pop(msg_id, None)
        if timing is not None:
            code = getattr(error, "code", None)
            outcome = (
                "ok" if error is None else "cancelled" if code == REQUEST_CANCELLED else "error"
            )
            metrics.observe_request(timing[0], time.perf_counter() - timing[1], outcome)
        super()._send_response(msg_id, result, error)

    # -------------------------------------------------------------- cancellation

    def _execute_handler(
        self, msg_id: Any, handler: Any, callback: Any, args: Any = None, kwargs: Any = None
    ) -> None:
        super()._execute_handler(msg_id, handler, callback, args, kwargs)
        # Forget a finished future (pygls only pops answered requests'). The removal is
        # deferred to the loop: a future can finish while pygls iterates the dict (shutdown
        # cancels every future in it, and cancelling runs callbacks at once).
        future = self._request_futures.get(msg_id)
        if future is not None:
            self._forget_when_done(msg_id, future)
        # Link an async command's task to its executeCommand request so cancelling the request
        # cancels the command.
        request_id = self.msg_id
        if request_id is None or request_id == msg_id:
            return
        if not any(handler is h for h in self.fm.commands.values()):
            return
        task = self._request_futures.get(msg_id)
        if isinstance(task, asyncio.Future) and not task.done():
            nested = self._nested_commands
            nested[request_id] = task
            task.add_done_callback(lambda _t: nested.pop(request_id, None))

    def _forget_when_done(self, msg_id: Any, future: Any) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        futures = self._request_futures

        def forget(f: Any) -> None:
            if futures.get(msg_id) is f:
                del futures[msg_id]

        def done(f: Any) -> None:
            try:
                loop.call_soon_threadsafe(forget, f)
            except RuntimeError:
                pass  # the loop is closed: the server is gone

        future.add_done_callback(done)

    def _handle_cancel_notification(self, msg_id: Any) -> None:
        task = self._nested_commands.pop(msg_id, None)
        super()._handle_cancel_notification(msg_id)
        if task is not None:
            task.cancel()

    # -------------------------------------------------------------- initialize

    @lsp_method(types.INITIALIZE)
    def lsp_initialize(self, params: types.InitializeParams) -> Generator[Any, Any, Any]:
        result = yield from super().lsp_initialize(params)
        session = self._server.session
        session.codec = position_codec(self.workspace.position_encoding)
        session.client = client_support(params.capabilities)
        if session.client.inline_completion:
            # The client shows ghost text: a completion-menu copy would show it twice.
            result.capabilities.completion_provider = None
        return result

    # -------------------------------------------------------------- document sync

    @lsp_method(types.TEXT_DOCUMENT_DID_OPEN)
    def lsp_text_document__did_open(
        self, params: types.DidOpenTextDocumentParams
    ) -> Generator[Any, Any, Any]:
        doc = params.text_document
        if self._too_large(doc.uri, len(doc.text)):
            return
        self._server.session.open(doc.uri, doc.language_id, doc.version, doc.text)
        if (handler := self.fm.features.get(types.TEXT_DOCUMENT_DID_OPEN)) is not None:
            yield handler, (params,), None

    @lsp_method(types.TEXT_DOCUMENT_DID_CHANGE)
    def lsp_text_document__did_change(
        self, params: types.DidChangeTextDocumentParams
    ) -> Generator[Any, Any, Any]:
        changes: list[Any] = []
        for change in params.content_changes:
            if isinstance(change, types.TextDocumentContentChangePartial):
                rng = change.range
                start = (rng.start.line, rng.start.character)
                changes.append((start, (rng.end.line, rng.end.character), change.text))
            else:
                changes.append(change.text)
        doc = params.text_document
        session = self._server.session
        session.change(doc.uri, doc.version, changes)
        if sum(len(c if isinstance(c, str) else c[2]) for c in changes) > BIG_CHANGE_CHARS:
            buffer = session.documents.get(doc.uri)
            if buffer is not None and self._too_large(doc.uri, buffer.length):
                session.close(doc.uri)
                return
        if (handler := self.fm.features.get(types.TEXT_DOCUMENT_DID_CHANGE)) is not None:
            yield handler, (params,), None

    @lsp_method(types.TEXT_DOCUMENT_DID_CLOSE)
    def lsp_text_document__did_close(
        self, params: types.DidCloseTextDocumentParams
    ) -> Generator[Any, Any, Any]:
        self._server.session.close(params.text_document.uri)
        if (handler := self.fm.features.get(types.TEXT_DOCUMENT_DID_CLOSE)) is not None:
            yield handler, (params,), None

    def _too_large(self, uri: str, size: int) -> bool:
        """Whether a document exceeds ``limits.maxDocumentBytes`` (the user is told once)."""
        limit = self._server.services.settings.limits.max_document_bytes
        if size <= limit:
            return False
        log.warning("document %s is too large (%d > %d characters): not tracked", uri, size, limit)
        if uri not in self._too_large_warned:
            self._too_large_warned.add(uri)
            unit = f"{limit // 1_000_000} MB" if limit >= 1_000_000 else f"{limit // 1_000} KB"
            self._server.tell(
                f"{uri.rsplit('/', 1)[-1]} is larger than {unit}; AI features are off for it "
                "(mimi.limits.maxDocumentBytes).",
                types.MessageType.Warning,
                prefix="mimi",
            )
        return True
