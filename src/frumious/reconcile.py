"""The listing against the mirror as a merge of two sorted streams, a chunk at a time.

``plan.reconcile`` takes the listing as 700,000 objects and the mirror's names as a set of
700,000 strings (1.26 s and most of 400 MB on PyPI's scale, with one ``canonicalize_name``
call per entry). Here each chunk of the listing (``ListingScan.chunks``, about 22,000
entries) is put beside the record's names in the same range, read as one string from SQLite
(``Local.between``). When the two are equal, as they are for nearly every chunk of a mirror
in step, the chunk needs no per-name work beyond its serials and the filters; otherwise it
is merged name by name. Canonical names are made for a whole chunk at once:
``canonicalize_name`` on the names joined by newlines is per-name exact (it lowers, maps
``_`` and ``.`` to ``-`` and folds runs, none of which crosses a newline) and costs one call
per chunk. A listing not in canonical order (PyPI's is) falls back to ``plan.reconcile``.
The merge remembers its answer with a digest of the listed names (record/listed.py); while the
listing's names hash the same, ``known`` answers again from it and the record's names changed
since, reading none of the others (PyPI's listing changes every few seconds, its names rarely).
The result is the same ``Reconciled`` (tests/unit/test_reconcile_merge.py compares them).
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Callable, Iterable, Sequence
from operator import attrgetter

import msgspec

from frumious.compact import Entries, Names, canonical_names
from frumious.filters.filterset import every_project
from frumious.mergesteps import Local, Merged, Named, Unsorted, bucket_runs, by_name, in_step, with_extra
from frumious.models import ListingEntry, canonicalize_name
from frumious.protocol.listing import ListingScan
from frumious.record import listed
from frumious.record.listed import Remembered
from frumious.upstream import Listing, invalid_warning

__all__ = ["Local", "Merged", "Reconciled", "Unsorted", "known", "merge", "of_listing", "reconcile"]

_serial = attrgetter("serial")


class Reconciled(msgspec.Struct, frozen=True):
    queue: Entries
    excluded: tuple[str, ...]
    vanished: tuple[str, ...]
    outside: tuple[ListingEntry, ...] = ()


def known(
    chunks: Iterable[Sequence[Named]],
    local: Local,
    allows: Callable[[str], bool],
    *,
    serial: int,
    filters_changed: bool,
    entries: int = -1,
) -> Merged | None:
    """The merge reading only the record's names in the buckets whose listed names changed since the last merge.

    In a bucket (names sharing their first two characters) whose listed names hash as they did, the
    listed names the record lacks (``extra``) and the held ones not listed (``unlisted``) are the last
    merge's, but for names inserted or deleted in the record since, each looked up (0.22 s of SQLite
    reads a pass on PyPI's 693k names saved; the canonical names of every chunk, 0.03-0.05 s, are made to
    cut the buckets). Only chunks holding such a
    name, a refused name or a new serial are read name by name. A bucket whose names changed upstream
    (a project came or went: on PyPI, every few minutes) is merged against the record's names in it,
    and the answer is remembered again. None (``merge`` decides) when nothing usable is remembered,
    filters changed, or a bucket too large to hold (``BUCKET_HELD``) changed.
    """
    memo = None if filters_changed else local.known()
    if memo is None or not memo.buckets:
        return None
    if entries != memo.entries and max(count for _key, _digest, count in memo.buckets) > BUCKET_HELD:
        return None  # names came or went, and a bucket may be too large to merge again: the merge at once
    # As many names as last time: a bucket's names almost surely hash the same, and are not held to be
    # merged again (a listing whose names moved at the same count is left to the whole merge).
    walk = _Known(memo, local, allows, serial, hold=entries != memo.entries)
    try:
        for chunk in chunks:
            if chunk:
                walk.chunk(chunk)
        return walk.finish(entries)
    except _TooLarge:
        return None


# A bucket's listed entries held until it closes, to merge it again if its names changed (the chunks they
# are in stay alive: about 200 bytes an entry); past this its decisions are kept and a change in it gives the
# whole merge. PyPI's largest two-letter bucket ("py") holds some 6-8 % of its names.
BUCKET_HELD = 100_000


# A bucket's entries as a slice of a chunk: the chunk, its names, their canonical names, start, end.
_Run = tuple[Sequence[Named], list[str], list[str], int, int]


class _TooLarge(Exception):
    """A bucket past ``BUCKET_HELD`` changed: not merged again here."""


class _Decided(msgspec.Struct):
    """An open bucket's decisions as the memo gives them, kept once its names are found unchanged."""

    puts: list[tuple[str, ListingEntry]] = msgspec.field(default_factory=list)
    outside: list[ListingEntry] = msgspec.field(default_factory=list)
    excluded: list[str] = msgspec.field(default_factory=list)
    seen: set[str] = msgspec.field(default_factory=set)


class _Known:
    """``known``'s pass: the listing's buckets as they close, each decided from the memo or the record."""

    def __init__(
        self, memo: Remembered, local: Local, allows: Callable[[str], bool], serial: int, *, hold: bool
    ) -> None:
        self.memo, self.local, self.allows, self.serial = memo, local, allows, serial
        # Only names whose holding may have changed need a chunk read name by name; a remembered extra
        # name (35,000 on PyPI, in nearly every chunk) matters only if refused or new.
        self.odd = sorted(memo.since)
        self.found, self.seen, self.changed = Merged(), set[str](), set[str]()
        self.buckets = listed.Buckets()
        self.old = iter(memo.buckets)
        self.next_old = next(self.old, None)
        # The open bucket: its runs (None past BUCKET_HELD entries) and its decisions as remembered.
        self.hold = hold
        self.parts: list[_Run] | None = [] if hold else None
        self.held_entries = 0
        self.open = _Decided()

    def chunk(self, chunk: Sequence[Named]) -> None:
        names = [entry.name for entry in chunk]
        canonical = canonical_names(names)
        for key, start, end in bucket_runs(canonical):
            current = self.buckets.key
            if current is not None and (key < current or (key == current and start > 0)):
                raise Unsorted
            closed = self.buckets.add(key, canonical[start:end])
            if current is not None and closed is not None:
                self._decide(current, closed)
            run = (chunk, names, canonical, start, end)  # no copies: most buckets are never looked at again
            self._as_remembered(*run)
            if self.parts is not None:
                self.parts.append(run)
                self.held_entries += end - start
                if self.held_entries > BUCKET_HELD:
                    self.parts = None

    def finish(self, entries: int) -> Merged:
        current, closed = self.buckets.key, self.buckets.close()
        if current is not None and closed is not None:
            self._decide(current, closed)
        while self.next_old is not None:  # buckets after the last listed one: none of their names listed
            self._merge(self.next_old[0], [])
            self.next_old = next(self.old, None)
        memo, found, changed = self.memo, self.found, self.changed
        kept = (name for name in memo.unlisted if name not in memo.since and name[:2] not in changed)
        held = (n for n in memo.since if n not in self.seen and n[:2] not in changed and self.local.holds(n))
        found.unlisted = sorted({*found.unlisted, *kept, *held})
        if changed:
            self._remember(entries)
        found.extra = Names()  # remembered or not, no longer needed: the run's plan does not hold it
        return found

    def _decide(self, key: str, digest: str) -> None:
        parts, opened = self.parts, self.open
        self.parts, self.held_entries, self.open = [] if self.hold else None, 0, _Decided()
        while self.next_old is not None and self.next_old[0] < key:  # a bucket no longer listed
            self._merge(self.next_old[0], [])
            self.next_old = next(self.old, None)
        # A name holding the separator makes digests ambiguous ("a\nb" hashes as "a", "b"): nothing is the same.
        same = self.buckets.usable and self.next_old is not None and self.next_old[:2] == (key, digest)
        if self.next_old is not None and self.next_old[0] == key:
            self.next_old = next(self.old, None)
        if same:  # the decisions made as the bucket came are the answer
            for name, entry in opened.puts:
                self.found.put(name, entry)
            self.found.outside += opened.outside
            self.found.excluded += opened.excluded
            self.seen |= opened.seen
        elif parts is None:
            raise _TooLarge
        else:
            self._merge(key, parts)

    def _as_remembered(
        self, whole: Sequence[Named], all_names: list[str], all_canonical: list[str], start: int, end: int
    ) -> None:
        memo, odd, serial, found = self.memo, self.odd, self.serial, self.open
        names = itertools.islice(all_names, start, end)
        refused = set() if self.allows is every_project else set(itertools.filterfalse(self.allows, names))
        inside = odd[bisect.bisect_left(odd, all_canonical[start]) : bisect.bisect_right(odd, all_canonical[end - 1])]
        if not refused and not inside and max(map(_serial, itertools.islice(whole, start, end))) <= serial:
            return
        chunk, canonical = whole[start:end], all_canonical[start:end]
        found.seen.update(set(inside).intersection(canonical))
        for entry, name in zip(chunk, canonical, strict=True):
            held = self.local.holds(name) if name in memo.since else name not in memo.extra
            if entry.name in refused:
                found.outside.append(ListingEntry(entry.name, entry.serial))
                if held:
                    found.excluded.append(name)
            elif entry.serial > serial:  # not looked up: under --force-check that is every name
                found.puts.append((name, ListingEntry(entry.name, entry.serial)))

    def _merge(self, key: str, parts: list[_Run]) -> None:
        """Bucket ``key`` against the record's names in it (its listed names changed, or it is gone)."""
        self.changed.add(key)
        held = self.local.in_bucket(key)
        if not parts:
            self.found.unlisted.extend(held)
            return
        chunk = [entry for whole, _n, _c, start, end in parts for entry in whole[start:end]]
        canonical = [name for _w, _n, every, start, end in parts for name in every[start:end]]
        if canonical != sorted(canonical) or canonical[0][:2] != key or canonical[-1][:2] != key:
            raise Unsorted
        by_name(self.found, chunk, canonical, iter(held), self.allows, self.serial, False)

    def _remember(self, entries: int) -> None:
        """The corrected answer remembered for the next run (its changed names start again from none)."""
        memo, found, changed = self.memo, self.found, self.changed
        extra = {name for name in memo.extra if name not in memo.since and name[:2] not in changed}
        extra.update(name for name in self.seen if name[:2] not in changed and not self.local.holds(name))
        extra.update(found.extra)
        buckets = self.buckets.value()
        value = None if buckets is None else listed.digest_of(buckets)
        # ``found.extra`` stops growing past the limit (a name spelled twice counted twice): then forgotten, as
        # ``merge`` does, not remembered short.
        full = len(found.extra) > listed.EXTRA_LIMIT or len(extra) > listed.EXTRA_LIMIT
        if value is None or buckets is None or len(found.unlisted) > listed.LIMIT or full:
            self.local.forget()
            return
        self.local.remember(Remembered(value, tuple(found.unlisted), frozenset(extra), frozenset(), entries, buckets))


def merge(
    chunks: Iterable[Sequence[Named]],
    local: Local,
    allows: Callable[[str], bool],
    *,
    serial: int,
    filters_changed: bool,
    entries: int = -1,
) -> Merged:
    """One pass over the listing's chunks beside the mirror's names; raises ``Unsorted``."""
    found, buckets = Merged(), listed.Buckets()
    last: str | None = None  # the previous chunk's last canonical name
    last_held = False  # whether the mirror holds it
    for chunk in chunks:
        if not chunk:
            continue
        names = [entry.name for entry in chunk]
        canonical = canonical_names(names)
        if (last is not None and canonical[0] < last) or canonical != sorted(canonical):
            raise Unsorted
        for key, start, end in bucket_runs(canonical):
            buckets.add(key, canonical[start:end])
        held = local.between(last, canonical[-1])
        if last_held and canonical[0] == last:  # a name spelled again across the cut: held here too
            held.insert(0, canonical[0])
        if held == canonical:
            in_step(found, chunk, names, canonical, allows, serial)
            last_held = True
        elif not filters_changed and (among := set(held)) <= (listing := set(canonical)):
            last_held = with_extra(found, chunk, names, canonical, among, listing, allows, serial)
        else:
            last_held = by_name(found, chunk, canonical, iter(held), allows, serial, filters_changed)
        last = canonical[-1]
    found.unlisted.extend(local.between(last, None))
    cut = buckets.value()
    value = None if cut is None else listed.digest_of(cut)
    small = len(found.unlisted) <= listed.LIMIT and len(found.extra) <= listed.EXTRA_LIMIT
    if value is not None and cut is not None and small:
        local.remember(Remembered(value, tuple(found.unlisted), frozenset(found.extra), frozenset(), entries, cut))
    else:
        local.forget()  # a stale answer would be read, and its changed names noted, every run for nothing
    found.extra = Names()  # remembered or not, no longer needed: the run's plan does not hold it
    return found


def of_listing(
    listing: Listing, local: Local, allows: Callable[[str], bool], serial: int, filters_changed: bool
) -> tuple[Reconciled, tuple[str, ...], tuple[str, ...]]:
    """The listing reconciled; its invalid names (listed, not synced); warnings about its skipped entries."""
    entries = listing.entries
    if isinstance(entries, ListingScan):
        try:
            count = entries.entry_count()
            merged = known(
                entries.chunks(), local, allows, serial=serial, filters_changed=filters_changed, entries=count
            )
            if merged is None:
                merged = merge(
                    entries.chunks(), local, allows, serial=serial, filters_changed=filters_changed, entries=count
                )
        except Unsorted:
            merged = None
        if merged is not None:
            invalid = listing.invalid + entries.invalid
            return _finish(merged, invalid, allows), invalid, _warnings(entries, listing.serial)
    names = local.between(None, None)
    found = reconcile(entries, set(names), allows, serial=serial, filters_changed=filters_changed, unsynced=())
    invalid = listing.invalid + (entries.invalid if isinstance(entries, ListingScan) else ())
    if invalid:  # listed, so never vanished: taken out again (rare; the merge does it in its pass)
        found = reconcile(entries, set(names), allows, serial=serial, filters_changed=filters_changed, unsynced=invalid)
    return found, invalid, _warnings(entries, listing.serial) if isinstance(entries, ListingScan) else ()


def _warnings(scan: ListingScan, ceiling: int | None) -> tuple[str, ...]:
    found = [f"Skipped {scan.skipped} listing entries without a name or serial"] if scan.skipped else []
    if scan.invalid:
        found.append(invalid_warning(scan.invalid, ceiling))
    return tuple(found)


def _finish(merged: Merged, invalid: tuple[str, ...], allows: Callable[[str], bool]) -> Reconciled:
    """Unlisted names vanished (or excluded), as ``reconcile`` decides them; the queue in canonical order."""
    listed = {canonicalize_name(name) for name in invalid}
    excluded, vanished = merged.excluded, []
    for name in merged.unlisted:
        if name in listed:
            continue
        if not allows(name):
            excluded.append(name)
            continue
        vanished.append(name)
    # Serial 0: any answer is new enough; a 404 confirms the deletion. Unlisted, so never queued already.
    queue = merged.queue.edited({name: ListingEntry(name, 0) for name in vanished}) if vanished else merged.queue
    return Reconciled(queue, tuple(sorted(excluded)), tuple(vanished), tuple(merged.outside))


def reconcile(
    listing: Iterable[ListingEntry],
    local: set[str],
    allows: Callable[[str], bool],
    *,
    serial: int,
    filters_changed: bool,
    unsynced: Iterable[str] = (),
) -> Reconciled:
    """What to sync and what may go; ``local`` holds canonical names.

    ``unsynced`` names are listed but not to be synced (their serial is invalid): they
    are neither queued nor taken as vanished.
    """
    queue: dict[str, ListingEntry] = {}
    excluded: list[str] = []
    outside: list[ListingEntry] = []
    listed: set[str] = {canonicalize_name(name) for name in unsynced}
    for entry in listing:
        canonical = canonicalize_name(entry.name)
        listed.add(canonical)
        if not allows(entry.name):
            outside.append(entry)
            if canonical in local:
                excluded.append(canonical)
            continue
        if entry.serial > serial or (filters_changed and canonical not in local):
            queue[canonical] = entry
    vanished = []
    for name in sorted(local - listed):
        if not allows(name):
            excluded.append(name)
            continue
        # Serial 0: any answer is new enough; a 404 confirms the deletion.
        vanished.append(name)
        queue[name] = ListingEntry(name=name, serial=0)
    ordered = Entries(queue[name] for name in sorted(queue))
    return Reconciled(ordered, tuple(sorted(excluded)), tuple(vanished), tuple(outside))
