"""OpenTelemetry traces, when the operator asks for them; nothing at all otherwise.

``setup()`` turns tracing on when the standard variables ask for it
(``OTEL_EXPORTER_OTLP_ENDPOINT`` or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``; ``OTEL_SDK_DISABLED``
and ``OTEL_TRACES_EXPORTER=none`` turn it off; the exporter reads the rest: headers, timeout,
protocol ``http/protobuf``). It needs the optional extra ``pip install 'mimi-lsp[otel]'`` (the
OpenTelemetry SDK and its OTLP/HTTP exporter); without it the server says so once and runs
untraced. When tracing is off, ``span()`` returns one shared do-nothing object: no import of
OpenTelemetry, no allocation beyond the call.

Spans carry what an operator needs (model, token and character counts, cache hits, batch
sizes, timings, outcomes) and never text: no prompt, code, message, path or secret is ever an
attribute, and exceptions are recorded by type only.
"""

from __future__ import annotations

import atexit
import logging
import os
from collections.abc import Mapping
from types import TracebackType
from typing import Any

log = logging.getLogger(__name__)

_tracer: Any = None
_provider: Any = None
Attribute = str | int | float | bool


class _NoSpan:
    """What ``span()`` returns while tracing is off."""

    __slots__ = ()

    def __enter__(self) -> _NoSpan:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None

    def set(self, **attributes: Attribute | None) -> None:
        """Add attributes (ignored)."""


NO_SPAN = _NoSpan()


class _Span:
    """A live span: ``set(**attributes)`` adds operator attributes; exceptions end it as an
    error with the exception's type (never its message)."""

    __slots__ = ("_manager", "_span")

    def __init__(
        self, name: str, attributes: Mapping[str, Attribute | None], current: bool = True
    ) -> None:
        self._manager: Any = None
        self._span: Any = None
        if current:
            self._manager = _tracer.start_as_current_span(
                name,
                attributes=_clean(attributes),
                record_exception=False,
                set_status_on_exception=False,
            )
        else:
            # Not made current: for spans that live across the yields of an async generator,
            # where attaching a context would leak into the consumer's.
            self._span = _tracer.start_span(name, attributes=_clean(attributes))

    def __enter__(self) -> _Span:
        if self._manager is not None:
            self._span = self._manager.__enter__()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if kind is not None:
            from opentelemetry.trace import Status, StatusCode

            cancelled = kind.__name__ == "CancelledError"
            self._span.set_attribute("mimi.outcome", "cancelled" if cancelled else "error")
            if not cancelled:
                self._span.set_attribute("error.type", kind.__name__)
                self._span.set_status(Status(StatusCode.ERROR, kind.__name__))
        if self._manager is not None:
            self._manager.__exit__(kind, exc, tb)
        else:
            self._span.end()

    def set(self, **attributes: Attribute | None) -> None:
        """Add attributes (None values are left out)."""
        self._span.set_attributes(_clean(attributes))


def _clean(attributes: Mapping[str, Attribute | None]) -> dict[str, Attribute]:
    return {
        k if "." in k else f"mimi.{k}": v
        for k, v in attributes.items()
        if v is not None and isinstance(v, str | int | float | bool)
    }


def span(name: str, **attributes: Attribute | None) -> _Span | _NoSpan:
    """``with span("completion.model", model=...) as s: ... s.set(tokens=n)``; the span is
    the current one inside the block (its children nest under it)."""
    if _tracer is None:
        return NO_SPAN
    return _Span(name, attributes)


def detached_span(name: str, **attributes: Attribute | None) -> _Span | _NoSpan:
    """A span under the current one that does not become current (for async generators)."""
    if _tracer is None:
        return NO_SPAN
    return _Span(name, attributes, current=False)


def context() -> Any:
    """The current trace context, to hand to ``record`` on another thread (None when off)."""
    if _tracer is None:
        return None
    from opentelemetry import context as otel_context

    return otel_context.get_current()


def record(
    name: str, start_ns: int, end_ns: int, parent: Any = None, **attributes: Attribute | None
) -> None:
    """A finished span timed elsewhere, e.g. on a worker thread, where the current span is not
    known: under ``parent`` (from ``context()``), else the current span."""
    if _tracer is None:
        return
    done = _tracer.start_span(
        name, context=parent, start_time=start_ns, attributes=_clean(attributes)
    )
    done.end(end_time=end_ns)


def enabled() -> bool:
    return _tracer is not None


def wanted(env: Mapping[str, str] | None = None) -> bool:
    """Whether the OpenTelemetry variables ask for traces."""
    env = os.environ if env is None else env
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    if env.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower() in ("none", ""):
        return False
    return bool(
        env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    )


def setup(service_name: str = "mimi-lsp", env: Mapping[str, str] | None = None) -> bool:
    """Export spans over OTLP/HTTP when the environment asks for it; whether tracing is on."""
    if _tracer is not None or not wanted(env):
        return enabled()
    env = os.environ if env is None else env
    protocol = env.get(
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", env.get("OTEL_EXPORTER_OTLP_PROTOCOL", "")
    )
    if protocol and protocol != "http/protobuf":
        log.warning("tracing: OTLP protocol %r is not supported; using http/protobuf", protocol)
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        log.warning(
            "tracing: OTEL_EXPORTER_OTLP_ENDPOINT is set but the OpenTelemetry SDK is not "
            "installed: pip install 'mimi-lsp[otel]'. Running without traces."
        )
        return False
    use(BatchSpanProcessor(OTLPSpanExporter()), service_name)
    atexit.register(shutdown)
    log.info("tracing: exporting spans over OTLP/HTTP")
    return True


def use(processor: Any, service_name: str = "mimi-lsp") -> None:
    """Trace through ``processor`` (e.g. the SDK's in-memory exporter in tests)."""
    global _tracer, _provider
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider

    from mimi_lsp import __version__

    resource = Resource.create(
        {
            "service.name": os.environ.get("OTEL_SERVICE_NAME") or service_name,
            "service.version": __version__,
            "service.instance.id": f"{os.uname().nodename}:{os.getpid()}"
            if hasattr(os, "uname")
            else str(os.getpid()),
            "process.pid": os.getpid(),
        }
    )
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(processor)
    _provider = provider
    _tracer = provider.get_tracer("mimi_lsp", __version__)


def shutdown() -> None:
    """Flush and stop (at exit; tests call it to turn tracing off again)."""
    global _tracer, _provider
    provider, _provider, _tracer = _provider, None, None
    if provider is not None:
        try:
            provider.shutdown()
        except Exception:
            log.debug("tracing: shutdown failed", exc_info=True)
