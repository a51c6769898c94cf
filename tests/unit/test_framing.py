"""LSP framing: every well-formed message after any broken one comes through, however the
bytes are split into reads (the real server is attacked in tests/reliability)."""

from __future__ import annotations

import collections
import json

import pytest

from mimi_lsp.framing import FrameReader, Oversized
from tests.reliability.test_stdio_hardening import LIES, frame

GOOD = [
    frame({"jsonrpc": "2.0", "id": n, "method": "m", "params": {"t": "a\r\nb"}}) for n in (1, 2)
]


async def read_all(data: bytes, chunk: int, limit: int = 1_000_000) -> list[bytes | Oversized]:
    pieces = collections.deque(data[i : i + chunk] for i in range(0, len(data), chunk))

    async def read_chunk() -> bytes:
        return pieces.popleft() if pieces else b""

    reader = FrameReader(read_chunk, max_frame_bytes=limit)
    out: list[bytes | Oversized] = []
    while (item := await reader.read()) is not None:
        out.append(item)
    return out


def good_ids(items: list[bytes | Oversized]) -> list[int]:
    ids = []
    for item in items:
        if isinstance(item, bytes):
            try:
                ids.append(json.loads(item)["id"])
            except (ValueError, KeyError, TypeError, RecursionError):
                continue
    return ids


@pytest.mark.parametrize("chunk", [1, 7, 65_536])
@pytest.mark.parametrize("lie", list(LIES))
async def test_good_messages_survive_any_lie_and_any_split(lie: str, chunk: int) -> None:
    """A broken frame between two good ones costs only itself, whatever the read sizes."""
    items = await read_all(GOOD[0] + LIES[lie] + GOOD[1], chunk)
    assert good_ids(items)[0] == 1 and good_ids(items)[-1] == 2, items


async def test_oversized_frame_is_reported_with_its_request_id() -> None:
    """Over the limit: an ``Oversized`` notice carrying the request's id, then reading goes on."""
    body = json.dumps({"jsonrpc": "2.0", "id": 7, "method": "m", "params": {"x": "y" * 500}})
    items = await read_all(frame(body.encode()) + GOOD[1], 64, limit=100)
    assert items[0] == Oversized(len(body), 7)
    assert good_ids(items) == [2]


async def test_crlf_inside_a_body_is_not_a_header() -> None:
    """A document holding 'Content-Length: 5' text (escaped in JSON) does not split frames."""
    text = "Content-Length: 5\r\n\r\nhello"
    body = json.dumps({"jsonrpc": "2.0", "id": 3, "method": "m", "params": {"text": text}})
    items = await read_all(frame(body.encode()) + GOOD[1], 5)
    assert good_ids(items) == [3, 2]
