"""HTTP/1.1 responses parsed sans I/O: a receive buffer, the head, the body's framing.

Nothing here reads a socket or awaits: the connection (``wire``) feeds what arrives into a
``Buffer``, and ``parse_head`` and ``Framing`` consume from it, answering ``None`` when they need
more bytes. So every rule (1xx answers, folding, Content-Length, chunk extensions, trailers,
oversize heads) is tested on bytes in any split without an event loop, as h11 does.

Speed: bodies are handed on as they arrived, without a copy; a head or a chunk-size line is
joined only when it straddles two receives.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterator, Mapping
from typing import NamedTuple

from frumious.errors import ProtocolError

MAX_HEAD = 64 * 1024  # the longest head, and the longest chunk-size or trailer line
_HEX = re.compile(rb"[0-9A-Fa-f]{1,16}")
LENGTH, CHUNKED, UNTIL_CLOSE, NONE = range(4)
# Chunked states: the size line is next; data; the CRLF after data; trailer lines; done.
_SIZE, _DATA, _DATA_END, _TRAILERS, _DONE = range(5)


class Buffer:
    """Received bytes not consumed yet, kept as received so bodies are passed on without a copy.

    What was consumed of the first chunk is an offset (``start``), not a slice of the rest: with
    pipelining a receive holds several replies (94 KB on average at 20 KB files), and slicing off
    each head and body copied 1.07 GB for a 206 MB full sync; 6.8 -> 4.7 us a 20 KB reply read from
    five in one receive (session 9).
    """

    __slots__ = ("chunks", "size", "start")

    def __init__(self) -> None:
        self.chunks: deque[bytes] = deque()
        self.size = 0
        self.start = 0  # bytes of chunks[0] already consumed

    def feed(self, data: bytes) -> None:
        self.chunks.append(data)
        self.size += len(data)

    def take(self, size: int) -> bytes:
        """The next ``size`` buffered bytes (``size`` <= ``self.size``)."""
        chunks, start = self.chunks, self.start
        first = chunks[0]
        self.size -= size
        end = start + size
        if end < len(first):
            self.start = end
            return first[start:end]
        chunks.popleft()
        self.start = 0
        piece = first[start:] if start else first
        if end == len(first):
            return piece
        parts = [piece]
        size = end - len(first)
        while size:
            first = chunks[0]
            if len(first) > size:
                parts.append(first[:size])
                self.start = size
                break
            parts.append(chunks.popleft())
            size -= len(first)
        return b"".join(parts)

    def take_some(self, limit: int) -> bytes:
        """Up to ``limit`` buffered bytes, without joining what arrived separately (needs ``self.size``)."""
        return self.take(min(limit, len(self.chunks[0]) - self.start))

    def cut(self, separator: bytes) -> bytes | None:
        """The buffered bytes before ``separator``, consumed with it; None when it has not arrived."""
        chunks = self.chunks
        if not chunks:
            return None
        first, start = chunks[0], self.start
        at = first.find(separator, start)
        if at < 0 and len(chunks) > 1:
            # The separator may straddle two receives: join them (heads and lines are small).
            chunks.popleft()
            first = b"".join([first[start:], *chunks])
            chunks.clear()
            chunks.append(first)
            start = self.start = 0
            at = first.find(separator)
        if at < 0:
            return None
        end = at + len(separator)
        self.size -= end - start
        if end == len(first):
            chunks.popleft()
            self.start = 0
        else:
            self.start = end
        return first[start:at]

    def line(self, url: str) -> bytes | None:
        """One CRLF-terminated line without its CRLF; None until it arrived; refused past MAX_HEAD."""
        found = self.cut(b"\r\n")
        if found is None and self.size > MAX_HEAD:
            raise ProtocolError(f"{url}: chunked body line longer than {MAX_HEAD} bytes")
        return found


class Headers(Mapping[str, str]):
    """Response headers, looked up case-insensitively; repeated fields joined with ', '."""

    __slots__ = ("_items",)

    def __init__(self, items: dict[str, str]) -> None:
        self._items = items  # keys already lower case

    def __getitem__(self, name: str) -> str:
        return self._items[name.lower()]

    def get(self, name: str, default: str | None = None) -> str | None:  # type: ignore[override]
        # Mapping's get raises and catches a KeyError for each absent field: a few asked of every
        # response (content-encoding, location) are absent from nearly all.
        return self._items.get(name.lower(), default)

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Headers({self._items!r})"


class Head(NamedTuple):
    """A response head (a tuple: a frozen dataclass's ``__init__`` cost 0.7 us of each response)."""

    status: int
    fields: dict[str, str]  # names in lower case
    keep_alive: bool  # whether the server lets the connection serve another request


def parse_head(buffer: Buffer, url: str) -> Head | None:
    """The final response head (interim 1xx answers are consumed and skipped); None until complete."""
    while True:
        head = buffer.cut(b"\r\n\r\n")
        if head is None:
            if buffer.size > MAX_HEAD:
                raise ProtocolError(f"{url}: response head longer than {MAX_HEAD} bytes")
            return None
        first, _, rest_of_head = head.decode("latin-1").partition("\r\n")
        version, _, rest = first.partition(" ")
        code = rest[:3]
        if version not in ("HTTP/1.1", "HTTP/1.0") or not (code.isascii() and code.isdigit()) or rest[3:4] not in " ":
            raise ProtocolError(f"{url}: malformed status line {first[:80]!r}")
        status = int(code)
        if not 100 <= status < 200 or status == 101:
            break
    fields = _fields(rest_of_head.split("\r\n"), url) if rest_of_head else {}
    tokens = fields.get("connection", "").lower()
    keep_alive = "close" not in tokens if version == "HTTP/1.1" else "keep-alive" in tokens
    return Head(status, fields, keep_alive)


def _fields(lines: list[str], url: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    previous = ""
    for line in lines:
        if line[:1] in (" ", "\t") and previous:  # obsolete line folding
            fields[previous] += " " + line.strip()
            continue
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise ProtocolError(f"{url}: malformed header line {line[:80]!r}")
        previous = name = name.lower()
        value = value.strip()
        fields[name] = f"{fields[name]}, {value}" if name in fields else value
    return fields


class Framing:
    """Where a response's body ends: Content-Length, chunked, until close, or no body at all.

    ``next(buffer, limit, eof)`` gives the next piece of the body as framed on the wire (at most
    ``limit`` bytes), ``b""`` at its end, or None when it needs more bytes; ``eof`` says the peer
    closed, so none will come: what is missing then is a ``ProtocolError``.
    """

    __slots__ = ("done", "keep_alive", "left", "mode", "state", "url")

    def __init__(self, head: Head, url: str) -> None:
        fields, status = head.fields, head.status
        self.url, self.left, self.state = url, 0, _SIZE
        self.keep_alive = head.keep_alive
        length = fields.get("content-length")
        if status in (204, 304) or status < 200:
            self.mode = NONE
        elif "chunked" in fields.get("transfer-encoding", "").lower():
            self.mode = CHUNKED
        elif length is not None:
            if not (length.isascii() and length.isdigit()):
                raise ProtocolError(f"{url}: bad Content-Length {length[:40]!r}")
            self.mode, self.left = LENGTH, int(length)
        else:
            self.mode, self.keep_alive = UNTIL_CLOSE, False
        self.done = self.mode == NONE or (self.mode == LENGTH and not self.left)

    def wanted(self, buffered: int, limit: int) -> int:
        """How many buffered bytes make the next piece worth taking: a whole piece in one wake-up."""
        if self.mode == LENGTH:
            return max(min(self.left, limit), buffered + 1)
        return buffered + 1

    def next(self, buffer: Buffer, limit: int, eof: bool = False) -> bytes | None:
        if self.done:
            return b""
        mode = self.mode
        if mode == LENGTH:
            if buffer.size < min(self.left, limit) and not eof:
                return None  # wait for a whole piece: a small file is one wake-up, not several
            if not buffer.size:
                raise ProtocolError(f"{self.url}: connection closed {self.left} bytes short of the body's end")
            piece = buffer.take_some(min(self.left, limit))
            self.left -= len(piece)
            self.done = not self.left
            return piece
        if mode == UNTIL_CLOSE:
            if buffer.size:
                return buffer.take_some(limit)
            if eof:
                self.done = True
                return b""
            return None
        return self._chunked(buffer, limit, eof)

    def _chunked(self, buffer: Buffer, limit: int, eof: bool) -> bytes | None:
        while True:
            state = self.state
            if state == _DATA:
                if buffer.size:
                    piece = buffer.take_some(min(self.left, limit))
                    self.left -= len(piece)
                    if not self.left:
                        self.state = _DATA_END
                    return piece
            else:
                line = buffer.line(self.url)
                if line is not None:
                    if self._line(line):
                        return b""
                    continue
            if eof:
                raise ProtocolError(f"{self.url}: connection closed inside a chunked body")
            return None

    def _line(self, line: bytes) -> bool:
        """Take one line of chunked framing; True once the body (trailers included) has ended."""
        state = self.state
        if state == _DATA_END:
            if line:
                raise ProtocolError(f"{self.url}: chunk data not followed by CRLF")
            self.state = _SIZE
        elif state == _SIZE:
            digits = line.split(b";", 1)[0].strip()  # chunk extensions are ignored
            if not _HEX.fullmatch(digits):
                raise ProtocolError(f"{self.url}: bad chunk size line {line[:40]!r}")
            self.left = int(digits, 16)
            self.state = _DATA if self.left else _TRAILERS
        elif not line:  # the empty line after the trailer fields
            self.state, self.done = _DONE, True
            return True
        return False
