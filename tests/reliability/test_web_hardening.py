"""The web server attacked the way issue 20's attack pass did, each against a real `mimi-lsp web`
process with real HTTP and WebSocket clients (and raw sockets where a client library would
refuse to send the bytes).

A restarted server's new ``?token=`` wins over the old cookie; ``--max-sessions`` holds when a
dozen WebSockets open at once; a symlink loop and FIFOs neither hang a file endpoint nor stop
SIGTERM; malformed credentials and huge paths are a 401/400 and one log line; ``Host`` is parsed
as an address; redirects stay on our own paths; saved files honour the umask.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from yarl import URL

from tests.web.conftest import WebServer, start_web

SETTINGS = {
    "completion": {"backend": {"kind": "fake", "replies": ["x"]}},
    "index": {"enabled": False},
}
STOP_BUDGET_S = 10.0
"""SIGTERM to exit: the server closes its sessions and stops; nothing it runs may block that."""


def auth(server: WebServer) -> dict[str, str]:
    return {"Authorization": f"token {server.token}"}


def hostile_tree(root: Path) -> Path:
    """A workspace with a symlink loop, a self link, FIFOs (one named like an ignore file)."""
    (root / "a" / "b").mkdir(parents=True)
    (root / "a" / "x.py").write_text("x = 1\n")
    (root / "a" / "b" / "y.py").write_text("y = 2\n")
    os.symlink("..", root / "a" / "back", target_is_directory=True)
    os.symlink("..", root / "a" / "b" / "up", target_is_directory=True)
    os.symlink("self", root / "self")
    os.mkfifo(root / "pipe")
    os.mkfifo(root / "pipe.py")
    os.mkfifo(root / "a" / ".gitignore")
    return root


def log_lines(server: WebServer, needle: str) -> list[str]:
    return [line for line in server.output if needle in line]


def stop_and_time(server: WebServer) -> float:
    """Send SIGTERM and return how long the server took to exit."""
    started = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    try:
        server.process.wait(STOP_BUDGET_S)
    except Exception:
        server.process.kill()
        return float("inf")
    return time.monotonic() - started


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def raw_request(port: int, head: bytes) -> bytes:
    """Send ``head`` as the request's bytes; return the status line."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(head)
    await writer.drain()
    line = await asyncio.wait_for(reader.readline(), 10)
    writer.close()
    with contextlib.suppress(Exception):
        await writer.wait_closed()
    return line.strip()


# ---------------------------------------------------------------------------- item 1


async def test_restart_new_token_wins_over_the_old_cookie(tmp_path: Path) -> None:
    """Restart on the same port (new token): opening the new link in the same browser works,
    replaces the cookie, and the page keeps working without the token."""
    port = free_port()
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar) as browser:
        with start_web(tmp_path, SETTINGS, "--no-spare", "--port", str(port)) as first:
            async with browser.get(first.url) as r:
                assert r.status == 200
        old = {c.key: c.value for c in jar}
        assert old == {f"mimi_token_{port}": first.token}
        with start_web(tmp_path, SETTINGS, "--no-spare", "--port", str(port)) as second:
            assert second.token != first.token
            async with browser.get(second.url) as r:
                assert r.status == 200, await r.text()
                assert r.url.query.get("token") is None  # the token left the address bar
            assert {c.key: c.value for c in jar} == {f"mimi_token_{port}": second.token}
            async with browser.get(second.base) as r:
                assert r.status == 200
            async with browser.get(second.base + "api/info") as r:
                assert r.status == 200


async def test_stale_cookie_alone_is_refused_and_cleared(tmp_path: Path) -> None:
    """Without a token, an old cookie is a 401 that also tells the browser to drop it."""
    with start_web(tmp_path, SETTINGS, "--no-spare") as server:
        async with aiohttp.ClientSession() as http:
            cookies = {f"mimi_token_{server.port}": "old-token"}
            async with http.get(server.base, cookies=cookies, allow_redirects=False) as r:
                assert r.status == 401
                cleared = r.cookies.get(f"mimi_token_{server.port}")
                assert cleared is not None and cleared.value == ""


# ---------------------------------------------------------------------------- item 2


def language_servers(parent: int) -> list[int]:
    """Live child processes of ``parent`` running ``mimi_lsp --stdio``."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        if int(fields[1]) == parent and fields[0] != "Z" and b"--stdio" in cmdline:
            out.append(int(entry))
    return out


async def test_max_sessions_is_a_cap_under_concurrent_opens(tmp_path: Path) -> None:
    """Twelve WebSockets opened at once with --max-sessions 4: four admitted, eight refused
    with 503, never more than four language servers; a closed one frees its slot."""
    with start_web(tmp_path, SETTINGS, "--max-sessions", "4") as server:
        url = server.base.replace("http://", "ws://") + "lsp"
        async with aiohttp.ClientSession(headers=auth(server)) as http:

            async def open_one() -> aiohttp.ClientWebSocketResponse | int:
                try:
                    return await http.ws_connect(url, timeout=aiohttp.ClientWSTimeout(ws_close=5))
                except aiohttp.WSServerHandshakeError as exc:
                    return exc.status

            results = await asyncio.gather(*(open_one() for _ in range(12)))
            sockets = [r for r in results if not isinstance(r, int)]
            refused = [r for r in results if isinstance(r, int)]
            try:
                assert len(sockets) == 4 and refused == [503] * 8, refused
                # The spare (started ahead for the next tab) is the only process beyond four.
                assert len(language_servers(server.process.pid)) <= 5
                await sockets.pop().close()
                for _ in range(100):
                    again = await open_one()
                    if not isinstance(again, int):
                        sockets.append(again)
                        break
                    await asyncio.sleep(0.05)  # the slot frees when the bridge has stopped
                assert len(sockets) == 4
            finally:
                await asyncio.gather(*(ws.close() for ws in sockets))


# ---------------------------------------------------------------------------- items 3 and 7


@pytest.fixture
def hostile(tmp_path: Path) -> Iterator[WebServer]:
    with start_web(hostile_tree(tmp_path / "ws"), SETTINGS, "--no-spare") as server:
        yield server


async def test_symlink_loop_and_fifos_do_not_hang_the_file_endpoints(hostile: WebServer) -> None:
    """Quick open, the tree and reads answer at once with a link loop, a self link and FIFOs
    in the folder (one named .gitignore); twenty parallel walks leave the server responsive,
    and SIGTERM still stops it."""
    async with aiohttp.ClientSession(
        headers=auth(hostile), timeout=aiohttp.ClientTimeout(total=10)
    ) as http:
        base = hostile.base.rstrip("/")
        walks = [http.get(base + "/api/files") for _ in range(20)]
        answers = await asyncio.gather(*(w.__aenter__() for w in walks))
        for answer in answers:
            assert answer.status == 200
            body = await answer.json()
            assert body == {"files": ["a/b/y.py", "a/x.py"], "truncated": False}
            answer.release()
        async with http.get(base + "/api/tree", params={"path": ""}) as r:
            names = [e["name"] for e in (await r.json())["entries"]]
            assert "pipe" not in names and "pipe.py" not in names and "self" not in names
        for path in ("pipe", "pipe.py", "a/.gitignore", "a/back/pipe", "self"):
            async with http.get(base + "/api/file", params={"path": path}) as r:
                assert r.status in (404, 415), (path, r.status)
        async with http.put(base + "/api/file", params={"path": "pipe"}, json={"text": "x"}) as r:
            assert r.status == 415
        async with http.get(base + "/api/file", params={"path": "a/x.py"}) as r:
            assert r.status == 200
    assert stop_and_time(hostile) < STOP_BUDGET_S


# ---------------------------------------------------------------------------- item 8


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebServer]:
    root = tmp_path_factory.mktemp("hardened")
    (root / "ok.py").write_text("ok = 1\n")
    with start_web(root, SETTINGS, "--no-spare") as web:
        yield web


@pytest.mark.parametrize(
    "header",
    [
        b"Authorization: token \xff\xfe\xc3",
        b"Authorization: Bearer \xed\xa0\x80",
        b"Cookie: mimi_token_PORT=\xff\xfe",
    ],
    ids=["authorization-latin1", "bearer-surrogate", "cookie"],
)
async def test_invalid_utf8_credentials_are_401_with_one_log_line(
    server: WebServer, header: bytes
) -> None:
    """Credentials that are not UTF-8 text: 401 and one warning line, no traceback."""
    before = len(server.output)
    header = header.replace(b"PORT", str(server.port).encode())
    head = (
        b"GET /api/info HTTP/1.1\r\nHost: 127.0.0.1\r\n" + header + b"\r\nConnection: close\r\n\r\n"
    )
    assert (await raw_request(server.port, head)).startswith(b"HTTP/1.1 401")
    await asyncio.sleep(0.2)  # the log line is written before the answer; let the pump read it
    new = server.output[before:]
    assert [line for line in new if "is not ASCII text" in line] != [], new
    assert not any("Traceback" in line for line in new), new
    assert sum("WARNING" in line or "ERROR" in line for line in new) == 1, new


@pytest.mark.parametrize(
    ("method", "route", "query"),
    [
        ("GET", "/api/file", "a" * 5000),
        ("GET", "/api/tree", "a" * 5000),
        ("PUT", "/api/file", "a/" * 2500),
        ("GET", "/api/file", "d/" * 100 + "x" * 300),
    ],
    ids=["read-5000", "tree-5000", "save-deep", "long-name"],
)
async def test_huge_or_unencodable_paths_are_400_with_one_log_line(
    server: WebServer, method: str, route: str, query: str
) -> None:
    """Paths no file system holds: 400 and one warning line, never a 500. (Invalid UTF-8 in
    the query is decoded with replacement characters by aiohttp: an ordinary 404.)"""
    before = len(server.output)
    url = URL(f"{server.base.rstrip('/')}{route}?path={query}", encoded=True)
    async with aiohttp.ClientSession(headers=auth(server)) as http:
        async with http.request(method, url, json={"text": "x"}) as r:
            assert r.status == 400, await r.text()
    await asyncio.sleep(0.2)
    new = server.output[before:]
    assert sum("WARNING" in line or "ERROR" in line for line in new) == 1, new
    assert not any("Traceback" in line for line in new), new


# ---------------------------------------------------------------------------- item 9


@pytest.mark.parametrize(
    ("host", "status"),
    [
        ("127.evil.example", 403),
        ("127.0.0.1.evil.example", 403),
        ("localhost.evil.example", 403),
        ("evil.example", 403),
        ("127.0.0.1:notaport", 403),
        ("127.0.0.1", 200),
        ("127.0.0.2", 200),
        ("localhost", 200),
        ("[::1]", 200),
    ],
)
async def test_host_is_parsed_as_an_address(server: WebServer, host: str, status: int) -> None:
    """Host must be a loopback address or localhost, not a name that starts with '127.'."""
    value = host if ":" in host.strip("[]").split("]")[-1] else f"{host}:{server.port}"
    async with aiohttp.ClientSession() as http:
        async with http.get(server.base + "api/info", headers={**auth(server), "Host": value}) as r:
            assert r.status == status


@pytest.mark.parametrize(
    "raw",
    [
        "//evil.example/",
        "////evil.example/",
        "/\\evil.example/",
        "/%2F%2Fevil.example/",
        "/%09/evil.example/",
        "//evil.example/assets/x.js",
    ],
)
async def test_redirects_stay_on_our_own_paths(server: WebServer, raw: str) -> None:
    """Trading ?token= for the cookie redirects to one of our paths, never to another host."""
    head = (
        f"GET {raw}?token={server.token}&a=1 HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(head)
    response = (await asyncio.wait_for(reader.read(), 10)).decode("latin-1")
    writer.close()
    status = response.split("\r\n", 1)[0]
    location = next(
        (
            line.split(":", 1)[1].strip()
            for line in response.split("\r\n")
            if line.lower().startswith("location:")
        ),
        None,
    )
    if location is None:
        assert " 404 " in status or " 400 " in status, status
        return
    assert location.startswith("/") and not location.startswith(("//", "/\\")), location
    assert URL(location).host is None and "token" not in location, location
    assert "\t" not in location and "evil.example" not in URL(location).path.split("/")[1:2]


# ---------------------------------------------------------------------------- item 10 (umask)


async def test_files_created_from_the_page_honour_the_umask(tmp_path: Path) -> None:
    """A new file gets 0666 through the server's umask (0644 for 022, 0640 for 027)."""
    old = os.umask(0o027)
    try:
        context = start_web(tmp_path, SETTINGS, "--no-spare")
        server = context.__enter__()
    finally:
        os.umask(old)
    try:
        async with aiohttp.ClientSession(headers=auth(server)) as http:
            for path in ("new.py", "deep/er/new.py"):
                async with http.put(
                    server.base + "api/file", params={"path": path}, json={"text": "x = 1\n"}
                ) as r:
                    assert r.status == 200
                assert stat.S_IMODE((tmp_path / path).stat().st_mode) == 0o640
            assert stat.S_IMODE((tmp_path / "deep").stat().st_mode) == 0o750
    finally:
        context.__exit__(None, None, None)
