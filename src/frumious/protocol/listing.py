"""PyPI's whole PEP 691 ``/simple/`` decoded in chunks by msgspec, one pass at a time.

The listing is 700,000 projects and 31-37 MB, fetched on every run whose listing changed.
Decoded whole it is 700,000 objects (about 90 MB); here ``ListingScan`` holds only the body
and decodes it a megabyte at a time (msgspec, typed: 0.20 s for 693k entries on the shared
box, against 1.66 s for the regex-and-objects parse it replaces), so the reconcile can
stream it. Every entry is checked as before: a chunk msgspec's types refuse (a null
name, a string serial, a huge number) is decoded again by ``json.loads`` with bounded
integers and read item by item, so odd input gives the same entries, skips and invalid
names as the strict path. A body that is not the common shape (not one ``projects`` key,
escapes in the array, invalid UTF-8) is decoded whole by ``json.loads``, as before.
"""

from __future__ import annotations

import codecs
import mmap
from collections.abc import Callable, Iterator
from operator import attrgetter
from typing import Annotated, Any, TypeGuard

import msgspec

from frumious.errors import BadUpstreamData
from frumious.models import MAX_SERIAL, ListingEntry

__all__ = ["Body", "Entry", "ListingScan", "drop"]

# A listing past a few MiB is a read-only map of a temporary file (``http/spool``), else bytes.
Body = bytes | mmap.mmap

# Bytes per decoded chunk: about 5,500 entries. A full sync's plan of 700,000 projects peaked at
# 94.1 MiB with 1 MiB chunks, 85.5 MiB with these (the chunk's objects, its canonical names and the
# merge's lists alive at once), for 0.05 s more CPU over the 37 MB listing (0.71 -> 0.76 s).
CHUNK = 1 << 18
_SERIAL = attrgetter("serial")
WHITESPACE = b" \t\n\r:"


class Entry(msgspec.Struct, gc=False, frozen=True):
    """One listed project as decoded (the common shape; other keys are ignored, as before).

    The decoder refuses an empty name or a serial outside 0..MAX_SERIAL, so a chunk holding one goes
    through ``json.loads`` and ``_checked_items``, entry by entry, and a clean chunk needs no pass of
    its own for them (0.11 s -> 0.09 s a pass over a 658k-project listing).
    """

    name: Annotated[str, msgspec.Meta(min_length=1)]
    serial: Annotated[int, msgspec.Meta(ge=0, le=MAX_SERIAL)] = msgspec.field(name="_last-serial")


class Envelope(msgspec.Struct):
    """The document around the projects array: the array kept raw (validated JSON, not decoded)."""

    projects: msgspec.Raw
    meta: msgspec.Raw = msgspec.Raw(b"")


_ENTRIES = msgspec.json.Decoder(list[Entry])
ENVELOPE = msgspec.json.Decoder(Envelope)


def is_serial(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_SERIAL


class ListingScan:
    """The listing's entries, decoded afresh on every pass (``chunks``); re-iterable, never all in memory.

    Each pass also finds the entries that are not synced: ``skipped`` (no usable name) and
    ``invalid`` (a serial out of range, or beyond ``ceiling``, the root's serial).
    """

    def __init__(
        self,
        body: Body,
        span: tuple[int, int] | None,
        items: list[Any] | None,
        ceiling: int | None,
        loads: Callable[[bytes], Any],
        names: int | None = None,
    ) -> None:
        # ``span``: the projects array inside ``body`` (the chunked path); else ``items``, decoded whole.
        self.body, self.span, self.items, self.ceiling, self.loads = body, span, items, ceiling, loads
        # A mapped body's ``"name"`` count, taken while its envelope was checked (``listmap.walk``).
        self.names = names
        self.skipped = 0
        self.out_of_range: list[str] = []
        self.beyond: list[str] = []
        # A shard's run sees only its own projects (``narrow``); None: every project.
        self.keep: Callable[[str], bool] | None = None
        self._buffer = bytearray(b"[")  # each piece is decoded from here (``_bracketed``)

    def narrow(self, keep: Callable[[str], bool]) -> ListingScan:
        """This listing as a shard sees it: only the entries (and invalid names) ``keep`` accepts."""
        self.keep = keep
        return self

    def entry_count(self) -> int:
        """How many ``"name"`` strings the projects array holds (0.02 s for PyPI's 31 MB); -1 when decoded whole.

        Not the entries (a name could hold those bytes): a cheap sign that the listed names changed.
        """
        if self.span is None:
            return -1
        if self.names is not None:
            return self.names
        assert not isinstance(self.body, mmap.mmap)
        return self.body.count(b'"name"', *self.span)

    def close(self) -> None:
        """Let go of a mapped body (its temporary file goes with it); a pass after this fails."""
        if isinstance(self.body, mmap.mmap):
            self.body.close()

    @property
    def invalid(self) -> tuple[str, ...]:
        """Named entries whose serial is unusable, as of the last complete pass (out of range first)."""
        keep = self.keep
        names = (*self.out_of_range, *self.beyond)
        return names if keep is None else tuple(name for name in names if keep(name))

    def __iter__(self) -> Iterator[ListingEntry]:
        for chunk in self.chunks():
            for entry in chunk:
                yield ListingEntry(entry.name, entry.serial)

    def chunks(self) -> Iterator[list[Entry]]:
        """The usable entries (those ``keep`` accepts), chunk by chunk, in listing order."""
        keep = self.keep
        if keep is None:
            yield from self._all_chunks()
            return
        for chunk in self._all_chunks():
            yield [entry for entry in chunk if keep(entry.name)]

    def _all_chunks(self) -> Iterator[list[Entry]]:
        self.skipped, self.out_of_range, self.beyond = 0, [], []
        if self.items is not None:
            yield self._checked_items(self.items)
            return
        assert self.span is not None
        pos, end = self.span[0] + 1, self.span[1]
        body, dropped = self.body, 0
        while pos < end:
            cut, decoded = self._piece(pos, end)
            pos = end if cut < 0 else cut + 2
            dropped = drop(body, dropped, pos)
            yield decoded
        drop(body, dropped, len(body))

    def _piece(self, pos: int, end: int) -> tuple[int, list[Entry]]:
        """Whole entries from ``pos``, about ``CHUNK`` bytes: where the piece was cut (-1: the end), and them.

        A cut is a ``},`` outside any string (the array has no backslash, so an even count of
        quotes before it says so). A cut inside a nested object leaves an unfinished entry, which
        the decoder refuses, and the piece grows to the next cut; the whole array was checked to be
        JSON (``Envelope``), so the end always decodes.
        """
        body = self.body
        cut = body.find(b"},", pos + CHUNK, end)
        while True:
            if cut >= 0 and quotes(body, pos, cut) % 2:
                cut = body.find(b"},", cut + 2, end)
                continue
            with self._bracketed(pos, end if cut < 0 else cut + 1, cut >= 0) as piece:
                try:
                    return cut, self._checked(_ENTRIES.decode(piece))
                except (msgspec.ValidationError, RecursionError):
                    try:
                        items = self.loads(bytes(piece))
                    except (ValueError, RecursionError):
                        items = None
                    if items is not None or cut < 0:
                        return cut, self._checked_items(items or [])
                except msgspec.DecodeError:
                    if cut < 0:
                        raise BadUpstreamData("the project listing is not valid JSON") from None
            cut = body.find(b"},", cut + 2, end)

    def _bracketed(self, start: int, stop: int, close: bool) -> memoryview:
        """``[``, the body from ``start`` to ``stop`` and (``close``) ``]``, in one buffer reused piece by piece.

        A new ``b"[" + body[start:stop] + b"]"`` for each piece cost about 30 ms a pass over PyPI's
        listing (98-103 against 70 ms for the copies and decodes alone).
        """
        buffer, size = self._buffer, stop - start
        if len(buffer) < size + 2:
            buffer.extend(bytes(size + 2 - len(buffer)))  # grown to about a chunk once, then reused
        with memoryview(self.body) as whole:
            buffer[1 : size + 1] = whole[start:stop]
        buffer[size + 1] = 93  # "]"
        return memoryview(buffer)[: size + 1 + close]

    def _checked(self, decoded: list[Entry]) -> list[Entry]:
        ceiling = self.ceiling
        limit = MAX_SERIAL if ceiling is None else min(ceiling, MAX_SERIAL)
        # Nearly every chunk is clean: checked by a C-level max (0.24 s -> 0.05 s a pass on PyPI); names and
        # serials in range were checked by the decoder (an ``Entry`` made by ``_checked_items`` is, there).
        if not decoded or max(map(_SERIAL, decoded)) <= limit:
            return decoded
        good = []
        for entry in decoded:
            if 0 <= entry.serial <= limit and entry.name:
                good.append(entry)
            elif not entry.name:
                self.skipped += 1
            elif 0 <= entry.serial <= MAX_SERIAL:
                self.beyond.append(entry.name)
            else:
                self.out_of_range.append(entry.name)
        return good

    def _checked_items(self, items: list[Any]) -> list[Entry]:
        """Items as ``json.loads`` gave them, by the rules of the strict path."""
        good = []
        for item in items:
            name = item.get("name") if isinstance(item, dict) else None
            serial = item.get("_last-serial") if isinstance(item, dict) else None
            if not isinstance(name, str) or not name:
                self.skipped += 1
            elif not is_serial(serial):
                self.out_of_range.append(name)  # a listed project with a broken serial is still listed
            else:
                good.append(Entry(name, serial))
        return self._checked(good)


def quotes(body: Body, start: int, end: int) -> int:
    """How many ``"`` between ``start`` and ``end`` (a map has no ``count``: its slice is counted)."""
    if isinstance(body, mmap.mmap):
        return body[start:end].count(b'"')
    return body.count(b'"', start, end)


# Where madvise is missing (not Linux or a BSD) the pages stay mapped: the kernel reclaims them.
_DROPS = hasattr(mmap, "MADV_DONTNEED") and hasattr(mmap.mmap, "madvise")


def drop(body: Body, start: int, end: int) -> int:
    """Drop a mapped body's pages from ``start`` to ``end`` out of the process; where the next drop starts.

    The pages stay in the page cache (the temporary file's), so the next pass reads them back
    from memory: RSS stays at about a chunk, not the 31-37 MB of PyPI's listing.
    """
    if not isinstance(body, mmap.mmap) or not _DROPS:
        return start
    end = end if end >= len(body) else end - end % mmap.PAGESIZE
    if end > start:
        body.madvise(mmap.MADV_DONTNEED, start, end - start)
        return end
    return start


def array_span(body: bytes, raw: msgspec.Raw) -> tuple[int, int] | None:
    """Where the projects array ``raw`` sits in ``body``, when it can be cut into chunks safely."""
    if body.count(b'"projects"') != 1:
        return None
    key = body.find(b'"projects"') + len(b'"projects"')
    start = body.find(b"[", key)
    end = start + len(raw)
    if start < 0 or body[key:start].strip(WHITESPACE) or body[end - 1 : end] != b"]":
        return None
    if body.find(b"\\", start, end) >= 0:
        return None  # an escaped quote would spoil the quote count that places the cuts
    return start, end


def utf8_ok(body: bytes) -> bool:
    """Whether ``body`` is UTF-8, checked a megabyte at a time (no 37 MB str)."""
    if body.isascii():
        return True
    decoder = codecs.getincrementaldecoder("utf-8")()
    view = memoryview(body)
    try:
        for at in range(0, len(body), CHUNK):
            decoder.decode(view[at : at + CHUNK])
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def decode_envelope(body: bytes) -> Envelope | None:
    try:
        return ENVELOPE.decode(body)
    except (msgspec.DecodeError, RecursionError):  # ValidationError is a DecodeError
        return None


def not_a_listing() -> BadUpstreamData:
    return BadUpstreamData("the body is not a PEP 691 project listing (no 'projects' list)")
