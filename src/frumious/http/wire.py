"""The I/O side of the lean client: a socket's bytes moved into the sans-I/O parser (``parser``).

A ``Connection`` is an ``asyncio.Protocol`` that only buffers what arrives and wakes the one
reader waiting for it; ``read_head`` and ``Reply`` ask the parser for the head and the body's
pieces, and wait for more bytes whenever it answers None. Every wait is bounded by the read
timeout and the request's deadline. Reading pauses while a megabyte sits unread, so a slow
store bounds memory however large the file.
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading
from collections.abc import AsyncIterator, Sequence
from typing import cast

from frumious.errors import ConnectionFailed, ProtocolError, Unanswered
from frumious.http.budget import Budget
from frumious.http.bulk import Sink, Transfer
from frumious.http.parser import LENGTH, Buffer, Framing, Head, Headers, parse_head
from frumious.protocol.bodies import BIG_BODY, Collector, decoded, inflater

# Reading from the socket pauses while this much is buffered and unread.
HIGH_WATER = 1 << 20
LOW_WATER = HIGH_WATER // 4
KEEPALIVE = 15.0  # seconds an idle connection is trusted (aiohttp's default too)
READ_PIECE = 256 * 1024  # a body read whole is decoded and gathered in pieces this large
DRAIN = 64 * 1024  # redirect bodies up to this size are read so the connection can be reused
# A plain body at least this large is read on threads (``bulk``). Their start and hand-offs cost
# more CPU than they save below it: CPU a file against nginx, threads against the loop, 4 MB
# 8.1 / 6.6 ms, 16 MB 26.6 / 23.4 ms, 32 MB 49.6 / 46.4 ms, 64 MB 96.9 / 106.4 ms (medians of 4
# rounds); above it the second core also shortens the wall.
DIRECT = 48 << 20


class Connection(asyncio.Protocol):
    """One socket: a receive buffer that responses consume, and one waiter woken by new bytes."""

    def __init__(self, loop: asyncio.AbstractEventLoop, read_timeout: float) -> None:
        self.loop, self.read_timeout = loop, read_timeout
        self.transport: asyncio.Transport | None = None
        # What arrived and is not consumed yet; the parser consumes from it.
        self.buffer = Buffer()
        self.want = 0
        self.waiter: asyncio.Future[None] | None = None
        self.eof = False
        self.paused = False
        self.idle_since = 0.0
        # One lazily re-armed timer per connection instead of a new one per wait: a wait only
        # moves ``expires``; the timer, when it fires early, sleeps again until then.
        self.expires = 0.0
        self.timer: asyncio.TimerHandle | None = None
        self.key: tuple[str, str, int] = ("", "", 0)  # the pool it belongs to
        # Pipelined (``Client.pipelined``): when bytes last arrived, and once the reader marks a reply's end
        # with nothing after it (``watch``), when the next bytes came (``resumed_at``).
        self.stamping = self.watch = False
        self.last_at = self.resumed_at = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but have its methods.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        if self.stamping:
            now = self.loop.time()
            if self.watch:
                self.resumed_at, self.watch = now, False
            self.last_at = now
        buffer = self.buffer
        buffer.feed(data)
        if self.waiter is not None:
            if buffer.size < self.want:
                return  # the reader wants more than the high-water mark (a large read()): keep reading
            self._wake()
        if buffer.size >= HIGH_WATER and not self.paused and self.transport is not None:
            self.paused = True
            self.transport.pause_reading()

    def eof_received(self) -> None:
        self.eof = True
        self._wake()

    def connection_lost(self, exc: Exception | None) -> None:
        self.eof = True
        self._wake()

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def fill(self, want: int, deadline: float) -> bool:
        """Wait until ``want`` bytes are buffered; False when the peer closed first."""
        loop, buffer = self.loop, self.buffer
        while buffer.size < want:
            if self.eof:
                return False
            if self.paused and self.transport is not None:
                self.paused = False
                self.transport.resume_reading()
            now = loop.time()
            expires = min(now + self.read_timeout, deadline)
            if expires <= now:
                raise TimeoutError
            self.want, self.expires = want, expires
            timer = self.timer
            if timer is None or timer.when() > expires:
                if timer is not None:
                    timer.cancel()
                self.timer = loop.call_at(expires, self._check_timeout)
            self.waiter = loop.create_future()
            try:
                await self.waiter
            finally:
                self.waiter = None
        return True

    def _check_timeout(self) -> None:
        self.timer = None
        waiter = self.waiter
        if waiter is None or waiter.done():
            return  # nobody waits now; the next wait arms a new timer
        if self.loop.time() >= self.expires:
            waiter.set_exception(TimeoutError())
        else:
            self.timer = self.loop.call_at(self.expires, self._check_timeout)

    def consumed(self) -> None:
        """The parser took bytes: read on once the backlog is low."""
        if self.paused and self.buffer.size <= LOW_WATER and self.transport is not None:
            # Read on while the consumer works through the rest: draining to empty first
            # would leave the network idle, then the consumer.
            self.paused = False
            self.transport.resume_reading()

    def reusable(self, now: float) -> bool:
        transport = self.transport
        idle_ok = now - self.idle_since < KEEPALIVE
        return (
            idle_ok and not self.eof and not self.buffer.size and transport is not None and not transport.is_closing()
        )

    def abort(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.transport is not None:
            self.transport.abort()


async def read_head(conn: Connection, deadline: float, url: str) -> Head:
    """The response head, waiting for its bytes."""
    buffer = conn.buffer
    # Right after the request nothing has arrived (a reused connection's buffer is empty): wait first.
    while (head := parse_head(buffer, url) if buffer.size else None) is None:
        if not await conn.fill(buffer.size + 1, deadline):
            if not buffer.size:
                raise Unanswered(f"{url}: server closed the connection without answering")
            raise ConnectionFailed(f"{url}: server closed the connection inside the response head")
    return head


class Reply:
    """A response on a ``Connection``: the parser's framing, decompression, and the connection's fate."""

    __slots__ = ("_budget", "_conn", "_deadline", "_framing", "_inflate", "headers", "status", "url")

    def __init__(self, conn: Connection, url: str, head: Head, deadline: float, budget: Budget | None = None) -> None:
        self._conn, self.url, self.status, self._deadline = conn, url, head.status, deadline
        self._budget = budget
        self.headers = Headers(head.fields)
        self._framing = framing = Framing(head, url)
        self._inflate = None if framing.done else inflater(url, self.headers, ProtocolError)

    async def read(self, limit: int | None = None) -> bytes:
        """The whole body, decoded; ``BodyTooLarge`` once it passes ``limit`` bytes (None: no limit)."""
        framing = self._framing
        size = framing.left
        plain = self._inflate is None and self._budget is None
        if plain and framing.mode == LENGTH and size <= BIG_BODY and (limit is None or size <= limit):
            if framing.done:
                return b""
            # The common case in one wait and one copy (a big body in pieces: one copy at peak, not two).
            conn = self._conn
            if not await conn.fill(size, self._deadline):
                raise ProtocolError(f"{self.url}: connection closed {size - conn.buffer.size} bytes short")
            framing.left, framing.done = 0, True
            return conn.buffer.take(size)
        collector = Collector(self.url, limit)
        if framing.mode == LENGTH and not framing.done:
            # Refused before a byte is buffered: fill() would otherwise wait for all of it.
            collector.declared(size, exact=self._inflate is None)
        async for piece in self.iter_chunks(READ_PIECE):
            collector.add(piece)
        return collector.body()

    def iter_chunks(self, size: int) -> AsyncIterator[bytes]:
        """The body in pieces of at most ``size`` bytes (decoded pieces too: a bomb cannot balloon)."""
        return decoded(self._pieces(size), self._inflate, size)

    async def _pieces(self, size: int) -> AsyncIterator[bytes]:
        budget = self._budget
        if budget is None:
            while piece := await self._raw(size):
                yield piece
            return
        # Wire bytes are what the limit promises the server; the wait is ours, not its slowness.
        size = min(size, budget.piece)
        while piece := await self._raw(size):
            self._deadline += await budget.body(len(piece))
            yield piece

    async def _raw(self, limit: int) -> bytes:
        """The next piece of the body as framed on the wire; b"" at its end."""
        framing, conn = self._framing, self._conn
        buffer = conn.buffer
        while (piece := framing.next(buffer, limit)) is None:
            if not await conn.fill(framing.wanted(buffer.size, limit), self._deadline):
                piece = framing.next(buffer, limit, eof=True)
                break
        conn.consumed()
        return piece or b""

    def direct_size(self) -> int | None:
        """The body's length when ``pour`` may read it on threads; None: read it through the loop.

        Only a large Content-Length body, as sent (not encoded), on plain TCP (TLS state lives in
        the transport), with no byte limit to meter it.
        """
        framing, transport = self._framing, self._conn.transport
        if framing.mode != LENGTH or framing.done or framing.left < DIRECT or self._inflate or self._budget:
            return None
        if transport is None or transport.get_extra_info("sslcontext") or transport.get_extra_info("ssl_object"):
            return None
        sock = transport.get_extra_info("socket")
        return framing.left if sock is not None and sock.fileno() >= 0 else None

    async def pour(self, sinks: Sequence[Sink]) -> int:
        """The whole body through ``sinks``, each on a thread (only after ``direct_size`` said yes); its size."""
        framing, conn = self._framing, self._conn
        transport, size, loop = conn.transport, framing.left, conn.loop
        assert transport is not None
        buffered = conn.buffer.size
        first = conn.buffer.take(min(buffered, size)) if buffered else b""
        transport.pause_reading()  # the socket is the threads' until the body's last byte
        conn.paused = True
        sock = socket.socket(fileno=os.dup(transport.get_extra_info("socket").fileno()))
        try:
            sock.setblocking(False)
            transfer = Transfer(
                sock,
                size - len(first),
                sinks,
                self.url,
                read_timeout=conn.read_timeout,
                seconds=self._deadline - loop.time(),
            )
            done: asyncio.Future[None] = loop.create_future()
            thread = threading.Thread(target=_run, args=(loop, done, transfer, first), name="frumious-recv")
            thread.start()
            try:
                await done
            except BaseException:
                transfer.stop()
                raise
            finally:
                thread.join()  # at once when done; else bounded: a recv woken by the shutdown, one piece written
        finally:
            sock.close()
        framing.left, framing.done = 0, True
        conn.consumed()  # reading resumes: the connection may serve the next request
        return size

    async def drain(self) -> None:
        """Read a small redirect body so the connection stays usable."""
        framing = self._framing
        if framing.mode == LENGTH and framing.left <= DRAIN:
            while await self._raw(DRAIN):
                pass

    @property
    def connection(self) -> Connection:
        return self._conn

    def kept(self) -> bool:
        """Whether the body was read to its end and the server keeps the connection (more replies may follow)."""
        return self._framing.done and self._framing.keep_alive

    def reusable(self) -> bool:
        """Whether the connection can serve another request (the body was read to its end)."""
        conn = self._conn
        return self._framing.done and self._framing.keep_alive and not conn.buffer.size and not conn.eof


def _run(loop: asyncio.AbstractEventLoop, done: asyncio.Future[None], transfer: Transfer, first: bytes) -> None:
    """A ``Transfer`` on its thread; the outcome posted to the loop."""
    try:
        transfer.run(first)
    except BaseException as exc:
        loop.call_soon_threadsafe(_settle, done, exc)
    else:
        loop.call_soon_threadsafe(_settle, done, None)


def _settle(done: asyncio.Future[None], exc: BaseException | None) -> None:
    if done.done():
        return  # cancelled meanwhile
    if exc is None:
        done.set_result(None)
    else:
        done.set_exception(exc)


class ReplyStarts:
    """When a pipelined run's replies start, against when the server could have started each.

    A reply's start is timed only when the one before ended with nothing after it (``watch``: the
    connection stamps the next bytes). The server could start reply ``i`` once reply ``i - 1`` was
    sent and request ``i`` had reached it: no sooner than it was written plus the first reply's delay
    (the round trip), so a window written late is not taken for a slow server.
    """

    __slots__ = ("_conn", "_ended", "_first", "_written", "ahead")

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._written: list[float] = []
        self._first = -1.0
        self._ended = -1.0  # when the reply before ended with nothing after it; -1: its successor not timed
        self.ahead = True
        conn.stamping, conn.watch = True, False

    def wrote(self, now: float, count: int) -> None:
        self._written.extend([now] * count)

    def ended(self) -> None:
        conn = self._conn
        if conn.buffer.size:
            self._ended = -1.0
        else:
            self._ended, conn.watch, conn.resumed_at = conn.last_at, True, -1.0

    def gap(self, index: int) -> float | None:
        conn = self._conn
        if self._first < 0:
            self._first = conn.last_at - self._written[0]
            return None
        if self._ended < 0 or conn.resumed_at < 0:
            return None
        return conn.resumed_at - max(self._ended, self._written[index] + self._first)
