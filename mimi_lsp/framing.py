"""LSP base-protocol framing that no byte sequence can kill or deafen.

``Content-Length: N\\r\\n`` (other header lines allowed) ``\\r\\n`` then N bytes of JSON. pygls'
reader loop trusts the header: ``Content-Length: 1000000000000`` makes it allocate a terabyte
(``MemoryError``, exit 1), and a length that lies, is negative or is not a number leaves it
reading the following messages as garbage forever. ``FrameReader`` reads raw chunks instead and:

- bounds a frame (``MAX_FRAME_BYTES``): a bigger one is skipped with one log line, and a request
  among them is answered (its id is read from the body's first bytes);
- resynchronises on the next header after anything that is not a header (one log line per
  run of skipped bytes). A header block (``Content-Length: N`` + CRLF CRLF with real CR and LF)
  can never occur inside a JSON body, whose strings cannot hold raw control characters, so a
  header found inside a body that has not finished arriving proves its length was a lie: the
  body is dropped there and the next message is read at once, not N bytes later.

``serve_stdio`` and ``serve_tcp`` run a server on them (``MimiServer.start_io``/``start_tcp``);
the server's protocol decodes and dispatches each body (``protocol.MimiProtocol.receive``).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import re
import sys
import threading
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, BinaryIO, Protocol, cast

log = logging.getLogger(__name__)

MAX_FRAME_BYTES = 128 * 1024 * 1024
"""Largest message accepted: a 20 MB document (``limits.maxDocumentBytes``) escaped as JSON
fits several times over."""
MAX_HEADER_BYTES = 8_192
CHUNK_BYTES = 65_536
READ_AHEAD_BYTES = 8 * 1024 * 1024
ID_PROBE_BYTES = 4_096

# A complete header block: header lines ("Name: value" CRLF, names of letters, digits and
# dashes), one of them Content-Length with 1-20 digits, then an empty line. Anything else where
# a header should start is skipped.
_LINE = rb"[A-Za-z][A-Za-z0-9-]{0,63}:[^\r\n]{0,1024}\r\n"
_HEADER = re.compile(
    rb"(?:"
    + _LINE
    + rb"){0,8}?Content-Length:[ \t]*(\d{1,20})[ \t]*\r\n(?:"
    + _LINE
    + rb"){0,8}\r\n",
    re.IGNORECASE,
)
_REQUEST_ID = re.compile(rb'"id"\s*:\s*(-?\d{1,18}|"(?:[^"\\]|\\.){0,200}")')

ReadChunk = Callable[[], Awaitable[bytes]]
"""Returns the next bytes that arrived (at least one), or ``b""`` at the end of the stream."""


@dataclass(frozen=True, slots=True)
class Oversized:
    """A frame over the size limit, skipped; ``request_id`` when it was a request."""

    length: int
    request_id: int | str | None


class FrameReader:
    """Message bodies from a byte stream, resynchronising after anything malformed."""

    def __init__(self, read_chunk: ReadChunk, *, max_frame_bytes: int = MAX_FRAME_BYTES) -> None:
        self._read_chunk = read_chunk
        self.max_frame_bytes = max_frame_bytes
        self._buffer = bytearray()
        self._eof = False
        self.skipped_bytes = 0
        """Bytes dropped as not-a-message since the start (framing errors, oversized frames)."""
        self.dropped_frames = 0
        self._discard = 0

    def reset(self) -> None:
        """Forget everything buffered (after an internal error)."""
        self.skipped_bytes += len(self._buffer)
        self._buffer.clear()

    async def _fill(self) -> bool:
        """Read one more chunk into the buffer; False at the end of the stream."""
        if self._eof:
            return False
        chunk = await self._read_chunk()
        if not chunk:
            self._eof = True
            return False
        self._buffer += chunk
        return True

    def _skip(self, count: int, why: str) -> None:
        if count <= 0:
            return
        del self._buffer[:count]
        self.skipped_bytes += count
        log.warning("LSP input: skipped %d bytes %s; reading on from the next header", count, why)

    async def _header(self) -> tuple[int, int] | None:
        """(body length, header length) of the header at the buffer's start, skipping garbage."""
        garbage = 0
        while True:
            match = _HEADER.search(self._buffer)
            if match is not None:
                # Read the match before the buffer moves: it slices the live bytearray.
                start, length = match.start(), int(match.group(1))
                header_len = match.end() - start
                garbage += start
                del self._buffer[:start]
                self.skipped_bytes += start
                if garbage:
                    log.warning(
                        "LSP input: skipped %d bytes that were not a message header "
                        "(a broken Content-Length or a stray write to our stdin)",
                        garbage,
                    )
                return length, header_len
            # Keep what could still become a header; drop the rest as garbage.
            excess = len(self._buffer) - MAX_HEADER_BYTES
            if excess > 0:
                del self._buffer[:excess]
                garbage += excess
                self.skipped_bytes += excess
            if not await self._fill():
                if garbage or self._buffer.strip():
                    log.warning("LSP input: the stream ended inside a broken message header")
                return None

    async def read(self) -> bytes | Oversized | None:
        """The next message body, an ``Oversized`` notice, or None at the end of the stream."""
        while True:
            if self._discard:
                await self._discard_body()
            header = await self._header()
            if header is None:
                return None
            length, header_len = header
            if length > self.max_frame_bytes:
                return await self._oversized(length, header_len)
            del self._buffer[:header_len]
            body = await self._body(length)
            if body is not None:
                return body
            if self._eof and not self._buffer:
                return None

    async def _body(self, length: int) -> bytes | None:
        """``length`` bytes, or None (dropped) when a header shows up inside them first."""
        scanned = 0
        while True:
            # A header inside the bytes that should be the body: the length lied. (A header
            # block ends in CRLF CRLF: only bytes with a newline can complete one.)
            end = min(length, len(self._buffer))
            match = None
            if self._buffer.find(b"\n", scanned, end) >= 0:
                match = _HEADER.search(self._buffer, max(0, scanned - MAX_HEADER_BYTES), end)
            if match is not None:
                self.dropped_frames += 1
                self._skip(match.start(), f"of a message shorter than its Content-Length {length}")
                return None
            scanned = end
            if len(self._buffer) >= length:
                body = bytes(self._buffer[:length])
                del self._buffer[:length]
                return body
            if not await self._fill():
                log.warning(
                    "LSP input: the stream ended %d bytes into a %d-byte message",
                    len(self._buffer),
                    length,
                )
                self._buffer.clear()
                return None

    async def _oversized(self, length: int, header_len: int) -> Oversized:
        """Skip a frame over the limit (bounded memory), learning its request id if any."""
        del self._buffer[:header_len]
        request_id = await self._probe_request_id()
        log.warning(
            "LSP input: a %d-byte message is over the %d-byte limit; skipped%s",
            length,
            self.max_frame_bytes,
            f" (request {request_id!r} answered with an error)" if request_id is not None else "",
        )
        self.dropped_frames += 1
        self._discard = length  # dropped on the next read: answer first, the client may wait
        return Oversized(length, request_id)

    async def _probe_request_id(self) -> int | str | None:
        """The id of an oversized request, from its first bytes (before ``"params"``).

        Reads on only while the answer is still open and no next header has arrived: a client
        that lied about the length may now be waiting for this very answer.
        """
        while True:
            head = bytes(self._buffer[:ID_PROBE_BYTES])
            before_params, has_params, _ = head.partition(b'"params"')
            found = _REQUEST_ID.search(before_params)
            if found is not None and b'"method"' in head:
                raw = found.group(1)
                return int(raw) if raw[:1] != b'"' else raw[1:-1].decode("utf-8", "replace")
            if has_params or len(head) >= ID_PROBE_BYTES or _HEADER.search(head):
                return None
            if not await self._fill():
                return None

    async def _discard_body(self) -> None:
        """Drop an oversized body as it streams in: up to its length, or up to the next header
        if its length lied (bounded memory either way)."""
        left, self._discard = self._discard, 0
        while left > 0:
            match = _HEADER.search(self._buffer, 0, min(len(self._buffer), left + MAX_HEADER_BYTES))
            if match is not None and match.start() < left:
                self._drop(match.start())
                return
            if len(self._buffer) >= left:
                self._drop(left)
                return
            # Keep a tail that may be the start of the next header (only a lying length can
            # put one before the declared end; a JSON body never holds one).
            take = max(0, len(self._buffer) - MAX_HEADER_BYTES)
            self._drop(take)
            left -= take
            if not await self._fill():
                self._drop(len(self._buffer))
                return

    def _drop(self, count: int) -> None:
        del self._buffer[:count]
        self.skipped_bytes += count


# ------------------------------------------------------------------------------ transports


class MessageSink(Protocol):
    """What the transports feed: the server's protocol (``protocol.MimiProtocol``)."""

    def set_writer(self, writer: Any) -> None: ...

    def receive(self, body: bytes) -> None: ...

    def refuse_oversized(self, frame: Oversized) -> None: ...


class Served(Protocol):
    """The server the transports run (``language_server.MimiServer``)."""

    protocol: Any
    _stop_event: Any  # pygls' shutdown() sets it
    _server: Any  # pygls' shutdown() closes it

    def shutdown(self) -> None: ...


async def serve_frames(read_chunk: ReadChunk, sink: MessageSink, stop: threading.Event) -> None:
    """Feed every frame of a byte stream to ``sink`` until the stream ends or ``stop`` is set."""
    frames = FrameReader(read_chunk)
    while not stop.is_set():
        try:
            item = await frames.read()
        except Exception:  # a bug here must cost what was buffered, never the server
            log.exception("LSP input: framing failed; dropping the buffered input")
            frames.reset()
            continue
        if item is None:
            return
        if isinstance(item, Oversized):
            sink.refuse_oversized(item)
        else:
            sink.receive(item)
        # Let the tasks this message started take a step before the next one is dispatched,
        # as they did when every read waited on a thread (a notification's async handler must
        # not starve behind a burst of buffered messages, e.g. until a shutdown cancels it).
        await asyncio.sleep(0)


class _StdoutWriter:
    """pygls' writer interface over a binary stream: write and flush each frame."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream

    def write(self, data: bytes) -> None:
        self._stream.write(data)
        self._stream.flush()

    def close(self) -> None:
        self._stream.close()


class _ReadAhead:
    """Chunks of a blocking stream, read ahead by a daemon thread (it never holds up the exit).

    The thread reads on while the loop is busy, up to ``READ_AHEAD_BYTES``, and the loop takes
    everything that arrived at once: a 2 MB message crosses threads once, not 32 times (with a
    busy loop, each crossing waits for a loop iteration).
    """

    def __init__(self, read: Callable[[int], bytes], loop: asyncio.AbstractEventLoop) -> None:
        self._read = read
        self._loop = loop
        self._data = bytearray()
        self._eof = False
        self._space = threading.Condition()
        self._arrived = asyncio.Event()
        threading.Thread(target=self._pump, name="lsp-stdin", daemon=True).start()

    def _pump(self) -> None:
        while True:
            try:
                chunk = self._read(CHUNK_BYTES)
            except (OSError, ValueError):
                chunk = b""
            with self._space:
                while len(self._data) >= READ_AHEAD_BYTES:
                    self._space.wait()
                self._data += chunk
                self._eof = not chunk
            try:
                self._loop.call_soon_threadsafe(self._arrived.set)
            except RuntimeError:
                return  # the loop is gone: the server is exiting
            if not chunk:
                return

    async def read(self) -> bytes:
        """Everything that arrived since the last call (waiting for something), b"" at the end."""
        while True:
            self._arrived.clear()
            with self._space:
                if self._data:
                    out = bytes(self._data)
                    self._data.clear()
                    self._space.notify()
                    return out
                if self._eof:
                    return b""
            await self._arrived.wait()


def _stream_reader(stream: BinaryIO) -> Callable[[int], bytes]:
    """``read(n)`` on the file descriptor, not the buffered object: a daemon thread blocked in
    ``BufferedReader.read1`` holds its lock, and the interpreter aborts at exit over it."""
    try:
        return functools.partial(os.read, stream.fileno())
    except (AttributeError, OSError, ValueError):
        return cast(Callable[[int], bytes], getattr(stream, "read1", stream.read))


def serve_stdio(
    server: Served, stdin: BinaryIO | None = None, stdout: BinaryIO | None = None
) -> None:
    """Serve LSP over stdin/stdout until the stream ends or the client sends ``exit``."""
    stop = threading.Event()
    server._stop_event = stop
    server.protocol.set_writer(_StdoutWriter(stdout or sys.stdout.buffer))

    async def run() -> None:
        ahead = _ReadAhead(_stream_reader(stdin or sys.stdin.buffer), asyncio.get_running_loop())
        await serve_frames(ahead.read, server.protocol, stop)

    _run_until_exit(server, run)


def serve_tcp(server: Served, host: str, port: int) -> None:
    """Serve LSP to TCP clients on ``host:port`` (one at a time, as pygls does)."""
    stop = threading.Event()
    server._stop_event = stop

    async def connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        server.protocol.set_writer(writer)
        await serve_frames(lambda: reader.read(CHUNK_BYTES), server.protocol, stop)
        server.shutdown()

    async def run() -> None:
        listener = server._server = await asyncio.start_server(connection, host, port)
        log.info("serving LSP on %s", ", ".join(str(s.getsockname()) for s in listener.sockets))
        async with listener:
            await listener.serve_forever()

    _run_until_exit(server, run)


def _run_until_exit(server: Served, run: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """``asyncio.run(run())``; ``exit`` (SystemExit) keeps its code, the rest stops quietly."""
    code: int | str | None = None
    try:
        asyncio.run(run())
    except BrokenPipeError:
        log.error("the connection to the client is lost; shutting down")
    except SystemExit as exc:
        code = exc.code
    except (KeyboardInterrupt, asyncio.CancelledError):
        pass
    finally:
        server.shutdown()
    if code:
        raise SystemExit(code)
