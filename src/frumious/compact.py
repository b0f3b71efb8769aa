"""Compact sequences for a run's per-project bookkeeping: memory flat in the mirror's size.

A full sync of PyPI queues 700,000 projects. As a tuple of ``ListingEntry`` objects the queue
took about 130 bytes a project (the object, its name and serial as Python objects), and the
todo checkpoint and the run's report each held as much again (measured with tracemalloc on a
20,000-project full sync: about 1.2 KiB a project in all). Here names are kept as
newline-joined chunks of ``CHUNK`` names, deflated (sorted names share their starts: 17 bytes
of ``Bench_Pkg.000001`` take about 2.5), and serials in an ``array('i')`` (four bytes; eight
once a serial needs them): about 8 bytes a project in the queue, where the joined text took
36. Objects are made on the way out, a chunk at a time. A chunk of 4,096 names is deflated in
about 0.4 ms and inflated in 0.15 ms (its split into names, 0.25 ms, was there before): about
0.2 s of CPU over a full sync of PyPI, nothing on a run that queues a few projects.
"""

from __future__ import annotations

import bisect
import itertools
import zlib
from array import array
from collections.abc import Iterable, Iterator, Sequence
from typing import overload

from frumious.models import ListingEntry, canonicalize_name

__all__ = ["CHUNK", "Canonical", "Entries", "Names", "canonical_names"]

# Names a chunk: one split returns them all (a 4,096-name chunk splits in about 50 µs).
CHUNK = 4096
_SEP = "\n"
# zlib's fastest level: level 6 packs sorted names only a few percent tighter at 3x the time.
_LEVEL = 1


def canonical_names(names: list[str]) -> list[str]:
    """``canonicalize_name`` of each name, in one call for the chunk (per name when a name holds a newline).

    Per-name exact: it lowers, maps ``_`` and ``.`` to ``-`` and folds runs, none of which
    crosses a newline.
    """
    joined = _SEP.join(names)
    if joined.isascii():
        canonical = canonicalize_name(joined).split(_SEP)
        if len(canonical) == len(names):
            return canonical
    return [canonicalize_name(name) for name in names]


class _Chunked:
    """Names held a chunk at a time (``chunks``): iteration and many membership questions at once."""

    def chunks(self) -> Iterator[list[str]]:
        raise NotImplementedError

    def among(self, wanted: Iterable[str]) -> set[str]:
        """Which of ``wanted`` are here: one pass, a C-level set intersection a chunk (for many questions)."""
        wanted = set(wanted)
        found: set[str] = set()
        for chunk in self.chunks() if wanted else ():
            found |= wanted.intersection(chunk)
        return found

    def __iter__(self) -> Iterator[str]:
        for chunk in self.chunks():
            yield from chunk


class Names(_Chunked):
    """An append-only list of strings, held as joined chunks; ``in`` is a scan (for a few questions)."""

    __slots__ = ("_chunks", "_tail")

    def __init__(self, names: Iterable[str] = ()) -> None:
        # A chunk is CHUNK names joined by a newline, UTF-8 and deflated, or a tuple when one of them
        # holds a newline.
        self._chunks: list[bytes | tuple[str, ...]] = []
        self._tail: list[str] = []
        self.extend(names)

    def append(self, name: str) -> None:
        tail = self._tail
        tail.append(name)
        if len(tail) == CHUNK:
            self._seal()

    def extend(self, names: Iterable[str]) -> None:
        if isinstance(names, list) and len(names) == CHUNK and not self._tail:
            self._tail = list(names)  # a whole chunk copied (``Entries.edited``): one join, no loop
            self._seal()
            return
        for name in names:
            self.append(name)

    def _seal(self) -> None:
        joined = _SEP.join(self._tail)
        exact = joined.count(_SEP) == len(self._tail) - 1
        self._chunks.append(zlib.compress(joined.encode(), _LEVEL) if exact else tuple(self._tail))
        self._tail = []

    def pop(self) -> str:
        if not self._tail:
            self._tail = self._split(self._chunks.pop())
        return self._tail.pop()

    @staticmethod
    def _split(chunk: bytes | tuple[str, ...]) -> list[str]:
        return zlib.decompress(chunk).decode().split(_SEP) if isinstance(chunk, bytes) else list(chunk)

    def chunks(self) -> Iterator[list[str]]:
        """The names a chunk at a time (the last may be shorter)."""
        for chunk in self._chunks:
            yield self._split(chunk)
        if self._tail:
            yield list(self._tail)

    def __len__(self) -> int:
        return len(self._chunks) * CHUNK + len(self._tail)

    def __getitem__(self, index: int) -> str:
        index = range(len(self))[index]
        chunk, at = divmod(index, CHUNK)
        if chunk == len(self._chunks):
            return self._tail[at]
        return self._split(self._chunks[chunk])[at]

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        if name in self._tail:
            return True
        inner, first, last = f"\n{name}\n", f"{name}\n", f"\n{name}"
        for chunk in self._chunks:
            if isinstance(chunk, tuple):
                if name in chunk:
                    return True
                continue
            text = zlib.decompress(chunk).decode()
            if inner in text or text.startswith(first) or text.endswith(last):
                return True
        return False

    def __eq__(self, other: object) -> bool:
        if isinstance(other, set | frozenset):
            return set(self) == other
        if isinstance(other, Names | list | tuple):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Names({list(self)!r})"


class Canonical(_Chunked):
    """The canonical names of some ``Names`` of display names, made a chunk at a time when asked (no copy)."""

    __slots__ = ("_parts",)

    def __init__(self, *parts: Names) -> None:
        self._parts = parts

    def chunks(self) -> Iterator[list[str]]:
        for part in self._parts:
            for chunk in part.chunks():
                yield canonical_names(chunk)

    def __len__(self) -> int:
        return sum(len(part) for part in self._parts)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and bool(self.among([name]))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, set | frozenset):
            return set(self) == other
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Canonical({list(self)!r})"


class Entries(Sequence[ListingEntry]):
    """A compact sequence of ``ListingEntry``: names in ``Names``, serials in an ``array('i')`` (``'q'`` if need be)."""

    __slots__ = ("_names", "_serials")

    def __init__(self, entries: Iterable[ListingEntry] = ()) -> None:
        self._names = Names()
        self._serials = array("i")
        for entry in entries:
            self.append(entry)

    @classmethod
    def of(cls, entries: Iterable[ListingEntry]) -> Entries:
        """``entries`` as ``Entries``, the same object when it is one already."""
        return entries if isinstance(entries, Entries) else cls(entries)

    def append(self, entry: ListingEntry) -> None:
        self._names.append(entry.name)
        try:
            self._serials.append(entry.serial)
        except OverflowError:  # beyond 2**31: eight bytes a serial from here on
            self._serials = array("q", self._serials)
            self._serials.append(entry.serial)

    def _extend(self, names: list[str], serials: array[int]) -> None:
        """A chunk of another ``Entries`` appended whole."""
        self._names.extend(names)
        if serials.typecode != self._serials.typecode:
            self._serials = array("q", self._serials)
            serials = array("q", serials)
        self._serials.extend(serials)

    def pop(self) -> ListingEntry:
        return ListingEntry(self._names.pop(), self._serials.pop())

    def chunks(self) -> Iterator[tuple[list[str], array[int]]]:
        """Names and serials a chunk at a time."""
        for at, names in enumerate(self._names.chunks()):
            yield names, self._serials[at * CHUNK : at * CHUNK + len(names)]

    def newest(self, floor: int = 0) -> int:
        """The highest serial, at least ``floor`` (C-level ``max`` over the array)."""
        return max(floor, max(self._serials, default=floor))

    def __len__(self) -> int:
        return len(self._serials)

    def __iter__(self) -> Iterator[ListingEntry]:
        for names, serials in self.chunks():
            yield from map(ListingEntry, names, serials)

    @overload
    def __getitem__(self, index: int) -> ListingEntry: ...
    @overload
    def __getitem__(self, index: slice) -> Entries: ...
    def __getitem__(self, index: int | slice) -> ListingEntry | Entries:
        if isinstance(index, slice):
            return Entries(self[i] for i in range(len(self))[index])
        return ListingEntry(self._names[index], self._serials[index])

    def __add__(self, other: Iterable[ListingEntry]) -> Entries:
        joined = Entries(self)
        for entry in other:
            joined.append(entry)
        return joined

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Entries | list | tuple):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Entries({list(self)!r})"

    def canonical_chunks(self) -> Iterator[tuple[list[str], list[str], array[int]]]:
        """Display names, canonical names and serials a chunk at a time (one ``canonicalize_name`` a chunk)."""
        for names, serials in self.chunks():
            yield names, canonical_names(names), serials

    def in_order(self) -> bool:
        """Whether the canonical names strictly ascend (what a listing's merge makes, and ``edited`` needs)."""
        last = ""
        for _names, canonical, _serials in self.canonical_chunks():
            if canonical[0] <= last or any(a >= b for a, b in itertools.pairwise(canonical)):
                return False
            last = canonical[-1]
        return True

    def find(self, wanted: Iterable[str]) -> dict[str, ListingEntry]:
        """The entries of these canonical names that are here, by canonical name (one pass)."""
        wanted, found = set(wanted), {}
        for names, canonical, serials in self.canonical_chunks() if wanted else ():
            if not wanted.isdisjoint(canonical):
                for name, key, serial in zip(names, canonical, serials, strict=True):
                    if key in wanted:
                        found[key] = ListingEntry(name, serial)
        return found

    def edited(self, changes: dict[str, ListingEntry | None]) -> Entries:
        """A copy with ``changes`` by canonical name (an entry puts or replaces one, None takes it out), in
        canonical order; needs ``in_order``. Chunks no change falls in are copied whole."""
        keys = sorted(changes)
        edited, at = Entries(), 0
        for names, canonical, serials in self.canonical_chunks():
            end = bisect.bisect_right(keys, canonical[-1], lo=at)
            if end == at:
                edited._extend(names, serials)
                continue
            wanted = {key: changes[key] for key in keys[at:end]}
            for name, key, serial in zip(names, canonical, serials, strict=True):
                _flush_before(edited, wanted, key)
                if key in wanted:
                    change = wanted.pop(key)
                    if change is not None:
                        edited.append(change)
                else:
                    edited.append(ListingEntry(name, serial))
            _flush_before(edited, wanted, None)
            at = end
        _flush_before(edited, {key: changes[key] for key in keys[at:]}, None)
        return edited


def _flush_before(edited: Entries, wanted: dict[str, ListingEntry | None], key: str | None) -> None:
    """Put the wanted entries that sort before ``key`` (all of them for None); ``wanted`` is in order."""
    for name in [name for name in wanted if key is None or name < key]:
        change = wanted.pop(name)
        if change is not None:
            edited.append(change)
