"""The run's per-project bookkeeping is compact: memory flat in the mirror's size (issue 12, item 3).

The byte figures are tracemalloc's (allocations counted, not timed), on 20,000 projects: before, the queue took
149 bytes a project, the todo checkpoint a dict of the whole queue, the report a set and a list of names.
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable

from frumious import retries
from frumious.compact import CHUNK, Entries, Names
from frumious.models import ListingEntry, canonicalize_name
from frumious.protocol.listing import ListingScan
from frumious.protocol.parse import scan_listing
from frumious.protocol.statefiles import Todo
from frumious.reconcile import Local, of_listing, reconcile
from frumious.retries import Failure
from frumious.runreport import Kind, Outcome, SyncReport
from frumious.state import TodoCheckpoint
from frumious.testing.memstore import MemoryStore
from frumious.upstream import Listing

COUNT = 3 * CHUNK + 17


def names(count: int = COUNT) -> list[str]:
    return [f"Bench_Pkg.{i:06d}" for i in range(count)]


def allocated(make: Callable[[], object]) -> int:
    """Bytes ``make``'s result keeps allocated (tracemalloc: counted, deterministic)."""
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        kept = make()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    del kept
    return after - before


def test_entries_keep_order_and_values_across_chunks() -> None:
    listed = [ListingEntry(name, i) for i, name in enumerate(names())]
    entries = Entries(listed)
    assert len(entries) == COUNT and list(entries) == listed and entries == tuple(listed)
    assert entries[CHUNK] == listed[CHUNK] and entries[-1] == listed[-1]
    assert entries.newest() == COUNT - 1 and Entries().newest(5) == 5
    assert entries.pop() == listed[-1] and len(entries) == COUNT - 1
    more = [ListingEntry("z", 9)]
    assert Entries(listed[:2]) + more == (*listed[:2], *more)


def test_serials_beyond_four_bytes_are_kept_exactly() -> None:
    big = 2**31 + 5  # past an array('i'): the serials widen, and chunks of either width mix in ``edited``
    listed = [ListingEntry(name, big + i if i > CHUNK else i) for i, name in enumerate(names())]
    entries = Entries(listed)
    assert list(entries) == listed and entries.newest() == big + COUNT - 1
    narrow = Entries(listed[: CHUNK + 1])
    edited = narrow.edited({"bench-pkg-000001": ListingEntry("Bench_Pkg.000001", big)})
    assert edited[1] == ListingEntry("Bench_Pkg.000001", big) and list(edited)[2:] == listed[2 : CHUNK + 1]
    assert list(entries.edited({})) == listed


def test_names_hold_any_name_and_answer_membership() -> None:
    odd = ["a\nb", "c", "a"]  # a name with a newline does not split into two
    kept = Names(names() + odd)
    assert list(kept)[-3:] == odd and len(kept) == COUNT + 3
    assert "Bench_Pkg.000000" in kept and "Bench_Pkg.004096" in kept and "a\nb" in kept
    assert "Bench_Pkg" not in kept and "b" not in kept
    assert kept.among({"c", "Bench_Pkg.000001", "nope"}) == {"c", "Bench_Pkg.000001"}
    assert Names(["x", "y"]) == {"x", "y"} and Names(["x"]) == ["x"] and not Names()


def test_edited_puts_replaces_and_removes_in_canonical_order() -> None:
    entries = Entries(ListingEntry(name, 1) for name in names())
    assert entries.in_order()
    changes: dict[str, ListingEntry | None] = {
        "bench-pkg-000005": None,
        "bench-pkg-004100": ListingEntry("Bench_Pkg.004100", 7),
        "bench-pkg-004100-x": ListingEntry("bench-pkg-004100-x", 3),
        "aaa": ListingEntry("AAA", 2),
        "zzz": ListingEntry("zzz", 2),
    }
    edited = list(entries.edited(changes))
    expected = {canonicalize_name(e.name): e for e in entries}
    expected.pop("bench-pkg-000005")
    expected.update({key: entry for key, entry in changes.items() if entry is not None})
    assert edited == [expected[key] for key in sorted(expected)]
    assert not Entries([ListingEntry("b", 1), ListingEntry("a", 1)]).in_order()


def test_requeue_of_a_long_queue_matches_the_dict_it_replaced() -> None:
    queue = Entries(ListingEntry(name, 5) for name in names())
    failures = {
        "bench-pkg-000010": Failure("Bench_Pkg.000010", 9, 1),  # due, newer: its serial
        "bench-pkg-008200": Failure("bench-pkg-008200", 9, 5, retry_at=1e12),  # waiting: out of the queue
        "new-one": Failure("New_One", 3, 1),  # due, not listed: queued
    }
    fast = retries.requeue(queue, failures, now=100.0)
    slow = retries._requeue_unordered(queue, failures, now=100.0)
    assert fast == slow and len(fast.queue) == COUNT
    assert fast.waiting == (Failure("bench-pkg-008200", 9, 5, 1e12),)


def scan(count: int) -> ListingScan:
    body = ",".join(f'{{"name": "{name}", "_last-serial": {i + 1}}}' for i, name in enumerate(sorted(names(count))))
    return scan_listing(f'{{"meta": {{"api-version": "1.1", "_last-serial": {count}}}, "projects": [{body}]}}'.encode())


def test_a_full_syncs_queue_costs_tens_of_bytes_a_project() -> None:
    count = 20_000
    scanned = scan(count)
    for _chunk in scanned.chunks():  # the scan's reused decoding buffer (one chunk's size) is made before
        pass
    listing = Listing(scanned, count, None)
    found = None

    def plan_it() -> object:
        nonlocal found
        found, _invalid, _warnings = of_listing(listing, Local(names=()), lambda _n: True, 0, False)
        return found

    kept = allocated(plan_it)
    assert found is not None and len(found.queue) == count
    assert list(found.queue) == list(
        reconcile(scan(count), set(), lambda _n: True, serial=0, filters_changed=False).queue
    )
    # 19.5 here, 12 of them the last chunk's names not yet deflated; joined text and eight-byte serials: 36;
    # a tuple of ListingEntry objects: 149
    assert kept / count < 25


def test_the_run_report_and_the_todo_checkpoint_grow_by_bytes_a_project() -> None:
    count = 20_000
    queue = Entries(ListingEntry(name, i) for i, name in enumerate(names(count)))
    checkpoint = allocated(lambda: TodoCheckpoint(MemoryStore(), Todo(count, queue)))
    assert checkpoint < 10_000  # 1.4 KB here; a dict of the queue: 416 KB

    report = SyncReport()

    def run() -> SyncReport:
        for entry in queue:
            report.add(entry, Outcome(entry.name, Kind.SYNCED))
        return report

    # 3.5 here; names as joined text: 15.4; a set of canonical names and a list: 178
    assert allocated(run) / count < 8
    assert report.newest == count - 1 and "bench-pkg-000007" in report.reached and len(report.synced) == count
