"""A listing over a mapped file: its envelope checked a piece at a time, never brought in whole.

In memory ``parse.scan_listing`` checks a listing with one msgspec decode of the whole document
(the projects array kept raw) and a few whole-body scans (``isascii``, ``\\``, ``"projects"``).
Over a map (``http/spool``) each of those would bring all 31-37 MB of PyPI's listing into the
process at once. ``walk`` makes the same checks over pieces cut where ``ListingScan`` cuts them,
dropping each piece's pages behind it, and finds the same answer: where the projects array
is, the meta, and the ``"name"`` count. Where it cannot (an odd listing) it says None and the
whole-body path decides, on a copy, as before.
"""

from __future__ import annotations

import mmap
from typing import NamedTuple

import msgspec

from frumious.protocol import listing
from frumious.protocol.listing import decode_envelope, drop

__all__ = ["Walked", "walk"]

_RAW = msgspec.json.Decoder(msgspec.Raw)  # validates the JSON, builds nothing
_KEY = b'"projects"'
# The projects key is looked for this far (PyPI's is at byte 63): further, the whole-body path decides.
PREFIX = 1 << 20
# A piece that does not decode grows to the next cut (an entry with nested objects); this many
# ``CHUNK``s past its start it is taken to be broken, and the whole-body path decides (and refuses it, as before).
GROWTH = 16
# Cut when no piece can be: at the end of the array, or broken.
_END, _BROKEN = -1, -2


class Walked(NamedTuple):
    span: tuple[int, int]  # the projects array, as ``listing.array_span`` gives it
    meta: bytes  # the envelope's raw ``meta`` (b"" when absent)
    names: int  # ``"name"`` strings in the array (``ListingScan.entry_count``)


def walk(body: mmap.mmap) -> Walked | None:
    """The mapped listing's array, meta and name count, or None when it is not the common shape.

    The same checks as in memory: no backslash; UTF-8; the whole document JSON (every piece of
    the array decodes, and so does the document with the array's pieces left out); one
    ``"projects"`` outside the array, followed by it. Inside the array (whole entries, each piece
    decoded) a ``"projects"`` string is a project's name, not the key: in memory such a listing is
    decoded whole by ``json.loads``, with the same entries (not looked for here: 12 ms a walk).
    """
    key = body.find(_KEY, 0, PREFIX)
    if key < 0:
        return None
    after = key + len(_KEY)
    gap = body[after : after + 4096]
    at = gap.find(b"[")
    if at < 0 or gap[:at].strip(listing.WHITESPACE):
        return None
    start = after + at
    prefix = body[:start]
    if not _clean(prefix) or prefix.count(_KEY) != 1:
        return None
    names, pos, dropped = 0, start + 1, 0
    # Each piece is decoded from this one buffer, "[" piece "]": a new ``b"[" + piece + b"]"`` each
    # time made the walk of PyPI's listing 28 ms slower (69.7 against 41.4 ms).
    buffer = bytearray(b"[")
    while True:
        cut, piece = _next(body, pos, buffer)
        if cut < 0:
            break
        if not _clean(piece):
            return None
        names += piece.count(b'"name"')
        pos = cut + 2
        dropped = drop(body, dropped, pos)
    tail = body[pos:] if cut == _END else b""
    drop(body, dropped, len(body))
    if not tail or not _clean(tail) or _KEY in tail:
        return None
    # The document with the array's pieces left out: its "projects" is "[" and the last piece.
    envelope = decode_envelope(prefix + b"[" + tail)
    if envelope is None:
        return None
    size = len(envelope.projects)
    names += tail.count(b'"name"', 0, size - 1)
    return Walked((start, pos + size - 1), bytes(envelope.meta), names)


def _next(body: mmap.mmap, pos: int, buffer: bytearray) -> tuple[int, bytes]:
    """The piece from ``pos`` and where it ends: a ``},`` about ``CHUNK`` on that ends whole entries.

    Whole entries: ``[piece]`` decodes. A cut inside a string (an unfinished string) or inside an
    entry's nested object (unbalanced) does not, and the piece grows to the next cut.
    """
    chunk = listing.CHUNK
    cut = body.find(b"},", pos + chunk)
    while cut >= 0:
        if cut - pos > GROWTH * chunk:
            return _BROKEN, b""
        piece = body[pos : cut + 1]
        size = len(piece)
        if len(buffer) < size + 2:
            buffer.extend(bytes(size + 2 - len(buffer)))  # grown once to about a chunk, then reused
        with memoryview(buffer) as view:
            view[1 : size + 1] = piece
            buffer[size + 1] = 93  # "]"
            try:
                _RAW.decode(view[: size + 2])
                return cut, piece
            except (msgspec.DecodeError, RecursionError):
                pass
        cut = body.find(b"},", cut + 2)
    return _END, b""


def _clean(part: bytes) -> bool:
    """No backslash, and UTF-8 (each part is cut at an ASCII byte, so parts check alone)."""
    if b"\\" in part:
        return False
    if part.isascii():
        return True
    try:
        part.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True
