"""An OTLP/HTTP trace receiver on 127.0.0.1: what an OpenTelemetry Collector's ``otlp`` receiver
accepts (``POST /v1/traces``, ``application/x-protobuf``, optionally gzip), decoded with the
official ``opentelemetry-proto`` messages. Tests point ``OTEL_EXPORTER_OTLP_ENDPOINT`` at it and
read back the spans, their attributes and resources, and the raw request bodies.

``python -m tests.standins.otlp`` prints its endpoint, then every span it receives.
"""

from __future__ import annotations

import argparse
import gzip
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)


def _value(v: Any) -> Any:
    kind = v.WhichOneof("value")
    return getattr(v, kind) if kind else None


@dataclass
class ReceivedSpan:
    name: str
    trace_id: str
    span_id: str
    parent_id: str
    start_ns: int
    end_ns: int
    attributes: dict[str, Any]
    resource: dict[str, Any]
    status: int = 0

    @property
    def ms(self) -> float:
        return (self.end_ns - self.start_ns) / 1e6


@dataclass
class OtlpReceiver:
    """A running receiver: ``endpoint`` for OTEL_EXPORTER_OTLP_ENDPOINT, ``spans`` received."""

    spans: list[ReceivedSpan] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def endpoint(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> Self:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:
                return None

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                if self.path != "/v1/traces":
                    self.send_error(404)
                    return
                request = ExportTraceServiceRequest()
                request.ParseFromString(body)
                receiver._add(body, request)
                answer = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def _add(self, body: bytes, request: ExportTraceServiceRequest) -> None:
        with self._lock:
            self.bodies.append(body)
            for rs in request.resource_spans:
                resource = {a.key: _value(a.value) for a in rs.resource.attributes}
                for ss in rs.scope_spans:
                    for s in ss.spans:
                        self.spans.append(
                            ReceivedSpan(
                                name=s.name,
                                trace_id=s.trace_id.hex(),
                                span_id=s.span_id.hex(),
                                parent_id=s.parent_span_id.hex(),
                                start_ns=s.start_time_unix_nano,
                                end_ns=s.end_time_unix_nano,
                                attributes={a.key: _value(a.value) for a in s.attributes},
                                resource=resource,
                                status=s.status.code,
                            )
                        )

    def named(self, name: str) -> list[ReceivedSpan]:
        with self._lock:
            return [s for s in self.spans if s.name == name]

    def wait_until(self, condition: Any, timeout_s: float = 60.0) -> None:
        """Block until ``condition()`` holds (bounded)."""
        deadline = time.monotonic() + timeout_s
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"condition not met; spans: {[s.name for s in self.spans]}")
            time.sleep(0.02)

    def wait_for(self, *names: str, timeout_s: float = 60.0) -> None:
        """Block until a span of every name in ``names`` has arrived (bounded)."""
        deadline = time.monotonic() + timeout_s
        while not all(self.named(n) for n in names):
            if time.monotonic() > deadline:
                have = sorted({s.name for s in self.spans})
                raise AssertionError(f"spans {names} not all received; got {have}")
            time.sleep(0.02)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.parse_args()
    with OtlpReceiver() as receiver:
        print(f"OTEL_EXPORTER_OTLP_ENDPOINT={receiver.endpoint}", flush=True)
        seen = 0
        while True:
            time.sleep(0.5)
            for s in receiver.spans[seen:]:
                print(f"{s.name} {s.ms:.1f} ms {s.attributes}", flush=True)
            seen = len(receiver.spans)


if __name__ == "__main__":
    main()
