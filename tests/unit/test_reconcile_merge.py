"""reconcile.merge (the listing's chunks beside the record's names) decides as plan.reconcile does."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from frumious.models import ListingEntry
from frumious.protocol import listing as listing_mod
from frumious.protocol.parse import scan_listing
from frumious.reconcile import Local, canonical_names, known, of_listing, reconcile
from frumious.record.db import MirrorRecord, ProjectRow
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


def _reconciled(names: list[str], serials: dict[str, int], local: Local, allows: object = None) -> object:
    scan = scan_listing(body_of([(name, serials.get(name, 5)) for name in names]))
    check = allows if callable(allows) else (lambda n: True)
    return of_listing(Listing(scan, scan.ceiling, None), local, check, 10, False)[0]


def test_a_listing_with_the_names_last_found_in_step_skips_the_record_and_decides_the_same() -> None:
    names = [f"p-{i:03d}" for i in range(50)]
    local = Local(names=names)
    scan = scan_listing(body_of([(name, 5) for name in names]))
    assert known(scan.chunks(), local, lambda n: True, 10) is None  # nothing remembered yet
    _reconciled(names, {}, local)  # every chunk in step: the names' digest is remembered
    assert local.known() is not None
    local.between = None  # type: ignore[method-assign]  # the known path must not read the mirror's names
    refused = {"p-007"}
    found = _reconciled(names, {"p-003": 11, "p-040": 12}, local, lambda n: n not in refused)
    expected = reconcile(list(scan_listing(body_of([(n, {"p-003": 11, "p-040": 12}.get(n, 5)) for n in names]))),
                         set(names), lambda n: n not in refused, serial=10, filters_changed=False)  # fmt: skip
    assert found == expected
    assert [e.name for e in found.queue] == ["p-003", "p-040"] and found.excluded == ("p-007",)


def test_other_names_than_those_remembered_take_the_whole_merge() -> None:
    names = [f"p-{i:03d}" for i in range(50)]
    local = Local(names=names)
    _reconciled(names, {}, local)
    renamed = sorted([*names[:20], "p-020x", *names[21:]])  # as many names, one of them new
    scan = scan_listing(body_of([(name, 5) for name in renamed]))
    assert known(scan.chunks(), local, lambda n: True, 10) is None
    found = _reconciled(renamed, {}, local)
    assert found.vanished == ("p-020",)  # seen by the merge against the mirror's names
    added = sorted([*names, "p-100"])  # a new project to queue is not held: given up at its chunk
    scan = scan_listing(body_of([(name, 11 if name == "p-100" else 5) for name in added]))
    assert known(scan.chunks(), local, lambda n: True, 10) is None


def test_the_records_digest_of_names_goes_when_a_name_comes_or_goes(tmp_path: Path) -> None:
    record = MirrorRecord(str(tmp_path / "frumious.sqlite"))
    record.record(ProjectRow("a", "a", 1), [])
    local = Local(record)
    _reconciled(["a"], {}, local)
    digest = local.known()
    assert digest is not None
    record.record(ProjectRow("a", "A", 9), [])  # a serial moved: the names are the same
    assert local.known() == digest
    record.record(ProjectRow("b", "b", 9), [])
    assert local.known() is None
    _reconciled(["a", "b"], {}, local)
    assert local.known() is not None
    record.forget("b")
    assert local.known() is None
    record.close()
