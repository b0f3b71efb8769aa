"""The lean HTTP/1.1 client against a scripted raw server: framing, keep-alive, faults."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import pytest

from frumious.errors import ConnectionFailed, ProtocolError, UpstreamError
from frumious.http import client as http_client
from frumious.http import target as http_target
from frumious.http.client import Client, Timeouts
from frumious.http.wire import HIGH_WATER
from frumious.upstream import RetryPolicy, Upstream

# A script answers one request head (bytes) with the bytes to send, and whether to close after.
Script = Callable[[bytes], tuple[bytes, bool]]


@dataclass
class Server:
    url: str
    heads: list[bytes] = field(default_factory=list)
    connections: int = 0


@asynccontextmanager
async def serve(script: Script) -> AsyncIterator[Server]:
    server = Server("")

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        server.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                server.heads.append(head)
                data, close = script(head)
                writer.write(data)
                await writer.drain()
                if close:
                    break
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass  # the client left, or the test ended with the connection open
        finally:
            writer.close()

    listener = await asyncio.start_server(handle, "127.0.0.1", 0)
    server.url = f"http://127.0.0.1:{listener.sockets[0].getsockname()[1]}"
    async with listener:
        yield server


def ok(body: bytes, *headers: str) -> bytes:
    lines = ["HTTP/1.1 200 OK", f"Content-Length: {len(body)}", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def client(read: float = 5.0, total: float = 30.0) -> Client:
    return Client(user_agent="test/1", timeouts=Timeouts(connect=5.0, read=read, total=total), limit=4)


async def get(c: Client, url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    async with c.get(url, headers) as response:
        return response.status, await response.read()


async def test_content_length_bodies_reuse_one_connection() -> None:
    async with serve(lambda head: (ok(b"hello", "X-Thing: 1"), False)) as server:
        c = client()
        for _ in range(3):
            async with c.get(server.url + "/a") as response:
                assert response.status == 200
                assert response.headers["x-thing"] == response.headers.get("X-THING") == "1"
                assert await response.read() == b"hello"
        await c.close()
    assert server.connections == 1
    first = server.heads[0].decode()
    assert first.startswith("GET /a HTTP/1.1\r\nHost: 127.0.0.1:")
    assert "User-Agent: test/1\r\n" in first and "Accept-Encoding: gzip, deflate\r\n" in first


async def test_given_headers_replace_the_defaults() -> None:
    async with serve(lambda head: (ok(b""), False)) as server:
        c = client()
        await get(c, server.url + "/", {"Accept": "application/json", "If-None-Match": '"x"'})
        await c.close()
    head = server.heads[0].decode()
    assert head.count("Accept:") == 1 and "Accept: application/json\r\n" in head
    assert 'If-None-Match: "x"\r\n' in head


async def test_chunked_body_with_extensions_and_trailers() -> None:
    body = b"4;ext=1\r\nWiki\r\n6\r\npedia \r\nE\r\nin \r\n\r\nchunks.\r\n0\r\nX-Trailer: yes\r\n\r\n"
    reply = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + body
    async with serve(lambda head: (reply, False)) as server:
        c = client()
        assert await get(c, server.url + "/") == (200, b"Wikipedia in \r\n\r\nchunks.")
        async with c.get(server.url + "/") as response:
            pieces = [piece async for piece in response.iter_chunks(3)]
        assert b"".join(pieces) == b"Wikipedia in \r\n\r\nchunks." and max(map(len, pieces)) <= 3
        await c.close()
    assert server.connections == 1


async def test_gzip_bodies_are_decompressed() -> None:
    packed = gzip.compress(b"x" * 10_000)
    async with serve(lambda head: (ok(packed, "Content-Encoding: gzip"), False)) as server:
        c = client()
        assert await get(c, server.url + "/") == (200, b"x" * 10_000)
        async with c.get(server.url + "/") as response:
            assert b"".join([piece async for piece in response.iter_chunks(100)]) == b"x" * 10_000
        await c.close()


async def test_body_until_close_and_bodiless_answers() -> None:
    answers = iter(
        [
            (b"HTTP/1.1 304 Not Modified\r\nETag: x\r\n\r\n", False),
            (b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", False),
            (b"HTTP/1.0 200 OK\r\n\r\nuntil the end", True),
        ]
    )
    async with serve(lambda head: next(answers)) as server:
        c = client()
        assert await get(c, server.url + "/") == (304, b"")
        assert await get(c, server.url + "/") == (200, b"")
        assert await get(c, server.url + "/") == (200, b"until the end")
        await c.close()
    assert server.connections == 1


async def test_a_kept_connection_the_server_closed_is_replaced_quietly() -> None:
    async with serve(lambda head: (ok(b"one"), True)) as server:
        c = client()
        assert await get(c, server.url + "/") == (200, b"one")
        await asyncio.sleep(0.05)  # the close reaches the client while the connection is idle
        assert await get(c, server.url + "/") == (200, b"one")
        await c.close()
    assert server.connections == 2


async def test_connection_close_header_is_honoured() -> None:
    async with serve(lambda head: (ok(b"bye", "Connection: close"), False)) as server:
        c = client()
        await get(c, server.url + "/")
        await get(c, server.url + "/")
        await c.close()
    assert server.connections == 2


async def test_dropped_mid_body_is_a_protocol_error() -> None:
    cut = ok(b"0123456789")[:-4]
    async with serve(lambda head: (cut, True)) as server:
        c = client()
        with pytest.raises(ProtocolError, match="short"):
            await get(c, server.url + "/")
        async with c.get(server.url + "/") as response:
            with pytest.raises(ProtocolError):
                _ = [piece async for piece in response.iter_chunks(4)]
        await c.close()


@pytest.mark.parametrize(
    "reply",
    [b"HTTP/1.1 OK\r\n\r\n", b"SPDY/3 200 OK\r\n\r\n", b"HTTP/1.1 2000 OK\r\n\r\n", b"HTTP/1.1 200 OK\r\nbad\r\n\r\n"],
)
async def test_malformed_heads_are_clean_errors(reply: bytes) -> None:
    async with serve(lambda head: (reply, True)) as server:
        c = client()
        with pytest.raises(ProtocolError, match="malformed"):
            await get(c, server.url + "/")
        await c.close()


async def test_bad_chunk_size_and_bad_length_are_protocol_errors() -> None:
    replies = iter(
        [
            (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n+5\r\nhello\r\n0\r\n\r\n", True),
            (b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", True),
        ]
    )
    async with serve(lambda head: next(replies)) as server:
        c = client()
        with pytest.raises(ProtocolError, match="chunk size"):
            await get(c, server.url + "/")
        with pytest.raises(ProtocolError, match="Content-Length"):
            await get(c, server.url + "/")
        await c.close()


async def test_malformed_status_through_upstream_fails_after_retries() -> None:
    retry = RetryPolicy(attempts=2, base=0.01)
    async with (
        serve(lambda head: (b"garbage\r\n\r\n", True)) as server,
        Upstream(server.url, client(), retry=retry) as up,
    ):
        with pytest.raises(UpstreamError, match=r"malformed status line 'garbage' after 2 attempts"):
            await up.project("foo", 0)


async def test_read_timeout() -> None:
    async with serve(lambda head: (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", False)) as server:
        c = client(read=0.2)
        with pytest.raises(TimeoutError):
            await get(c, server.url + "/")
        await c.close()


async def test_total_timeout_bounds_the_whole_request() -> None:
    async with serve(lambda head: (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", False)) as server:
        c = client(read=10, total=0.2)
        with pytest.raises(TimeoutError):
            await get(c, server.url + "/")
        await c.close()


async def test_refused_connection() -> None:
    async with serve(lambda head: (b"", True)) as server:
        url = server.url
    c = client()
    with pytest.raises(ConnectionFailed, match="cannot connect"):
        await get(c, url + "/")
    await c.close()


async def test_redirects_are_followed_and_loops_refused() -> None:
    def script(head: bytes) -> tuple[bytes, bool]:
        target = head.split(b" ")[1]
        if target == b"/old":
            return b"HTTP/1.1 301 Moved\r\nLocation: /new?x=1\r\nContent-Length: 3\r\n\r\nbye", False
        if target == b"/loop":
            return b"HTTP/1.1 302 Found\r\nLocation: /loop\r\nContent-Length: 0\r\n\r\n", False
        return ok(b"new"), False

    async with serve(script) as server:
        c = client()
        async with c.get(server.url + "/old") as response:
            assert response.url == server.url + "/new?x=1"
            assert await response.read() == b"new"
        with pytest.raises(UpstreamError, match="redirects"):
            await get(c, server.url + "/loop")
        await c.close()
    assert server.connections == 1


async def test_slow_consumer_bounds_the_buffer() -> None:
    size = 8 * HIGH_WATER
    body = bytes(range(256)) * (size // 256)
    async with serve(lambda head: (ok(body), False)) as server:
        c = client()
        got, peak = 0, 0
        async with c.get(server.url + "/big") as response:
            async for piece in response.iter_chunks(256 * 1024):
                got += len(piece)
                await asyncio.sleep(0.002)
                peak = max(peak, response.connection.buffer.size)  # type: ignore[attr-defined]
        assert got == size
        assert peak < 3 * HIGH_WATER
        await c.close()


def test_handles_only_plain_http_urls() -> None:
    assert http_client.handles("https://pypi.org/simple/")
    assert http_client.handles("HTTP://127.0.0.1:8080/x")
    assert not http_client.handles("https://user:pw@example.org/simple/")
    assert not http_client.handles("ftp://example.org/")


ON_UVLOOP = [
    test_content_length_bodies_reuse_one_connection,
    test_chunked_body_with_extensions_and_trailers,
    test_gzip_bodies_are_decompressed,
    test_body_until_close_and_bodiless_answers,
    test_a_kept_connection_the_server_closed_is_replaced_quietly,
    test_dropped_mid_body_is_a_protocol_error,
    test_read_timeout,
    test_total_timeout_bounds_the_whole_request,
    test_refused_connection,
    test_redirects_are_followed_and_loops_refused,
    test_slow_consumer_bounds_the_buffer,
]


@pytest.mark.parametrize("case", ON_UVLOOP, ids=lambda case: case.__name__.removeprefix("test_"))
def test_on_uvloop(case: Callable[[], Awaitable[None]], on_uvloop: Callable[..., None]) -> None:
    on_uvloop(case)


def test_request_targets_are_ascii_on_the_wire() -> None:
    key, host, target = http_target.target("http://bücher.example:8080/a b/ü?x=1#frag")
    assert key == ("http", "bücher.example", 8080)
    assert host == "xn--bcher-kva.example:8080"
    assert target == "/a%20b/%C3%BC?x=1"
    assert http_target.target("https://pypi.org")[1:] == ("pypi.org", "/")


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/packages/ab/cd/ef/f-1.0.tar.gz",
        "HTTPS://PyPI.org/simple/foo/",
        "https://pypi.org",
        "https://pypi.org/",
        "https://pypi.org?x=1",
        "https://pypi.org/a?",
        "https://pypi.org/a??b",
        "https://pypi.org/a?b=1#frag?c",
        "https://pypi.org/a#b?c",
        "http://[::1]:9/x",
        "http://user:pw@host/x",
        "http://host:99999/x",
        "ftp://host/x",
        "http:///x",
        "http://host/a b",
        "http://host/a\tb\r\n",
        "http://host/a\x7fb",
        "http://bücher.example/x",
    ],
)
def test_a_plain_urls_target_is_cut_as_urlsplit_would(url: str) -> None:
    try:
        expected: object = http_target.parsed_target(url)
    except UpstreamError as exc:
        expected = str(exc)
    try:
        got: object = http_target.target(url)
    except UpstreamError as exc:
        got = str(exc)
    assert got == expected


def test_urls_of_one_host_parse_its_origin_once(monkeypatch: pytest.MonkeyPatch) -> None:
    http_target.origin.cache_clear()
    calls: list[str] = []
    real = http_target.urlsplit

    def counting(url: str) -> object:
        calls.append(url)
        return real(url)

    monkeypatch.setattr(http_target, "urlsplit", counting)
    targets = [http_target.target(f"http://127.0.0.1:8080/packages/f-{n}.tar.gz")[2] for n in range(100)]
    assert targets == [f"/packages/f-{n}.tar.gz" for n in range(100)]
    assert len(calls) == 1


async def test_the_run_client_checks_each_status_itself_and_frees_its_slot() -> None:
    """``Upstream.get`` over the run's client (``choose.Clients``): 503, 429 and 404 raise on the way in, as
    ``http.checked.Checked`` does, the refused reply's connection is closed (its body unread) and its slot
    freed, and the next request is answered."""
    from frumious.errors import NotFound, RetryableStatus
    from frumious.http.choose import Clients

    answers = iter(
        [
            (b"HTTP/1.1 503 Busy\r\nRetry-After: 7\r\nContent-Length: 4\r\n\r\nbusy", False),
            (b"HTTP/1.1 429 Slow\r\nContent-Length: 0\r\n\r\n", False),
            (b"HTTP/1.1 404 Gone\r\nContent-Length: 4\r\n\r\ngone", False),
            (ok(b"body"), False),
        ]
    )
    one_slot = Client(user_agent="test/1", timeouts=Timeouts(connect=5.0, read=5.0, total=30.0), limit=1)
    clients = Clients(one_slot, proxy="", timeouts=one_slot.timeouts, connections=1, user_agent="test/1")
    async with serve(lambda head: next(answers)) as server, Upstream(server.url, clients) as up:
        with pytest.raises(RetryableStatus) as busy:
            async with up.get(server.url + "/a"):
                raise AssertionError("a 503 is refused on the way in")
        assert busy.value.retry_after == 7.0
        with pytest.raises(RetryableStatus):
            async with up.get(server.url + "/b"):
                pass
        with pytest.raises(NotFound, match="/c answered 404"):
            async with up.get(server.url + "/c"):
                pass
        async with up.get(server.url + "/d") as response:
            assert await response.read() == b"body"
        assert up.counters.requests == 4
    assert server.connections == 3  # the 503's and the 404's connections (body unread) were not kept


def test_pipelines_decides_by_origin_as_the_whole_url_would() -> None:
    c = client()
    a, b = "http://127.0.0.1:8000/packages/aa/bb/x.whl", "http://127.0.0.1:8000/other/y z.tar.gz"
    assert c.pipelines(a) and c.pipelines(b)
    assert not c.pipelines("ftp://127.0.0.1/x") and not c.pipelines("http://user@127.0.0.1/x")
    c._one_at_a_time.add(("http", "127.0.0.1", 8000))  # the origin stalled: every URL of it goes one at a time
    assert not c.pipelines(a) and not c.pipelines(b)
    assert c.pipelines("http://127.0.0.1:8001/x")  # another port, another origin
    for port in range(300):  # many origins: the parsed keys are forgotten, not kept without end
        c.pipelines(f"http://127.0.0.1:{10000 + port}/x")
    assert len(c._origin_keys) <= 256 and not c.pipelines(a)
