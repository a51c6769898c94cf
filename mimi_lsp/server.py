"""The language server: pygls wiring around ``Services``.

``create_server(services)`` builds a ``MimiServer`` and lets each feature module register its
handlers. ``MimiProtocol`` replaces pygls' document store with our line-indexed ``Session``
(pygls rewrites the whole text on each change), answers requests whose params fail to
deserialize with ``InvalidParams`` (pygls would leave the client waiting forever), and drops
the completion-menu fallback from the capabilities of clients that declare inline completion.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Coroutine, Iterable
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol
from pygls.protocol.language_server import lsp_method

from mimi_lsp import __version__, metrics
from mimi_lsp.domain import BackendHealth, HealthState
from mimi_lsp.services import Services

log = logging.getLogger(__name__)


class MimiProtocol(LanguageServerProtocol):
    """pygls protocol with our own document sync and strict error answers."""

    _server: MimiServer

    # -------------------------------------------------------------- robustness

    def structure_message(self, data: dict[str, Any]) -> Any:
        try:
            return super().structure_message(data)
        except JsonRpcException as exc:
            if "id" in data and "method" in data:
                method = data.get("method")
                log.warning("invalid params for %s", method)
                self._send_response(
                    data["id"],
                    error=JsonRpcInvalidParams(
                        f"Invalid params for {method}: {exc.__cause__ or exc}"[:500]
                    ).to_response_error(),
                )
            return None

    def handle_message(self, message: Any) -> None:
        if message is None or isinstance(message, dict):
            return  # already answered (invalid params) or not JSON-RPC at all
        super().handle_message(message)

    # -------------------------------------------------------------- admission and timing

    def _handle_request(self, msg_id: Any, method_name: str, params: Any) -> None:
        if method_name == types.WORKSPACE_EXECUTE_COMMAND and (problem := self._oversized(params)):
            self._send_response(msg_id, error=JsonRpcInvalidParams(problem).to_response_error())
            return
        feature = _feature_of(method_name, params)
        if feature is not None:
            # Model-backed commands pass the per-client rate limit first (completion is
            # limited inside the engine, after the cache: cache hits are never limited).
            if feature != "completion":
                refusal = self._server.services.limiter.check(feature)
                if refusal is not None:
                    self._send_response(
                        msg_id,
                        error=JsonRpcException(
                            refusal.message, code=REQUEST_FAILED
                        ).to_response_error(),
                    )
                    return
            self.__dict__.setdefault("_timings", {})[msg_id] = (feature, time.perf_counter())
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
        timing = self.__dict__.get("_timings", {}).pop(msg_id, None)
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
        # pygls 2.1.1 files the future of every notification handler and of every step of a
        # generator handler under a fresh id in _request_futures and never removes it (only
        # answered requests are popped): ~650 bytes per keystroke, forever. Forget them when done.
        # The removal is deferred to the loop: a future can finish while pygls iterates the
        # dict (shutdown cancels every future in it, and cancelling runs callbacks at once).
        future = self._request_futures.get(msg_id)
        if future is not None:
            self._forget_when_done(msg_id, future)
        # pygls 2.1.1 runs an async command under a fresh id inside the executeCommand
        # generator, so $/cancelRequest (which names the request id) never reached it: link
        # the command's task to its request so cancelling the request cancels the command.
        request_id = self.msg_id
        if request_id is None or request_id == msg_id:
            return
        if not any(handler is h for h in self.fm.commands.values()):
            return
        task = self._request_futures.get(msg_id)
        if isinstance(task, asyncio.Future) and not task.done():
            nested = self.__dict__.setdefault("_nested_commands", {})
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
        task = self.__dict__.get("_nested_commands", {}).pop(msg_id, None)
        super()._handle_cancel_notification(msg_id)
        if task is not None:
            task.cancel()

    # -------------------------------------------------------------- initialize

    @lsp_method(types.INITIALIZE)
    def lsp_initialize(self, params: types.InitializeParams):
        result = yield from super().lsp_initialize(params)
        self._server.session.codec = _codec(self.workspace.position_encoding)
        text_doc = params.capabilities.text_document
        if text_doc is not None and text_doc.inline_completion is not None:
            # The client shows ghost text: a completion-menu copy would show it twice.
            result.capabilities.completion_provider = None
        return result

    # -------------------------------------------------------------- document sync

    @lsp_method(types.TEXT_DOCUMENT_DID_OPEN)
    def lsp_text_document__did_open(self, params: types.DidOpenTextDocumentParams):
        doc = params.text_document
        if self._too_large(doc.uri, len(doc.text)):
            return
        self._server.session.open(doc.uri, doc.language_id, doc.version, doc.text)
        if (handler := self.fm.features.get(types.TEXT_DOCUMENT_DID_OPEN)) is not None:
            yield handler, (params,), None

    @lsp_method(types.TEXT_DOCUMENT_DID_CHANGE)
    def lsp_text_document__did_change(self, params: types.DidChangeTextDocumentParams):
        changes: list[Any] = []
        for change in params.content_changes:
            if isinstance(change, types.TextDocumentContentChangePartial):
                rng = change.range
                changes.append(
                    (
                        (rng.start.line, rng.start.character),
                        (rng.end.line, rng.end.character),
                        change.text,
                    )
                )
            else:
                changes.append(change.text)
        doc = params.text_document
        self._server.session.change(doc.uri, doc.version, changes)
        if sum(len(c if isinstance(c, str) else c[2]) for c in changes) > 65_536:
            # A big paste or a full replacement: check the size (cheap enough only then).
            buffer = self._server.session.documents.get(doc.uri)
            if buffer is not None and self._too_large(doc.uri, sum(map(len, buffer.lines))):
                self._server.session.close(doc.uri)
                return
        if (handler := self.fm.features.get(types.TEXT_DOCUMENT_DID_CHANGE)) is not None:
            yield handler, (params,), None

    @lsp_method(types.TEXT_DOCUMENT_DID_CLOSE)
    def lsp_text_document__did_close(self, params: types.DidCloseTextDocumentParams):
        self._server.session.close(params.text_document.uri)
        if (handler := self.fm.features.get(types.TEXT_DOCUMENT_DID_CLOSE)) is not None:
            yield handler, (params,), None

    def _too_large(self, uri: str, size: int) -> bool:
        """Whether a document exceeds ``limits.maxDocumentBytes`` (the user is told once)."""
        limit = self._server.services.settings.limits.max_document_bytes
        if size <= limit:
            return False
        warned = self.__dict__.setdefault("_too_large_warned", set())
        log.warning("document %s is too large (%d > %d characters): not tracked", uri, size, limit)
        if uri not in warned:
            warned.add(uri)
            self._server.window_show_message(
                types.ShowMessageParams(
                    type=types.MessageType.Warning,
                    message=f"mimi: {uri.rsplit('/', 1)[-1]} is larger than "
                    f"{limit // 1_000_000 or limit // 1_000} {'MB' if limit >= 1_000_000 else 'KB'}"
                    "; AI features are off for it (mimi.limits.maxDocumentBytes).",
                )
            )
        return True


REQUEST_FAILED = -32803
REQUEST_CANCELLED = -32800
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


def _feature_of(method: str, params: Any) -> str | None:
    """The model-backed feature a request belongs to (None for everything else)."""
    if method == types.WORKSPACE_EXECUTE_COMMAND:
        return _COMMAND_FEATURES.get(getattr(params, "command", None) or "")
    return _METHOD_FEATURES.get(method)


def _codec(encoding: Any) -> Any:
    from mimi_lsp.session import PositionCodec

    value = getattr(encoding, "value", encoding) or "utf-16"
    return PositionCodec(str(value))


class MimiServer(LanguageServer):
    """The mimi language server; handlers reach services through ``server.services``."""

    def __init__(self, services: Services) -> None:
        super().__init__(
            "mimi-lsp",
            __version__,
            text_document_sync_kind=types.TextDocumentSyncKind.Incremental,
            protocol_cls=MimiProtocol,
        )
        self.services = services
        self._tasks: set[asyncio.Task[Any]] = set()
        self._last_status: dict[str, tuple[str, str]] = {}
        services.on_status(self.notify_status)

    @property
    def session(self):  # noqa: ANN201 - Session
        return self.services.session

    def run_task(self, coro: Coroutine[Any, Any, Any], *, name: str) -> asyncio.Task[Any]:
        """Run a background job, keeping a reference and logging its failure."""
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)

        def done(t: asyncio.Task[Any]) -> None:
            self._tasks.discard(t)
            if not t.cancelled() and (exc := t.exception()) is not None:
                log.error("background task %s failed", name, exc_info=exc)

        task.add_done_callback(done)
        return task

    def notify_status(self, feature: str, health: BackendHealth) -> None:
        """Tell the client once per change: a ``mimi/status`` notification and a message."""
        key = (health.state.value, health.message)
        if self._last_status.get(feature) == key:
            return
        previous = self._last_status.get(feature)
        self._last_status[feature] = key
        payload: dict[str, Any] = {feature: health.state.value}
        if health.message:
            payload["message"] = " ".join(p for p in (health.message, health.fix) if p)
        try:
            self.protocol.notify("mimi/status", payload)
            # A pop-up only when the user can act (start the server, pull the model); passing
            # errors (one garbage stream, a timeout) go to the status bar and the log.
            if health.state == HealthState.UNAVAILABLE:
                self.window_show_message(
                    types.ShowMessageParams(
                        type=types.MessageType.Warning, message=f"mimi: {payload['message']}"
                    )
                )
            elif health.state == HealthState.ERROR:
                self.window_log_message(
                    types.LogMessageParams(
                        type=types.MessageType.Error, message=f"mimi: {payload['message']}"
                    )
                )
            elif previous is not None and previous[0] == HealthState.UNAVAILABLE.value:
                self.window_show_message(
                    types.ShowMessageParams(
                        type=types.MessageType.Info, message=f"mimi: {feature} is back."
                    )
                )
        except Exception:
            log.debug("could not send status", exc_info=True)

    def report_server_error(self, error: Exception, source: Any) -> None:
        # Log; never spam the user with a popup per internal error.
        log.error("server error (%s): %s", getattr(source, "__name__", source), error)


def create_server(
    services: Services | None = None, features: Iterable[str] | None = None
) -> MimiServer:
    """A server with every feature registered (or only ``features``, by module name)."""
    from mimi_lsp import features as feature_pkg

    server = MimiServer(services or Services())
    for name, register in feature_pkg.registry():
        if features is None or name in features:
            register(server)
    return server
