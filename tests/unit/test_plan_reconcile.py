"""plan.reconcile: what to sync and what may go, from the listing and the tree."""

from __future__ import annotations

from frumious.models import ListingEntry
from frumious.plan import reconcile, removal_limit


def entries(**serials: int) -> list[ListingEntry]:
    return [ListingEntry(name.replace("_", "."), serial) for name, serial in serials.items()]


def allow_all(name: str) -> bool:
    return True


def test_changed_projects_are_queued_in_canonical_order() -> None:
    found = reconcile(entries(B=5, a=3, c=9), {"a", "b", "c"}, allow_all, serial=4, filters_changed=False)
    assert [e.name for e in found.queue] == ["B", "c"]
    assert found.excluded == () and found.vanished == ()


def test_full_sync_queues_everything_allowed() -> None:
    found = reconcile(entries(a=1, b=2), set(), lambda n: n != "b", serial=0, filters_changed=False)
    assert [e.name for e in found.queue] == ["a"]


def test_newly_allowed_projects_are_queued_only_after_a_filter_change() -> None:
    listing = entries(a=1, b=2)
    assert reconcile(listing, {"a"}, allow_all, serial=10, filters_changed=False).queue == ()
    found = reconcile(listing, {"a"}, allow_all, serial=10, filters_changed=True)
    assert [e.name for e in found.queue] == ["b"]


def test_excluded_local_projects_are_reported() -> None:
    found = reconcile(entries(Foo_Bar=1, b=1), {"foo-bar", "b"}, lambda n: n == "b", serial=5, filters_changed=True)
    assert found.excluded == ("foo-bar",)
    assert found.queue == ()


def test_vanished_projects_are_queued_with_serial_zero_to_confirm() -> None:
    found = reconcile(entries(a=1), {"a", "gone"}, allow_all, serial=5, filters_changed=False)
    assert found.vanished == ("gone",)
    assert found.queue == (ListingEntry("gone", 0),)


def test_vanished_but_filtered_projects_count_as_excluded() -> None:
    found = reconcile(entries(a=1), {"a", "gone"}, lambda n: n == "a", serial=5, filters_changed=False)
    assert found.vanished == () and found.excluded == ("gone",)


def test_removal_limit_is_a_share_with_a_floor_of_one() -> None:
    assert removal_limit(0, 0.01) == 1
    assert removal_limit(3, 0.01) == 1
    assert removal_limit(10_000, 0.01) == 100
    assert removal_limit(10, 1.0) == 10
