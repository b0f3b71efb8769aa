"""The wire side of ``http11``: one connection's receive buffer, the response head, body framing.

A ``Connection`` is an ``asyncio.Protocol`` that only buffers what arrives and wakes the one
reader waiting for it; ``read_head`` and ``Reply`` parse from that buffer. Every wait is bounded
by the read timeout and the request's deadline. Reading pauses while a megabyte sits unread, so
a slow store bounds memory however large the file.
"""

from __future__ import annotations

import asyncio
import re
import zlib
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import cast

MAX_HEAD = 64 * 1024
# Reading from the socket pauses while this much is buffered and unread.
HIGH_WATER = 1 << 20
KEEPALIVE = 15.0  # seconds an idle connection is trusted (aiohttp's default too)
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


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError())


class Connection(asyncio.Protocol):
    """One socket: a receive buffer that responses consume, and one waiter woken by new bytes."""

    def __init__(self, loop: asyncio.AbstractEventLoop, read_timeout: float) -> None:
        self.loop, self.read_timeout = loop, read_timeout
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.want = 0
        self.waiter: asyncio.Future[None] | None = None
        self.eof = False
        self.paused = False
        self.idle_since = 0.0
        self.key: tuple[str, str, int] = ("", "", 0)  # the pool it belongs to

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but have its methods.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        if self.waiter is not None:
            if len(buf) < self.want:
                return  # the reader wants more than the high-water mark (a large read()): keep reading
            self._wake()
        if len(buf) >= HIGH_WATER and not self.paused and self.transport is not None:
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
        buf, loop = self.buf, self.loop
        while len(buf) < want:
            if self.eof:
                return False
            if self.paused and self.transport is not None:
                self.paused = False
                self.transport.resume_reading()
            timeout = min(self.read_timeout, deadline - loop.time())
            if timeout <= 0:
                raise TimeoutError
            self.want = want
            waiter = self.waiter = loop.create_future()
            timer = loop.call_later(timeout, _expire, waiter)
            try:
                await waiter
            finally:
                timer.cancel()
                self.waiter = None
        return True

    def take(self, size: int) -> bytes:
        buf = self.buf
        if size == len(buf):
            out = bytes(buf)
            buf.clear()
            return out
        with memoryview(buf) as view:
            out = bytes(view[:size])
        del buf[:size]
        return out

    async def line(self, deadline: float, url: str) -> bytes:
        """One CRLF-terminated line (chunk sizes, trailers), without the CRLF."""
        buf = self.buf
        while (end := buf.find(b"\r\n")) < 0:
            if len(buf) > MAX_HEAD:
                raise ProtocolError(f"{url}: chunked body line longer than {MAX_HEAD} bytes")
            if not await self.fill(len(buf) + 1, deadline):
                raise ProtocolError(f"{url}: connection closed inside a chunked body")
        out = bytes(buf[:end])
        del buf[: end + 2]
        return out

    def reusable(self, now: float) -> bool:
        transport = self.transport
        idle_ok = now - self.idle_since < KEEPALIVE
        return idle_ok and not self.eof and not self.buf and transport is not None and not transport.is_closing()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()


async def read_head(conn: Connection, deadline: float, url: str) -> tuple[int, dict[str, str], bool]:
    """Status, headers (lower-case names) and whether the connection may be kept alive."""
    while True:
        buf, start = conn.buf, 0
        while (end := buf.find(b"\r\n\r\n", start)) < 0:
            if len(buf) > MAX_HEAD:
                raise ProtocolError(f"{url}: response head longer than {MAX_HEAD} bytes")
            start = max(0, len(buf) - 3)
            if not await conn.fill(len(buf) + 1, deadline):
                if not buf:
                    raise Unanswered(f"{url}: server closed the connection without answering")
                raise ConnectionFailed(f"{url}: server closed the connection inside the response head")
        lines = buf[:end].decode("latin-1").split("\r\n")
        del buf[: end + 4]
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
        encoding = fields.get("content-encoding", "").lower() if not self._done else ""
        # wbits 47: a gzip or zlib header, detected (servers label deflate either way).
        self._inflate = zlib.decompressobj(47) if encoding in ("gzip", "x-gzip", "deflate") else None

    async def read(self) -> bytes:
        if self._mode == _LENGTH and not self._done:
            # The common case in one wait and one copy.
            size = self._left
            if not await self._conn.fill(size, self._deadline):
                raise ProtocolError(f"{self.url}: connection closed {size - len(self._conn.buf)} bytes short")
            body, self._left, self._done = self._conn.take(size), 0, True
        else:
            parts = []
            while piece := await self._raw(1 << 30):
                parts.append(piece)
            body = b"".join(parts)
        if self._inflate is None:
            return body
        return self._decompressed(body) + self._inflate_end()

    async def iter_chunks(self, size: int) -> AsyncIterator[bytes]:
        while piece := await self._raw(size):
            if self._inflate is not None:
                piece = self._decompressed(piece)
            if piece:
                yield piece
        if self._inflate is not None and (tail := self._inflate_end()):
            yield tail

    async def _raw(self, limit: int) -> bytes:
        """The next piece of the body as framed on the wire; b"" at its end."""
        if self._done:
            return b""
        conn = self._conn
        if self._mode == _CHUNKED and not self._left and not await self._next_chunk():
            return b""
        if not conn.buf and not await conn.fill(1, self._deadline):
            if self._mode == _UNTIL_CLOSE:
                self._done = True
                return b""
            raise ProtocolError(f"{self.url}: connection closed {self._left} bytes short of the body's end")
        if self._mode == _UNTIL_CLOSE:
            return conn.take(min(len(conn.buf), limit))
        piece = conn.take(min(len(conn.buf), self._left, limit))
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

    def _decompressed(self, data: bytes) -> bytes:
        assert self._inflate is not None
        try:
            return self._inflate.decompress(data)
        except zlib.error as exc:
            raise ProtocolError(f"{self.url}: cannot decompress the body: {exc}") from None

    def _inflate_end(self) -> bytes:
        assert self._inflate is not None
        tail = self._inflate.flush()
        if not self._inflate.eof:
            raise ProtocolError(f"{self.url}: compressed body ends early")
        return tail

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
        return self._done and self._keep and not self._conn.buf and not self._conn.eof
