"""The steps of the listing's merge against the record: the mirror's names by range, and a chunk's decisions.

``reconcile.merge`` and ``reconcile.known`` walk the listing a chunk at a time; a chunk is decided
here by the cheapest step that fits it: every name held (``_in_step``), some listed names not held
and nothing else in its range (``_with_extra``), or name by name (``by_name``).
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence
from operator import attrgetter
from typing import Protocol

import msgspec

from frumious.compact import Entries, Names, canonical_names
from frumious.filters.filterset import every_project
from frumious.models import ListingEntry, replace
from frumious.record import listed
from frumious.record.db import MirrorRecord
from frumious.record.listed import Remembered

__all__ = ["Local", "Merged", "Named", "Unsorted", "bucket_end", "bucket_runs", "by_name", "in_step", "with_extra"]

_serial = attrgetter("serial")
_LAST = 0x10FFFF


def bucket_end(key: str) -> str:
    """The first string after every name of two-character bucket ``key``; raises Unsorted for none such."""
    if ord(key[1]) == _LAST:
        raise Unsorted  # no name of a real index: left to the whole reconcile
    after = ord(key[1]) + 1
    # No name holds a lone surrogate (SQLite refuses to bind one): past U+D7FF comes U+E000.
    return key[0] + chr(0xE000 if 0xD800 <= after <= 0xDFFF else after)


def bucket_runs(canonical: list[str]) -> Iterator[tuple[str, int, int]]:
    """The chunk's sorted canonical names cut by bucket (their first two characters): key, start, end.

    Raises Unsorted where the cut shows the names out of order (a run that is not sorted is not
    always seen here: its digest, or ``by_name``'s caller, tells).
    """
    at, count = 0, len(canonical)
    while at < count:
        key = canonical[at][:2]
        end = (
            bisect.bisect_right(canonical, key, at)
            if len(key) < 2
            else bisect.bisect_left(canonical, bucket_end(key), at)
        )
        if end <= at:
            raise Unsorted
        yield key, at, end
        at = end


class Named(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def serial(self) -> int: ...


class Unsorted(Exception):
    """The listing is not in canonical order: the merge cannot stream it."""


class Local:
    """The mirror's canonical names in order, by range: from the record, or a plain list (tests)."""

    def __init__(self, record: MirrorRecord | None = None, names: Iterable[str] = ()) -> None:
        self.record, self.names = record, sorted(names) if record is None else []
        # A plain list's remembered listing, and the names changed since (tests change both).
        self.memo: Remembered | None = None
        self.since: set[str] = set()

    def known(self) -> Remembered | None:
        """What the last merge stored of the listing, with the names changed since (None: nothing usable)."""
        if self.record is not None:
            return listed.recall(self.record)
        return None if self.memo is None else replace(self.memo, since=frozenset(self.since))

    def remember(self, memo: Remembered) -> None:
        if self.record is not None:
            listed.store(self.record, memo)
        else:
            self.memo, self.since = memo, set()

    def forget(self) -> None:
        if self.record is not None:
            listed.forget(self.record)
        else:
            self.memo, self.since = None, set()

    def holds(self, name: str) -> bool:
        if self.record is not None:
            return self.record.project(name) is not None
        at = bisect.bisect_left(self.names, name)
        return at < len(self.names) and self.names[at] == name

    def in_bucket(self, key: str) -> list[str]:
        """The names of bucket ``key`` (``bucket_runs``), in order."""
        if len(key) < 2:
            return [key] if self.holds(key) else []
        low, below = key, bucket_end(key)
        if self.record is not None:
            return self.record.names_from(low, below)
        return self.names[bisect.bisect_left(self.names, low) : bisect.bisect_left(self.names, below)]

    def between(self, after: str | None, upto: str | None) -> list[str]:
        """The names ``> after`` and ``<= upto`` (None: no bound), in order."""
        if self.record is not None:
            return self.record.names_between(after, upto)
        low = 0 if after is None else bisect.bisect_right(self.names, after)
        high = len(self.names) if upto is None else bisect.bisect_right(self.names, upto)
        return self.names[low:high]


class Merged(msgspec.Struct):
    # In canonical order as the chunks come (the last of equal canonical names wins), compact: a full sync
    # queues every listed project (a dict of 700,000 entries took about 200 MB).
    queue: Entries = msgspec.field(default_factory=Entries)
    last: str = ""  # the canonical name of the queue's last entry
    excluded: list[str] = msgspec.field(default_factory=list)
    outside: list[ListingEntry] = msgspec.field(default_factory=list)
    # Local names absent from the listing's valid entries (the invalid ones are taken out at the end).
    unlisted: list[str] = msgspec.field(default_factory=list)
    # Listed names not held (canonical), deflated: up to EXTRA_LIMIT of them in a first full sync.
    extra: Names = msgspec.field(default_factory=Names)

    def put(self, canonical: str, entry: ListingEntry) -> None:
        if canonical == self.last and self.queue:
            self.queue.pop()
        self.queue.append(entry)
        self.last = canonical


def in_step(
    found: Merged,
    chunk: Sequence[Named],
    names: list[str],
    canonical: list[str] | None,
    allows: Callable[[str], bool],
    serial: int,
    held: set[str] | None = None,
) -> None:
    """Every listed name of the chunk is held (or those in ``held``), and nothing else in its range: only
    serials and filters matter.

    Looked at entry by entry only where a filter refuses one or a serial is new (C-level
    ``filterfalse`` and ``max`` otherwise: 0.28 s -> 0.08 s a pass on PyPI).
    """
    refused = set() if allows is every_project else set(itertools.filterfalse(allows, names))
    if not refused and max(map(_serial, chunk)) <= serial:
        return
    if canonical is None:
        canonical = canonical_names(names)
    for entry, name in zip(chunk, canonical, strict=True):
        if entry.name in refused:
            found.outside.append(ListingEntry(entry.name, entry.serial))
            if held is None or name in held:
                found.excluded.append(name)
        elif entry.serial > serial:
            found.put(name, ListingEntry(entry.name, entry.serial))


def with_extra(
    found: Merged,
    chunk: Sequence[Named],
    names: list[str],
    canonical: list[str],
    held: set[str],
    listed_names: set[str],
    allows: Callable[[str], bool],
    serial: int,
) -> bool:
    """The chunk's range holds only listed names (``listed_names``), some not held: whether its last name is.

    PyPI lists about 35,000 projects without a release, which a mirror never records: one or more in
    nearly every chunk, which then took ``by_name``'s loop (0.34 s of a 1.0 s merge of 693k names).
    Here the names not held are a set difference; the rest is ``in_step``'s.
    """
    room = listed.EXTRA_LIMIT + 1 - len(found.extra)  # past the limit, not remembered: no list of 700k
    if room > 0:
        extra = sorted(listed_names - held)  # in order, as the chunk lists them (a few hundred a chunk)
        found.extra.extend(extra if len(extra) <= room else extra[:room])
    in_step(found, chunk, names, canonical, allows, serial, held)
    return canonical[-1] in held


def by_name(
    found: Merged,
    chunk: Sequence[Named],
    canonical: list[str],
    held: Iterator[str],
    allows: Callable[[str], bool],
    serial: int,
    filters_changed: bool,
) -> bool:
    """The chunk merged name by name; whether its last name is held."""
    upcoming, matched = next(held, None), None
    for entry, name in zip(chunk, canonical, strict=True):
        while upcoming is not None and upcoming < name:
            found.unlisted.append(upcoming)
            upcoming = next(held, None)
        if upcoming == name:
            matched, upcoming = name, next(held, None)
        is_local = matched == name
        if not is_local and len(found.extra) <= listed.EXTRA_LIMIT:  # past it, not remembered: no list of 700k
            found.extra.append(name)
        if not allows(entry.name):
            found.outside.append(ListingEntry(entry.name, entry.serial))
            if is_local:
                found.excluded.append(name)
        elif entry.serial > serial or (filters_changed and not is_local):
            found.put(name, ListingEntry(entry.name, entry.serial))
    while upcoming is not None:
        found.unlisted.append(upcoming)
        upcoming = next(held, None)
    return matched == canonical[-1]
