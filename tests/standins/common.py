"""Machinery shared by the stand-in model servers: a threaded HTTP server on 127.0.0.1 that
speaks a real wire protocol, with scripted replies, injected failures and a request log.

The stand-ins exist so the real client libraries (``ollama``, ``openai``) and the real mimi-lsp
server process can be tested without a model. ``StandinServer`` owns the socket, the thread and
the recording; ``StandinHandler`` gives protocol modules chunked streaming that notices at once
when the client goes away (so tests can assert that cancelling a completion closed the HTTP
stream), and the failure modes: ``http500``, ``garbage``, ``truncate``, ``reset``,
``disconnect`` and ``slow``. See ``tests/standins/README.md``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
import select
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

FAIL_MODES = ("http500", "garbage", "truncate", "reset", "disconnect", "slow")
"""Injected failures: an HTTP 500; a malformed line mid-stream; a stream that ends early but
cleanly; a TCP reset mid-stream; a connection closed without any answer; headers that come only
after ``slowS`` seconds."""

_TOKEN = re.compile(r"\s*\w+|\s*[^\w\s]|\s+")


def tokens(text: str) -> list[str]:
    """Split text into BPE-like pieces (leading whitespace attached), lossless."""
    return _TOKEN.findall(text)


def cut_at_stop(text: str, stop: Iterable[str] | str | None) -> tuple[str, bool]:
    """``text`` up to the first stop sequence (as real servers stop), and whether one was hit."""
    if isinstance(stop, str):
        stop = [stop]
    best = None
    for s in stop or ():
        if s and (i := text.find(s)) != -1 and (best is None or i < best):
            best = i
    return (text, False) if best is None else (text[:best], True)


def embedding(text: str, dim: int) -> list[float]:
    """A deterministic unit vector: hashed word counts, so shared words mean similar vectors."""
    vec = [0.0] * dim
    for word in re.findall(r"\w+", text.lower()) or [text]:
        digest = hashlib.blake2b(word.encode("utf-8"), digest_size=8).digest()
        index = int.from_bytes(digest[:4], "little") % dim
        sign = 1.0 if digest[4] & 1 else -1.0
        vec[index] += sign
    norm = math.sqrt(sum(v * v for v in vec)) or 1.0
    return [v / norm for v in vec]


def embedding_base64(vector: list[float]) -> str:
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")


# --------------------------------------------------------------------------------------------
# Scripts


@dataclass
class ScriptedToolCall:
    name: str
    arguments: dict[str, Any] = field(default_factory=dict)
    id: str | None = None


@dataclass
class Turn:
    """One assistant turn: text, tool calls, or both."""

    text: str = ""
    tool_calls: list[ScriptedToolCall] = field(default_factory=list)

    @classmethod
    def parse(cls, raw: Any) -> Turn:
        if isinstance(raw, Turn):
            return raw
        if isinstance(raw, str):
            return cls(text=raw)
        calls = raw.get("toolCalls", raw.get("tool_calls", [])) or []
        return cls(
            text=raw.get("text", raw.get("content", "")) or "",
            tool_calls=[
                c
                if isinstance(c, ScriptedToolCall)
                else ScriptedToolCall(
                    name=c["name"], arguments=dict(c.get("arguments", {})), id=c.get("id")
                )
                for c in calls
            ],
        )


@dataclass
class ChatEntry:
    """A scripted conversation: the assistant's turns in order, optionally chosen by ``match``."""

    turns: list[Turn]
    match: str | None = None
    """Regex searched in the latest user message; entries without one are the defaults."""

    @classmethod
    def parse(cls, raw: Any) -> ChatEntry:
        if isinstance(raw, ChatEntry):
            return raw
        if isinstance(raw, dict) and "turns" in raw:
            return cls([Turn.parse(t) for t in raw["turns"]] or [Turn()], raw.get("match"))
        match = raw.get("match") if isinstance(raw, dict) else None
        return cls([Turn.parse(raw)], match)


@dataclass
class Reply:
    """A scripted completion reply, optionally chosen by a regex on the prompt."""

    text: str
    match: str | None = None

    @classmethod
    def parse(cls, raw: Any) -> Reply:
        if isinstance(raw, Reply):
            return raw
        if isinstance(raw, str):
            return cls(raw)
        return cls(raw.get("text", ""), raw.get("match"))


@dataclass
class ModelSpec:
    """A model the stand-in serves."""

    name: str
    fim: bool = True
    """Its template takes a suffix (Ollama ``insert`` capability)."""
    family: str = "qwen2"
    embedding: bool = False
    embedding_length: int | None = None

    @classmethod
    def parse(cls, raw: Any) -> ModelSpec:
        if isinstance(raw, ModelSpec):
            return raw
        if isinstance(raw, str):
            return cls(raw, fim="embed" not in raw, embedding="embed" in raw)
        return cls(
            raw["name"],
            fim=raw.get("fim", True),
            family=raw.get("family", "qwen2"),
            embedding=raw.get("embedding", False),
            embedding_length=raw.get("embeddingLength", raw.get("embedding_length")),
        )


@dataclass
class StandinConfig:
    """Everything a test (or ``POST /_standin/config``) can change. camelCase keys accepted."""

    replies: list[Reply] = field(default_factory=lambda: [Reply("pass")])
    """Completion replies, used in turn (the last one repeats) unless one's ``match`` hits."""
    chat: list[ChatEntry] = field(
        default_factory=lambda: [ChatEntry([Turn("Hello from the stand-in.")])]
    )
    models: list[ModelSpec] | None = None
    """Served models; None serves any name (and lists ``default_models``)."""
    first_token_ms: float = 0.0
    """Model latency before the first token."""
    delay_ms: float = 0.0
    """Delay between tokens."""
    fail: str | None = None
    fail_count: int | None = None
    """Fail only the next N matching requests (None: all of them)."""
    fail_paths: list[str] | None = None
    """Paths that fail (None: the generation, chat and embedding endpoints)."""
    slow_s: float = 30.0
    embedding_dim: int = 384
    api_key: str | None = None
    """OpenAI stand-in: require ``Authorization: Bearer <api_key>``."""
    suffix_supported: bool = True
    """OpenAI stand-in: accept ``suffix`` in /v1/completions (vLLM answers 400)."""
    owned_by: str = "standin"
    """OpenAI stand-in: ``owned_by`` of the listed models (llama.cpp's server says "llamacpp")."""

    _ALIASES = {
        "firstTokenMs": "first_token_ms",
        "delayMs": "delay_ms",
        "failCount": "fail_count",
        "failPaths": "fail_paths",
        "slowS": "slow_s",
        "embeddingDim": "embedding_dim",
        "apiKey": "api_key",
        "suffixSupported": "suffix_supported",
        "ownedBy": "owned_by",
    }

    def update(self, changes: dict[str, Any]) -> None:
        """Apply changes (snake_case or camelCase keys), parsing scripts."""
        for key, value in changes.items():
            key = self._ALIASES.get(key, key)
            if key == "reply":
                key, value = "replies", [value]
            if key == "replies":
                value = [Reply.parse(v) for v in value]
            elif key == "chat":
                value = [ChatEntry.parse(v) for v in value]
            elif key == "models" and value is not None:
                value = [ModelSpec.parse(v) for v in value]
            elif key == "fail" and value not in (None, *FAIL_MODES):
                raise ValueError(f"unknown failure mode {value!r}; one of {FAIL_MODES}")
            elif not hasattr(self, key) or key.startswith("_"):
                raise ValueError(f"unknown stand-in setting {key!r}")
            setattr(self, key, value)


@dataclass
class Recorded:
    """One request the stand-in received, and how its answer went."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    started: float = field(default_factory=time.monotonic)
    status: int = 0
    tokens_sent: int = 0
    finished: bool = False
    """The whole answer was written."""
    disconnected: bool = False
    """The client went away before the answer was complete (a cancelled stream)."""
    failure: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class ClientGone(Exception):
    """The client closed the connection mid-answer."""


class ServerClosing(Exception):
    """The stand-in is stopping."""


# --------------------------------------------------------------------------------------------
# Server


class StandinServer:
    """A stand-in HTTP server in a background thread; a context manager for tests."""

    handler_class: type[StandinHandler]
    kind = "standin"
    default_models: tuple[str, ...] = ()
    model_paths: tuple[str, ...] = ()
    """Generation, chat and embedding endpoints (where failures are injected by default)."""

    def __init__(self, *, port: int = 0, **config: Any) -> None:
        self.config = StandinConfig()
        self.config.update(config)
        self.port = port
        self.requests: list[Recorded] = []
        self._cond = threading.Condition()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._closing = threading.Event()
        self._sockets: set[socket.socket] = set()
        self._reply_turn = 0
        self._conversations: dict[str, int] = {}
        self._next_conversation = 0
        self._ids = 0

    # ------------------------------------------------------------------ lifecycle

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._httpd is not None

    def start(self) -> Self:
        """Listen (on the same port as before after a ``stop()``) and serve in a thread."""
        if self._httpd is not None:
            return self
        server = self

        class Handler(self.handler_class):  # type: ignore[name-defined,misc]
            standin = server

        httpd = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        httpd.daemon_threads = True
        self.port = httpd.server_address[1]
        self._closing.clear()
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            daemon=True,
            name=f"{self.kind}-standin-{self.port}",
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening and drop every open connection (as a killed server would)."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self._closing.set()
        httpd.shutdown()
        httpd.server_close()
        with self._cond:
            sockets = list(self._sockets)
            self._sockets.clear()
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ configuration

    def configure(self, **changes: Any) -> None:
        """Change replies, delays, failure modes or models while running."""
        with self._cond:
            self.config.update(changes)

    def reset(self) -> None:
        """Forget recorded requests and reply/conversation counters."""
        with self._cond:
            self.requests.clear()
            self._reply_turn = 0
            self._conversations.clear()
            self._next_conversation = 0

    # ------------------------------------------------------------------ recording

    def record(self, rec: Recorded) -> None:
        with self._cond:
            self.requests.append(rec)
            self._cond.notify_all()

    def changed(self) -> None:
        with self._cond:
            self._cond.notify_all()

    def calls(self, path: str | None = None) -> list[Recorded]:
        """Recorded requests, optionally only those to ``path``."""
        with self._cond:
            return [r for r in self.requests if path is None or r.path == path]

    def wait_for(self, predicate: Callable[[list[Recorded]], Any], timeout: float = 10.0) -> Any:
        """Block until ``predicate(requests)`` is truthy; return its value (TimeoutError if not)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                value = predicate(list(self.requests))
                if value:
                    return value
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(
                        f"stand-in condition not met in {timeout} s: {self.requests}"
                    )
                self._cond.wait(left)

    def wait_disconnect(self, path: str | None = None, timeout: float = 10.0) -> Recorded:
        """The first request (to ``path``) whose client hung up mid-answer."""
        return self.wait_for(
            lambda reqs: next(
                (r for r in reqs if r.disconnected and (path is None or r.path == path)), None
            ),
            timeout,
        )

    def wait_requests(self, path: str, count: int, timeout: float = 10.0) -> list[Recorded]:
        """Block until ``count`` requests to ``path`` have arrived."""
        return self.wait_for(
            lambda reqs: (
                [r for r in reqs if r.path == path]
                if len([r for r in reqs if r.path == path]) >= count
                else None
            ),
            timeout,
        )

    # ------------------------------------------------------------------ scripts

    def next_id(self, prefix: str) -> str:
        with self._cond:
            self._ids += 1
            return f"{prefix}{self._ids}"

    def pick_reply(self, prompt: str) -> str:
        """The completion reply for ``prompt``: a matching one, else the next in turn."""
        with self._cond:
            replies = list(self.config.replies)
            for reply in replies:
                if reply.match and re.search(reply.match, prompt):
                    return reply.text
            plain = [r for r in replies if not r.match]
            if not plain:
                return ""
            text = plain[min(self._reply_turn, len(plain) - 1)].text
            self._reply_turn += 1
            return text

    def pick_turn(self, messages: list[dict[str, Any]]) -> Turn:
        """The scripted assistant turn answering ``messages`` (see ChatEntry)."""

        def content(m: dict[str, Any]) -> str:
            c = m.get("content") or ""
            if isinstance(c, list):  # OpenAI content parts
                c = "".join(p.get("text", "") for p in c if isinstance(p, dict))
            return str(c)

        users = [content(m) for m in messages if m.get("role") == "user"]
        last_user = users[-1] if users else ""
        first_user = users[0] if users else ""
        assistants = sum(1 for m in messages if m.get("role") == "assistant")
        with self._cond:
            entries = list(self.config.chat)
            entry = next((e for e in entries if e.match and re.search(e.match, last_user)), None)
            if entry is None:
                plain = [e for e in entries if not e.match]
                if not plain:
                    return Turn("")
                key = hashlib.sha1(first_user.encode("utf-8")).hexdigest()
                if key not in self._conversations:
                    self._conversations[key] = self._next_conversation
                    self._next_conversation += 1
                entry = plain[min(self._conversations[key], len(plain) - 1)]
        return entry.turns[min(assistants, len(entry.turns) - 1)]

    def find_model(self, name: str) -> ModelSpec | None:
        """The served model called ``name`` (``x`` and ``x:latest`` are the same), or None."""
        models = self.config.models
        if models is None:
            return ModelSpec(name, fim="embed" not in name, embedding="embed" in name)

        def norm(n: str) -> str:
            return n if ":" in n else f"{n}:latest"

        return next((m for m in models if norm(m.name) == norm(name)), None)

    def listed_models(self) -> list[ModelSpec]:
        if self.config.models is None:
            return [ModelSpec.parse(n) for n in self.default_models]
        return list(self.config.models)

    def take_failure(self, path: str) -> str | None:
        """The failure to inject into this request, if any (consuming ``failCount``)."""
        with self._cond:
            mode = self.config.fail
            if mode is None:
                return None
            paths = self.config.fail_paths or list(self.model_paths)
            if path not in paths:
                return None
            if self.config.fail_count is not None:
                if self.config.fail_count <= 0:
                    return None
                self.config.fail_count -= 1
            return mode

    def track(self, sock: socket.socket, alive: bool) -> None:
        with self._cond:
            (self._sockets.add if alive else self._sockets.discard)(sock)

    def snapshot(self) -> dict[str, Any]:
        with self._cond:
            return {"requests": [r.to_json() for r in self.requests]}


# --------------------------------------------------------------------------------------------
# Handler


class StandinHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 keep-alive handler with chunked streaming and disconnect detection."""

    standin: StandinServer
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # else every small write waits ~40 ms for an ACK
    timeout = 120
    server_version = "mimi-standin/1"

    routes: dict[tuple[str, str], str] = {}
    """(method, path) -> handler method name; filled by protocol modules."""

    def setup(self) -> None:
        super().setup()
        self.standin.track(self.connection, True)

    def finish(self) -> None:
        self.standin.track(self.connection, False)
        try:
            super().finish()
        except OSError:
            pass

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        return  # quiet: tests read the recorded requests instead

    # ------------------------------------------------------------------ dispatch

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        path = self.path.split("?", 1)[0]
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        body: Any = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw.decode("utf-8", "replace")
        if path.startswith("/_standin/"):
            self._control(method, path, body)
            return
        rec = Recorded(method, path, {k.lower(): v for k, v in self.headers.items()}, body)
        self.rec = rec
        self.standin.record(rec)
        name = self.routes.get((method, path))
        if name is None:
            self.send_json(404, self.not_found_body(path))
            return
        failure = self.standin.take_failure(path)
        rec.failure = failure
        try:
            if failure == "http500":
                self.send_json(500, self.error_body("internal server error (injected)", 500))
                return
            if failure == "disconnect":
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                rec.finished = True
                return
            if failure == "slow":
                self.wait(self.standin.config.slow_s)
            self.failure = failure
            getattr(self, name)(body if isinstance(body, dict) else {})
        except ClientGone:
            rec.disconnected = True
            self.close_connection = True
        except (ServerClosing, BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        finally:
            self.standin.changed()

    def _control(self, method: str, path: str, body: Any) -> None:
        standin = self.standin
        if path == "/_standin/requests":
            self.send_json(200, standin.snapshot())
        elif path == "/_standin/config" and method == "POST":
            try:
                standin.configure(**(body or {}))
            except (ValueError, KeyError, TypeError) as exc:
                self.send_json(400, {"error": str(exc)})
                return
            self.send_json(200, {"ok": True})
        elif path == "/_standin/reset" and method == "POST":
            standin.reset()
            self.send_json(200, {"ok": True})
        else:
            self.send_json(404, {"error": f"no control endpoint {path}"})

    # ------------------------------------------------------------------ protocol hooks

    def error_body(self, message: str, status: int) -> Any:
        return {"error": message}

    def not_found_body(self, path: str) -> Any:
        return {"error": f"404 page not found: {path}"}

    # ------------------------------------------------------------------ writing

    def send_json(self, status: int, obj: Any) -> None:
        data = json.dumps(obj).encode("utf-8")
        if hasattr(self, "rec"):  # recorded first: the client may look as soon as it reads
            self.rec.status = status
            self.rec.finished = True
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        try:
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            if hasattr(self, "rec"):
                self.rec.finished = False
                self.rec.disconnected = True
            raise

    def start_stream(self, content_type: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        self.rec.status = 200

    def write_chunk(self, data: bytes) -> None:
        try:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        except (BrokenPipeError, ConnectionResetError) as exc:
            raise ClientGone from exc

    def end_stream(self) -> None:
        self.rec.finished = True  # before the write: the client may look as soon as it reads
        try:
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError) as exc:
            self.rec.finished = False
            raise ClientGone from exc

    def reset_connection(self) -> None:
        """Abort with a TCP RST (SO_LINGER 0), as a crashed server would."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        except OSError:
            pass

    def client_gone(self) -> bool:
        """True when the peer has closed its end (readable with nothing to read)."""
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            if not readable:
                return False
            return self.connection.recv(1, socket.MSG_PEEK) == b""
        except (OSError, ValueError):
            return True

    def wait(self, seconds: float) -> None:
        """Sleep ``seconds``, waking at once if the client hangs up or the server stops."""
        deadline = time.monotonic() + seconds
        while True:
            if self.standin._closing.is_set():
                raise ServerClosing
            if self.client_gone():
                raise ClientGone
            left = deadline - time.monotonic()
            if left <= 0:
                return
            try:
                select.select([self.connection], [], [], min(left, 0.05))
            except (OSError, ValueError) as exc:
                raise ClientGone from exc

    def stream_pieces(
        self,
        pieces: list[str],
        render: Callable[[str], bytes],
        *,
        garbage: bytes,
        trailer: Callable[[], Iterable[bytes]],
    ) -> None:
        """Write ``pieces`` one chunk each with the configured delays and injected failure."""
        config = self.standin.config
        failure = getattr(self, "failure", None)
        if config.first_token_ms:
            self.wait(config.first_token_ms / 1000)
        for i, piece in enumerate(pieces):
            if i and config.delay_ms:
                self.wait(config.delay_ms / 1000)
            elif self.client_gone():
                raise ClientGone
            self.rec.tokens_sent += 1
            self.write_chunk(render(piece))
            self.standin.changed()
            if i == 0 and failure == "garbage":
                self.write_chunk(garbage)
            if i == 0 and failure == "truncate":
                self.end_stream()
                return
            if i == 0 and failure == "reset":
                self.reset_connection()
                return
        if not pieces and failure in ("truncate", "reset"):
            self.end_stream()
            return
        if self.client_gone():
            raise ClientGone
        for data in trailer():
            self.write_chunk(data)
        self.end_stream()


def serve_main(server_cls: type[StandinServer], argv: list[str] | None = None) -> int:
    """``python -m tests.standins.<kind>``: run a stand-in until interrupted."""
    import argparse
    import signal
    import sys

    parser = argparse.ArgumentParser(
        prog=f"python -m tests.standins.{server_cls.kind}",
        description=f"Stand-in {server_cls.kind} server on 127.0.0.1 (real wire protocol).",
    )
    parser.add_argument("--port", type=int, default=0, help="port (0: a free one)")
    parser.add_argument(
        "--reply", action="append", default=None, help="completion reply (repeatable, used in turn)"
    )
    parser.add_argument(
        "--chat-reply", action="append", default=None, help="chat reply text (repeatable)"
    )
    parser.add_argument(
        "--config", default=None, help="JSON file with any settings (replies, chat, models, ...)"
    )
    parser.add_argument(
        "--models", default=None, help="comma-separated model names (default: any name)"
    )
    parser.add_argument(
        "--first-token-ms", type=float, default=None, help="latency before the first token"
    )
    parser.add_argument("--delay-ms", type=float, default=None, help="delay between tokens")
    parser.add_argument("--fail", choices=FAIL_MODES, default=None, help="inject a failure")
    parser.add_argument("--api-key", default=None, help="(openai) require this bearer key")
    args = parser.parse_args(argv)

    config: dict[str, Any] = {}
    if args.config:
        with open(args.config, encoding="utf-8") as fh:
            config.update(json.load(fh))
    if args.reply:
        config["replies"] = args.reply
    if args.chat_reply:
        config["chat"] = args.chat_reply
    if args.models:
        config["models"] = [m.strip() for m in args.models.split(",") if m.strip()]
    for key in ("first_token_ms", "delay_ms", "fail", "api_key"):
        if getattr(args, key) is not None:
            config[key] = getattr(args, key)

    server = server_cls(port=args.port, **config)
    server.start()
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    sys.stdout.write(f"READY {server.url}\n")
    sys.stdout.flush()
    done.wait()
    server.stop()
    return 0
