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
from dataclasses import dataclass
from operator import attrgetter

from frumious.compact import Entries, Names, canonical_names
from frumious.filters.filterset import every_project
from frumious.mergesteps import Local, Merged, Named, Unsorted, by_name, in_step, with_extra
from frumious.models import ListingEntry, canonicalize_name
from frumious.protocol.listing import ListingScan
from frumious.record import listed
from frumious.record.listed import Remembered
from frumious.upstream import Listing, invalid_warning

__all__ = ["Local", "Merged", "Reconciled", "Unsorted", "known", "merge", "of_listing", "reconcile"]

_serial = attrgetter("serial")


@dataclass(frozen=True, slots=True)
class Reconciled:
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
    """The merge without reading the record's names, when the listed names hash as the last merge's did.

    Then the listed names the record lacks (``extra``) and the held ones not listed (``unlisted``)
    are the last merge's, but for names inserted or deleted since, each looked up (0.22 s of SQLite
    reads and 0.05 s of canonical names a pass on PyPI's 693k names saved). Only chunks holding
    such a name, a refused name or a new serial are read name by name. None when nothing is
    remembered, filters changed, the listing holds another count of names (a project more or
    fewer: given up before the pass) or the digest differs at the end: then ``merge`` decides.
    """
    memo = None if filters_changed else local.known()
    if memo is None or memo.entries != entries:
        return None  # a project more or fewer upstream: the merge at once, not after a wasted pass
    # Only names whose holding may have changed need a chunk read name by name; a remembered extra
    # name (35,000 on PyPI, in nearly every chunk) matters only if refused or new, checked below.
    odd = sorted(memo.since)
    found, digest, seen = Merged(), listed.NamesDigest(), set()
    for chunk in chunks:
        if not chunk:
            continue
        names = [entry.name for entry in chunk]
        digest.add(names)
        refused = set() if allows is every_project else set(itertools.filterfalse(allows, names))
        low = bisect.bisect_left(odd, canonicalize_name(names[0]))
        inside = odd[low : bisect.bisect_right(odd, canonicalize_name(names[-1]))]
        if not refused and not inside and max(map(_serial, chunk)) <= serial:
            continue
        canonical = canonical_names(names)
        seen.update(set(inside).intersection(canonical))
        for entry, name in zip(chunk, canonical, strict=True):
            held = local.holds(name) if name in memo.since else name not in memo.extra
            if entry.name in refused:
                found.outside.append(ListingEntry(entry.name, entry.serial))
                if held:
                    found.excluded.append(name)
            elif entry.serial > serial:  # not looked up: under --force-check that is every name
                found.put(name, ListingEntry(entry.name, entry.serial))
    if digest.value() != memo.digest:
        return None
    kept = (name for name in memo.unlisted if name not in memo.since)
    found.unlisted = sorted({*kept, *(name for name in memo.since if name not in seen and local.holds(name))})
    return found


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
    found, digest = Merged(), listed.NamesDigest()
    last: str | None = None  # the previous chunk's last canonical name
    last_held = False  # whether the mirror holds it
    for chunk in chunks:
        if not chunk:
            continue
        names = [entry.name for entry in chunk]
        digest.add(names)
        canonical = canonical_names(names)
        if (last is not None and canonical[0] < last) or canonical != sorted(canonical):
            raise Unsorted
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
    value = digest.value()
    if value is not None and len(found.unlisted) <= listed.LIMIT and len(found.extra) <= listed.EXTRA_LIMIT:
        local.remember(Remembered(value, tuple(found.unlisted), frozenset(found.extra), frozenset(), entries))
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
