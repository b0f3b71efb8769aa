"""``Client.pipelined``: GETs written ahead of their replies on one connection, and where it stops."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import pytest

from frumious.http.budget import Budget
from frumious.http.client import AHEAD, Client, Timeouts
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
async def serve(answer: Answer = echo, *, gather: int = 1, stall_after: int | None = None) -> AsyncIterator[Server]:
    """A raw server that reads ``gather`` request heads before it answers the first (a client that waits
    for each reply before its next request would never be answered), and answers nothing after
    ``stall_after`` replies on a connection (a server that ignores requests sent ahead)."""
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


def taker(bodies: list[bytes], refuse: int | None = None) -> Callable[[int, Reply], Awaitable[bool]]:
    async def take(i: int, reply: Reply) -> bool:
        if i == refuse:
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
def test_on_uvloop(case: Callable[[], Awaitable[None]]) -> None:
    """The sync runs on uvloop, whose transports differ from asyncio's in details."""
    uvloop = pytest.importorskip("uvloop")
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(case())  # type: ignore[arg-type]


async def test_an_origin_that_redirects_is_asked_one_at_a_time() -> None:
    def moved(i: int, head: bytes) -> tuple[bytes, bool]:
        return b"HTTP/1.1 302 Found\r\nLocation: /elsewhere\r\nContent-Length: 0\r\n\r\n", False

    async with serve(moved) as server:
        c = client()
        bodies: list[bytes] = []
        assert await c.pipelined([server.url + "/a", server.url + "/b"], taker(bodies)) == 0
        assert bodies == [] and not c.pipelines(server.url + "/a")
        await c.close()
