"""Bounded bodies: decoding that refuses decompression bombs, whole bodies read up to a limit.

Pure code on bytes, shared by both HTTP clients (``http/parser`` and ``http/wire`` for the lean
one, ``http/aio`` for aiohttp). Upstream bytes are not trusted: 1 MiB of gzip can expand to 1 GiB, and a server
can send far more than it declared. Decoding therefore yields bounded pieces and stops at an
absurd expansion ratio, and a body read whole is refused as soon as it passes its limit, so
memory stays bounded while a hostile answer is refused with one line naming the URL.
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator, Iterator, Mapping

from frumious.errors import BodyTooLarge, DecompressionBomb

__all__ = ["MAX_RATIO", "RATIO_FLOOR", "Collector", "Inflater", "decoded", "inflater"]

# Real JSON and HTML compress 5-20:1; deflate's ceiling is about 1032:1, which only bombs reach.
MAX_RATIO = 100
# Below this much output any ratio is fine: a tiny body of repeated bytes is no threat.
RATIO_FLOOR = 1 << 20
ENCODINGS = frozenset({"gzip", "x-gzip", "deflate"})


class Inflater:
    """gzip/zlib decoding in pieces of bounded size, refusing a body that expands beyond MAX_RATIO.

    ``broken`` is the exception class for bytes that do not decode (a transfer fault the caller
    retries); an expansion beyond the ratio raises ``DecompressionBomb`` (bad data, not retried).
    """

    __slots__ = ("_broken", "_in", "_out", "_url", "_z")

    def __init__(self, url: str, broken: type[Exception]) -> None:
        # wbits 47: a gzip or zlib header, detected (servers label deflate either way).
        self._z = zlib.decompressobj(47)
        self._url, self._broken = url, broken
        self._in = self._out = 0

    def feed(self, data: bytes, most: int) -> Iterator[bytes]:
        """The decoded bytes of ``data``, in pieces of at most ``most`` bytes."""
        z = self._z
        while True:
            try:
                piece = z.decompress(data, most)
            except zlib.error as exc:
                raise self._broken(f"{self._url}: cannot decompress the body: {exc}") from None
            tail = z.unconsumed_tail
            self._account(len(data) - len(tail), len(piece))
            if piece:
                yield piece
            # A full piece may leave output pending inside zlib even when all input was taken.
            if not tail and len(piece) < most:
                return
            data = tail

    def end(self) -> bytes:
        """What remains after the last input; the body must be complete."""
        try:
            tail = self._z.flush()
        except zlib.error as exc:
            raise self._broken(f"{self._url}: cannot decompress the body: {exc}") from None
        if not self._z.eof:
            raise self._broken(f"{self._url}: compressed body ends early")
        self._account(0, len(tail))
        return tail

    def _account(self, consumed: int, produced: int) -> None:
        self._in += consumed
        self._out += produced
        if self._out > RATIO_FLOOR and self._out > MAX_RATIO * self._in:
            raise DecompressionBomb(
                f"{self._url}: the compressed body expands more than {MAX_RATIO}:1; refused as a decompression bomb"
            )


def inflater(url: str, headers: Mapping[str, str], broken: type[Exception]) -> Inflater | None:
    """An ``Inflater`` when the response is gzip- or deflate-encoded, else None (bytes as sent).

    ``headers`` must look names up case-insensitively, as both clients' header mappings do.
    """
    encoding = headers.get("content-encoding", "").strip().lower()
    return Inflater(url, broken) if encoding in ENCODINGS else None


# Past this size a body is gathered into one growing buffer, not a list joined at the end: PyPI's
# listing (31-37 MB) then costs its size once at peak, not twice (the pieces and their join).
BIG_BODY = 8 * 1024 * 1024


class Collector:
    """The pieces of a body read whole, refused the moment they pass ``limit`` bytes.

    A body past ``BIG_BODY`` comes back as a ``bytearray`` (every reader of a body takes it: bytes
    methods, slicing, ``json``, msgspec, hashlib); copying it into ``bytes`` would double the peak.
    """

    __slots__ = ("_buffer", "_limit", "_parts", "_size", "_url")

    def __init__(self, url: str, limit: int | None) -> None:
        self._url, self._limit = url, limit
        self._parts: list[bytes] = []
        self._buffer: bytearray | None = None
        self._size = 0

    def declared(self, length: int, *, exact: bool = False) -> None:
        """Refuse a body whose declared length already passes the limit, before reading it.

        ``exact``: the pieces will be that many bytes (not decoded): a big body's buffer is made
        at its size once (grown piece by piece, each realloc may copy it whole: 29.7 against
        21.8 MiB traced at peak for a 8.4 MB listing).
        """
        if self._limit is not None and length > self._limit:
            raise BodyTooLarge(f"{self._url}: body of {length} bytes is larger than the limit of {self._limit}")
        if exact and length > BIG_BODY:
            self._buffer = bytearray(length)

    def add(self, piece: bytes) -> None:
        self._size += len(piece)
        if self._limit is not None and self._size > self._limit:
            self._parts.clear()
            raise BodyTooLarge(f"{self._url}: body is larger than the limit of {self._limit} bytes; refused")
        buffer = self._buffer
        if buffer is not None and self._size <= len(buffer):
            buffer[self._size - len(piece) : self._size] = piece
            return
        if buffer is not None:  # longer than declared: gathered as any other body
            self._parts.append(bytes(buffer[: self._size - len(piece)]))
            self._buffer = None
        self._parts.append(piece)

    def body(self) -> bytes:
        buffer = self._buffer
        if buffer is not None:
            if self._size < len(buffer):
                del buffer[self._size :]
            return buffer  # type: ignore[return-value]  # bytes-like: see the class
        parts = self._parts
        return parts[0] if len(parts) == 1 else b"".join(parts)


async def decoded(pieces: AsyncIterator[bytes], inflate: Inflater | None, size: int) -> AsyncIterator[bytes]:
    """``pieces`` as the wire framed them, decoded (when ``inflate``) in pieces of at most ``size`` bytes."""
    async for piece in pieces:
        if inflate is None:
            yield piece
            continue
        for out in inflate.feed(piece, size):
            yield out
    if inflate is not None and (tail := inflate.end()):
        yield tail
