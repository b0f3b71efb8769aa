"""``Client.pipelined``: GETs written ahead of their replies on one connection, and where it stops."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from types import SimpleNamespace

import pytest

from frumious.http import client as http_client
from frumious.http.budget import Budget
from frumious.http.client import AHEAD, SLOW_FOR, SLOW_GAPS, THINKS, Client, Timeouts
from frumious.http.wire import Reply


@dataclass
class Server:
    url: str = ""
    heads: list[bytes] = field(default_factory=list)
    connections: int = 0


def ok(body: bytes, *headers: str) -> bytes:
    lines = ["HTTP/1.1 200 OK", f"Content-Length: {len(body)}", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


# What the server does with request i of a connection: the bytes to send, and whether to close after.
Answer = Callable[[int, bytes], tuple[bytes, bool]]


def echo(i: int, head: bytes) -> tuple[bytes, bool]:
    return ok(head.split(b" ")[1]), False


@asynccontextmanager
async def serve(
    answer: Answer = echo, *, gather: int = 1, stall_after: int | None = None, pause: float = 0.0
) -> AsyncIterator[Server]:
    """A raw server that reads ``gather`` request heads before it answers the first (a client that waits
    for each reply before its next request would never be answered), answers nothing after
    ``stall_after`` replies on a connection (a server that ignores requests sent ahead), and spends
    ``pause`` seconds on each answer after the first, one at a time (a CDN fetching each file)."""
    server = Server()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        server.connections += 1
        heads: list[bytes] = []
        answered = 0
        try:
            while True:
                while len(heads) < max(gather, answered + 1):
                    heads.append(await reader.readuntil(b"\r\n\r\n"))
                    server.heads.append(heads[-1])
                if stall_after is not None and answered >= stall_after:
                    await asyncio.sleep(3600)
                if pause and answered:
                    await asyncio.sleep(pause)
                data, close = answer(answered, heads[answered])
                writer.write(data)
                await writer.drain()
                answered += 1
                if close:
                    break
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    listener = await asyncio.start_server(handle, "127.0.0.1", 0)
    server.url = f"http://127.0.0.1:{listener.sockets[0].getsockname()[1]}"
    async with listener:
        yield server


def client(read: float = 5.0, budget: Budget | None = None) -> Client:
    timeouts = Timeouts(connect=5.0, read=read, total=30.0)
    return Client(user_agent="test/1", timeouts=timeouts, limit=4, budget=budget)


def taker(
    bodies: list[bytes], refuse: int | None = None, skip: int | None = None
) -> Callable[[int, Reply], Awaitable[bool]]:
    """Takes every reply's body; ``refuse``: leaves that reply unread; ``skip``: reads it and does not take it."""

    async def take(i: int, reply: Reply) -> bool:
        if i == refuse:
            return False
        if i == skip:
            await reply.read()
            return False
        assert reply.status == 200
        bodies.append(await reply.read())
        return True

    return take


async def test_every_request_is_written_before_the_first_reply() -> None:
    async with serve(gather=5) as server:
        c = client()
        urls = [f"{server.url}/f{i}" for i in range(5)]
        bodies: list[bytes] = []
        assert await c.pipelined(urls, taker(bodies)) == 5
        assert bodies == [f"/f{i}".encode() for i in range(5)]  # each reply to its own request, in order
        async with c.get(server.url + "/after") as response:  # the connection went back to the pool
            assert await response.read() == b"/after"
        await c.close()
    assert server.connections == 1


async def test_a_long_run_is_written_in_windows() -> None:
    count = AHEAD * 3 + 1
    async with serve(gather=AHEAD) as server:
        c = client()
        bodies: list[bytes] = []
        assert await c.pipelined([f"{server.url}/f{i}" for i in range(count)], taker(bodies)) == count
        await c.close()
    assert bodies == [f"/f{i}".encode() for i in range(count)]
    assert server.connections == 1


async def test_a_refused_reply_stops_and_the_connection_is_not_kept() -> None:
    async with serve() as server:
        c = client()
        bodies: list[bytes] = []
        assert await c.pipelined([f"{server.url}/f{i}" for i in range(4)], taker(bodies, refuse=2)) == 2
        assert bodies == [b"/f0", b"/f1"]
        async with c.get(server.url + "/again") as response:  # its unread reply: a new connection
            assert await response.read() == b"/again"
        await c.close()
    assert server.connections == 2
    assert c.pipelines(server.url + "/f0")  # a refusal is the caller's, not the server's fault


async def test_a_reply_read_and_not_taken_lets_the_ones_behind_it_come() -> None:
    async with serve(gather=4) as server:
        c = client()
        bodies: list[bytes] = []
        assert await c.pipelined([f"{server.url}/f{i}" for i in range(4)], taker(bodies, skip=1)) == 3
        assert bodies == [b"/f0", b"/f2", b"/f3"]
        async with c.get(server.url + "/after") as response:  # every reply was read: the connection is kept
            assert await response.read() == b"/after"
        await c.close()
    assert server.connections == 1 and len(server.heads) == 5


async def test_connection_close_ends_the_run_without_waiting() -> None:
    def closing(i: int, head: bytes) -> tuple[bytes, bool]:
        return (ok(b"last", "Connection: close"), True) if i == 1 else echo(i, head)

    async with serve(closing) as server:
        c = client(read=30.0)  # the rest are not waited for: no timeout is needed to stop
        bodies: list[bytes] = []
        assert await c.pipelined([f"{server.url}/f{i}" for i in range(4)], taker(bodies)) == 2
        assert bodies == [b"/f0", b"last"]
        assert c.pipelines(server.url + "/f0")  # a server's limit of requests a connection is no fault
        await c.close()


@pytest.mark.parametrize("how", ["stall", "drop"])
async def test_a_server_that_does_not_answer_requests_ahead_is_asked_one_at_a_time(how: str) -> None:
    def dropping(i: int, head: bytes) -> tuple[bytes, bool]:
        return ok(head.split(b" ")[1]), True  # closes without saying so

    answer, stall = (echo, 1) if how == "stall" else (dropping, None)
    async with serve(answer, stall_after=stall) as server:
        c = client(read=0.5)
        bodies: list[bytes] = []
        url = server.url + "/f0"
        assert await c.pipelined([f"{server.url}/f{i}" for i in range(3)], taker(bodies)) == 1
        assert bodies == [b"/f0"]
        assert not c.pipelines(url)
        seen = len(server.heads)
        assert await c.pipelined([url, url], taker(bodies)) == 0  # nothing sent ahead to it again
        await asyncio.sleep(0.05)
        assert len(server.heads) == seen
        await c.close()


async def test_nothing_is_sent_ahead_across_origins_or_under_a_byte_limit() -> None:
    async with serve() as one, serve() as two:
        c = client()
        assert await c.pipelined([one.url + "/a", two.url + "/b"], taker([])) == 0
        limited = client(budget=Budget(requests_per_second=100.0))
        assert not limited.pipelines(one.url + "/a")
        assert await limited.pipelined([one.url + "/a", one.url + "/b"], taker([])) == 0
        await c.close()
        await limited.close()
    assert one.heads == two.heads == []


async def test_the_first_reply_timing_out_is_not_held_against_the_server() -> None:
    async with serve(stall_after=0) as server:
        c = client(read=0.3)
        assert await c.pipelined([server.url + "/a", server.url + "/b"], taker([])) == 0
        assert c.pipelines(server.url + "/a")  # a slow first answer is slowness, asked again as usual
        await c.close()


ON_UVLOOP = [
    test_every_request_is_written_before_the_first_reply,
    test_a_long_run_is_written_in_windows,
    test_a_refused_reply_stops_and_the_connection_is_not_kept,
    test_connection_close_ends_the_run_without_waiting,
]


@pytest.mark.parametrize("case", ON_UVLOOP, ids=lambda case: case.__name__.removeprefix("test_"))
def test_on_uvloop(case: Callable[[], Awaitable[None]], on_uvloop: Callable[..., None]) -> None:
    on_uvloop(case)


async def test_an_origin_that_redirects_is_asked_one_at_a_time() -> None:
    def moved(i: int, head: bytes) -> tuple[bytes, bool]:
        return b"HTTP/1.1 302 Found\r\nLocation: /elsewhere\r\nContent-Length: 0\r\n\r\n", False

    async with serve(moved) as server:
        c = client()
        bodies: list[bytes] = []
        assert await c.pipelined([server.url + "/a", server.url + "/b"], taker(bodies)) == 0
        assert bodies == [] and not c.pipelines(server.url + "/a")
        await c.close()


async def test_a_server_slow_to_start_each_reply_is_asked_one_at_a_time() -> None:
    # Each answer prepared in turn: requests written ahead wait in line. The run that sees the first slow
    # start writes no further ahead (the rest go back to the caller); a few of them in all, and the origin
    # is asked one request at a time.
    async with serve(pause=THINKS * 4) as server:
        c = client()
        urls = [f"{server.url}/f{i}" for i in range(AHEAD * 2)]
        bodies: list[bytes] = []
        assert await c.pipelined(urls, taker(bodies)) == AHEAD  # the first window only
        assert bodies == [f"/f{i}".encode() for i in range(AHEAD)]
        assert len(server.heads) == AHEAD
        assert not c.pipelines(urls[0])  # all of its timed starts were slow (at least SLOW_GAPS of them)
        seen = len(server.heads)
        assert await c.pipelined(urls[:2], taker([])) == 0
        async with c.get(server.url + "/one") as response:  # the connection it kept still serves
            assert await response.read() == b"/one"
        await c.close()
    assert len(server.heads) == seen + 1


async def test_an_origin_found_slow_is_tried_again_later(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr(http_client, "time", SimpleNamespace(monotonic=lambda: now[0]))
    async with serve(pause=THINKS * 4) as server:
        c = client()
        urls = [f"{server.url}/f{i}" for i in range(SLOW_GAPS + 2)]
        assert await c.pipelined(urls, taker([])) == len(urls)  # written at once: all come, if slowly
        assert not c.pipelines(urls[0])
        now[0] += SLOW_FOR - 1
        assert not c.pipelines(urls[0])
        now[0] += 1
        assert c.pipelines(urls[0])  # tried again: a busy spell of our own, or of the server, ends
        await c.close()


async def test_the_first_connection_failing_sends_every_file_the_usual_way() -> None:
    async with serve() as server:
        url = server.url
    c = client()  # nothing listens on the port any more
    assert await c.pipelined([f"{url}/f{i}" for i in range(3)], taker([])) == 0
    await c.close()


async def test_a_malformed_reply_ends_the_run_without_an_error() -> None:
    def bad(i: int, head: bytes) -> tuple[bytes, bool]:
        return (b"HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n", False) if i == 1 else echo(i, head)

    async with serve(bad) as server:
        c = client()
        assert await c.pipelined([f"{server.url}/f{i}" for i in range(4)], taker([])) == 1
        await c.close()
