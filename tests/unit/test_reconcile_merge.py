"""reconcile.merge (the listing's chunks beside the record's names) decides as plan.reconcile does."""

from __future__ import annotations

import itertools as itertools_mod
import json
import random
from pathlib import Path

import pytest

from frumious import reconcile as reconcile_mod
from frumious.models import ListingEntry
from frumious.protocol import listing as listing_mod
from frumious.protocol.parse import scan_listing
from frumious.reconcile import Local, canonical_names, known, of_listing, reconcile
from frumious.record import listed as listed_mod
from frumious.record.db import MirrorRecord, ProjectRow
from frumious.record.listed import recall
from frumious.upstream import Listing


def body_of(entries: list[tuple[str, object]], meta_serial: int = 10**6) -> bytes:
    projects = [{"name": name, "_last-serial": serial} for name, serial in entries]
    return json.dumps({"meta": {"_last-serial": meta_serial, "api-version": "1.1"}, "projects": projects}).encode()


def spellings(canonical: str, rng: random.Random) -> str:
    return rng.choice([canonical, canonical.upper(), canonical.replace("-", "_"), canonical.replace("-", ".")])


@pytest.mark.parametrize("seed", range(12))
def test_the_merge_decides_as_reconcile_on_random_mirrors(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(seed)
    monkeypatch.setattr(listing_mod, "CHUNK", rng.choice([30, 200, 1 << 20]))  # many chunks, or one
    universe = [f"p-{i:03d}" for i in range(120)]
    listed = sorted(rng.sample(universe, 90))
    local = set(listed) if seed % 4 == 2 else set(rng.sample(universe, 70))  # in step: whole chunks equal
    entries = [(spellings(name, rng), rng.randint(0, 50)) for name in listed]
    if seed % 3 == 0:  # an invalid serial: listed, never vanished, never queued
        entries[5] = (entries[5][0], "7")
    blocked = set(rng.sample(universe, 10))

    def allows(name: str) -> bool:
        return canonical_names([name])[0] not in blocked

    filters_changed = seed % 2 == 1
    scan = scan_listing(body_of(entries))
    found, invalid, _ = of_listing(Listing(scan, scan.ceiling, None), Local(names=local), allows, 20, filters_changed)
    expected = reconcile(list(scan), local, allows, serial=20, filters_changed=filters_changed, unsynced=scan.invalid)
    assert found == expected
    assert invalid == scan.invalid


@pytest.mark.parametrize("seed", range(12))
def test_listed_projects_the_mirror_lacks_decide_as_reconcile(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    # PyPI's shape: the mirror holds most listed names and nothing unlisted (its empty projects are
    # never recorded), so chunks differ from the record's range only by listed names not held.
    rng = random.Random(seed)
    monkeypatch.setattr(listing_mod, "CHUNK", rng.choice([30, 200, 1 << 20]))
    listed = [f"p-{i:03d}" for i in range(150)]
    local = set(listed) - set(rng.sample(listed, rng.choice([1, 8, 40])))
    entries = [(spellings(name, rng), rng.choice([5, 5, 5, 30])) for name in listed]
    entries.insert(rng.randrange(150), (listed[rng.randrange(150)].upper(), 7))  # a name spelled twice
    entries.sort(key=lambda e: canonical_names([e[0]])[0])
    blocked = set(rng.sample(listed, 6)) if seed % 2 else set()

    def allows(name: str) -> bool:
        return canonical_names([name])[0] not in blocked

    scan = scan_listing(body_of(entries))
    mirror = Local(names=local)
    found, _, _ = of_listing(Listing(scan, scan.ceiling, None), mirror, allows, 20, False)
    expected = reconcile(list(scan), local, allows, serial=20, filters_changed=False, unsynced=scan.invalid)
    assert found == expected
    assert mirror.memo is not None and mirror.memo.extra == set(listed) - local  # remembered for the next run


BUCKETED = [f"{a}{b}-{i}" for a in "abcde" for b in "xyz" for i in range(6)] + ["q", "r-1"]


class Reading(Local):
    """A mirror's names that notes which buckets were read, and whether all names were."""

    def __init__(self, names: set[str]) -> None:
        super().__init__(names=names)
        self.buckets: list[str] = []
        self.whole = 0

    def in_bucket(self, key: str) -> list[str]:
        self.buckets.append(key)
        return super().in_bucket(key)

    def between(self, after: str | None, upto: str | None) -> list[str]:
        self.whole += 1
        return super().between(after, upto)


@pytest.mark.parametrize("seed", range(40))
def test_runs_after_the_listing_changed_read_only_changed_buckets(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    # Run after run, projects come and go upstream and in the mirror: each run decides as reconcile
    # does, reading from the mirror only the buckets whose listed names changed.
    rng = random.Random(seed)
    monkeypatch.setattr(listing_mod, "CHUNK", rng.choice([40, 300, 1 << 20]))
    spelled = {name: spellings(name, rng) for name in BUCKETED}
    listed = set(rng.sample(BUCKETED, 70))
    mirror = Reading(set(rng.sample(sorted(listed), 60)) | set(rng.sample(BUCKETED, 5)))
    blocked = set(rng.sample(BUCKETED, 4)) if seed % 3 == 0 else set()

    def allows(name: str) -> bool:
        return canonical_names([name])[0] not in blocked

    for run in range(5):
        before = set(listed)
        if run:
            gone = set(rng.sample(sorted(listed), rng.choice([0, 1, 3])))
            listed = (listed - gone) | set(rng.sample(BUCKETED, rng.choice([0, 1, 2])))
            changed_names = set(rng.sample(BUCKETED, rng.choice([0, 1, 4])))
            moved = Reading(set(mirror.names) ^ changed_names)  # synced, removed, added by hand
            moved.memo, moved.since = mirror.memo, mirror.since | changed_names  # as the triggers note them
            mirror = moved
        serials = {n: rng.choice([5, 5, 30]) for n in listed}
        scan = scan_listing(body_of([(spelled[n], serials[n]) for n in sorted(listed)]))
        names = set(mirror.names)
        mirror.buckets, mirror.whole = [], 0
        found, _, _ = of_listing(Listing(scan, scan.ceiling, None), mirror, allows, 20, False)
        assert found == reconcile(list(scan), names, allows, serial=20, filters_changed=False, unsynced=scan.invalid)
        if run and (len(listed) != len(before) or not before ^ listed):
            moved = {n[:2] for n in before ^ listed}
            assert mirror.whole == 0 and set(mirror.buckets) == moved  # no whole pass over the mirror's names
        elif run:  # other names at the same count: not held, so the whole merge decides
            assert mirror.whole > 0


def test_a_changed_bucket_too_large_to_hold_leaves_the_run_to_the_merge(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(listing_mod, "CHUNK", 40)
    monkeypatch.setattr(reconcile_mod, "BUCKET_HELD", 4)  # every bucket of six names is too large to hold
    listed = set(BUCKETED[:60])
    mirror = Reading(set(BUCKETED[:55]))
    serials = dict.fromkeys(listed, 5)

    def run(names: set[str]) -> None:
        scan = scan_listing(body_of([(n, serials.get(n, 30)) for n in sorted(names)]))
        held = set(mirror.names)
        mirror.whole = 0
        found, _, _ = of_listing(Listing(scan, scan.ceiling, None), mirror, lambda n: True, 20, False)
        assert found == reconcile(list(scan), held, lambda n: True, serial=20, filters_changed=False)

    run(listed)  # the merge, remembered
    serials["ax-1"] = 30
    run(listed)  # only a serial moved: decided as the buckets came, none held, no names read
    assert mirror.whole == 0
    run(listed - {"ax-2"} | {"ax-9"})  # the same count, another name: the bucket was not held, the merge decides
    assert mirror.whole > 0
    run(listed - {"ax-2"} | {"ax-9", "ay-9"})  # a name more, and large buckets: the merge at once
    assert mirror.whole > 0


def test_an_unsorted_listing_falls_back_to_the_whole_reconcile() -> None:
    scan = scan_listing(body_of([("b", 5), ("a", 5)]))
    found, _, _ = of_listing(Listing(scan, scan.ceiling, None), Local(names={"c"}), lambda n: True, 1, False)
    assert [e.name for e in found.queue] == ["a", "b", "c"]
    assert found.vanished == ("c",)


def test_canonical_names_of_a_chunk_are_each_names_own() -> None:
    names = ["Foo__Bar", "a.-_b", "ÄÖ", "x\ny", "plain"]
    from frumious.models import canonicalize_name

    assert canonical_names(names) == [canonicalize_name(n) for n in names]
    assert canonical_names(["A_b", "C..D", "e"]) == ["a-b", "c-d", "e"]


def test_chunks_cut_only_between_entries(monkeypatch: pytest.MonkeyPatch) -> None:
    # Nested objects with "}," inside an entry, a "}," inside a name, odd entries in a later chunk:
    # a small CHUNK cuts everywhere, and the result is json.loads's.
    monkeypatch.setattr(listing_mod, "CHUNK", 8)
    items = [
        {"name": "a", "_last-serial": 1, "x": [{"y": 1}, {"z": {"w": 2}}]},
        {"name": "b},{", "_last-serial": 2},
        {"name": None, "_last-serial": 3},
        {"name": "c", "_last-serial": "4"},
        {"name": "d", "_last-serial": 5},
    ]
    body = json.dumps({"meta": {}, "projects": items}).encode()
    scan = scan_listing(body)
    assert scan.span is not None
    assert list(scan) == [ListingEntry("a", 1), ListingEntry("b},{", 2), ListingEntry("d", 5)]
    assert (scan.skipped, scan.invalid) == (1, ("c",))


def _moved(local: Local, names: set[str], since: set[str]) -> Local:
    """The mirror after its names changed: what was remembered kept, the names changed noted (as the triggers do)."""
    moved = Local(names=names)
    moved.memo, moved.since = local.memo, set(since)
    return moved


@pytest.mark.parametrize("seed", range(16))
def test_a_remembered_listing_decides_as_reconcile(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(seed)
    monkeypatch.setattr(listing_mod, "CHUNK", rng.choice([30, 200, 1 << 20]))
    universe = [f"p-{i:03d}" for i in range(120)]
    listed = sorted(rng.sample(universe, 90))
    held = set(listed) if seed % 4 == 0 else set(rng.sample(universe, 80))
    spelled = {name: spellings(name, rng) for name in universe}
    blocked = set(rng.sample(universe, 6)) if seed % 3 == 0 else set()

    def allows(name: str) -> bool:
        return canonical_names([name])[0] not in blocked

    def run(local: Local, names: list[str], serials: dict[str, int]) -> tuple[object, object]:
        scan = scan_listing(body_of([(spelled[n], serials.get(n, 5)) for n in names]))
        found = of_listing(Listing(scan, scan.ceiling, None), local, allows, 20, False)[0]
        expected = reconcile(list(scan), set(local.names), allows, serial=20, filters_changed=False)
        return found, expected

    local = Local(names=held)
    found, expected = run(local, listed, {})
    assert found == expected and local.memo is not None  # the merge remembered its answer
    # The mirror's names move (synced, removed, added by hand), a few serials move upstream.
    since = set(rng.sample(universe, rng.choice([0, 1, 5])))
    moved = _moved(local, held ^ set(rng.sample(sorted(since), len(since) // 2 + 1)) if since else held, since)
    serials = dict.fromkeys(rng.sample(listed, 4), 30)
    scan = scan_listing(body_of([(spelled[n], serials.get(n, 5)) for n in listed]))
    used = known(scan.chunks(), moved, allows, serial=20, filters_changed=False, entries=scan.entry_count())
    found, expected = run(moved, listed, serials)
    assert found == expected
    assert used is not None  # the same names upstream: no names read from the mirror
    # Other names upstream (one went, one came): their bucket is merged again, and remembered.
    renamed = sorted({*listed[1:], "p-999"})
    spelled["p-999"] = "p-999"
    found, expected = run(moved, renamed, {})
    assert found == expected
    assert moved.memo is not None and not moved.since  # the corrected answer, from the next run on
    found, expected = run(moved, renamed, {})
    assert found == expected


def test_the_record_notes_names_changed_since_it_remembered_a_listing(tmp_path: Path) -> None:
    record = MirrorRecord(str(tmp_path / "frumious.sqlite"))
    record.record(ProjectRow("a", "a", 1), [])
    record.record(ProjectRow("b", "b", 1), [])
    assert recall(record) is None
    local = Local(record)
    scan = scan_listing(body_of([("a", 1), ("c", 1)]))
    of_listing(Listing(scan, scan.ceiling, None), local, lambda n: True, 1, False)
    memo = recall(record)
    assert memo is not None and memo.unlisted == ("b",) and memo.extra == {"c"} and not memo.since
    record.record(ProjectRow("a", "A", 9), [])  # a serial moved: no name changed
    record.record(ProjectRow("c", "c", 9), [])
    record.forget("b")
    memo = recall(record)
    assert memo is not None and memo.since == {"b", "c"}
    # The same listing again: answered from the memo and the two lookups, as the merge would.
    scan = scan_listing(body_of([("a", 1), ("c", 1)]))
    local.between = None  # type: ignore[method-assign]  # no names read
    found = known(scan.chunks(), local, lambda n: True, serial=1, filters_changed=False, entries=scan.entry_count())
    assert found is not None and found.unlisted == [] and len(found.queue) == 0
    record.close()


def test_a_record_remembers_buckets_and_reads_only_the_changed_one(tmp_path: Path) -> None:
    record = MirrorRecord(str(tmp_path / "frumious.sqlite"))
    for name in BUCKETED[:40]:
        record.record(ProjectRow(name, name, 1), [])
    local = Local(record)
    listed = BUCKETED[:42]  # two listed projects the mirror lacks
    scan = scan_listing(body_of([(n, 1) for n in listed]))
    of_listing(Listing(scan, scan.ceiling, None), local, lambda n: True, 1, False)
    memo = recall(record)
    assert memo is not None and memo.extra == set(BUCKETED[40:42]) and len(memo.buckets) == 7
    # Upstream: one project more in the first bucket, one fewer in the fourth; the mirror synced one.
    record.record(ProjectRow("ax-9", "ax-9", 5), [])
    record.forget(BUCKETED[19])
    now = sorted({*listed, "ax-9", "ax-8"} - {BUCKETED[19]})
    scan = scan_listing(body_of([(n, 5 if n in ("ax-9", "ax-8") else 1) for n in now]))
    local.between = None  # type: ignore[method-assign]  # no whole pass over the record's names
    found, _, _ = of_listing(Listing(scan, scan.ceiling, None), local, lambda n: True, 1, False)
    held = set(record.names())
    assert found == reconcile(list(scan), held, lambda n: True, serial=1, filters_changed=False)
    memo = recall(record)
    assert memo is not None and memo.extra == {"ax-8", *BUCKETED[40:42]} and not memo.since
    record.close()


def test_a_name_removed_since_is_not_excluded_as_held() -> None:
    local = Local(names={"a", "b", "c"})
    scan = scan_listing(body_of([("a", 1), ("b", 1), ("c", 1)]))
    of_listing(Listing(scan, scan.ceiling, None), local, lambda n: True, 1, False)
    moved = _moved(local, {"a", "c"}, {"b"})  # b removed from the mirror since, then blocklisted
    scan = scan_listing(body_of([("a", 1), ("b", 1), ("c", 1)]))
    found = known(scan.chunks(), moved, lambda n: n != "b", serial=1, filters_changed=False, entries=scan.entry_count())
    assert found is not None and found.excluded == [] and found.outside == [ListingEntry("b", 1)]


def test_a_rebuilt_record_forgets_the_listing_without_noting_every_name(tmp_path: Path) -> None:
    record = MirrorRecord(str(tmp_path / "frumious.sqlite"))
    record.record(ProjectRow("a", "a", 1), [])
    scan = scan_listing(body_of([("a", 1)]))
    of_listing(Listing(scan, scan.ceiling, None), Local(record), lambda n: True, 1, False)
    assert recall(record) is not None
    with record.rebuilding() as add:
        add([(ProjectRow("a", "a", 1), []), (ProjectRow("b", "b", 1), [])])
    assert recall(record) is None
    assert record.db.execute("SELECT count(*) FROM names_since").fetchone() == (0,)
    record.close()


def test_without_project_filters_the_listing_is_not_asked_name_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    from frumious.filters.filterset import FilterSet, every_project

    assert FilterSet().allows_project is every_project
    calls: list[str] = []
    monkeypatch.setattr(itertools_mod, "filterfalse", lambda f, names: calls.extend(names) or [])
    local = Local(names={"a", "b"})
    scan = scan_listing(body_of([("a", 1), ("b", 7)]))
    found = of_listing(Listing(scan, scan.ceiling, None), local, FilterSet().allows_project, 5, False)[0]
    assert [e.name for e in found.queue] == ["b"] and calls == []


def test_every_serial_new_looks_up_no_name(monkeypatch: pytest.MonkeyPatch) -> None:
    # Under --force-check (serial 0) every entry is to fetch: one record lookup each was 693k queries.
    names = [f"p-{i:03d}" for i in range(50)]
    local = Local(names=names)
    scan = scan_listing(body_of([(name, 5) for name in names]))
    of_listing(Listing(scan, scan.ceiling, None), local, lambda n: True, 10, False)
    asked: list[str] = []
    monkeypatch.setattr(local, "holds", lambda name: asked.append(name) or True)
    found = known(scan.chunks(), local, lambda n: True, serial=0, filters_changed=False, entries=scan.entry_count())
    assert found is not None and len(found.queue) == 50 and asked == []


def test_a_name_spelled_twice_across_a_chunk_cut_is_held_in_both(monkeypatch: pytest.MonkeyPatch) -> None:
    # "foo_bar" ends one chunk and "foo.bar" starts the next: the record's names read for the second
    # chunk start after "foo-bar", which is held all the same (not a listed name the mirror lacks).
    monkeypatch.setattr(listing_mod, "CHUNK", 30)  # an entry a chunk
    entries = [("a", 1), ("foo_bar", 1), ("foo.bar", 1), ("z", 1)]
    local = Local(names={"a", "foo-bar", "z"})

    def allows(name: str) -> bool:
        return name not in ("foo_bar", "foo.bar")

    def run() -> tuple[object, object]:
        scan = scan_listing(body_of(entries))
        found = of_listing(Listing(scan, scan.ceiling, None), local, allows, 5, False)[0]
        return found, reconcile(list(scan), set(local.names), allows, serial=5, filters_changed=False)

    found, expected = run()
    assert found == expected and local.memo is not None and local.memo.extra == frozenset()
    found, expected = run()  # the same listing again: answered from what the merge remembered
    assert found == expected


def test_listed_projects_never_recorded_past_limit_are_still_remembered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # PyPI lists ~35,000 projects with no release, which a sync never records: they must not stop
    # the record remembering its listing (LIMIT is for held-but-unlisted and changed names).
    monkeypatch.setattr(listed_mod, "LIMIT", 2)
    record = MirrorRecord(str(tmp_path / "frumious.sqlite"))
    record.record(ProjectRow("a", "a", 1), [])
    empties = [(f"empty-{i}", 1) for i in range(5)]
    scan = scan_listing(body_of([("a", 1), *empties]))
    of_listing(Listing(scan, scan.ceiling, None), Local(record), lambda n: True, 1, False)
    memo = recall(record)
    assert memo is not None and memo.extra == {name for name, _ in empties}
    record.close()


def test_a_merge_that_cannot_remember_forgets_the_old_answer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    record = MirrorRecord(str(tmp_path / "frumious.sqlite"))
    record.record(ProjectRow("a", "a", 1), [])
    scan = scan_listing(body_of([("a", 1)]))
    of_listing(Listing(scan, scan.ceiling, None), Local(record), lambda n: True, 1, False)
    assert recall(record) is not None
    monkeypatch.setattr(listed_mod, "EXTRA_LIMIT", 2)
    scan = scan_listing(body_of([("a", 1), *((f"new-{i}", 1) for i in range(5))]))
    of_listing(Listing(scan, scan.ceiling, None), Local(record), lambda n: True, 1, False)
    assert recall(record) is None  # not the stale answer, read and corrected every run for nothing
    record.record(ProjectRow("b", "b", 1), [])
    assert record.db.execute("SELECT count(*) FROM names_since").fetchone() == (0,)
    record.close()


def run_against_reconcile(local: Local, entries: list[tuple[str, int]], allows=lambda n: True) -> None:  # type: ignore[no-untyped-def]
    """One run's answer is reconcile's, on the mirror's names now."""
    scan = scan_listing(json.dumps({"meta": {"_last-serial": 10**6}, "projects": [
        {"name": n, "_last-serial": s} for n, s in entries
    ]}, ensure_ascii=False).encode())  # fmt: skip
    names = set(local.names) if local.record is None else set(local.record.names())
    found, _, _ = of_listing(Listing(scan, scan.ceiling, None), local, allows, 20, False)
    assert found == reconcile(list(scan), names, allows, serial=20, filters_changed=False, unsynced=scan.invalid)


def test_a_name_holding_a_newline_is_not_taken_for_the_bucket_it_hashes_like() -> None:
    # "abx\naby" joined as a bucket hashes as "abx", "aby": the remembered answer must not be used.
    local = Local(names={"abx", "aby"})
    run_against_reconcile(local, [("abx", 1), ("aby", 1)])
    run_against_reconcile(local, [("abx\naby", 1)])


def test_an_extra_list_cut_at_its_limit_is_forgotten_not_remembered_short(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(listed_mod, "EXTRA_LIMIT", 1)
    local = Local(names={"m"})
    run_against_reconcile(local, [("m", 1)])
    listing = [("a-1", 1), ("A_1", 1), ("a-2", 1), ("m", 1)]  # a-1 spelled twice, counted twice
    run_against_reconcile(local, listing)
    run_against_reconcile(local, listing, lambda n: canonical_names([n])[0] != "a-2")


def test_a_bucket_next_to_the_surrogates_is_read_from_the_record(tmp_path: Path) -> None:
    record = MirrorRecord(str(tmp_path / "frumious.sqlite"))
    record.record(ProjectRow("m", "m", 1), [])
    local = Local(record)
    run_against_reconcile(local, [("m", 1)])
    run_against_reconcile(local, [("a\ud7ff", 1), ("m", 1)])  # its bucket ends where U+E000 starts
    record.close()
