"""A body too big to hold in the heap: streamed to an unlinked temporary file and mapped read-only.

PyPI's listing is 31-37 MB. Read whole it stayed in the heap for the whole plan (29.6 MiB of a
72.7 MiB "listing changed" run). Past ``SPOOL_AT`` the decoded pieces go to
``tempfile.TemporaryFile()`` (in ``TMPDIR``; unlinked at once, so a kill -9 leaves nothing behind)
and the caller gets an ``mmap`` of it: its pages are the page cache's, and the listing's reader
drops them from the process behind each pass (``protocol/listing.drop``). Smaller bodies stay
bytes, read as before.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO

from frumious.errors import BodyTooLarge, DecompressionBomb, FrumiousError
from frumious.http.client import Response

__all__ = ["SPOOL_AT", "Body", "close", "head", "limit_named", "read_spooled"]

# Bodies longer than this are spooled. A listing of up to about 30,000 projects (1.3 MB) never is.
SPOOL_AT = 4 << 20
# Pieces asked of the client (gzip is decoded by it in pieces no larger).
PIECE = 256 * 1024

Body = bytes | mmap.mmap


async def read_spooled(response: Response, limit: int | None) -> Body:
    """The whole (decoded) body: bytes up to ``SPOOL_AT``, else a read-only map of a temporary file.

    ``BodyTooLarge`` once it passes ``limit`` (a declared length is refused before reading).
    The caller closes a map it gets (``close``).
    """
    declared = _declared(response)
    if limit is not None and declared is not None and declared > limit:
        raise BodyTooLarge(f"{response.url}: body of {declared} bytes is larger than the limit of {limit}")
    plain = "content-encoding" not in response.headers
    if plain and declared is not None and declared <= SPOOL_AT:
        return await response.read(limit)  # the small listing as before: one read, no pieces
    parts: list[bytes] = []
    size = 0
    # Known to be big: spooled from the first piece (gathering 4 MiB first costs 4 MiB of heap).
    spool = _spool(response.url) if plain and declared is not None else None
    try:
        async for piece in response.iter_chunks(PIECE):
            size += len(piece)
            if limit is not None and size > limit:
                raise BodyTooLarge(f"{response.url}: body is larger than the limit of {limit} bytes; refused")
            if spool is None:
                parts.append(piece)
                if size > SPOOL_AT:
                    spool = _spool(response.url)
                    for part in parts:  # not joined: that would hold them twice
                        _write(spool, part, response.url)
                    parts.clear()
            else:
                _write(spool, piece, response.url)
        if spool is None:
            return b"".join(parts)
        _write(spool, b"", response.url)  # flushed: the map reads the file, not the buffer
        if not size:  # declared big, nothing came (a chunked answer's Content-Length): no map of an empty file
            return b""
        return _mapped(spool, response.url)
    finally:
        if spool is not None:
            # The map keeps the file (unlinked: it goes when the map is closed). Closing flushes what a
            # failed write left buffered: a full TMPDIR fails again there, and that bare OSError must
            # not replace the refusal that names TMPDIR (the flush before the map already succeeded).
            with contextlib.suppress(OSError):
                spool.close()


@contextmanager
def limit_named(key: str) -> Iterator[None]:
    """A body past its limit is refused with one line naming the ``[mirror]`` key that caps it."""
    try:
        yield
    except DecompressionBomb:
        raise
    except BodyTooLarge as exc:
        raise BodyTooLarge(f"{exc}; raise [mirror] {key} to accept it") from None


def close(body: Body) -> None:
    if isinstance(body, mmap.mmap):
        body.close()


def head(body: Body) -> bytes:
    """The body's first byte past leading whitespace (``b""`` if none), read a window at a time."""
    if not isinstance(body, mmap.mmap):
        return body.lstrip()[:1]
    for at in range(0, len(body), PIECE):
        window = body[at : at + PIECE].lstrip()
        if window:
            return window[:1]
    return b""


def _declared(response: Response) -> int | None:
    """The body's length as framed: none when chunked (chunks override a Content-Length, as the client reads it)."""
    if "chunked" in response.headers.get("transfer-encoding", "").lower():
        return None
    text = response.headers.get("content-length", "").strip()
    return int(text) if text.isascii() and text.isdigit() and len(text) < 19 else None  # "²" is no length


def _spool(url: str) -> IO[bytes]:
    try:
        return tempfile.TemporaryFile()  # closed in read_spooled's finally
    except OSError as exc:
        raise FrumiousError(f"{url}: cannot make a temporary file for the body in {_where()}: {exc}") from None


def _mapped(spool: IO[bytes], url: str) -> mmap.mmap:
    try:
        return mmap.mmap(spool.fileno(), 0, access=mmap.ACCESS_READ)
    except OSError as exc:  # ENOMEM, or a TMPDIR file system that cannot map: one line, not a traceback
        where = _where()
        raise FrumiousError(f"{url}: cannot map the body's temporary file in {where} (TMPDIR): {exc}") from None


def _write(spool: IO[bytes], data: bytes, url: str) -> None:
    try:
        if data:
            spool.write(data)
        else:
            spool.flush()
    except OSError as exc:
        where = _where()
        raise FrumiousError(f"{url}: cannot write the body to a temporary file in {where} (TMPDIR): {exc}") from None


def _where() -> str:
    """The temporary directory, for a refusal: ``gettempdir`` raises too when none is usable."""
    try:
        return tempfile.gettempdir()
    except OSError:
        return os.environ.get("TMPDIR") or "the temporary directory (TMPDIR)"
