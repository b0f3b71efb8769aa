"""The wire side of ``http11``: one connection's receive buffer, the response head, body framing.

A ``Connection`` is an ``asyncio.Protocol`` that only buffers what arrives and wakes the one
reader waiting for it; ``read_head`` and ``Reply`` parse from that buffer. Every wait is bounded
by the read timeout and the request's deadline. Reading pauses while a megabyte sits unread, so
a slow store bounds memory however large the file.
"""

from __future__ import annotations

import asyncio
import re
from collections import deque
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import cast

from frumious.protocol.bodies import Collector, inflater

MAX_HEAD = 64 * 1024
# Reading from the socket pauses while this much is buffered and unread.
HIGH_WATER = 1 << 20
LOW_WATER = HIGH_WATER // 4
KEEPALIVE = 15.0  # seconds an idle connection is trusted (aiohttp's default too)
READ_PIECE = 256 * 1024  # a body read whole is decoded and gathered in pieces this large
DRAIN = 64 * 1024  # redirect bodies up to this size are read so the connection can be reused
_HEX = re.compile(rb"[0-9A-Fa-f]{1,16}")
_LENGTH, _CHUNKED, _UNTIL_CLOSE, _NONE = range(4)


class HTTPError(Exception):
    """A transfer failed (worth retrying): connection refused or dropped, malformed or short response."""


class ConnectionFailed(HTTPError):
    pass


class ProtocolError(HTTPError):
    pass


class Unanswered(ConnectionFailed):
    """The peer closed before sending a byte: on a reused connection, the request never ran."""


class Headers(Mapping[str, str]):
    """Response headers, looked up case-insensitively; repeated fields joined with ', '."""

    __slots__ = ("_items",)

    def __init__(self, items: dict[str, str]) -> None:
        self._items = items  # keys already lower case

    def __getitem__(self, name: str) -> str:
        return self._items[name.lower()]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Headers({self._items!r})"


class Connection(asyncio.Protocol):
    """One socket: a receive buffer that responses consume, and one waiter woken by new bytes."""

    def __init__(self, loop: asyncio.AbstractEventLoop, read_timeout: float) -> None:
        self.loop, self.read_timeout = loop, read_timeout
        self.transport: asyncio.Transport | None = None
        # What arrived and is not consumed yet, as received: bodies are handed on without a copy.
        self.chunks: deque[bytes] = deque()
        self.size = 0
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

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but have its methods.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.chunks.append(data)
        self.size += len(data)
        if self.waiter is not None:
            if self.size < self.want:
                return  # the reader wants more than the high-water mark (a large read()): keep reading
            self._wake()
        if self.size >= HIGH_WATER and not self.paused and self.transport is not None:
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
        loop = self.loop
        while self.size < want:
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

    def take(self, size: int) -> bytes:
        """The next ``size`` buffered bytes (``size`` <= ``self.size``)."""
        chunks = self.chunks
        first = chunks[0]
        self.size -= size
        if len(first) == size:
            return chunks.popleft()
        if len(first) > size:
            chunks[0] = first[size:]
            return first[:size]
        parts = []
        while size:
            first = chunks[0]
            if len(first) > size:
                parts.append(first[:size])
                chunks[0] = first[size:]
                break
            parts.append(chunks.popleft())
            size -= len(first)
        return b"".join(parts)

    def take_some(self, limit: int) -> bytes:
        """Up to ``limit`` buffered bytes, without joining what arrived separately (needs ``self.size``)."""
        piece = self.take(min(limit, len(self.chunks[0])))
        if self.paused and self.size <= LOW_WATER and self.transport is not None:
            # Read on while the consumer works through the rest: draining to empty first
            # would leave the network idle, then the consumer.
            self.paused = False
            self.transport.resume_reading()
        return piece

    def cut(self, separator: bytes) -> bytes | None:
        """The buffered bytes before ``separator``, consumed with it; None when it has not arrived."""
        chunks = self.chunks
        if not chunks:
            return None
        first = chunks[0]
        at = first.find(separator)
        if at < 0 and len(chunks) > 1:
            # The separator may straddle two receives: join them (heads and lines are small).
            first = b"".join(chunks)
            chunks.clear()
            chunks.append(first)
            at = first.find(separator)
        if at < 0:
            return None
        end = at + len(separator)
        self.size -= end
        if end == len(first):
            chunks.popleft()
        else:
            chunks[0] = first[end:]
        return first[:at]

    async def line(self, deadline: float, url: str) -> bytes:
        """One CRLF-terminated line (chunk sizes, trailers), without the CRLF."""
        while (found := self.cut(b"\r\n")) is None:
            if self.size > MAX_HEAD:
                raise ProtocolError(f"{url}: chunked body line longer than {MAX_HEAD} bytes")
            if not await self.fill(self.size + 1, deadline):
                raise ProtocolError(f"{url}: connection closed inside a chunked body")
        return found

    def reusable(self, now: float) -> bool:
        transport = self.transport
        idle_ok = now - self.idle_since < KEEPALIVE
        return idle_ok and not self.eof and not self.size and transport is not None and not transport.is_closing()

    def abort(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.transport is not None:
            self.transport.abort()


async def read_head(conn: Connection, deadline: float, url: str) -> tuple[int, dict[str, str], bool]:
    """Status, headers (lower-case names) and whether the connection may be kept alive."""
    while True:
        while (head := conn.cut(b"\r\n\r\n")) is None:
            if conn.size > MAX_HEAD:
                raise ProtocolError(f"{url}: response head longer than {MAX_HEAD} bytes")
            if not await conn.fill(conn.size + 1, deadline):
                if not conn.size:
                    raise Unanswered(f"{url}: server closed the connection without answering")
                raise ConnectionFailed(f"{url}: server closed the connection inside the response head")
        lines = head.decode("latin-1").split("\r\n")
        version, _, rest = lines[0].partition(" ")
        code = rest[:3]
        if version not in ("HTTP/1.1", "HTTP/1.0") or not (code.isascii() and code.isdigit()) or rest[3:4] not in " ":
            raise ProtocolError(f"{url}: malformed status line {lines[0][:80]!r}")
        status = int(code)
        if not 100 <= status < 200 or status == 101:
            break  # interim 1xx answers precede the real one
    fields: dict[str, str] = {}
    previous = ""
    for line in lines[1:]:
        if line[:1] in (" ", "\t") and previous:  # obsolete line folding
            fields[previous] += " " + line.strip()
            continue
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise ProtocolError(f"{url}: malformed header line {line[:80]!r}")
        previous = name = name.lower()
        value = value.strip()
        fields[name] = f"{fields[name]}, {value}" if name in fields else value
    tokens = fields.get("connection", "").lower()
    keep_alive = "close" not in tokens if version == "HTTP/1.1" else "keep-alive" in tokens
    return status, fields, keep_alive


class Reply:
    """A response on a ``Connection``: body framing, decompression, and the connection's fate."""

    __slots__ = (
        "_chunks",
        "_conn",
        "_deadline",
        "_done",
        "_inflate",
        "_keep",
        "_left",
        "_mode",
        "headers",
        "status",
        "url",
    )

    def __init__(self, conn: Connection, url: str, head: tuple[int, dict[str, str], bool], deadline: float) -> None:
        status, fields, keep_alive = head
        self._conn, self.url, self.status, self._deadline = conn, url, status, deadline
        self.headers = Headers(fields)
        self._left = self._chunks = 0
        length = fields.get("content-length")
        if status in (204, 304) or status < 200:
            self._mode = _NONE
        elif "chunked" in fields.get("transfer-encoding", "").lower():
            self._mode = _CHUNKED
        elif length is not None:
            if not (length.isascii() and length.isdigit()):
                raise ProtocolError(f"{url}: bad Content-Length {length[:40]!r}")
            self._mode, self._left = _LENGTH, int(length)
        else:
            self._mode, keep_alive = _UNTIL_CLOSE, False
        self._keep = keep_alive
        self._done = self._mode == _NONE or (self._mode == _LENGTH and not self._left)
        self._inflate = None if self._done else inflater(url, self.headers, ProtocolError)

    async def read(self, limit: int | None = None) -> bytes:
        """The whole body, decoded; ``BodyTooLarge`` once it passes ``limit`` bytes (None: no limit)."""
        collector = Collector(self.url, limit)
        if self._mode == _LENGTH and not self._done:
            # Refused before a byte is buffered: fill() would otherwise wait for all of it.
            collector.declared(self._left)
            if self._inflate is None:
                # The common case in one wait and one copy.
                size = self._left
                if not await self._conn.fill(size, self._deadline):
                    raise ProtocolError(f"{self.url}: connection closed {size - self._conn.size} bytes short")
                self._left, self._done = 0, True
                return self._conn.take(size)
        async for piece in self.iter_chunks(READ_PIECE):
            collector.add(piece)
        return collector.body()

    async def iter_chunks(self, size: int) -> AsyncIterator[bytes]:
        """The body in pieces of at most ``size`` bytes (decoded pieces too: a bomb cannot balloon)."""
        inflate = self._inflate
        while piece := await self._raw(size):
            if inflate is None:
                yield piece
                continue
            for decoded in inflate.feed(piece, size):
                yield decoded
        if inflate is not None and (tail := inflate.end()):
            yield tail

    async def _raw(self, limit: int) -> bytes:
        """The next piece of the body as framed on the wire; b"" at its end."""
        if self._done:
            return b""
        conn = self._conn
        if self._mode == _CHUNKED and not self._left and not await self._next_chunk():
            return b""
        # A whole piece (or the rest of the body) in one wait: a small file is one wake-up, not several.
        want = min(self._left, limit) if self._mode == _LENGTH else 1
        if conn.size < want and not await conn.fill(want, self._deadline) and not conn.size:
            if self._mode == _UNTIL_CLOSE:
                self._done = True
                return b""
            raise ProtocolError(f"{self.url}: connection closed {self._left} bytes short of the body's end")
        if self._mode == _UNTIL_CLOSE:
            return conn.take_some(limit)
        piece = conn.take_some(min(self._left, limit))
        self._left -= len(piece)
        if not self._left and self._mode == _LENGTH:
            self._done = True
        return piece

    async def _next_chunk(self) -> bool:
        """Read the next chunk's size line; False (trailers consumed) after the last chunk."""
        conn, url = self._conn, self.url
        if self._chunks and await conn.line(self._deadline, url):
            raise ProtocolError(f"{url}: chunk data not followed by CRLF")
        self._chunks += 1
        size_line = await conn.line(self._deadline, url)
        digits = size_line.split(b";", 1)[0].strip()
        if not _HEX.fullmatch(digits):
            raise ProtocolError(f"{url}: bad chunk size line {size_line[:40]!r}")
        self._left = int(digits, 16)
        if self._left:
            return True
        while await conn.line(self._deadline, url):
            pass  # trailer fields, up to the empty line
        self._done = True
        return False

    async def drain(self) -> None:
        """Read a small redirect body so the connection stays usable."""
        if self._mode == _LENGTH and self._left <= DRAIN:
            while await self._raw(DRAIN):
                pass

    @property
    def connection(self) -> Connection:
        return self._conn

    def reusable(self) -> bool:
        """Whether the connection can serve another request (the body was read to its end)."""
        return self._done and self._keep and not self._conn.size and not self._conn.eof
